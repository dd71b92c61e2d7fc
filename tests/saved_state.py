"""A workflow driven as the service drives it, without a database: kept only as its saved state between
steps (loaded, one step run, advanced and saved again), for the engine tests on BPMN files."""

from __future__ import annotations

from engine.bpmn import runtime as rt


class SavedState:
    def __init__(self, compiled, data=None):
        self.compiled = compiled
        wf = rt.new_workflow(compiled, dict(data or {}))
        rt.advance(wf)
        self.state = rt.dump_state(wf)

    @property
    def wf(self):
        return rt.load_state(self.state, self.compiled)

    def ready(self):
        """The BPMN ids of the ready human tasks, sorted."""
        return sorted(t.task_spec.bpmn_id for t in rt.ready_human_tasks(self.wf))

    def complete(self, bpmn_id, **data):
        """Complete the ready human task ``bpmn_id`` with ``data``; returns the workflow after the step."""
        wf = self.wf
        return self._run(
            wf, next(t for t in rt.ready_human_tasks(wf) if t.task_spec.bpmn_id == bpmn_id), data
        )

    def complete_task(self, task_id, **data):
        """Complete the task with this id (a multi-instance step's one instance, say)."""
        wf = self.wf
        return self._run(wf, rt.find_task(wf, task_id), data)

    def _run(self, wf, task, data):
        task.set_data(**data)
        task.run()
        rt.advance(wf)
        self.state = rt.dump_state(wf)
        return wf

    def data(self):
        """The case data as the save writes it."""
        return rt.current_data(self.wf)
