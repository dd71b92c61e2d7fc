"""Parallel branches' data, merged by what each branch changed.

Each SpiffWorkflow task holds its own copy of the process data. At a fork every branch starts from the
same copy; at the join SpiffWorkflow merges the branches' copies whole, one after another, so a branch
that left a field alone writes back the value it was given at the fork over the value another branch
entered (and a branch cannot remove a field or a list item at all). A caseworker's entry in one branch
was lost when a colleague finished the other branch last.

Here a join (parallel or inclusive gateway), a process's end and the case's current data merge the
branches three-way:
against the data at the point where the branches parted (their nearest common task), each branch
contributes only what it changed — a new or different value, a removed field, nested objects field by
field — in the order the branches finished; when two branches changed the same field, the later one
wins, as it would have had they run one after the other. A branch may also end at an end event of its
own (a reminder's path off a timer, say): the process's end merges it the same way, and until then the
case's data shows its entries.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

_ABSENT = object()


def _changes(base: Mapping[str, Any], branch: Mapping[str, Any], into: dict[str, Any], share: bool) -> None:
    """Apply to ``into`` what ``branch`` changed with respect to ``base`` (a nested object is copied
    before it is changed, so nothing ``into`` shares with ``base`` is altered)."""
    for key, value in branch.items():
        before = base.get(key, _ABSENT)
        if before is _ABSENT or before != value:
            current = into.get(key, _ABSENT)
            if isinstance(before, dict) and isinstance(value, dict) and isinstance(current, dict):
                into[key] = current = dict(current)
                _changes(before, value, current, share)  # nested objects: field by field
            else:
                into[key] = value if share else copy.deepcopy(value)
    for key in base:
        if key not in branch:
            into.pop(key, None)


def merge_branches(
    base: Mapping[str, Any], branches: Iterable[Mapping[str, Any]], *, share: bool = False
) -> dict[str, Any]:
    """``base`` with each branch's changes applied in turn (later branches win a field both changed).
    The result is a copy of its own unless ``share``: then it may hold the inputs' values (to be read,
    not changed)."""
    merged = dict(base) if share else copy.deepcopy(dict(base))
    for branch in branches:
        _changes(base, branch, merged, share)
    return merged


def _up(task: Task) -> Task | None:
    """The task before this one; a subprocess's first task comes after the task that started it."""
    if task.parent is not None:
        return task.parent
    parent_id = getattr(task.workflow, "parent_task_id", None)
    if parent_id is None:
        return None
    found: Task | None = task.workflow.top_workflow.get_task_from_id(parent_id)
    return found


def _lineage(task: Task) -> list[Task]:
    line: list[Task] = []
    current: Task | None = task
    while current is not None:
        line.append(current)
        current = _up(current)
    return line


def common_ancestor(tasks: list[Task]) -> Task | None:
    """The nearest task every one of ``tasks`` descends from (or is)."""
    if not tasks:
        return None
    others = [{t.id for t in _lineage(task)} for task in tasks[1:]]
    for candidate in _lineage(tasks[0]):
        if all(candidate.id in ids for ids in others):
            return candidate
    return None


def merged_data(ends: list[Task]) -> dict[str, Any] | None:
    """The branches ending at ``ends`` (in the order they finished) merged three-way; None when they
    share no ancestor (the caller keeps its own way then)."""
    base = common_ancestor(ends)
    if base is None:
        return None
    return merge_branches(base.data, (end.data for end in ends))


def _unjoined(task: Task) -> bool:
    """A join task that has not taken its branch's data: waiting, or cancelled by a later arrival."""
    return isinstance(task.task_spec, UnstructuredJoin) and not task.has_state(
        TaskState.READY | TaskState.COMPLETED
    )


def _branch_data(task: Task) -> dict[str, Any]:
    """The data a ready or waiting task stands for: a ready task holds a full copy (its predecessor's,
    with any correction made since); a join that has not run has not taken its branch's data, its
    predecessor's stands for the branch; another waiting task's own data is laid over its predecessor's."""
    parent = task.parent
    if parent is not None and _unjoined(task):
        return dict(parent.data)
    if parent is None or task.has_state(TaskState.READY | TaskState.FINISHED_MASK):
        return dict(task.data)
    return {**parent.data, **task.data}


def _moved(task: Task) -> float:
    """When a task's branch last moved: for a join that has not run, when its branch arrived."""
    parent = task.parent
    return float(
        parent.last_state_change if parent is not None and _unjoined(task) else task.last_state_change
    )


def ended_branches(tasks: Iterable[Task]) -> list[Task]:
    """Of ``tasks``, the end joins of branches that ended at an end event of their own while the process
    goes on: the last to arrive waits, an earlier one was cancelled by the next arrival (SpiffWorkflow
    lets only one wait). A process that is over or was cancelled has none."""
    ended = []
    for task in tasks:
        if not (isinstance(task.task_spec, _EndJoin) and _unjoined(task) and task.parent is not None):
            continue
        if not task.parent.has_state(TaskState.COMPLETED):
            continue
        parent_id = getattr(task.workflow, "parent_task_id", None)
        if parent_id is not None:  # a subprocess: only while the activity that runs it is running
            runs = task.workflow.top_workflow.get_task_from_id(parent_id)
            if runs is None or runs.has_state(TaskState.FINISHED_MASK):
                continue
        ended.append(task)
    return ended


def in_flight(tasks: list[Task]) -> dict[str, Any]:
    """The data as it stands while branches run: the tasks given (the last one finished, those ready or
    waiting, and the ends of branches that ended on their own), each standing for its branch, merged
    three-way in the order they last moved."""
    unique = sorted({t.id: t for t in tasks}.values(), key=_moved)
    datas = [_branch_data(task) for task in unique]
    base = common_ancestor(unique)
    if base is not None:  # read only (the save turns it into JSON): the values need not be copied
        return merge_branches(base.data, datas, share=True)
    merged: dict[str, Any] = {}  # no common ancestor: overlaid in order, as SpiffWorkflow would
    for data in datas:
        merged.update(data)
    return merged


