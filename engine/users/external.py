"""Staff logging in through the city's identity provider (OpenID Connect): claims → user, unit, roles.

The web layer (api/web/oidc_pages.py) runs the authorization-code flow with PKCE and hands the verified
claims here. :class:`ClaimRules` say which claim names the user, the org unit and the roles, and how the
provider's values translate to local org unit codes and roles. A unit or role the rules cannot place is
refused (:class:`IdentityRefused`), never guessed: nothing is granted that the rules do not name.

The first login of an identity (issuer × ``sub``) provisions a local user, or links the local user of
the same username when the rules allow it (``link_local_users``); both are audited. From then on every
login sets the user's grants to what the claims say (audited when they change): the provider is the
source of truth for an OIDC user's unit and roles. Such a user has no usable local password.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit
from engine.audit.models import AuditAction
from engine.db import utcnow
from engine.errors import Forbidden, NotFound
from engine.orgs import service as orgs
from engine.users.models import ExternalIdentity, Role, RoleGrant, User

# Not an argon2 hash: a password login of an OIDC-provisioned user always fails.
NO_PASSWORD = "!external-identity"
MAX_CLAIM_LENGTH = 255


class IdentityRefused(Forbidden):
    """The provider vouched for the person but the rules cannot place them: ``reason`` is one of
    ``REASONS``; ``value`` the claim value refused (a unit or role name, never personal data)."""

    code = "identity_refused"
    REASONS = (
        "missing_claim",
        "unknown_unit",
        "unknown_role",
        "no_role",
        "username_taken",
        "invalid_username",
        "inactive",
    )

    def __init__(self, reason: str, value: str = ""):
        super().__init__(f"单点登录被拒绝 / single sign-on refused: {reason} {value}".strip())
        self.reason, self.value = reason, value


@dataclass(frozen=True)
class ClaimRules:
    """How claims map to a local user. ``units`` / ``roles`` translate the provider's values; a value not
    in the map is taken as it is (an org unit code, a role name) and must exist. Role values listed in
    ``ignore_roles`` (another application's groups) are skipped; any other unplaceable one refuses."""

    username_claim: str = "preferred_username"
    name_claim: str = "name"
    unit_claim: str = "org_unit"
    roles_claim: str = "roles"
    units: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    ignore_roles: frozenset[str] = frozenset()
    link_local_users: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ClaimRules:
        known = {
            "username_claim",
            "name_claim",
            "unit_claim",
            "roles_claim",
            "units",
            "roles",
            "ignore_roles",
            "link_local_users",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"OIDC rules: unknown keys {unknown} (known: {sorted(known)})")
        roles = {str(k): str(v) for k, v in dict(data.get("roles", {})).items()}
        bad = sorted(v for v in roles.values() if v not in Role.__members__.values())
        if bad:
            raise ValueError(f"OIDC rules: roles map to unknown assistflow roles {bad}")
        return cls(
            username_claim=str(data.get("username_claim", cls.username_claim)),
            name_claim=str(data.get("name_claim", cls.name_claim)),
            unit_claim=str(data.get("unit_claim", cls.unit_claim)),
            roles_claim=str(data.get("roles_claim", cls.roles_claim)),
            units={str(k): str(v) for k, v in dict(data.get("units", {})).items()},
            roles=roles,
            ignore_roles=frozenset(str(v) for v in data.get("ignore_roles", ())),
            link_local_users=bool(data.get("link_local_users", False)),
        )


def load_rules(value: str) -> ClaimRules:
    """Rules from ``value``: inline JSON (starts with ``{``), the path of a JSON file, or empty (defaults)."""
    text = value.strip()
    if not text:
        return ClaimRules()
    if not text.startswith("{"):
        with open(text, encoding="utf-8") as source:
            text = source.read()
    return ClaimRules.from_mapping(json.loads(text))


def _claim_text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CLAIM_LENGTH:
        raise IdentityRefused("missing_claim", name)
    return value.strip()


def _role_values(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, str):
        values = value.replace(",", " ").split()
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        values = [v.strip() for v in value if v.strip()]
    else:
        values = []
    return values


def resolve_grants(session: Session, claims: Mapping[str, Any], rules: ClaimRules) -> list[tuple[Role, int]]:
    """The (role, org unit id) pairs the claims give, or :class:`IdentityRefused`."""
    unit_value = _claim_text(claims, rules.unit_claim)
    try:
        unit = orgs.by_code(session, rules.units.get(unit_value, unit_value))
    except NotFound:
        raise IdentityRefused("unknown_unit", unit_value[:64]) from None
    roles: list[Role] = []
    for value in _role_values(claims, rules.roles_claim):
        if value in rules.ignore_roles:
            continue
        mapped = rules.roles.get(value, value)
        if mapped not in Role.__members__.values():
            raise IdentityRefused("unknown_role", value[:64])
        if Role(mapped) not in roles:
            roles.append(Role(mapped))
    if not roles:
        raise IdentityRefused("no_role")
    return [(role, unit.id) for role in roles]


def _valid_username(name: str) -> bool:
    return 0 < len(name) <= 64 and name.replace("_", "").replace(".", "").replace("-", "").isalnum()


def _sync_grants(session: Session, user: User, wanted: list[tuple[Role, int]], *, issuer: str) -> None:
    have = {(g.role, g.org_unit_id) for g in user.grants}
    if have == set(wanted):
        return
    before = sorted((r.value, u) for r, u in have)
    user.grants = [RoleGrant(role=role, org_unit_id=unit) for role, unit in wanted]
    session.flush()
    audit.record(
        session,
        AuditAction.USER_GRANTS_SYNCED,
        actor_id=user.id,
        details={
            "username": user.username,
            "issuer": issuer,
            "before": before,
            "after": sorted((r.value, u) for r, u in wanted),
        },
    )


def login(session: Session, issuer: str, claims: Mapping[str, Any], rules: ClaimRules) -> User:
    """The local user an OIDC login with verified ``claims`` opens, provisioned or linked at its first
    login; its grants set to the claims'. Refusals raise :class:`IdentityRefused` (the caller audits
    them with :func:`record_refusal`); nothing is flushed before the claims are all placed."""
    subject = _claim_text(claims, "sub")
    wanted = resolve_grants(session, claims, rules)
    identity = session.scalar(
        select(ExternalIdentity).where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
    )
    if identity is not None:
        user = session.get(User, identity.user_id)
        assert user is not None  # the foreign key cascades
    else:
        username = _claim_text(claims, rules.username_claim)
        if not _valid_username(username):
            raise IdentityRefused("invalid_username")
        found = session.scalar(select(User).where(User.username == username))
        linked = (
            session.scalar(select(ExternalIdentity.id).where(ExternalIdentity.user_id == found.id))
            if found
            else None
        )
        if found is not None and (not rules.link_local_users or linked is not None):
            raise IdentityRefused("username_taken", username)
        if found is None:
            name = claims.get(rules.name_claim)
            user = User(
                username=username,
                display_name=name.strip()[:100] if isinstance(name, str) and name.strip() else username,
                password_hash=NO_PASSWORD,
            )
            session.add(user)
            session.flush()
            audit.record(
                session,
                AuditAction.USER_CREATED,
                actor_id=user.id,
                details={"username": username, "via": "oidc", "issuer": issuer, "grants": []},
            )
        else:
            user = found
        identity = ExternalIdentity(issuer=issuer, subject=subject, user_id=user.id)
        session.add(identity)
        session.flush()
        audit.record(
            session,
            AuditAction.USER_IDENTITY_LINKED,
            actor_id=user.id,
            details={"username": username, "issuer": issuer, "provisioned": found is None},
        )
    if not user.is_active:
        raise IdentityRefused("inactive")
    identity.last_login_at = utcnow()
    _sync_grants(session, user, wanted, issuer=issuer)
    return user


def record_refusal(session: Session, issuer: str, err: IdentityRefused) -> None:
    """Audit a refused OIDC login (the reason and the unit or role refused; no personal data)."""
    audit.record(
        session,
        AuditAction.LOGIN_REFUSED_EXTERNAL,
        details={"issuer": issuer, "reason": err.reason, "value": err.value},
    )
