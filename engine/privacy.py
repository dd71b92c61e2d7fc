"""Personal data shown to staff: resident ID numbers are masked unless the viewer's role needs them."""

from __future__ import annotations

from typing import Any

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
    return any(g.role in ID_NUMBER_ROLES for g in user.grants)


def for_viewer(user: User, data: Any) -> Any:
    """Case data (or an audit event's details) as ``user`` may read it, on every channel: the web pages
    and the REST API alike mask ID numbers unless the viewer's role verifies identity."""
    return masked(data, may_see_id_numbers(user))


def mask_id_number(value: str) -> str:
    """``310107198001011234`` → ``310107********1234`` (area code and last four kept)."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def _is_id_key(key: str) -> bool:
    return "id_number" in key or key.endswith("_id_card")


def masked(data: Any, reveal: bool) -> Any:
    """A copy of case data with every ID-number value masked (nothing changes when ``reveal``)."""
    if reveal:
        return data
    if isinstance(data, dict):
        return {
            k: (mask_id_number(v) if isinstance(v, str) and _is_id_key(str(k)) else masked(v, reveal))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [masked(v, reveal) for v in data]
    return data
