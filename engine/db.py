"""Database foundations shared by every engine module: declarative base, column types, engine setup.

Services receive a SQLAlchemy ``Session`` and only flush; the caller (a web request, a scheduler job,
a CLI command) owns the transaction and commits once at its edge.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, DateTime, Enum, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SHANGHAI = ZoneInfo("Asia/Shanghai")  # the one time zone of dates shown, entered and counted


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (stored naive UTC) and PostgreSQL (timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


_PER_TRANSACTION: set[str] = set()


# PostgreSQL's answers that end a transaction only because of another one running at the same moment
# (deadlock_detected, serialization_failure): the whole transaction may run again from the start.
_CONFLICT_STATES = frozenset({"40P01", "40001"})


def transient_conflict(err: BaseException) -> bool:
    """Did the database end the transaction only for a concurrent one (a deadlock it broke)? Such a
    transaction wrote nothing that lasts: run again afresh, it succeeds once the other has finished."""
    orig = getattr(err, "orig", None)
    return getattr(orig, "sqlstate", None) in _CONFLICT_STATES


def per_transaction(key: str) -> str:
    """A ``session.info`` key whose value lives for one transaction: it is dropped when the transaction
    (or a savepoint) ends, so the next one reads afresh. A flush's own inner transaction ends too and
    keeps it (else every flush would make the next read repeat the query)."""
    _PER_TRANSACTION.add(key)
    return key


@event.listens_for(Session, "after_transaction_end")
def _forget_per_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is not None and not transaction.nested:
        return
    for key in _PER_TRANSACTION:
        session.info.pop(key, None)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def json_type() -> JSON:
    """JSON column; Decimal and dates are written as strings (exact, never float)."""
    return JSON(none_as_null=True)


def str_enum(enum_cls: type[enum.Enum], name: str, length: int = 32) -> Enum:
    """An enum column storing the members' values ('ready', not 'READY') as a checked string."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def configure_engine(engine: Engine) -> Engine:
    """Apply per-connection settings (SQLite: WAL, foreign keys, busy timeout)."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def engine_options(url: str) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` suited to the database in ``url``."""
    opts: dict[str, Any] = {"json_serializer": dumps}
    if url.startswith("sqlite"):
        opts["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        opts["pool_pre_ping"] = True
    return opts


def make_engine(url: str, **kwargs: Any) -> Engine:
    return configure_engine(create_engine(url, **{**engine_options(url), **kwargs}))


def jsonable(value: Any) -> Any:
    """Decimal → str, date/datetime → ISO text, recursively; for JSON columns and API output."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value
