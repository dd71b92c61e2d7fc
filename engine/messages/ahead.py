"""Deliveries to cases already waiting, worked out before the write lock (SQLite; issue 18 item 10).

A message or signal a step throws reaches the cases already waiting for it (receive tasks, message and
signal catch events) in the sender's save (engine.messages.service): each receiving case is locked,
loaded, handed it, run on and saved. That is after the sender's first write, so on SQLite the receiving
case's steps (scripts, gateway conditions), its new tasks' deadlines and the correlation keys of its own
catches and throws were evaluated under the database's one write lock.

While the sender's lock is still deferred (``optimistic.deferring``), :func:`on_thrown` follows what the
step threw as the delivery will: for a message, the first case waiting for its name and key that
catches it; for a signal, every case waiting for it; then what those cases throw in turn. Each receiving
case is read with a deferred lock (its version is checked with the sender's when the lock is taken: a
case changed meanwhile makes the whole operation run again, nothing written), handed the message in
memory and run on, and what its save would evaluate is worked out (``instances.ready_to_save``, its
throws). The result is kept under a key naming the case, its stored state and the message. The
deliveries themselves run as before, after the sender's save, in the same order and with the same audit
events, and take the result kept for exactly that case in exactly that state instead of evaluating
(:func:`recall`). A message no waiting case catches has the cases it starts prepared the same way
(engine.messages.starts). What is not foreseen here misses and is worked out in place, as before: a
delivery to a case this operation hands something earlier (its state will have moved), what a case a
message starts throws. A buffered message for a catch at which the step's own case starts waiting is
worked out from the state its save will write (:meth:`_Plan.buffered`; the first such catch only).

A procedure rule's ``messages.send`` while the lock is deferred (the Bridge household's transfer
acceptance telling the project it leaves) is worked out the same way (:func:`predict`) and written with
the step (``optimistic.later``, engine.messages.service).
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.orm import Session

from engine import errors
from engine.bpmn import messaging, runtime
from engine.db import utcnow
from engine.instances import optimistic
from engine.instances import service as instances
from engine.instances.models import InstanceStatus, ProcessInstance
from engine.messages import starts, subscriptions
from engine.messages.models import MESSAGE, SIGNAL, BufferedMessage, MessageSubscription
from engine.orgs.models import OrgUnit
from engine.tasks.models import HumanTask, open_clause

MAX_AHEAD = 10_000  # deliveries followed per operation (as many as the delivery itself allows)
_ID: Any = bindparam("lock_key", type_=Integer)
_INVOLVED = "involved"  # in the kept results: the cases this operation changes (the sender, receivers)
_COUNT = "count"  # in the kept results: deliveries followed so far


@dataclass
class Worked:
    """A delivery worked out in memory: did the case catch it, and if so the case after it."""

    caught: bool
    wf: Any = None
    failure: runtime.EngineError | None = None  # a step after the catch failed: an incident
    due: instances.Due | None = None
    waiting: list[Any] | None = None
    thrown: list[Any] | None = None


def _key(instance: ProcessInstance, kind: str, name: str, payload: Any, bpmn_id: str | None) -> Any:
    return ("delivery", instance.id, instance.state, kind, name, repr(payload), bpmn_id)


def recall(
    session: Session, instance: ProcessInstance, kind: str, name: str, payload: Any, bpmn_id: str | None
) -> Worked | None:
    """The delivery worked out before the write lock for this case in exactly its state (once)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    kept: Worked | None = optimistic.ahead(session).pop(_key(instance, kind, name, payload, bpmn_id), None)
    return kept


def on_thrown(session: Session, *, loaded: Any) -> None:
    """``bus.THROWN_AHEAD``: work out the cases already waiting for what the step threw."""
    with session.no_autoflush:  # (a flush would be the first write: it would take the lock)
        plan = _Plan(session)
        plan.involved.add(loaded.instance.id)
        again = plan.buffered(loaded)  # delivered first (queued before the throws), its throws last
        plan.follow(loaded.instance, list(loaded.thrown or []) + list(again))


