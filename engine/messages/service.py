"""Delivering messages and signals between cases, in the caller's transaction.

* After every save of a case (``bus.STATE_SAVED``) its waiting catches are written to
  ``message_subscription`` (so a restart keeps them) and what it threw is delivered.
* A message reaches the first case waiting for its name with the same correlation key: that case is
  locked (the per-instance lock every step takes), loaded, handed the message, advanced and saved —
  all in the sender's transaction. None waiting: a procedure whose message start event catches it is
  started (the payload is its start data); otherwise, when every case that waited for that key has ended, it is refused ("ended");
  otherwise it is kept in ``message_buffer`` until a matching catch appears (or its time limit,
  ``ASSISTFLOW_MESSAGE_TTL_DAYS``, default 7, passes: then it is dropped and audited).
* A signal reaches every case waiting for it.

Deliveries that cause further throws are queued on the session and run one after another (never
recursively), at most :data:`MAX_DELIVERIES` per transaction. On SQLite a stepping operation works out
the cases already waiting before its first write; a delivery then takes that result
(engine.messages.ahead).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.bpmn import messaging, runtime
from engine.db import utcnow
from engine.errors import Invalid
from engine.forms import jsonable
from engine.instances import newcase, optimistic, rehearsal
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.messages import ahead, starts, subscriptions
from engine.messages.models import MESSAGE, SIGNAL, BufferedMessage, MessageSubscription
from engine.orgs.models import OrgUnit

MAX_DELIVERIES = 10_000
_STATE = "assistflow_messages"
_ENDED = (InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)


def ttl() -> dt.timedelta:
    """How long an undelivered message is kept (``ASSISTFLOW_MESSAGE_TTL_DAYS``, default 7 days)."""
    try:
        days = float(os.environ.get("ASSISTFLOW_MESSAGE_TTL_DAYS", "7"))
    except ValueError:
        days = 7.0
    return dt.timedelta(days=max(days, 0.0))


@dataclass
class Outcome:
    """What became of a message or signal."""

    result: str  # delivered | started | buffered | ended | broadcast
    delivered: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    buffered_id: int | None = None
    reason: str | None = None


# --- the queue --------------------------------------------------------------------------------------


def _state(session: Session) -> dict[str, Any]:
    return session.info.setdefault(_STATE, {"queue": deque(), "running": False, "count": 0})


def _queue(session: Session) -> deque[Any]:
    queue: deque[Any] = _state(session)["queue"]
    return queue


def on_saved(session: Session, *, loaded: Any, actor_id: int | None, thrown: list[Any]) -> None:
    """``bus.STATE_SAVED``: the case's subscriptions, then what it threw."""
    for buffer_id, instance_id, bpmn_id in subscriptions.sync(session, loaded):
        _queue(session).append(("buffer", buffer_id, instance_id, bpmn_id))
    for item in thrown:
        _queue(session).append(("throw", loaded.instance, item, actor_id))
    _drain(session)


def _drain(session: Session) -> list[Outcome]:
    state = _state(session)
    if state["running"]:
        return []  # the outer drain runs what was queued
    state["running"], state["count"] = True, 0
    outcomes = []
    try:
        queue = state["queue"]
        while queue:
            state["count"] += 1
            if state["count"] > MAX_DELIVERIES:
                raise runtime.EngineError(
                    f"消息投递超过上限（{MAX_DELIVERIES} 次）/ more than {MAX_DELIVERIES} message deliveries "
                    "in one transaction (cases sending to each other in a loop?)"
                )
            item = queue.popleft()
            if item[0] == "throw":
                _tag, sender, thrown, actor_id = item
                outcomes.append(_from_case(session, sender, thrown, actor_id))
            else:
                _tag, buffer_id, instance_id, bpmn_id = item
                _from_buffer(session, buffer_id, instance_id, bpmn_id)
    except BaseException:
        state["queue"].clear()
        raise
    finally:
        state["running"] = False
    return outcomes


def _from_case(session: Session, sender: ProcessInstance, thrown: Any, actor_id: int | None) -> Outcome:
    if thrown.kind == SIGNAL:
        return _broadcast(session, thrown.name, thrown.payload, sender=sender, actor_id=actor_id)
    key = subscriptions.resolved(thrown.key, sender)
    return _send(session, thrown.name, key, thrown.payload, sender=sender, actor_id=actor_id, unit=None)


