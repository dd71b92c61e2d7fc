"""Cases a message starts by its message start event (engine.messages.service), worked out before the
write lock where they can be (SQLite; issue 18 item 10).

A message that no waiting case catches starts every procedure (latest version) whose message start
event catches it: the new case is prepared (``newcase.prepare``: its start rules, its first steps, the
message handed over and the steps after it, its first deadlines) and written. Thrown by a step whose
lock is still deferred, or sent by an admin before anything was written, the new case is prepared
ahead (engine.messages.ahead, :func:`keep`); the delivery, after the sender's save as before, takes
exactly that prepared case (:func:`recall`) and writes it, evaluating nothing more of it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from engine.bpmn import messaging
from engine.definitions import service as definitions
from engine.definitions.models import ProcessDefinition
from engine.instances import newcase, optimistic
from engine.messages.models import MESSAGE
from engine.orgs.models import OrgUnit

_KEY_SHAPE = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff._\-/:]{0,63}$")


def matching(session: Session, name: str) -> list[ProcessDefinition]:
    """The procedures (latest version) whose message start event catches ``name``."""
    return [
        d
        for d, _n in definitions.list_latest(session)
        if name in messaging.start_messages(definitions.SPEC_CACHE.get(d).spec)
    ]


def prepare(
    session: Session,
    definition: ProcessDefinition,
    unit: OrgUnit,
    name: str,
    key: str | None,
    payload: Any,
    *,
    actor_id: int | None,
    sender_id: int | None,
) -> newcase.Prepared:
    """The new case worked out with the message handed over (nothing written)."""
    return newcase.prepare(
        session,
        definition,
        unit,
        actor_id=actor_id,
        business_key=key if key is not None and _KEY_SHAPE.match(key) else None,
        data=dict(payload) if isinstance(payload, dict) else None,  # the start data (checked as such)
        origin="message",
        parent_id=sender_id,
        message=newcase.Message(MESSAGE, name, payload, key, sender_id),
    )


def _key(
    definition: ProcessDefinition, unit: OrgUnit, name: str, key: str | None, payload: Any, sender: Any
) -> Any:
    return ("start", definition.id, unit.id, name, key, repr(payload), sender)


def keep(
    session: Session,
    unit: OrgUnit,
    name: str,
    key: str | None,
    payload: Any,
    sender_id: int | None,
) -> None:
    """Before the first write: prepare the cases the message will start (what fails is left to the
    delivery, which prepares it again in place and fails there as before)."""
    kept = optimistic.ahead(session)
    for definition in matching(session, name):
        try:
            prepared = prepare(
                session, definition, unit, name, key, payload, actor_id=None, sender_id=sender_id
            )
        except Exception:  # noqa: BLE001 - worked out (and refused) in place
            continue
        kept[_key(definition, unit, name, key, payload, sender_id)] = prepared


def recall(
    session: Session,
    definition: ProcessDefinition,
    unit: OrgUnit,
    name: str,
    key: str | None,
    payload: Any,
    *,
    actor_id: int | None,
    sender_id: int | None,
) -> newcase.Prepared | None:
    """The case :func:`keep` prepared for exactly this message, definition, unit and sender (once)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    kept: newcase.Prepared | None = optimistic.ahead(session).pop(
        _key(definition, unit, name, key, payload, sender_id), None
    )
    if kept is None or kept.actor_id == actor_id:
        return kept
    if kept.compiled.initiator_var:  # the starter's name is in its data: prepared again in place
        return None
    kept.actor_id = actor_id  # (who started it is only written, never evaluated)
    return kept
