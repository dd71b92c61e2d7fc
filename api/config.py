"""Configuration from the environment, with safe local defaults."""

from __future__ import annotations

import os
from pathlib import Path

from engine.db import engine_options

ROOT = Path(__file__).resolve().parent.parent


LOCAL_KEYS = ROOT / "instance" / "data-keys.env"


def local_keys() -> tuple[str, str]:
    """Keys for the zero-configuration local database only (``make run``): made once into
    ``instance/data-keys.env`` (untracked, like the database beside it) and reused."""
    from engine import crypto

    if not LOCAL_KEYS.exists():
        data_key, index_key = crypto.generate()
        LOCAL_KEYS.parent.mkdir(parents=True, exist_ok=True)
        LOCAL_KEYS.touch(mode=0o600)
        LOCAL_KEYS.write_text(f"{crypto.DATA_KEYS_ENV}={data_key}\n{crypto.INDEX_KEY_ENV}={index_key}\n")
    values = dict(line.split("=", 1) for line in LOCAL_KEYS.read_text().splitlines() if "=" in line.strip())
    return values["ASSISTFLOW_DATA_KEYS"].strip(), values["ASSISTFLOW_INDEX_KEY"].strip()


def load_config(overrides: dict | None = None) -> dict:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'instance' / 'assistflow.db'}"
    data_keys, index_key = os.environ.get("ASSISTFLOW_DATA_KEYS"), os.environ.get("ASSISTFLOW_INDEX_KEY")
    if not (data_keys and index_key) and not os.environ.get("DATABASE_URL"):
        # the local demo database only; with DATABASE_URL set the keys must come from the environment
        data_keys, index_key = local_keys()
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        # Personal data keys (engine.crypto): the app refuses to start without them.
        "DATA_KEYS": data_keys,
        "INDEX_KEY": index_key,
        "SECRET_KEY": os.environ.get("ASSISTFLOW_SECRET_KEY", "dev-only-change-me"),
        "MAX_CONTENT_LENGTH": int(os.environ.get("ASSISTFLOW_MAX_BODY", 5 * 1024 * 1024)),
        "PROCESSES_DIR": os.environ.get("ASSISTFLOW_PROCESSES_DIR", str(ROOT / "processes")),
        "FORMS_DIR": os.environ.get("ASSISTFLOW_FORMS_DIR", str(ROOT / "forms")),
        "SLA_REMINDER_WORKING_DAYS": int(os.environ.get("ASSISTFLOW_SLA_REMINDER_WORKING_DAYS", 1)),
        "SLA_RED_AFTER_WORKING_DAYS": int(os.environ.get("ASSISTFLOW_SLA_RED_AFTER_WORKING_DAYS", 3)),
        # the shortest period a repeating BPMN timer may have (deploy refuses shorter cycles)
        "MIN_TIMER_CYCLE_SECONDS": int(os.environ.get("ASSISTFLOW_MIN_TIMER_CYCLE_SECONDS", 3600)),
        "SMTP_ENABLED": os.environ.get("ASSISTFLOW_SMTP_HOST") is not None,
        "SMTP_HOST": os.environ.get("ASSISTFLOW_SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(os.environ.get("ASSISTFLOW_SMTP_PORT", 25)),
        "SMTP_USERNAME": os.environ.get("ASSISTFLOW_SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("ASSISTFLOW_SMTP_PASSWORD"),
        "SMTP_SENDER": os.environ.get("ASSISTFLOW_SMTP_SENDER", "assistflow@localhost"),
        "SMTP_STARTTLS": os.environ.get("ASSISTFLOW_SMTP_STARTTLS", "") == "1",
        # The web app's session cookie: Secure only behind HTTPS (off for local HTTP).
        "SESSION_COOKIE_SECURE": os.environ.get("ASSISTFLOW_SESSION_COOKIE_SECURE", "") == "1",
        "LOGIN_MAX_FAILURES": int(os.environ.get("ASSISTFLOW_LOGIN_MAX_FAILURES", 5)),
        "LOGIN_LOCKOUT_MINUTES": int(os.environ.get("ASSISTFLOW_LOGIN_LOCKOUT_MINUTES", 15)),
        # Content-Security-Policy sent with /api responses (JSON only: nothing may load or frame them).
        "API_CONTENT_SECURITY_POLICY": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        "API_TITLE": "assistflow",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    config.update(overrides or {})
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["SQLALCHEMY_DATABASE_URI"]))
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    return config
