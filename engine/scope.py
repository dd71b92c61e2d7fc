"""SQL filters (and their Python twins) that restrict rows to what a user's grants cover.

A grant (engine.users.models.RoleGrant) covers a case when three things hold:

* **unit**: the case lies inside the grant's org unit;
* **procedure**: the case's procedure is one the grant names (``procedures``: process keys, or a family as
  a key prefix ending in ``*``). A grant naming none covers the default: every procedure for admins and
  the supervising roles (street head, district officer and head, city officer: they oversee their unit's
  whole workload), and for every other role the procedures whose deployed BPMN (any version) gives one of
  its steps to that role (lane, candidate group or escalation target). So the Gansu officer, the aided
  agency and the expert reach Twinning cases only, the foundation its own procedures only;
* **contract**: a grant ``bound_to`` business keys (the Bridge Plan projects or Twinning pairings an
  agency is contracted for) covers only the cases with one of those keys and their sub-cases (a
  project's household cases). An agency's grant held at the city level and bound to no contract does
  not reach the district-contracted procedures (``DISTRICT_CONTRACTED``: the Bridge Plan, whose agencies
  the districts contract, 沪民救发〔2024〕9号 二、（二）and 四、（二）1): it must name the district or the project.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, false, or_, select, true
from sqlalchemy.orm import Session

from engine.bpmn import multiinstance
from engine.bpmn.parsing import BpmnInvalid
from engine.db import per_transaction
from engine.instances.models import ProcessInstance
from engine.orgs import service as orgs
from engine.orgs.models import OrgLevel, OrgUnit
from engine.users.models import SUPERVISOR_ROLES, Role, RoleGrant, User

AGENCY_ROLES = frozenset({Role.AGENCY_LEAD, Role.AGENCY_WORKER})
DISTRICT_CONTRACTED = ("bridge_plan_",)  # process-key prefixes

# (definition id, sha256) -> roles its steps name; a deployed version never changes.
_ROLES_OF: dict[tuple[int, str], frozenset[str]] = {}
# read once per transaction (a deploy may add a version; one flushed here is seen by ``_deployed``)
_SESSION_KEY = per_transaction("assistflow.role_procedures")
_DEFINITIONS: list[Any] = []  # the statement reading every deployed version's id, key and sha256


def unit_clause(unit: OrgUnit, model: Any) -> Any:
    if unit.level == OrgLevel.CITY:
        return true()
    if unit.level == OrgLevel.DISTRICT:
        return model.district_id == unit.id
    if unit.level == OrgLevel.STREET:
        return model.street_id == unit.id
    return model.org_unit_id == unit.id


def role_procedures(session: Session) -> dict[str, frozenset[str]]:
    """Role -> the process keys whose deployed BPMN gives it a step (read once per transaction)."""
    cached = session.info.get(_SESSION_KEY)
    if cached is not None:
        return cached
    from engine.definitions import service as definitions  # definitions depend on users; import late
    from engine.definitions.models import ProcessDefinition

    if not _DEFINITIONS:  # built once (every transaction that checks a grant reads it)
        _DEFINITIONS.append(select(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.sha256))
    out: dict[str, set[str]] = {}
    for def_id, key, sha in session.execute(_DEFINITIONS[0]):
        roles = _ROLES_OF.get((def_id, sha))
        if roles is None:
            try:
                compiled = definitions.compiled(session, def_id)
            except BpmnInvalid:  # a version that no longer compiles gives no step to anyone
                _ROLES_OF[(def_id, sha)] = frozenset()
                continue
            names = {m.role for m in compiled.tasks.values() if m.role}
            names |= {
                m.properties["escalate_to"].strip()
                for m in compiled.tasks.values()
                if m.properties.get("escalate_to")
            }
            for m in compiled.tasks.values():  # a multi-instance step's roles (one instance per party)
                names |= set(multiinstance.declared_roles(m.properties))
            roles = _ROLES_OF[(def_id, sha)] = frozenset(names)
        for role in roles:
            out.setdefault(role, set()).add(key)
    result = {role: frozenset(keys) for role, keys in out.items()}
    session.info[_SESSION_KEY] = result
    return result


@event.listens_for(Session, "after_flush")
def _deployed(session: Session, _context: Any) -> None:
    """A version deployed in this transaction: read the map afresh too."""
    from engine.definitions.models import ProcessDefinition

    if any(isinstance(o, ProcessDefinition) for o in session.new):
        session.info.pop(_SESSION_KEY, None)


def all_procedures(grant: RoleGrant) -> bool:
    """Does the grant cover every procedure (no list, a supervising role or admin)?"""
    return not grant.procedures and grant.role in SUPERVISOR_ROLES


def covers_procedure(session: Session, grant: RoleGrant, process_key: str) -> bool:
    if grant.procedures:
        return any(
            process_key.startswith(p[:-1]) if p.endswith("*") else process_key == p for p in grant.procedures
        )
    return all_procedures(grant) or process_key in role_procedures(session).get(grant.role.value, ())


def procedure_clause(session: Session, grant: RoleGrant, model: Any) -> Any:
    if grant.procedures:
        exact = [p for p in grant.procedures if not p.endswith("*")]
        prefixes = [p[:-1] for p in grant.procedures if p.endswith("*")]
        return or_(
            model.process_key.in_(exact),
            *(model.process_key.startswith(p, autoescape=True) for p in prefixes),
        )
    if all_procedures(grant):
        return true()
    keys = sorted(role_procedures(session).get(grant.role.value, ()))
    return model.process_key.in_(keys) if keys else false()


def _bound_instances(refs: list[str]) -> Any:
    """Ids of the cases with one of these business keys and of their sub-cases."""
    parents = select(ProcessInstance.id).where(ProcessInstance.business_key.in_(refs))
    return select(ProcessInstance.id).where(
        or_(ProcessInstance.business_key.in_(refs), ProcessInstance.parent_id.in_(parents))
    )


def bound_clause(grant: RoleGrant, model: Any) -> Any:
    if not grant.bound_to:
        return true()
    refs = sorted(grant.bound_to)
    if model is ProcessInstance:
        parents = select(ProcessInstance.id).where(ProcessInstance.business_key.in_(refs))
        return or_(model.business_key.in_(refs), model.parent_id.in_(parents))
    return model.instance_id.in_(_bound_instances(refs))


def _uncontracted_agency(session: Session, grant: RoleGrant) -> bool:
    """An agency role held city-wide with no contract: it reaches no district-contracted procedure."""
    return (
        grant.role in AGENCY_ROLES
        and not grant.bound_to
        and orgs.get(session, grant.org_unit_id).level == OrgLevel.CITY
    )


def grant_clause(session: Session, grant: RoleGrant, model: Any) -> Any:
    """Rows (cases, or rows with ``instance_id``, ``process_key`` and the scope columns) the grant covers."""
    clause = (
        unit_clause(orgs.get(session, grant.org_unit_id), model)
        & procedure_clause(session, grant, model)
        & bound_clause(grant, model)
    )
    if _uncontracted_agency(session, grant):
        for prefix in DISTRICT_CONTRACTED:
            clause = clause & ~model.process_key.startswith(prefix, autoescape=True)
    return clause


def grant_covers(session: Session, grant: RoleGrant, target: Any) -> bool:
    """Python twin of :func:`grant_clause` for one case, task or place-to-start (``orgs.Scoped`` with
    ``process_key``; a target without one is checked for its unit only)."""
    if not orgs.covers(grant.org_unit, target):
        return False
    key = getattr(target, "process_key", None)
    if key is not None and not covers_procedure(session, grant, key):
        return False
    if key is not None and _uncontracted_agency(session, grant) and key.startswith(DISTRICT_CONTRACTED):
        return False
    if grant.bound_to:
        return bool(_business_keys(session, target) & set(grant.bound_to))
    return True


def _business_keys(session: Session, target: Any) -> set[str]:
    """The business keys that bind a target: its case's and that case's parent's."""
    if isinstance(target, ProcessInstance):
        instance: Any = target
    elif getattr(target, "instance_id", None) is not None:
        instance = session.get(ProcessInstance, target.instance_id)
    else:
        instance = target  # a place to start: its own business key, no parent
    keys = {getattr(instance, "business_key", None)}
    parent_id = getattr(instance, "parent_id", None)
    if parent_id is not None:
        parent = session.get(ProcessInstance, parent_id)
        keys.add(parent.business_key if parent else None)
    return {k for k in keys if k}


