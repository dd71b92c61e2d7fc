"""``assistflow audit verify``: walk the audit log's hash chain and report the first break."""

from __future__ import annotations

import click

from api.extensions import db
from engine.audit import chain


@click.group("audit", help="Audit log / 审计日志")
def audit_cli() -> None:
    pass


@audit_cli.command(
    "seal", help="Seal audit events not yet in the hash chain (the scheduler does it every second)."
)
def audit_seal() -> None:
    sealed = chain.seal_all(db.session)
    click.echo(f"已封存 / sealed {sealed} audit event(s)")


@audit_cli.command(
    "verify",
    help="Seal pending events, recompute the audit hash chain; exit 1 with the first broken event id.",
)
def audit_verify() -> None:
    sealed = chain.seal_all(db.session)
    verdict = chain.verify(db.session())
    db.session.rollback()
    if sealed:
        click.echo(f"已封存 / sealed {sealed} pending audit event(s) first")
    if verdict.ok:
        click.echo(
            f"审计日志完整 / audit log intact: {verdict.checked} events, "
            f"head seq {verdict.head_seq} hash {verdict.head_hash}"
        )
        return
    where = f"event id {verdict.broken_id}" if verdict.broken_id is not None else "chain head"
    click.echo(
        f"审计日志被篡改 / audit log BROKEN at {where}: {verdict.reason} "
        f"({verdict.checked} events verified before it)",
        err=True,
    )
    raise SystemExit(1)
