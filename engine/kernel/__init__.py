"""The execution kernel's announcements.

``engine.instances.service`` loads, steps and saves a workflow under the instance lock; what happened is
announced here (a task opened or completed, a case ended, a timer fell due) and the parts built on top
— the task projection, deadlines, procedures' rules, the step records, notices of new work — subscribe
at engine start-up (:func:`engine.wiring.init`). Execution thereby has one direction: nothing below
imports the modules that react to it. This module imports nothing of the engine.
"""
