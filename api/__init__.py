"""The web layer: Flask app factory, REST API (flask-smorest) and CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, has_app_context, jsonify, request, session
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

from api import converters, errors, hardening, jsonbody, logs
from api import health as health_checks
from api.config import ROOT, load_config
from api.extensions import db, migrate
from engine import crypto, formstore, wiring
from engine.attachments import service as attachment_service
from engine.attachments import storage as file_storage
from engine.audit import checkpoint, signing
from engine.bpmn import timers
from engine.db import configure_engine, transient_conflict
from engine.deadlines import holidays
from engine.deadlines import service as deadlines
from engine.errors import ServiceError
from engine.notifications.service import MAIL
from engine.system import metrics

jsonbody.install()  # before any route module declares its arguments

log = logging.getLogger(__name__)
CONFLICT_ATTEMPTS = 3  # a request the database ends to break a deadlock runs at most this often


def configure_mail(config: dict[str, Any]) -> None:
    MAIL.enabled = bool(config["SMTP_ENABLED"])
    MAIL.host, MAIL.port = config["SMTP_HOST"], int(config["SMTP_PORT"])
    MAIL.username, MAIL.password = config["SMTP_USERNAME"], config["SMTP_PASSWORD"]
    MAIL.sender, MAIL.starttls = config["SMTP_SENDER"], bool(config["SMTP_STARTTLS"])


def configure_argon2(value: str) -> None:
    """``ASSISTFLOW_ARGON2=time_cost,memory_kib,parallelism``; empty keeps the measured default."""
    if not value.strip():
        return
    from engine.users import service as users

    try:
        time_cost, memory_kib, parallelism = (int(part) for part in value.split(","))
    except ValueError as err:
        raise ValueError(
            "ASSISTFLOW_ARGON2 must be time_cost,memory_kib,parallelism (e.g. 2,19456,1)"
        ) from err
    users.configure_hasher(time_cost, memory_kib, parallelism)


def configure_files(config: dict[str, Any]) -> None:
    """The attachment store (ASSISTFLOW_FILES_URL: a directory or s3://bucket/prefix) and the case limit."""
    file_storage.configure(
        file_storage.from_url(
            config["FILES_URL"],
            default_dir=ROOT / "instance" / "files",
            endpoint_url=config["FILES_S3_ENDPOINT"],
        )
    )
    attachment_service.configure(case_max_mb=config["FILES_CASE_MAX_MB"])


# The engine the holiday calendar falls back to outside an app context: the latest app's.
_CALENDAR_ENGINE: list[Engine] = []


def _calendar_bind(own: Engine) -> Callable[[], Engine]:
    """The holiday calendar reads the current app's database (its own outside a request, e.g. the
    scheduler's thread). A process normally makes one app; when another app takes over the calendar
    (tests, tools), the connections the calendar opened through the previous app's engine are closed
    now, not left to the garbage collector."""
    for previous in _CALENDAR_ENGINE:
        if previous is not own:
            previous.dispose()
    _CALENDAR_ENGINE[:] = [own]

    def bind() -> Engine:
        return db.engine if has_app_context() else own

    return bind


def _cookie() -> dict[str, Any]:
    """The session cookie's contents, read without marking the session as read."""
    return dict.copy(session._get_current_object())  # type: ignore[attr-defined]


class AssistflowFlask(Flask):
    """Commits the request's one transaction when the view succeeded.

    Committing here (not in ``after_request``) means a failing commit — a lost race on a unique key,
    a stale version — reaches the normal error handlers and becomes a 409, not a 500. Any exception
    leaves the transaction uncommitted; the session is rolled back and removed at teardown.

    A transaction the database ended only to break a deadlock with another (two cases messaging each
    other at the same moment) is rolled back and the request run again, up to ``CONFLICT_ATTEMPTS``
    times in all (an upload, whose body is read as a stream, is not: it answers 409).
    """

    def dispatch_request(self) -> Any:
        # the signed cookie's contents (flashed messages) as the request came; dict.copy does not mark
        # the session read (which would add "Vary: Cookie" to every answer)
        kept = _cookie()
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._dispatch_and_commit()
            except OperationalError as err:
                replayable = request.mimetype != "multipart/form-data"  # an upload's stream is read once
                if not (replayable and transient_conflict(err)) or attempt == CONFLICT_ATTEMPTS:
                    raise
                # PostgreSQL broke a deadlock by ending this transaction: nothing of it lasts, and the
                # request runs again from the start once the other transaction has gone on
                db.session.rollback()
                if _cookie() != kept:
                    session.clear()
                    session.update(kept)
                metrics.CONFLICT_RETRIES.labels("request").inc()
                log.warning("request ended by a concurrent transaction; run again")
        raise AssertionError("unreachable")

    def _dispatch_and_commit(self) -> Any:
        try:
            result = super().dispatch_request()
        except ServiceError as err:
            # an error that reports what was stored (an incident opened after the user's own step)
            if getattr(err, "commit", False):
                db.session.commit()
            raise
        db.session.commit()
        return result


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = AssistflowFlask(__name__)
    converters.install(app)
    app.config.update(load_config(overrides))
    logs.register(app, on_request=health_checks.observe_request(app))  # first: every request gets its id
    if app.config["TRUSTED_PROXIES"] > 0:
        # Behind n trusted reverse proxies: the client's address and scheme from their X-Forwarded-*
        # headers (the lockout and the audit record the real address); with 0 the headers are ignored.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable in JSON
    crypto.configure(app.config["DATA_KEYS"], app.config["INDEX_KEY"])
    signing.configure(app.config["AUDIT_KEYS"])
    checkpoint.configure(app.config["AUDIT_CHECKPOINT_DIR"])
    formstore.configure(app.config["FORMS_DIR"])
    configure_files(app.config)
    deadlines.configure(app.config["SLA_REMINDER_WORKING_DAYS"], app.config["SLA_RED_AFTER_WORKING_DAYS"])
    timers.configure(app.config["MIN_TIMER_CYCLE_SECONDS"])
    configure_mail(app.config)
    configure_argon2(app.config["ARGON2"])
    wiring.init()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    with app.app_context():
        configure_engine(db.engine)
        holidays.install(_calendar_bind(db.engine))

    api = errors.JsonApi(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    from api.attachments.routes import blp as attachments_blp
    from api.auth.routes import blp as auth_blp
    from api.calendar.routes import blp as calendar_blp
    from api.cases.routes import blp as cases_blp
    from api.decisions.routes import blp as decisions_blp
    from api.definitions.routes import blp as definitions_blp
    from api.documents.routes import blp as documents_blp
    from api.documents.templates import blp as document_templates_blp
    from api.forms.routes import blp as forms_blp
    from api.households.routes import blp as households_blp
    from api.incidents.routes import blp as incidents_blp
    from api.instances.routes import blp as instances_blp
    from api.messages.routes import blp as messages_blp
    from api.notifications.routes import blp as notifications_blp
    from api.operations.routes import blp as operations_blp
    from api.policy.routes import blp as policy_blp
    from api.records.routes import blp as records_blp
    from api.recusal.routes import blp as recusal_blp
    from api.reference.routes import blp as reference_blp
    from api.reports.routes import blp as reports_blp
    from api.serviceorgs.routes import blp as serviceorgs_blp
    from api.tasks.routes import blp as tasks_blp
    from api.users.routes import blp as users_blp

    for blp in (
        auth_blp,
        definitions_blp,
        forms_blp,
        instances_blp,
        tasks_blp,
        notifications_blp,
        recusal_blp,
        reference_blp,
        operations_blp,
        incidents_blp,
        households_blp,
        cases_blp,
        records_blp,
        calendar_blp,
        users_blp,
        policy_blp,
        attachments_blp,
        documents_blp,
        reports_blp,
        decisions_blp,
        serviceorgs_blp,
        document_templates_blp,
        messages_blp,
    ):
        api.register_blueprint(blp)
    errors.register(app)
    hardening.register(app)
    health_checks.register(app)

    from api.web import init_app as init_web

    init_web(app)

    @app.get("/api/v1/health")
    def health() -> Any:
        db.session.execute(text("SELECT 1"))
        return jsonify({"status": "ok", "database": db.engine.dialect.name})

    @app.teardown_request
    def _rollback_unfinished(_exc: BaseException | None) -> None:
        db.session.rollback()

    from api.cli import register_commands

    register_commands(app)
    return app