def _from_buffer(session: Session, buffer_id: int, instance_id: int, bpmn_id: str) -> None:
    row = session.get(BufferedMessage, buffer_id)
    if row is None:
        return  # taken by another catch meanwhile
    result = _deliver(
        session, instance_id, MESSAGE, row.name, row.payload, bpmn_id, row.sent_by_id, row.correlation_key
    )
    if result == "delivered":
        session.delete(row)
        session.flush()


# --- delivery ---------------------------------------------------------------------------------------


def _deliver(
    session: Session,
    instance_id: int,
    kind: str,
    name: str,
    payload: Any,
    bpmn_id: str | None,
    actor_id: int | None,
    key: str | None,
    sender_id: int | None = None,
) -> str:
    """Lock the case and hand it the message: delivered | ended | suspended | not_waiting."""
    instance = instances.lock(session, instance_id)
    if instance.status in _ENDED:
        _stop_waiting(session, instance_id)
        return "ended"
    if instance.status != InstanceStatus.RUNNING:
        return "suspended"
    worked = ahead.recall(session, instance, kind, name, payload, bpmn_id)  # SQLite: before the lock
    if worked is None:
        loaded = instances.load(session, instance)
        caught = bool(messaging.catch(loaded.wf, kind, name, payload, bpmn_id))
    else:
        compiled = instances.load_spec(session, instance)
        loaded = instances.Loaded(
            instance, compiled, worked.wf, due=worked.due, waiting=worked.waiting, thrown=worked.thrown
        )
        caught = worked.caught
    if not caught:
        _stop_waiting(session, instance_id, name, bpmn_id)
        return "not_waiting"
    loaded.events.add(  # written with the save's other events, in one INSERT
        AuditAction.MESSAGE_RECEIVED if kind == MESSAGE else AuditAction.SIGNAL_RECEIVED,
        actor_id=actor_id,
        instance_id=instance.id,
        details={"message": name, "kind": kind, "bpmn_id": bpmn_id, "correlation": key, "from": sender_id},
    )
    failure = worked.failure if worked is not None else None
    if worked is None:
        try:
            runtime.advance(loaded.wf)
        except runtime.EngineError as err:
            failure = err
    if failure is not None:  # the case caught it; a step after it failed: an incident
        from engine.incidents import service as incidents

        incidents.record(session, instance, failure, origin="message", actor_id=actor_id)
    instances.save(session, loaded, actor_id)
    return "delivered"


def _stop_waiting(
    session: Session, instance_id: int, name: str | None = None, bpmn_id: str | None = None
) -> None:
    for row in session.scalars(
        select(MessageSubscription).where(
            MessageSubscription.instance_id == instance_id, MessageSubscription.waiting.is_(True)
        )
    ):
        if name is None or (row.name == name and (bpmn_id is None or row.bpmn_id == bpmn_id)):
            row.waiting = False
    session.flush()


_waiting_for = subscriptions.waiting_for


def _ended_for(session: Session, name: str, key: str | None) -> bool:
    """Every case that ever waited for (name, key) has ended (and at least one did)."""
    sub = aliased(MessageSubscription)
    base = and_(sub.kind == MESSAGE, sub.name == name, subscriptions.key_is(sub.correlation_key, key))
    ended = exists().where(base, ProcessInstance.id == sub.instance_id, ProcessInstance.status.in_(_ENDED))
    alive = exists().where(base, ProcessInstance.id == sub.instance_id, ProcessInstance.status.not_in(_ENDED))
    return bool(session.scalar(select(ended & ~alive)))


