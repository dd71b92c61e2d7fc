"""Configuration from the environment, with safe local defaults."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

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


def local_audit_key() -> str:
    """The audit signing key for the local database only, kept in ``instance/data-keys.env`` beside the
    data keys (added to a file made before audit signing existed)."""
    from engine.audit import signing

    local_keys()
    values = dict(line.split("=", 1) for line in LOCAL_KEYS.read_text().splitlines() if "=" in line.strip())
    if not values.get(signing.AUDIT_KEYS_ENV, "").strip():
        with LOCAL_KEYS.open("a") as out:
            out.write(f"{signing.AUDIT_KEYS_ENV}={signing.generate()}\n")
        return local_audit_key()
    return values[signing.AUDIT_KEYS_ENV].strip()


LOCAL_SECRET = ROOT / "instance" / "session-secret.env"
SECRET_KEY_ENV = "ASSISTFLOW_SECRET_KEY"
# The value this setting once defaulted to: known to anyone who read the code, never accepted.
_PUBLISHED_SECRET = "dev-only-change-me"
MIN_SECRET_LENGTH = 32


class SecretKeyNotConfigured(RuntimeError):
    """The session secret is missing or too weak: the app refuses to start."""


def local_secret() -> str:
    """The session secret for the zero-configuration local database only (``make run``): made once into
    ``instance/session-secret.env`` (untracked, mode 600) and reused, like the local data keys."""
    if not LOCAL_SECRET.exists():
        LOCAL_SECRET.parent.mkdir(parents=True, exist_ok=True)
        LOCAL_SECRET.touch(mode=0o600)
        LOCAL_SECRET.write_text(f"{SECRET_KEY_ENV}={secrets.token_urlsafe(48)}\n")
    values = dict(line.split("=", 1) for line in LOCAL_SECRET.read_text().splitlines() if "=" in line.strip())
    return values[SECRET_KEY_ENV].strip()


def session_secret(local_demo: bool) -> str:
    """``ASSISTFLOW_SECRET_KEY``; without it only the local demo database starts (with a generated key)."""
    secret = os.environ.get(SECRET_KEY_ENV, "")
    if not secret and local_demo:
        secret = local_secret()
    if not secret:
        raise SecretKeyNotConfigured(
            f"session secret not configured: set {SECRET_KEY_ENV} to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if secret == _PUBLISHED_SECRET or len(secret) < MIN_SECRET_LENGTH:
        raise SecretKeyNotConfigured(
            f"{SECRET_KEY_ENV} is too weak: use a random value of at least {MIN_SECRET_LENGTH} characters"
        )
    return secret


def _niceness(value: str) -> int | str:
    """``ASSISTFLOW_LOGIN_NICE``: an ``os.nice`` increment, or ``idle`` for the kernel's idle class."""
    value = value.strip().lower()
    if value == "idle":
        return "idle"
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"ASSISTFLOW_LOGIN_NICE must be a number or 'idle', not {value!r}") from None