def outside(
    session: Session, kind: str, name: str, key: str | None, payload: Any, unit: OrgUnit | None = None
) -> None:
    """A message or signal from outside any case (an admin's ``POST /api/v1/messages``, a buffered message
    the scheduler's sweep hands over) at the start of its operation (SQLite, nothing written yet, wrapped
    in ``optimistic.retrying``): the cases waiting for it are worked out now, with what they throw."""
    if not optimistic.can_defer(session):
        return
    with session.no_autoflush:
        plan = _Plan(session)
        if kind == SIGNAL:
            reached = plan.signal(None, name, payload)
        else:
            one = plan.message(None, name, key, payload)
            reached = [] if one is None else [one]
            if one is None and unit is not None:
                starts.keep(session, unit, name, key, payload, None)
        for receiver, worked in reached:
            plan.follow(receiver, worked.thrown or [])


def predict(
    session: Session, name: str, key: str | None, payload: Any, sender: ProcessInstance | None
) -> int | None:
    """A rule's message while the lock is deferred: the waiting case that will catch it, worked out with
    what it throws in turn; ``None`` when it is not foreseen (no case waits: a case is started or the
    message kept; or the operation has handed other cases something already) — then it is sent now."""
    if sender is None or not optimistic.deferring(session):
        return None
    with session.no_autoflush:
        plan = _Plan(session)
        if plan.involved - {sender.id}:
            return None
        plan.involved.add(sender.id)
        found = plan.message(sender, name, key, payload)
        if found is None:
            return None
        receiver, worked = found
        plan.follow(receiver, worked.thrown or [])
        return receiver.id


class _Unforeseen(errors.Unavailable):  # noqa: N818 - not an error: the delivery is worked out in place
    """Working out a delivery failed unexpectedly: the delivery itself does it (and fails) in place.
    Caught in this module; were it ever to escape, it would be the server's fault (503)."""

    def __init__(self) -> None:
        super().__init__("消息投递未能预先算出 / a delivery could not be worked out ahead")