def _of_this_round(task: Task, my_task: Task) -> bool:
    """Whether another task of ``my_task``'s join arrived in the same round: not a previous firing (an
    ancestor) and not a branch's join left from an earlier round of a loop back through the fork. That
    one is recognised by the path from where its branch and this one parted down to this one: it passes
    the parting element again (the loop came back to the fork) or the join itself (the join fired since).
    SpiffWorkflow counted such a leftover as arrived and fired on the first branch of the next round."""
    if task is my_task or task.parent is None or my_task.is_descendant_of(task):
        return False
    parted = common_ancestor([task, my_task])
    node = my_task.parent
    while node is not None and node is not parted:
        if node.task_spec == my_task.task_spec or (parted is not None and node.task_spec == parted.task_spec):
            return False
        node = node.parent
    return True


class _ThreeWayJoin:
    """The join's merge of the branches, three-way (see the module's doc)."""

    # a gateway's spent branch joins are removed once it fired (a loop may pass it again)
    _bury_spent = True

    def _arrived(self, task: Task, my_task: Task) -> bool:
        """Whether ``task`` (another finished task of this join) brings a branch to merge now."""
        return _of_this_round(task, my_task)

    def _merge_branches(self, my_task: Task) -> bool:
        """Set the join's data to its branches merged; False (nothing done) when they share no task."""
        arrived = [
            t
            for t in my_task.workflow.tasks.values()
            if t.task_spec == self and t.has_state(TaskState.FINISHED_MASK) and self._arrived(t, my_task)
        ]
        arrived.sort(key=_moved)
        merged = merged_data([t.parent for t in arrived] + [my_task.parent])
        if merged is None:
            return False
        for task in arrived:
            if task.has_state(TaskState.COMPLETED):  # a reset inside a branch (as SpiffWorkflow does)
                task._drop_children(force=True)
            elif self._bury_spent and task.has_state(TaskState.CANCELLED):
                _bury(task)
        my_task.data = merged
        return True


def _bury(task: Task) -> None:
    """Remove a branch's cancelled join task once the join has fired, with the finished end of its branch
    up to the fork: merged into the join, it is spent; left in the tree, the tree would grow by a branch
    each round of a loop back through the fork."""
    workflow = task.workflow
    while task.parent is not None and not task._children and task is not workflow.last_task:
        parent = task.parent
        parent._children.remove(task.id)
        del workflow.tasks[task.id]
        if parent._children or not parent.has_state(TaskState.FINISHED_MASK):
            return
        task = parent


class MergingParallelGateway(_ThreeWayJoin, ParallelGateway):
    """A parallel gateway whose join merges the branches by their changes, and which after a loop back
    through its fork waits for this round's branches (SpiffWorkflow counted a branch's join left
    from the round before as arrived, and fired on the first branch of the second round)."""

    def _check_threshold_unstructured(self, my_task: Task) -> bool:
        # a start event gives its token once, when the case starts: never waited for again (a loop
        # back into a gateway the start event also leads to)
        waiting = {spec for spec in self.inputs if not isinstance(spec, StartEvent)}
        if my_task.parent is not None and my_task.parent.has_state(TaskState.COMPLETED):
            waiting.discard(my_task.parent.task_spec)
        for task in my_task.workflow.get_tasks(spec_name=self.name):
            if task is my_task:
                continue
            if task.is_descendant_of(my_task):
                # a loop into this join: the input it comes back by is reached only after this firing,
                # not waited for (SpiffWorkflow's rule, kept)
                ancestor: Task | None = task.parent
                while ancestor is not None and ancestor.task_spec not in waiting:
                    ancestor = ancestor.parent
                if ancestor is not None:
                    waiting.discard(ancestor.task_spec)
            elif _of_this_round(task, my_task) and task.parent.has_state(TaskState.COMPLETED):
                waiting.discard(task.parent.task_spec)
        return not waiting

    def _run_hook(self, my_task: Task) -> bool:
        return self._merge_branches(my_task) or bool(super()._run_hook(my_task))


class MergingInclusiveGateway(_ThreeWayJoin, InclusiveGateway):
    """An inclusive gateway whose join merges the branches that were taken by their changes; its
    conditions are then evaluated on the merged data."""

    def _run_hook(self, my_task: Task) -> bool:
        if not self._merge_branches(my_task):
            return bool(super()._run_hook(my_task))
        matches, defaults = self._get_matching_outputs(my_task)
        if not matches and not defaults:
            raise WorkflowTaskException("No conditions satisfied on gateway", task=my_task)
        my_task._sync_children(matches or defaults, TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
        return True


class MergingEndJoin(_ThreeWayJoin, _EndJoin):
    """A process's end (SpiffWorkflow's join of all its end events) that merges the branches which ended
    at end events of their own with the last one three-way. SpiffWorkflow laid each branch's whole copy
    over the others, the last branch's copy last: a field an ended branch had changed went back to the
    value the last branch had been given where they parted."""

    _bury_spent = False  # the process is over: nothing loops through its end again

    def _arrived(self, task: Task, my_task: Task) -> bool:
        # every branch that ended in this process (the end fires once: no earlier round to leave out)
        return task is not my_task and task.parent is not None and not my_task.is_descendant_of(task)

    def _run_hook(self, my_task: Task) -> bool:
        if not self._merge_branches(my_task):
            return bool(super()._run_hook(my_task))
        my_task.workflow.data.update(my_task.data)
        return True
