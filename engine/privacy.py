"""Personal data shown to staff: ID numbers and phone numbers are masked in every list and default view;
the full values are read only through an explicit, audited reveal (:func:`reveal`), and only by roles
that verify identity (``ID_NUMBER_ROLES``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.crypto import MaskedDict, is_id_key, is_personal_key, is_phone_key
from engine.crypto import mask_id_number as mask_id_number  # re-exported: masking lives with the sealing
from engine.crypto import mask_phone as mask_phone
from engine.errors import Forbidden
from engine.users.models import Role, User

# Roles that verify eligibility or decide and so must see full ID numbers (DOMAIN.md §2).
ID_NUMBER_ROLES = frozenset(
    {
        Role.STREET_OFFICER,
        Role.STREET_HEAD,
        Role.DISTRICT_OFFICER,
        Role.DISTRICT_HEAD,
        Role.ADMIN,
    }
)


def may_see_id_numbers(user: User) -> bool:
    """Does the user hold a role that verifies identity anywhere (not yet: for which case)?"""
    return any(g.role in ID_NUMBER_ROLES for g in user.grants)


def may_reveal(session: Session, user: User, instance: Any) -> bool:
    """Does a grant with a role that verifies identity cover this case (its unit, procedure, contract)?"""
    from engine import scope

    return any(g.role in ID_NUMBER_ROLES and scope.grant_covers(session, g, instance) for g in user.grants)


def for_viewer(user: User, data: Any) -> Any:
    """Case data (or an audit event's details) as every viewer reads it by default, on every channel:
    ID and phone numbers masked. Full values only through :func:`reveal`."""
    return masked(data, False)


def reveal(session: Session, user: User, instance: Any, *, channel: str) -> dict[str, str]:
    """The case's full ID and phone numbers (``path → value``, paths like ``members[0].id_number``) for a
    role that verifies identity; the read is itself audited (``personal_data.read``: who, which case,
    which fields, through which channel). The caller checked that ``user`` may see ``instance``; the
    identity role must be held for the case itself (a grant covering its unit and procedure), not
    anywhere."""
    if not may_reveal(session, user, instance):
        raise Forbidden(
            "只有本案所属单位核实身份的岗位可以查看完整证件号 / "
            "only a role that verifies identity for this case's unit may read full ID numbers"
        )
    fields = dict(personal_values(instance.data or {}))
    audit.record(
        session,
        AuditAction.PERSONAL_DATA_READ,
        actor_id=user.id,
        instance_id=instance.id,
        details={"fields": sorted(fields), "channel": channel},
    )
    return fields


def personal_values(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every ID or phone value in ``data`` with its path."""
    out: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{path}.{k}" if path else str(k)
            if isinstance(v, str) and is_personal_key(str(k)):
                out.append((here, v))
            else:
                out.extend(personal_values(v, here))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(personal_values(v, f"{path}[{i}]"))
    return out


def _mask_value(key: str, value: Any, reveal: bool) -> Any:
    if isinstance(value, str) and is_id_key(key):
        return mask_id_number(value)
    if isinstance(value, str) and is_phone_key(key):
        return mask_phone(value)
    return masked(value, reveal)


def masked(data: Any, reveal: bool) -> Any:
    """A copy of case data with every ID and phone value masked (nothing changes when ``reveal``)."""
    if reveal or isinstance(data, MaskedDict):
        return data  # read masked already (engine.crypto.masked_reads)
    if isinstance(data, dict):
        return {k: _mask_value(str(k), v, reveal) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, reveal) for v in data]
    return data