def _send(
    session: Session,
    name: str,
    key: str | None,
    payload: Any,
    *,
    sender: ProcessInstance | None,
    actor_id: int | None,
    unit: OrgUnit | None,
) -> Outcome:
    sender_id = sender.id if sender is not None else None
    details = {"message": name, "correlation": key}
    for instance_id, bpmn_id in _waiting_for(session, MESSAGE, name, key):
        if instance_id == sender_id:
            continue
        if (
            _deliver(session, instance_id, MESSAGE, name, payload, bpmn_id, actor_id, key, sender_id)
            == "delivered"
        ):
            _sent(session, sender_id, actor_id, {**details, "result": "delivered", "to": instance_id})
            return Outcome("delivered", delivered=[instance_id])
    started = _start(session, name, key, payload, sender=sender, actor_id=actor_id, unit=unit)
    if started:
        _sent(session, sender_id, actor_id, {**details, "result": "started", "started": started})
        return Outcome("started", started=started)
    if _ended_for(session, name, key):
        reason = "接收消息的案件已结束，消息未投递 / the case the message is for has ended: not delivered"
        audit.record(
            session,
            AuditAction.MESSAGE_REFUSED,
            actor_id=actor_id,
            instance_id=sender_id,
            details={**details, "reason": "ended"},
        )
        return Outcome("ended", reason=reason)
    now = utcnow()
    row = BufferedMessage(
        name=name,
        correlation_key=key,
        payload=jsonable(payload),
        sender_instance_id=sender_id,
        sent_by_id=actor_id,
        created_at=now,
        expires_at=now + ttl(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.MESSAGE_BUFFERED,
        actor_id=actor_id,
        instance_id=sender_id,
        details={**details, "buffer_id": row.id, "expires_at": row.expires_at},
    )
    return Outcome("buffered", buffered_id=row.id)


def _sent(session: Session, sender_id: int | None, actor_id: int | None, details: dict[str, Any]) -> None:
    """On the sending case's trail (a message from outside a case is on its receiver's: ``from`` None)."""
    if sender_id is None:
        return
    write = functools.partial(
        audit.record,
        session,
        AuditAction.MESSAGE_SENT,
        actor_id=actor_id,
        instance_id=sender_id,
        details=details,
    )
    optimistic.soon(session, write)  # after the cases it started, written with the sender's step


def _start(
    session: Session,
    name: str,
    key: str | None,
    payload: Any,
    *,
    sender: ProcessInstance | None,
    actor_id: int | None,
    unit: OrgUnit | None,
) -> list[int]:
    """Start every procedure (latest version) whose message start event catches ``name``."""
    matching = starts.matching(session, name)
    if not matching:
        return []
    if unit is None and sender is not None:
        unit = session.get(OrgUnit, sender.org_unit_id)
    if unit is None:
        raise Invalid.on(
            "org_unit", "该消息会发起新案件，请指定机构 / this message starts a new case: name its org unit"
        )
    started = []
    sender_id = sender.id if sender is not None else None
    for definition in matching:
        # the new case is worked out with the message handed over (start steps, the steps after the
        # message, first deadlines) before anything is written: ahead of the sender's first write when
        # it could be (SQLite: engine.messages.starts), else here; inside a step whose write lock is
        # deferred it is written with that step (engine.instances.newcase)
        args = (session, definition, unit, name, key, payload)
        prepared = starts.recall(*args, actor_id=actor_id, sender_id=sender_id) or starts.prepare(
            *args, actor_id=actor_id, sender_id=sender_id
        )
        started.append(newcase.start(session, prepared))
    return started


def _broadcast(
    session: Session, name: str, payload: Any, *, sender: ProcessInstance | None, actor_id: int | None
) -> Outcome:
    sender_id = sender.id if sender is not None else None
    delivered = []
    seen: set[int] = set()
    for instance_id, _bpmn_id in _waiting_for(session, SIGNAL, name, None):
        if instance_id == sender_id or instance_id in seen:
            continue
        seen.add(instance_id)
        if (
            _deliver(session, instance_id, SIGNAL, name, payload, None, actor_id, None, sender_id)
            == "delivered"
        ):
            delivered.append(instance_id)
    audit.record(
        session,
        AuditAction.SIGNAL_SENT,
        actor_id=actor_id,
        instance_id=sender_id,
        details={"signal": name, "delivered": len(delivered)},
    )
    return Outcome("broadcast", delivered=delivered)


# --- the public face --------------------------------------------------------------------------------


def send(
    session: Session,
    name: str,
    correlation: str | None,
    payload: Any = None,
    *,
    actor_id: int | None = None,
    unit: OrgUnit | None = None,
    sender: ProcessInstance | None = None,
) -> Outcome:
    """Send a message from outside any case (an admin or another system: ``POST /api/v1/messages``), or
    on behalf of ``sender`` from a procedure's rule (a case it starts is ``sender``'s sub-case). From a
    rule of a step whose write lock is deferred (SQLite), a message to a case waiting for it is worked
    out now and written with the step (engine.messages.ahead)."""
    key = messaging.normalize(correlation)
    receiver = ahead.predict(session, name, key, payload, sender)
    if receiver is not None:
        write = functools.partial(
            _send_foreseen, session, name, key, payload, sender, actor_id, unit, receiver
        )
        optimistic.later(session, write)
        return Outcome("delivered", delivered=[receiver])
    outcome = _send(session, name, key, payload, sender=sender, actor_id=actor_id, unit=unit)
    _drain(session)  # what the receiver threw in turn
    return outcome


def _send_foreseen(
    session: Session,
    name: str,
    key: str | None,
    payload: Any,
    sender: ProcessInstance | None,
    actor_id: int | None,
    unit: OrgUnit | None,
    receiver: int,
) -> None:
    """The write of a message :func:`send` foresaw: it must reach the case the rule was told of (else
    the operation runs again from a fresh read)."""
    outcome = _send(session, name, key, payload, sender=sender, actor_id=actor_id, unit=unit)
    _drain(session)
    if outcome.delivered != [receiver]:
        raise optimistic.StaleStep(receiver)


def signal(session: Session, name: str, payload: Any = None, *, actor_id: int | None = None) -> Outcome:
    """Broadcast a signal to every case waiting for it."""
    outcome = _broadcast(session, name, payload, sender=None, actor_id=actor_id)
    _drain(session)
    return outcome


def waiting_of(session: Session, instance_id: int) -> list[MessageSubscription]:
    """What a case waits for now (its case page: 等待消息：<name>)."""
    return list(
        session.scalars(
            select(MessageSubscription)
            .where(MessageSubscription.instance_id == instance_id, MessageSubscription.waiting.is_(True))
            .order_by(MessageSubscription.id)
        )
    )


@rehearsal.stepping
def sweep(session: Session, now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The scheduler's pass: drop expired messages (audited), and deliver kept ones whose receiver
    waits now (a case resumed after a suspension; SQLite: worked out before the first write). Counts."""
    now = now or utcnow()
    kept = select(BufferedMessage).where(BufferedMessage.expires_at > now).order_by(BufferedMessage.id)
    for row in session.scalars(kept.limit(limit)) if optimistic.can_defer(session) else ():
        ahead.outside(session, MESSAGE, row.name, row.correlation_key, row.payload)
    expired = 0
    for row in session.scalars(
        select(BufferedMessage)
        .where(BufferedMessage.expires_at <= now)
        .order_by(BufferedMessage.id)
        .limit(limit)
    ):
        subscriptions.drop_expired(session, row)
        expired += 1
    delivered = 0
    for row in list(session.scalars(select(BufferedMessage).order_by(BufferedMessage.id).limit(limit))):
        for instance_id, bpmn_id in _waiting_for(session, MESSAGE, row.name, row.correlation_key):
            status = _deliver(
                session,
                instance_id,
                MESSAGE,
                row.name,
                row.payload,
                bpmn_id,
                row.sent_by_id,
                row.correlation_key,
            )
            if status == "delivered":
                session.delete(row)
                session.flush()
                delivered += 1
                break
    _drain(session)
    return {"expired": expired, "delivered": delivered}


@rehearsal.stepping  # SQLite: the cases it reaches are worked out before the first write (ahead.outside)
def send_as(
    session: Session,
    user: Any,
    name: str,
    correlation: str | None,
    payload: Any = None,
    *,
    org_unit: str | None = None,
    kind: str = MESSAGE,
) -> Outcome:
    """A message or signal from outside any case: admins only (``POST /api/v1/messages``)."""
    from engine.errors import Forbidden
    from engine.orgs import service as orgs
    from engine.users import service as users

    if not users.is_admin(user):
        raise Forbidden("只有管理员可以发送消息 / only admins may send messages")
    if kind == SIGNAL:
        ahead.outside(session, kind, name, None, payload)
        return signal(session, name, payload, actor_id=user.id)
    unit = None
    if org_unit:
        try:
            unit = orgs.by_code(session, org_unit)
        except Exception as err:  # NotFound: a field error, not a 404 of the endpoint
            raise Invalid.on("org_unit", f"机构不存在 / no such org unit {org_unit!r}") from err
    ahead.outside(session, kind, name, messaging.normalize(correlation), payload, unit)
    return send(session, name, correlation, payload, actor_id=user.id, unit=unit)
