"""Camunda Modeler's extensions, read into what the engine runs — and a warning for each one it does not.

| Camunda                                   | here                                                        |
|-------------------------------------------|-------------------------------------------------------------|
| ``camunda:candidateGroups``               | the task's role (the first group that is a known role)      |
| ``camunda:candidateUsers``                | a role too, when a listed name is a role (users are not)    |
| ``camunda:assignee="${initiator}"``       | the task goes straight to the user who started the case     |
| ``camunda:initiator="x"`` (start event)   | case variable ``x`` = the starter's user name               |
| ``camunda:formKey`` / ``camunda:formRef`` | our form of that key (``embedded:app:forms/a-b.html`` → ``a_b``) when it exists; a plain key that is no form of ours is an error |
| ``camunda:dueDate``                       | the step's deadline (``P3D``, ``PT48H``, ``${dateTime().plusDays(3)…}``) |
| ``camunda:properties``                    | properties, like ``spiffworkflow:properties``               |

Everything else in the Camunda (or Zeebe, Activiti, Flowable) namespaces — execution and task
listeners, input/output mappings, form fields, async flags, history settings — is not executed; lint
warns about each of them, naming the element, rather than dropping it in silence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from engine.bpmn.xmlsafe import BPMN_NS, CAMUNDA_NS, WARNING, ZEEBE_NS, Problem

ACTIVITI_NS = "http://activiti.org/bpmn"
FLOWABLE_NS = "http://flowable.org/bpmn"
VENDORS = {CAMUNDA_NS: "camunda", ZEEBE_NS: "zeebe", ACTIVITI_NS: "activiti", FLOWABLE_NS: "flowable"}

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_EXPRESSION = re.compile(r"^\s*\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\s*$")
_PLUS = re.compile(
    r"^\s*\$\{\s*dateTime\(\)\s*\.\s*plus(Days|Hours|Weeks)\(\s*(\d{1,4})\s*\)[\w().\s]*\}\s*$", re.IGNORECASE
)
_ISO_DURATION = re.compile(r"^\s*P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?\s*$", re.IGNORECASE)

# Attributes and extension elements read here or elsewhere in the engine (no warning for them).
HANDLED_ATTRIBUTES = frozenset(
    {
        "candidateGroups",
        "candidateUsers",
        "assignee",
        "initiator",
        "formKey",
        "formRef",
        "formRefBinding",
        "formRefVersion",
        "dueDate",
        "decisionRef",  # a business-rule task's decision (engine.bpmn.dmn_task)
    }
)
HANDLED_ELEMENTS = frozenset({"properties", "property"})


def _attr(el: etree._Element, name: str) -> str | None:
    return el.get(f"{{{CAMUNDA_NS}}}{name}")


def _tokens(text: str | None) -> list[str]:
    return _TOKEN.findall(text or "")


def initiator_variable(root: etree._Element) -> str | None:
    """The variable ``camunda:initiator`` of a start event names (the starter's user name goes there)."""
    for start in root.iter(f"{{{BPMN_NS}}}startEvent"):
        name = _attr(start, "initiator")
        if name and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            return name.strip()
    return None


def form_candidates(text: str) -> list[str]:
    """Our form keys a Camunda form reference may mean, most specific first:
    ``embedded:app:forms/approve-invoice.html`` → ``forms/approve-invoice.html``, ``approve-invoice.html``,
    ``approve-invoice``, ``approve_invoice``."""
    value = text.strip()
    found = [value]
    tail = value.rsplit(":", 1)[-1]
    base = tail.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    for candidate in (tail, base, stem, stem.replace("-", "_")):
        if candidate and candidate not in found:
            found.append(candidate)
    return found


def deadline_of(text: str) -> str | None:
    """A ``camunda:dueDate`` as one of our deadlines ("3 days", "PT48H"), ``None`` when it is not a
    duration from the step's start (a fixed date, another expression)."""
    if _ISO_DURATION.match(text):
        return text.strip().upper()
    match = _PLUS.match(text)
    if match is None:
        return None
    unit, amount = match.group(1).lower(), int(match.group(2))
    if unit == "hours":
        return f"PT{amount}H"
    return f"{amount * 7 if unit == 'weeks' else amount} days"


@dataclass
class UserTaskReading:
    """What a user task's Camunda attributes give, and warnings for what they cannot."""

    role: str | None = None
    form_key: str | None = None
    deadline: str | None = None
    assignee: str | None = None  # "initiator": the case's starter
    warnings: list[Problem] = field(default_factory=list)


def read_user_task(
    el: etree._Element,
    known_roles: set[str],
    form_known: Callable[[str], bool] | None,
    initiator_var: str | None,
) -> UserTaskReading:
    """Read a user task's Camunda attributes (``el`` is its XML element)."""
    out = UserTaskReading()
    bpmn_id, line = el.get("id"), el.sourceline

    def warn(message: str) -> None:
        out.warnings.append(Problem(message, bpmn_id, line, WARNING))

    groups = _tokens(_attr(el, "candidateGroups"))
    users = _tokens(_attr(el, "candidateUsers"))
    roles = [t for t in groups + users if t in known_roles]
    out.role = roles[0] if roles else None
    for token in groups:
        if token not in known_roles:
            warn(
                f"候选组“{token}”不是已知角色，已忽略 / candidate group {token!r} is not a known role: ignored"
            )
    for token in users:
        if token not in known_roles:
            warn(
                f"候选用户“{token}”已忽略：任务按角色分配 / candidate user {token!r} ignored: tasks go to roles, "
                "not to named users"
            )
    assignee = _attr(el, "assignee")
    if assignee is not None:
        match = _EXPRESSION.match(assignee)
        if match and match.group(1) in {"initiator", initiator_var}:
            out.assignee = "initiator"
        else:
            warn(
                f"办理人“{assignee[:80]}”已忽略：只支持 ${{initiator}}（发起人）/ assignee {assignee[:80]!r} ignored: "
                "only ${initiator} (the user who started the case) is supported; the task goes to its role"
            )
    reference = _attr(el, "formKey") or _attr(el, "formRef")
    if reference:
        candidates = form_candidates(reference)
        if form_known is None or len(candidates) == 1:
            # a plain key names one of our forms: if it does not exist, lint refuses it as a missing form
            out.form_key = candidates[-1]
        else:
            out.form_key = next((c for c in candidates if form_known(c)), None)
            if out.form_key is None:
                warn(
                    f"表单“{reference[:80]}”没有对应的表单，此环节不带表单 / no form matches {reference[:80]!r}: the "
                    f"step has no form (looked for {', '.join(candidates[1:] or candidates)})"
                )
    due = _attr(el, "dueDate")
    if due:
        out.deadline = deadline_of(due)
        if out.deadline is None:
            warn(
                f"办理期限“{due[:80]}”无法换算，已忽略 / dueDate {due[:80]!r} ignored: give a duration "
                "(P3D, PT48H) or ${dateTime().plusDays(3).toDate()}"
            )
    return out


def _what(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def ignored(processes: Iterable[etree._Element]) -> list[Problem]:
    """A warning for every vendor attribute or extension element of ``processes`` the engine does not
    read, on the BPMN element that carries it (a listener on a task names the task)."""
    found: list[Problem] = []
    for process in processes:
        for el in process.iter():
            if not isinstance(el.tag, str):
                continue
            namespace = etree.QName(el).namespace
            if namespace == BPMN_NS:
                for attr in el.attrib:
                    qname = etree.QName(attr)
                    vendor = VENDORS.get(qname.namespace or "")
                    if vendor is None or (vendor == "camunda" and qname.localname in HANDLED_ATTRIBUTES):
                        continue
                    found.append(_ignored(f"{vendor}:{qname.localname}", el))
            elif namespace in VENDORS:
                parent = el.getparent()
                if parent is None or etree.QName(parent).localname != "extensionElements":
                    continue  # nested inside a vendor element: its outermost element is reported
                if VENDORS[namespace] in ("camunda", "zeebe") and _what(el) in HANDLED_ELEMENTS:
                    continue
                owner = parent.getparent()
                if _what(el) == "formData" and owner is not None and _what(owner) == "startEvent":
                    continue  # a start event's form fields are its start data (engine.instances.startdata)
                found.append(
                    _ignored(f"{VENDORS[namespace]}:{_what(el)}", owner if owner is not None else el)
                )
    return found


def _ignored(what: str, el: etree._Element) -> Problem:
    return Problem(
        f"扩展 {what} 不被本引擎执行，已忽略 / extension {what} is not executed by this engine: ignored",
        el.get("id"),
        el.sourceline,
        WARNING,
    )