def _cpus(value: str) -> frozenset[int] | None:
    """``ASSISTFLOW_LOGIN_CPUS``: core numbers separated by commas, ``last`` (the last core this process
    may run on) or ``any``."""
    value = value.strip().lower()
    if value in ("", "any"):
        return None
    if value == "last":
        return frozenset({max(os.sched_getaffinity(0))})
    try:
        return frozenset(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise RuntimeError(
            f"ASSISTFLOW_LOGIN_CPUS must list core numbers or be 'last', not {value!r}"
        ) from None


def load_config(overrides: dict | None = None) -> dict:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'instance' / 'assistflow.db'}"
    data_keys, index_key = os.environ.get("ASSISTFLOW_DATA_KEYS"), os.environ.get("ASSISTFLOW_INDEX_KEY")
    # The zero-configuration local database of `make run` (and of the tests): keys it lacks are made
    # into the instance folder; with DATABASE_URL set every secret must come from the environment.
    local_demo = not os.environ.get("DATABASE_URL")
    if not (data_keys and index_key) and local_demo:
        # the local demo database only; with DATABASE_URL set the keys must come from the environment
        data_keys, index_key = local_keys()
    audit_keys = os.environ.get("ASSISTFLOW_AUDIT_KEYS")
    if not audit_keys and not os.environ.get("DATABASE_URL"):
        audit_keys = local_audit_key()
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": url,
        # Personal data keys (engine.crypto): the app refuses to start without them.
        "DATA_KEYS": data_keys,
        "INDEX_KEY": index_key,
        # Audit signing keys (engine.audit.signing) and where signed checkpoints of the audit chain go
        # (engine.audit.checkpoint): outside the database, on storage its administrators cannot write.
        "AUDIT_KEYS": audit_keys,
        "AUDIT_CHECKPOINT_DIR": os.environ.get(
            "ASSISTFLOW_AUDIT_CHECKPOINT_DIR", str(ROOT / "instance" / "audit-checkpoints")
        ),
        "AUDIT_CHECKPOINT_MINUTES": float(os.environ.get("ASSISTFLOW_AUDIT_CHECKPOINT_MINUTES", 10)),
        # Signs the web session cookie: refused when missing or weak, except on the local demo database.
        "SECRET_KEY": session_secret(local_demo),
        # The local demo keeps its published demo passwords usable; elsewhere they must be changed.
        "LOCAL_DEMO": local_demo,
        # Reverse proxies in front of the app whose X-Forwarded-For / -Proto are trusted (ProxyFix).
        "TRUSTED_PROXIES": int(os.environ.get("ASSISTFLOW_TRUSTED_PROXIES", 0)),
        "MAX_CONTENT_LENGTH": int(os.environ.get("ASSISTFLOW_MAX_BODY", 5 * 1024 * 1024)),
        # Attachments (engine.attachments): a local directory by default, s3://bucket/prefix for object
        # storage shared by several web nodes (ASSISTFLOW_FILES_S3_ENDPOINT for a non-AWS server)
        "FILES_URL": os.environ.get("ASSISTFLOW_FILES_URL") or str(ROOT / "instance" / "files"),
        "FILES_S3_ENDPOINT": os.environ.get("ASSISTFLOW_FILES_S3_ENDPOINT") or None,
        "FILES_CASE_MAX_MB": int(os.environ.get("ASSISTFLOW_FILES_CASE_MAX_MB", 500)),
        # the largest upload body (a field's own limit is usually lower)
        "FILES_MAX_BODY": int(os.environ.get("ASSISTFLOW_FILES_MAX_BODY", 210 * 1024 * 1024)),
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
        # The login guard's other limits (engine/users/guard.py): failures from one address over all
        # usernames, and failures of one username from all addresses before the capped backoff.
        "LOGIN_ADDRESS_MAX_FAILURES": int(os.environ.get("ASSISTFLOW_LOGIN_ADDRESS_MAX_FAILURES", 30)),
        "LOGIN_ACCOUNT_MAX_FAILURES": int(os.environ.get("ASSISTFLOW_LOGIN_ACCOUNT_MAX_FAILURES", 20)),
        "LOGIN_BACKOFF_CAP_SECONDS": int(os.environ.get("ASSISTFLOW_LOGIN_BACKOFF_CAP_SECONDS", 60)),
        # Password checks (argon2) at once per process, and how long a login waits for a free slot before
        # a 503 with Retry-After (api/security.py PasswordSlots).
        "LOGIN_CONCURRENCY": int(os.environ.get("ASSISTFLOW_LOGIN_CONCURRENCY", 0))
        or max(1, os.cpu_count() or 1),
        # argon2id "time_cost,memory_kib,parallelism" (engine/users/service.py; bench/argon2_params.py)
        "ARGON2": os.environ.get("ASSISTFLOW_ARGON2", ""),
        "LOGIN_SLOT_WAIT_SECONDS": float(os.environ.get("ASSISTFLOW_LOGIN_SLOT_WAIT_SECONDS", 0.1)),
        # Password checks run in this many separate processes per web process, at this much lower CPU
        # priority (os.nice), so a burst of logins leaves the cores to task completions
        # (engine/users/password_pool.py); 0 checks in the web thread. A check not answered within the
        # timeout is a 503 with Retry-After.
        "LOGIN_PROCESSES": int(os.environ.get("ASSISTFLOW_LOGIN_PROCESSES", 1)),
        "LOGIN_NICE": _niceness(os.environ.get("ASSISTFLOW_LOGIN_NICE", "10")),
        # The cores the password checks may use: "last" (the default: the machine's last core, so the other
        # cores never run argon2), a list like "2,3", or "any"
        "LOGIN_CPUS": _cpus(os.environ.get("ASSISTFLOW_LOGIN_CPUS", "last")),
        "LOGIN_CHECK_TIMEOUT_SECONDS": float(os.environ.get("ASSISTFLOW_LOGIN_CHECK_TIMEOUT_SECONDS", 10)),
        # Anonymous routes (the token endpoint, the login form) refuse larger bodies before parsing.
        "ANONYMOUS_MAX_BODY": int(os.environ.get("ASSISTFLOW_ANONYMOUS_MAX_BODY", 16 * 1024)),
        # Content-Security-Policy sent with /api responses (JSON only: nothing may load or frame them).
        "API_CONTENT_SECURITY_POLICY": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        # Prometheus metrics at /metrics (issue 20); a token, when set, is required as a Bearer token.
        "METRICS_ENABLED": os.environ.get("ASSISTFLOW_METRICS", "1") != "0",
        "METRICS_TOKEN": os.environ.get("ASSISTFLOW_METRICS_TOKEN") or None,
        # Single sign-on with OpenID Connect (api/web/oidc_pages.py; docs/DEPLOY.md): off unless the
        # issuer and the client are set; the claim rules are inline JSON or a JSON file's path.
        "OIDC_ISSUER": os.environ.get("ASSISTFLOW_OIDC_ISSUER", "").rstrip("/"),
        "OIDC_CLIENT_ID": os.environ.get("ASSISTFLOW_OIDC_CLIENT_ID", ""),
        "OIDC_CLIENT_SECRET": os.environ.get("ASSISTFLOW_OIDC_CLIENT_SECRET", ""),
        "OIDC_SCOPES": os.environ.get("ASSISTFLOW_OIDC_SCOPES", "openid profile"),
        "OIDC_RULES": os.environ.get("ASSISTFLOW_OIDC_RULES", ""),
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
