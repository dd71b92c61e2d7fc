"""Business-rule tasks: a decision table named by id, the version the case keeps, evaluated safely.

SpiffWorkflow's business-rule task binds a parsed DMN table when the BPMN is parsed and evaluates its
cells by pasting text into Python expressions. Here the task spec (:class:`DecisionTask`, SpiffWorkflow's
:class:`BusinessRuleTaskMixin`) keeps only the decision's id; its ``dmnEngine`` is a
:class:`PinnedDecision` that, when the task runs, looks up the version of that decision the case keeps
(``_decisions`` in the case data: ``{decision id: version}``, fixed when the case starts) in
:data:`TABLES` (filled by :mod:`engine.decisions.service`) and evaluates it with :mod:`engine.bpmn.dmn`.

A task names its decision with ``spiffworkflow:calledDecisionId`` (SpiffWorkflow's modeler) or
``camunda:decisionRef`` (Camunda Modeler; ``${...}`` expressions are not read).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.ProcessParser import AdHocParser
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser, GatewayParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.dmn.specs import BusinessRuleTaskMixin
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser, SpiffProcessParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser
from SpiffWorkflow.spiff.serializer.task_spec import SpiffBpmnTaskConverter
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask

from engine.bpmn import dmn
from engine.bpmn.joins import MergingEndJoin, MergingInclusiveGateway, MergingParallelGateway
from engine.bpmn.xmlsafe import BPMN_NS, CAMUNDA_NS, SPIFF_NS

SUGGESTED_KEY = "_suggested"  # decision outputs a later form starts from: {field name: value}
PINS_KEY = "_decisions"  # the decision versions a case keeps: {decision id: {"version", "sha256"}}
# Every decision version this process has read: (decision id, version, sha256) -> table. The content's
# hash is part of the key, so a version number reused after a rolled-back deploy never reads stale.
TABLES: dict[tuple[str, int, str], dmn.DecisionTable] = {}


def pin_of(data: dict[str, Any], ref: str) -> tuple[str, int, str] | None:
    """The (decision id, version, sha256) of ``ref`` a case keeps in its data, if any."""
    pins = data.get(PINS_KEY)
    pin = pins.get(ref) if isinstance(pins, dict) else None
    if not isinstance(pin, dict) or not isinstance(pin.get("version"), int):
        return None
    return ref, pin["version"], str(pin.get("sha256") or "")


def decision_ref(el: Any) -> str | None:
    """The decision a ``businessRuleTask`` element names (``None`` when it names none)."""
    for prop in el.iter(f"{{{SPIFF_NS}}}calledDecisionId"):
        if (prop.text or "").strip():
            return str(prop.text).strip()
    camunda = (el.get(f"{{{CAMUNDA_NS}}}decisionRef") or "").strip()
    return camunda or None


def decision_refs(root: Any, processes: list[Any] | None = None) -> list[tuple[Any, str | None]]:
    """Every business-rule task element of the given processes (all of the file when ``None``) with the
    decision it names."""
    containers = processes if processes is not None else [root]
    return [(el, decision_ref(el)) for c in containers for el in c.iter(f"{{{BPMN_NS}}}businessRuleTask")]


class PinnedDecision:
    """What SpiffWorkflow's business-rule task calls ``dmnEngine``: ``result(task)`` is the outputs of
    the version of the decision the case keeps, on the task's data."""

    def __init__(self, ref: str | None):
        self.ref = ref

    def table(self, data: dict[str, Any]) -> dmn.DecisionTable:
        pin = pin_of(data, str(self.ref))
        table = TABLES.get(pin) if pin is not None else None
        if table is None:
            raise dmn.DecisionError(
                f"本案件没有决策表“{self.ref}”的版本 / the case keeps no version of decision '{self.ref}'"
            )
        return table

    def result(self, task: Any) -> dict[str, Any]:
        """The decision's outputs; they are also kept under :data:`SUGGESTED_KEY` so that a later form
        with a field of the same name starts from the suggestion (staff confirm or change it)."""
        outputs = dmn.decide(self.table(task.data), task.data).result
        kept = task.data.get(SUGGESTED_KEY)
        suggested = {**(kept if isinstance(kept, dict) else {}), **outputs}
        return {**outputs, SUGGESTED_KEY: suggested}


class DecisionTask(BusinessRuleTaskMixin, SpiffBpmnTask):
    """A business-rule task whose decision is resolved when it runs (see the module)."""

    @property
    def decision_ref(self) -> str | None:
        return getattr(self.dmnEngine, "ref", None)


class DecisionTaskParser(SpiffTaskParser):
    def create_task(self) -> DecisionTask:
        extensions = self.parse_extensions()
        return DecisionTask(
            self.spec,
            self.bpmn_id,
            dmnEngine=PinnedDecision(decision_ref(self.node)),
            prescript=extensions.get("preScript"),
            postscript=extensions.get("postScript"),
            **self.bpmn_attributes,
        )

    @staticmethod
    def get_decision_ref(node: Any) -> str | None:
        return decision_ref(node)


class DecisionTaskConverter(SpiffBpmnTaskConverter):
    def to_dict(self, spec: DecisionTask) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        dct["decision_ref"] = spec.decision_ref
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        dct["dmnEngine"] = PinnedDecision(dct.pop("decision_ref", None))
        return self.task_spec_from_dict(dct)


class _MergingEnd:
    """A process spec whose end merges the branches that ended at end events of their own by their
    changes (engine.bpmn.joins.MergingEndJoin)."""

    def create_spec(self) -> Any:
        spec = super().create_spec()  # type: ignore[misc]
        # SpiffWorkflow's process spec makes its own end join; the subclass only overrides a hook, so the
        # freshly made, not yet run join changes class in place, keeping its name and connections
        spec.end.__class__ = MergingEndJoin
        return spec


class ProcessParser(_MergingEnd, SpiffProcessParser):
    pass


class AdHocProcessParser(_MergingEnd, AdHocParser):
    pass


class Parser(SpiffBpmnParser):
    """SpiffWorkflow's Spiff parser with business-rule tasks that resolve their decision at run time,
    and joins and process ends that merge parallel branches by their changes (engine.bpmn.joins)."""

    PROCESS_PARSER_CLASS = ProcessParser
    AD_HOC_PARSER_CLASS = AdHocProcessParser

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
        full_tag("parallelGateway"): (GatewayParser, MergingParallelGateway),
        full_tag("inclusiveGateway"): (ConditionalGatewayParser, MergingInclusiveGateway),
    }


def refs_of(specs: list[Any]) -> set[str]:
    """The decisions the business-rule tasks of these process specs name."""
    return {
        str(task.decision_ref)
        for spec in specs
        for task in spec.task_specs.values()
        if isinstance(task, DecisionTask) and task.decision_ref
    }
