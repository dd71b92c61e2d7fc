"""A web worker's garbage collector, tuned after start-up (api/gc_tuning.py, issue 20)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from api import gc_tuning


@pytest.fixture()
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_loaded_objects_are_frozen_and_the_young_generation_collected_less_often(collector):
    held = [object() for _ in range(1000)]  # what a loaded app holds
    frozen_before = gc.get_freeze_count()
    assert gc_tuning.tune({}) == (10_000, 20, 50)
    assert gc.get_threshold() == (10_000, 20, 50)
    assert gc.get_freeze_count() >= frozen_before + len(held)


def test_thresholds_are_configurable(collector):
    assert gc_tuning.tune({"ASSISTFLOW_GC_THRESHOLDS": "5000,10,10"}) == (5000, 10, 10)
    assert gc.get_threshold() == (5000, 10, 10)


@pytest.mark.parametrize("off", ["0", "off", "false"])
def test_it_can_be_left_as_cpython_sets_it(collector, off):
    before = gc.get_threshold()
    assert gc_tuning.tune({"ASSISTFLOW_GC_FREEZE": off}) is None
    assert gc.get_threshold() == before


@pytest.mark.parametrize("bad", ["10000,20", "a,b,c", "0,10,10", "10000,20,50,1", "-1,2,3"])
def test_bad_thresholds_are_refused_with_the_setting_named(collector, bad):
    with pytest.raises(gc_tuning.GcSettingError, match="ASSISTFLOW_GC_THRESHOLDS"):
        gc_tuning.tune({"ASSISTFLOW_GC_THRESHOLDS": bad})


def test_a_worker_loading_the_wsgi_app_freezes_what_it_holds(tmp_path):
    """gunicorn's ``api.wsgi:app``: once imported, the app's objects are frozen and the thresholds set."""
    import json
    import os
    import subprocess
    import sys

    code = "import gc, json, api.wsgi; print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/worker.db"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    thresholds, frozen = json.loads(done.stdout.strip().splitlines()[-1])
    assert thresholds == [10_000, 20, 50]
    assert frozen > 50_000  # the loaded app: procedures, mappers, forms, routes
