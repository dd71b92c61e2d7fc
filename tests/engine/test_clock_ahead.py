"""The clock shift CI uses (`make test CLOCK_AHEAD_DAYS=N`) reaches the processes the tests start."""

from __future__ import annotations

import datetime as dt
import subprocess

import time_machine

from tests import clock_ahead
from tests.conftest import ROOT


def test_a_started_python_runs_that_many_days_ahead(monkeypatch):
    monkeypatch.setenv(clock_ahead.ENV, "400")
    command = clock_ahead.python(
        "-c", "import datetime, sys; print(datetime.date.today(), sys.argv[1:])", "x"
    )
    assert command[1:3] == ["-m", "tests.clock_ahead"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
    day, args = out.split(" ", 1)
    hatch = time_machine.escape_hatch  # this session may be shifted too: compare with the real date
    real_today = hatch.datetime.datetime.now().date() if hatch.is_travelling() else dt.date.today()
    assert abs((dt.date.fromisoformat(day) - real_today).days - 400) <= 1
    assert args.strip() == "['x']"  # the arguments reach the program as sys.argv[1:]


def test_without_the_setting_a_started_python_is_plain(monkeypatch):
    monkeypatch.delenv(clock_ahead.ENV, raising=False)
    assert clock_ahead.python("-m", "gunicorn", "-w", "2")[1:] == ["-m", "gunicorn", "-w", "2"]