def visible_clause(session: Session, user: User, model: Any, roles: set[str] | None = None) -> Any:
    """Rows covered by any of the user's grants (limited to ``roles`` when given)."""
    clauses = [grant_clause(session, g, model) for g in user.grants if roles is None or g.role.value in roles]
    return or_(*clauses) if clauses else false()


def role_branches(session: Session, user: User, model: Any) -> list[Any]:
    """Tasks whose candidate (or escalated) role the user holds, inside what that grant covers, as plain
    conjunctions — ``unit AND candidate_role IN …`` and ``unit AND escalated_role IN …`` per grant (with
    its procedure and contract terms) — so each can run on an index led by its own columns."""
    branches = []
    admitted = _organisation_clause(session, user, model)
    for g in sorted(user.grants, key=lambda g: (g.org_unit_id, g.role.value)):
        covered = grant_clause(session, g, model)
        if admitted is not None:
            covered = covered & admitted
        names = [g.role.value]
        branches += [covered & model.candidate_role.in_(names), covered & model.escalated_role.in_(names)]
    return branches


def _organisation_clause(session: Session, user: User, model: Any) -> Any:
    """Tasks of no service organisation, or of one the user is a member of (a 3A referral goes to the
    matched organisation's members only: engine.serviceorgs); None for rows without the column."""
    column = getattr(model, "service_org_id", None)
    if column is None:
        return None
    from engine.serviceorgs.models import ServiceOrganisationMember

    ids = list(
        session.scalars(
            select(ServiceOrganisationMember.organisation_id).where(
                ServiceOrganisationMember.user_id == user.id
            )
        )
    )
    return or_(column.is_(None), column.in_(ids)) if ids else column.is_(None)


def sees_everything(session: Session, user: User, roles: set[str]) -> bool:
    """Whether one of the user's grants with one of ``roles`` covers every row: city level, every
    procedure, bound to no contract."""
    return any(
        g.role.value in roles
        and orgs.get(session, g.org_unit_id).level == OrgLevel.CITY
        and all_procedures(g)
        and not g.bound_to
        for g in user.grants
    )


def startable(session: Session, user: User) -> list[tuple[Any, Any, list[OrgUnit]]]:
    """Procedures the user may start by hand: they hold the role of its first task by a grant covering
    the procedure (engine.scope); with the units."""
    from engine.definitions import service as definitions  # definitions depend on users; import late

    out = []
    for definition, _n in definitions.list_latest(session):
        meta = definitions.first_task(definition)
        if meta is None:
            continue
        units = [
            orgs.get(session, g.org_unit_id)
            for g in user.grants
            if (g.role.value == meta.role and covers_procedure(session, g, definition.key))
            or g.role == Role.ADMIN
        ]
        if units:
            out.append((definition, meta, units))
    return out
