"""The ``assistflow`` command line (a Flask CLI): db, processes, users, demo, serve."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from api.extensions import db
from engine.bpmn.parsing import WARNING, BpmnInvalid
from engine.decisions import service as decisions
from engine.definitions import service as definitions
from engine.errors import ServiceError
from engine.orgs import service as orgs
from engine.users import service as users


def register_commands(app: Flask) -> None:
    app.cli.add_command(processes)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo)
    app.cli.add_command(serve)
    app.cli.add_command(reference)
    app.cli.add_command(scheduler)
    app.cli.add_command(keys_cli)
    from api.audit_cli import audit_cli

    app.cli.add_command(audit_cli)
    from api.archive_cli import archive_cli

    app.cli.add_command(archive_cli)


@click.group("processes", help="BPMN process definitions / 流程定义")
def processes() -> None:
    pass


@processes.command(
    "sync", help="Deploy changed BPMN files from processes/ (unchanged files make no new version)."
)
def processes_sync() -> None:
    session = db.session()
    try:
        results = definitions.sync_dir(session, current_app.config["PROCESSES_DIR"])
    except BpmnInvalid as err:
        session.rollback()
        raise click.ClickException(f"BPMN refused: {err}") from err
    session.commit()
    for definition, created in results:
        state = "deployed" if created else "unchanged"
        click.echo(f"{definition.key} v{definition.version} {state}")


@processes.command("lint", help="Validate BPMN (and DMN .dmn) files without deploying them.")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def processes_lint(files: tuple[str, ...]) -> None:
    """Errors (they refuse a deploy, exit status 1) and warnings (marked, they do not), one a line."""
    failed = False
    for path in files:
        data = Path(path).read_bytes()
        if path.endswith(".dmn"):  # a decision table: its own checks (engine.bpmn.dmn)
            table, found = decisions.check(data)
            for problem in found:
                named = f" ({problem.name})" if problem.name else ""
                click.echo(
                    f"{path}:{problem.line or 0}: {problem.element_id or '-'}{named}: {problem.message}",
                    err=True,
                )
            if table is None:
                failed = True
            else:
                click.echo(f"{path}: ok ({table.key}, {len(table.rules)} rules)")
            continue
        try:
            compiled = definitions.compile_for_deploy(data, source=path)
        except BpmnInvalid as err:
            failed = True
            problems, compiled = err.problems, None
        else:
            problems = []
        for problem in [*problems, *definitions.lint_warnings(data)]:
            label = "警告 / warning: " if problem.severity == WARNING else ""
            named = f" ({problem.name})" if problem.name else ""
            click.echo(
                f"{path}:{problem.line or 0}: {problem.element_id or '-'}{named}: {label}{problem.message}",
                err=True,
            )
        if compiled is not None:
            click.echo(f"{path}: ok ({compiled.key}, {len(compiled.tasks)} user tasks)")
    if failed:
        raise SystemExit(1)


@click.group("reference", help="Reference data / 参考数据")
def reference() -> None:
    pass


@reference.command(
    "load", help="Load Shanghai org units (districts, streets) and the Twinning Plan pairings."
)
def reference_load() -> None:
    from engine.twinning import service as twinning

    count = orgs.load_reference(db.session())
    pairs = twinning.load_reference(db.session())
    db.session.commit()
    click.echo(f"{count} org units loaded")
    click.echo(f"{pairs} twinning pairings loaded")


@click.group("users", help="Staff users / 用户")
def users_cli() -> None:
    pass


@users_cli.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default=None)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    help="ROLE@ORG_CODE[/PROCEDURES[/BOUND_TO]], e.g. street_officer@310107014 or "
    "agency_lead@310000/twinning/TW01 (comma-separated lists; family: bridge_plan_*)",
)
def users_create(username: str, password: str, display_name: str | None, grants: tuple[str, ...]) -> None:
    pairs = []
    for grant in grants:
        role, _, rest = grant.partition("@")
        code, _, bindings = rest.partition("/")
        procedures, _, bound_to = bindings.partition("/")
        pairs.append(
            (
                role,
                code,
                [p for p in procedures.split(",") if p] or None,
                [b for b in bound_to.split(",") if b] or None,
            )
        )
    try:
        users.create_user(db.session(), username, password, display_name=display_name, grants=pairs)
    except ServiceError as err:
        db.session.rollback()
        raise click.ClickException(f"{err.message} {err.fields}") from err
    db.session.commit()
    click.echo(f"user {username} created")


@users_cli.command("deactivate", help="Deactivate a user: every session and API token ends for good.")
@click.argument("username")
def users_deactivate(username: str) -> None:
    _set_active(username, False)


@users_cli.command("activate", help="Reactivate a user (they log in again; old tokens stay revoked).")
@click.argument("username")
def users_activate(username: str) -> None:
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    from engine.users import sessions

    session = db.session()
    try:
        ended = sessions.set_active(session, users.by_username(session, username), active)
    except ServiceError as err:
        session.rollback()
        raise click.ClickException(err.message) from err
    session.commit()
    state = (
        "active" if active else f"deactivated ({ended['sessions']} sessions, {ended['tokens']} tokens ended)"
    )
    click.echo(f"user {username} {state}")


@click.group("demo", help="Demo data / 演示数据")
def demo() -> None:
    pass


@demo.command("load", help="Reference data, BPMN, demo users and a few running cases (idempotent).")
def demo_load() -> None:
    from api.demo import load_demo

    summary = load_demo(db.session(), current_app.config["PROCESSES_DIR"])
    db.session.commit()
    for line in summary:
        click.echo(line)


def _checkpoint_seconds() -> float:
    return float(current_app.config["AUDIT_CHECKPOINT_MINUTES"]) * 60


def _session_factory() -> Any:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=db.engine, expire_on_commit=False)


@click.command(
    "serve", help="Serve the app (development server), with the scheduler inside unless --no-scheduler."
)
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--scheduler/--no-scheduler", "with_scheduler", default=True)
def serve(host: str, port: int, with_scheduler: bool) -> None:
    from werkzeug.serving import run_simple

    from api import gc_tuning
    from engine.deadlines import scheduler as timers
    from engine.system.heartbeat import Heartbeat

    background, factory, beat = None, _session_factory(), Heartbeat()
    if with_scheduler:
        background = timers.build(
            factory, background=True, checkpoint_interval=_checkpoint_seconds(), beat=beat
        )
        background.start()
        click.echo("scheduler running inside the dev server")
    click.echo(f"assistflow serving on http://{host}:{port}")
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's real app
        gc_tuning.tune()  # as a gunicorn worker does (api/wsgi.py)
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if background is not None:
            timers.shutdown(background, factory, beat)


@click.command("scheduler", help="Run the timer and deadline scheduler (several may run against PostgreSQL).")
@click.option("--interval", default=0.5, type=float, help="seconds between checks for due work")
@click.option("--once", is_flag=True, help="drain what is due now and exit")
def scheduler(interval: float, once: bool) -> None:
    import signal

    from engine.deadlines import scheduler as timers
    from engine.system.heartbeat import Heartbeat

    factory = _session_factory()
    if once:
        click.echo(f"woke {timers.tick(factory)} instance(s)")
        click.echo(f"sealed {timers.seal_audit(factory)} audit event(s)")
        return
    beat = Heartbeat()
    blocking = timers.build(
        factory, background=False, interval=interval, checkpoint_interval=_checkpoint_seconds(), beat=beat
    )

    def _stop(_signum: Any, _frame: Any) -> Any:
        # graceful: the batch in hand is finished and committed, no other is taken, the heartbeat says so
        timers.shutdown(blocking, factory, beat)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"assistflow scheduler: checking every {interval}s")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        blocking.start()
    click.echo("assistflow scheduler stopped")


@click.group("keys", help="Personal data keys / 个人信息加密密钥")
def keys_cli() -> None:
    pass


@keys_cli.command("generate", help="Print a new data key and index key (set them in the environment).")
def keys_generate() -> None:
    from engine import crypto

    data_key, index_key = crypto.generate()
    click.echo(f"{crypto.DATA_KEYS_ENV}={data_key}")
    click.echo(f"{crypto.INDEX_KEY_ENV}={index_key}")
    from engine.audit import signing

    click.echo(f"{signing.AUDIT_KEYS_ENV}={signing.generate()}")
    click.echo(
        f"# rotation: put a new key first in {crypto.DATA_KEYS_ENV} (old keys after it, comma-separated), "
        "then run `assistflow keys rotate`; keep retired keys while audit events written with them must "
        "stay readable; audit keys rotate the same way in "
        "ASSISTFLOW_AUDIT_KEYS (new first, old ones kept after it while their events must verify)",
        err=True,
    )


@keys_cli.command("rotate", help="Re-encrypt stored personal data under the current (first) data key.")
@with_appcontext
def keys_rotate() -> None:
    from engine import keys

    session = db.session()
    counts = keys.rotate(session)
    session.commit()
    for name, count in counts.items():
        click.echo(f"{name}: {count} re-encrypted")


def _create_app() -> Flask:
    from api import create_app

    return create_app()


def main() -> None:
    from api import logs

    logs.configure()  # ASSISTFLOW_LOG_FORMAT=json (default) | text
    cli = FlaskGroup(create_app=_create_app, add_default_commands=False, help="assistflow 社会救助流程引擎")
    from flask_migrate.cli import db as db_group

    from api.db_roles import grant_app_role

    db_group.add_command(grant_app_role)
    cli.add_command(db_group)
    cli.add_command(keys_cli)  # on the group itself: `keys generate` needs no app (nor keys)
    from api.archive_cli import archive_cli

    cli.add_command(archive_cli)  # likewise: `archive verify` reads no database
    cli.main(prog_name="assistflow")
