"""``assistflow db grant-app-role NAME``: the PostgreSQL role the application runs as, which does not own
the tables.

The table owner can disable triggers (``ALTER TABLE … DISABLE TRIGGER``) and so rewrite the audit log;
the application must not be able to. Migrations run as the owner (``DATABASE_URL`` of the owner for
``assistflow db upgrade``); web nodes and schedulers connect as the role this command prepares:

* every application table: SELECT, INSERT, UPDATE, DELETE;
* ``audit_event``, ``audit_seal``: SELECT and INSERT only (no UPDATE, DELETE, TRUNCATE);
* ``audit_signing``, ``alembic_version``: SELECT only;
* sequences: USAGE and SELECT; never TRUNCATE, REFERENCES or TRIGGER; no ownership, no membership in
  the owner's role (refused if the role has either, or is a superuser).

Run it after every ``assistflow db upgrade`` (new tables get their grants then; it is idempotent).
The role is created (LOGIN, no password) when missing: set its password or certificate yourself.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.engine import Connection

AUDIT_APPEND_ONLY = ("audit_event", "audit_seal")
READ_ONLY = ("audit_signing", "alembic_version")


def _ident(conn: Connection, name: str) -> str:
    return str(conn.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one())


def grant(conn: Connection, role: str) -> dict[str, list[str]]:
    """Create the role if needed and set its privileges on the current schema; returns table → privileges."""
    if conn.dialect.name != "postgresql":
        raise click.ClickException("grant-app-role is for PostgreSQL (SQLite has no roles)")
    schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
    exists = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).one_or_none()
    q_role, q_schema = _ident(conn, role), _ident(conn, schema)
    if exists is None:
        conn.execute(text(f"CREATE ROLE {q_role} LOGIN"))
    elif exists[0]:
        raise click.ClickException(f"role {role} is a superuser: the application must not run as one")
    tables = [
        (str(name), str(owner))
        for name, owner in conn.execute(
            text("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = :s ORDER BY tablename"),
            {"s": schema},
        )
    ]
    for _name, owner in tables:
        if (
            owner == role
            or conn.execute(
                text("SELECT pg_has_role(:r, :o, 'MEMBER')"), {"r": role, "o": owner}
            ).scalar_one()
        ):
            raise click.ClickException(
                f"role {role} owns the tables or is a member of their owner {owner}: "
                "use a separate role for the application"
            )
    conn.execute(text(f"GRANT USAGE ON SCHEMA {q_schema} TO {q_role}"))
    granted = {}
    for name, _owner in tables:
        if name in AUDIT_APPEND_ONLY:
            privileges = ["SELECT", "INSERT"]
        elif name in READ_ONLY:
            privileges = ["SELECT"]
        else:
            privileges = ["SELECT", "INSERT", "UPDATE", "DELETE"]
        q_table = f"{q_schema}.{_ident(conn, name)}"
        conn.execute(text(f"REVOKE ALL ON {q_table} FROM {q_role}"))
        conn.execute(text(f"GRANT {', '.join(privileges)} ON {q_table} TO {q_role}"))
        granted[name] = privileges
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q_schema} TO {q_role}"))
    return granted


@click.command(
    "grant-app-role",
    help="PostgreSQL: create or update the non-owner role the app runs as (run as the owner, after "
    "each upgrade): full rights on case tables, only SELECT/INSERT on audit events and links.",
)
@click.argument("name")
@with_appcontext
def grant_app_role(name: str) -> None:
    from api.extensions import db

    with db.engine.begin() as conn:
        granted = grant(conn, name)
    audit = ", ".join(f"{t}: {'/'.join(granted[t])}" for t in AUDIT_APPEND_ONLY if t in granted)
    click.echo(f"应用数据库角色 / app role {name}: {len(granted)} tables granted ({audit})")
