"""Liveness, readiness and the Prometheus scrape endpoint (issue 20).

``/api/v1/health/live``: the process answers (no database touched) — a restart is the cure when it
does not. ``/api/v1/health/ready``: the database is reachable, its migrations at the code's head, the
keys loaded and the holiday calendar covers the next 30 days; each check is named in the answer, and a
failing critical one makes it 503; a calendar short of the next 30 days is reported as ``degraded``
with 200 (a load balancer takes the node out until it recovers). ``/metrics``: the
Prometheus text format (``ASSISTFLOW_METRICS_TOKEN`` set: a matching Bearer token is required).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy.orm import sessionmaker

from api.config import ROOT
from api.extensions import db
from engine.db import utcnow
from engine.system import health, metrics


def migration_heads() -> set[str]:
    """The head revision(s) of the migrations shipped with this code."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())


def _observe_request(route: str, method: str, status: int, seconds: float) -> None:
    metrics.HTTP_REQUESTS.labels(method, route, f"{status // 100}xx").inc()
    metrics.HTTP_LATENCY.labels(method, route).observe(seconds)
    metrics.observe_pool(db.engine)


def register(app: Flask) -> None:
    heads = migration_heads()
    app.extensions["assistflow_migration_heads"] = heads

    @app.get("/api/v1/health/live")
    def health_live() -> Any:
        return jsonify({"status": "ok"})

    @app.get("/api/v1/health/ready")
    def health_ready() -> Any:
        checks = health.ready(db.engine, heads, utcnow())
        ok = all(c.ok for c in checks if c.critical)
        body = {
            "status": ("ready" if all(c.ok for c in checks) else "degraded") if ok else "not_ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        }
        return jsonify(body), 200 if ok else 503

    if not app.config["METRICS_ENABLED"]:
        return

    @app.get("/metrics")
    def metrics_scrape() -> Any:
        token = current_app.config.get("METRICS_TOKEN")
        if token:
            given = request.headers.get("Authorization", "").partition(" ")[2].strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return Response("unauthorized\n", 401, {"WWW-Authenticate": "Bearer"}, mimetype="text/plain")
        from prometheus_client import CONTENT_TYPE_LATEST

        body = metrics.scrape_text(sessionmaker(bind=db.engine))
        return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST})


def observe_request(app: Flask) -> Any:
    """The per-request metrics hook for :func:`api.logs.register` (None when metrics are off)."""
    return _observe_request if app.config["METRICS_ENABLED"] else None