class _Plan:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.kept = optimistic.ahead(session)
        self.involved: set[int] = self.kept.setdefault(_INVOLVED, set())

    def follow(self, sender: ProcessInstance, thrown: list[Any]) -> None:
        """Each throw in the order the delivery takes them (a queue: what a receiver throws comes last)."""
        queue: deque[tuple[ProcessInstance, Any]] = deque((sender, t) for t in thrown)
        while queue and self.kept.get(_COUNT, 0) < MAX_AHEAD:
            self.kept[_COUNT] = self.kept.get(_COUNT, 0) + 1
            sender, item = queue.popleft()
            if item.kind == SIGNAL:
                reached = self.signal(sender, item.name, item.payload)
            else:
                key = subscriptions.resolved(item.key, sender)
                one = self.message(sender, item.name, key, item.payload)
                reached = [] if one is None else [one]
                if one is None and isinstance(sender, ProcessInstance):  # (not a case a rule starts)
                    unit = self.session.get(OrgUnit, sender.org_unit_id)
                    if unit is not None:  # the case it starts, prepared (engine.messages.starts)
                        starts.keep(self.session, unit, item.name, key, item.payload, sender.id)
            for receiver, worked in reached:
                queue.extend((receiver, t) for t in worked.thrown or [])

    def message(
        self, sender: ProcessInstance | None, name: str, key: str | None, payload: Any
    ) -> tuple[ProcessInstance, Worked] | None:
        sender_id = sender.id if sender is not None else None
        for instance_id, bpmn_id in subscriptions.waiting_for(self.session, MESSAGE, name, key):
            if instance_id == sender_id:
                continue
            if instance_id in self.involved:
                return None  # its state will have moved by then: worked out at its delivery
            try:
                found = self.work(instance_id, MESSAGE, name, payload, bpmn_id)
            except _Unforeseen:
                return None
            if found is not None and found[1].caught:
                return found
        return None

    def signal(
        self, sender: ProcessInstance | None, name: str, payload: Any
    ) -> list[tuple[ProcessInstance, Worked]]:
        reached, seen = [], set()
        sender_id = sender.id if sender is not None else None
        for instance_id, _bpmn_id in subscriptions.waiting_for(self.session, SIGNAL, name, None):
            if instance_id == sender_id or instance_id in seen:
                continue
            seen.add(instance_id)
            if instance_id in self.involved:
                continue
            try:
                found = self.work(instance_id, SIGNAL, name, payload, None)
            except _Unforeseen:
                continue
            if found is not None and found[1].caught:
                reached.append(found)
        return reached

    def work(
        self, instance_id: int, kind: str, name: str, payload: Any, bpmn_id: str | None
    ) -> tuple[ProcessInstance, Worked] | None:
        """Read the case (deferred lock), hand it the message in memory and run it on."""
        if any(isinstance(o, ProcessInstance) and o.id == instance_id for o in self.session.dirty):
            self.involved.add(instance_id)
            raise _Unforeseen  # changed in this transaction already: not as stored
        instance = optimistic.lock(self.session, instance_id, _ID)
        if instance.status != InstanceStatus.RUNNING:
            return None
        try:
            worked = self._run_on(instance, kind, name, payload, bpmn_id)
        except Exception as err:  # not foreseen: the delivery works it out (and fails) in place
            self.involved.add(instance.id)
            raise _Unforeseen from err
        self.kept[_key(instance, kind, name, payload, bpmn_id)] = worked
        if worked.caught:
            self.involved.add(instance.id)
        return instance, worked

    def buffered(self, sender: Any) -> list[Any]:
        """The step's case starts waiting at a message catch for which a message is kept (the first such
        catch: its save hands it over): worked out on the state the save will write; what it throws."""
        instance = sender.instance
        if not isinstance(instance, ProcessInstance) or sender.wf.is_completed():
            return []
        rows = self.session.scalars(
            select(MessageSubscription).where(MessageSubscription.instance_id == instance.id)
        )
        waiting = {(r.kind, r.name, r.bpmn_id, r.correlation_key) for r in rows if r.waiting}
        for w in sender.waiting or []:
            key = subscriptions.resolved(w.key, instance)
            if w.kind != MESSAGE or w.is_start or (w.kind, w.name, w.bpmn_id, key) in waiting:
                continue
            kept = self.session.scalars(
                select(BufferedMessage)
                .where(
                    BufferedMessage.name == w.name, subscriptions.key_is(BufferedMessage.correlation_key, key)
                )
                .where(BufferedMessage.expires_at > utcnow())
                .order_by(BufferedMessage.id)
                .limit(1)
            ).first()
            if kept is None:
                continue
            state = runtime.dump_state(sender.wf)  # (what the save writes: the delivery's key)
            opened = frozenset(str(t.id) for t in runtime.ready_human_tasks(sender.wf))
            try:
                wf = runtime.load_state(state, sender.compiled)
                worked = self._run_on(instance, MESSAGE, w.name, kept.payload, w.bpmn_id, (wf, opened))
            except Exception:  # noqa: BLE001 - worked out (and failing) in place
                return []
            if worked.caught:
                key_ = ("delivery", instance.id, state, MESSAGE, w.name, repr(kept.payload), w.bpmn_id)
                self.kept[key_] = worked
                return list(worked.thrown or [])
            return []
        return []

    def _run_on(
        self,
        instance: ProcessInstance,
        kind: str,
        name: str,
        payload: Any,
        bpmn_id: str | None,
        start: tuple[Any, frozenset[str]] | None = None,
    ) -> Worked:
        if start is None:
            loaded = instances.load(self.session, instance)
        else:
            loaded = instances.Loaded(instance, instances.load_spec(self.session, instance), start[0])
        caught = messaging.catch(loaded.wf, kind, name, copy.deepcopy(payload), bpmn_id)
        worked = Worked(bool(caught))
        if not worked.caught:
            return worked
        try:
            runtime.advance(loaded.wf)
        except runtime.EngineError as err:  # the case caught it; a step after it failed: an incident
            worked.failure = err
        if start is None:
            opened = frozenset(
                self.session.scalars(
                    select(HumanTask.spiff_task_id).where(HumanTask.instance_id == instance.id, open_clause())
                )
            )
        else:
            opened = start[1]
        instances.ready_to_save(loaded, opened)
        worked.wf, worked.due, worked.waiting = loaded.wf, loaded.due, loaded.waiting
        worked.thrown = messaging.take_thrown(loaded.wf)
        return worked
