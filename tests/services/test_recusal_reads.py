"""Near-relative recusal reads a user's filings once per transaction (a completion asks at its permission
check and again with the submitted data), and still sees a filing made or withdrawn in that transaction."""

from __future__ import annotations

from sqlalchemy import event

from engine.recusal import service as recusal
from engine.users import service as users
from tests.procedures.helpers import id_number

RELATIVE = id_number("99999919800101001")  # area code 999999 is not allocated: nobody's number
OTHER = id_number("99999919820202002")


def _filing_reads(session):
    seen = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM near_relative_filing" in statement:
            seen.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", count)
    return seen, lambda: event.remove(session.get_bind(), "before_cursor_execute", count)


def test_filings_are_read_once_per_transaction_and_changes_in_it_are_seen(session):
    officer, head = users.by_username(session, "pt_officer"), users.by_username(session, "pt_head")
    seen, stop = _filing_reads(session)
    try:
        assert not recusal.user_related_to(session, officer, {RELATIVE})
        assert not recusal.user_related_to(session, officer, {RELATIVE, OTHER})
        assert len(seen) == 1  # the second question is answered from the first read

        filing = recusal.file(session, head, "pt_officer", RELATIVE, "sibling")
        assert recusal.user_related_to(session, officer, {RELATIVE})  # made in this transaction
        assert not recusal.user_related_to(session, officer, {OTHER})

        recusal.withdraw(session, head, filing.id, "备案有误")
        assert not recusal.user_related_to(session, officer, {RELATIVE})  # withdrawn, not flushed yet
        session.rollback()

        reads = len(seen)
        assert not recusal.user_related_to(session, officer, {RELATIVE})  # a new transaction reads again
        assert len(seen) == reads + 1
    finally:
        stop()
