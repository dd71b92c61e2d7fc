"""One error table: every exception class the engine defines answers with exactly one HTTP status."""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil

import pytest

import engine
from api import errors as api_errors
from engine import errors as engine_errors
from engine.crypto import DecryptionError
from engine.deadlines.schedules import ScheduleError
from engine.expressions import ExpressionLimit
from engine.forms.model import FormError
from engine.kernel.bus import NotWired
from tests import hostile_bpmn
from tests.helpers import assert_error


def _engine_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("engine."):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[name] for name in sorted(found)]


CLASSES = _engine_exception_classes()


def test_the_walk_finds_the_engine_exception_families_outside_service_error():
    names = {cls.__name__ for cls in CLASSES}
    expected = {"BpmnInvalid", "FormError", "ExpressionLimit", "EngineError", "IncidentOpened"}
    assert expected | {"DeadlineError", "NotWired", "KeysNotConfigured", "DecryptionError"} <= names


# Signals that are not errors and are never let out of the operation that raises them: BaseExceptions,
# so that the engine's and SpiffWorkflow's ``except Exception`` handlers let them through (Flask can
# give them no handler). ``Unevaluated``: an evaluation reached under SQLite's write lock, learned by
# ``rehearsal.stepping`` (tests/services/test_evaluation_gate.py shows it never reaches a client).
SIGNALS = {"engine.instances.rehearsal.Unevaluated"}


def test_the_engine_signals_are_exactly_the_known_ones_and_not_exceptions():
    signals = {
        n
        for n, c in ((f"{c.__module__}.{c.__qualname__}", c) for c in CLASSES)
        if not issubclass(c, Exception)
    }
    assert signals == SIGNALS


@pytest.mark.parametrize(
    "cls",
    [c for c in CLASSES if issubclass(c, Exception)],
    ids=lambda c: f"{c.__module__}.{c.__qualname__}",
)
def test_every_engine_exception_has_exactly_one_status(app, cls):
    kind = engine_errors.family_of(cls)
    assert kind is not None, f"{cls.__qualname__} belongs to no error family (engine/errors.py)"
    # exactly one: the families the class extends or is marked with form one chain, the most specific wins
    families = {f for f in engine_errors.FAMILIES if issubclass(cls, f)} | {kind}
    assert all(issubclass(kind, f) for f in families), (cls, families)
    statuses = [s for f, s in api_errors.STATUS.items() if f is kind]
    assert len(statuses) == 1 and 400 <= statuses[0] < 600 and statuses[0] != 500
    # and the app has a handler for it (not the generic 500)
    handler = app._find_error_handler(cls.__new__(cls), [])
    assert handler is not None and handler.__name__ == "_engine_error"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (FormError("表单字段重复 / duplicate field"), 422, "validation_failed"),
        (ExpressionLimit("超出计算限制 / evaluation limit exceeded"), 422, "validation_failed"),
        (ScheduleError("unknown org level in 'level:x'"), 422, "validation_failed"),
        (NotWired("no provider for 'project'"), 503, "service_unavailable"),
        (DecryptionError("no key opens ASSISTFLOW_DATA_KEYS value"), 503, "service_unavailable"),
    ],
)
def test_an_engine_error_escaping_a_view_answers_with_its_family_status(app, error, status, code):
    with app.test_request_context("/api/v1/cases"):  # as if raised by an API view
        response = app.make_response(app.handle_user_exception(error))
    body = assert_error(response, status, code)
    if status == 503:
        assert "ASSISTFLOW" not in body["message"] and "provider" not in body["message"]
        assert response.headers["Retry-After"]
    else:
        assert body["message"] == str(error)


@pytest.mark.parametrize("org_units", ["999999", "level:galaxy"])
def test_a_timer_start_with_a_bad_org_units_is_a_422(client, login, org_units):
    admin = login("admin")
    response = client.post(
        "/api/v1/process-definitions",
        data={"file": (io.BytesIO(hostile_bpmn.timer_start("R/P1D", org_units, key="bad_units")), "t.bpmn")},
        headers=admin,
    )
    body = assert_error(response, 422, "bpmn_invalid")
    assert any(org_units.split(":")[-1] in p["message"] for p in body["problems"]), body["problems"]
