"""The assistflow CLI commands, run through Flask's CLI runner against the test database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from api.extensions import db
from engine.users.models import User

ROOT = Path(__file__).resolve().parents[2]


def test_processes_sync_reports_unchanged(app, app_ctx):
    result = app.test_cli_runner().invoke(args=["processes", "sync"])
    assert result.exit_code == 0, result.output
    assert "demo_assistance v1 unchanged" in result.output


def test_processes_lint(app, app_ctx):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["processes", "lint", str(ROOT / "processes" / "demo_assistance.bpmn")])
    assert ok.exit_code == 0 and "ok (demo_assistance, 4 user tasks)" in ok.output
    unsafe = str(ROOT / "tests/fixtures/bpmn/unsafe_condition.bpmn")
    bad = runner.invoke(args=["processes", "lint", unsafe])
    assert (
        bad.exit_code == 1
        and f"{unsafe}:11: gw: 条件不安全或无效 / unsafe or invalid condition" in bad.output
    )


def test_processes_lint_one_line_per_problem_over_several_files(app, app_ctx):
    runner = app.test_cli_runner()
    lint_dir = ROOT / "tests/fixtures/bpmn/lint"
    files = [
        str(lint_dir / "clean.bpmn"),
        str(lint_dir / "bad_sla_properties.bpmn"),
        str(lint_dir / "dead_end.bpmn"),
    ]
    result = runner.invoke(args=["processes", "lint", *files])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"{files[0]}: ok (lint_case, 1 user tasks)" in lines
    problem_lines = [line for line in lines if not line.endswith("user tasks)")]
    assert len(problem_lines) == 4, lines
    assert f"{files[1]}:6: confirm (确认): 期限字段名无效" in result.output
    assert f"{files[2]}:8: stuck (无出口): 死胡同 / dead end" in result.output
    clean = runner.invoke(args=["processes", "lint", files[0], str(ROOT / "processes" / "twinning.bpmn")])
    assert clean.exit_code == 0, clean.output


def test_users_create(app, app_ctx):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "cli_user", "--password", "long-enough-1", "--grant", "advisor@310107014"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "cli_user"))
    assert [(g.role.value, g.org_unit_id is not None) for g in user.grants] == [("advisor", True)]
    dup = runner.invoke(args=["users", "create", "cli_user", "--password", "long-enough-1"])
    assert dup.exit_code != 0 and "已存在" in dup.output
    bad_grant = runner.invoke(
        args=["users", "create", "cli_two", "--password", "long-enough-1", "--grant", "king@1"]
    )
    assert bad_grant.exit_code != 0 and "unknown role" in bad_grant.output


def test_demo_load_is_idempotent(app, app_ctx):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "demo cases:" in first.output and "users created: 0" not in first.output
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0 and "users created: 0" in second.output
    assert "demo_assistance v1 unchanged" in second.output


def test_reference_load(app, app_ctx):
    result = app.test_cli_runner().invoke(args=["reference", "load"])
    assert result.exit_code == 0 and "68 org units loaded" in result.output
    assert "11 twinning pairings loaded" in result.output


def test_processes_sync_deploys_bpmn_in_other_encodings(app, app_ctx, tmp_path):
    """Issue 18 item 14: a valid ISO-8859-1 / GBK / UTF-16 file does not crash ``processes sync``."""
    from tests.hostile_bpmn import ENCODED, encoded_bpmn

    for key, name, encoding in ENCODED:
        (tmp_path / f"{key}.bpmn").write_bytes(encoded_bpmn(key, name, encoding))
    app.config["PROCESSES_DIR"], before = str(tmp_path), app.config["PROCESSES_DIR"]
    try:
        runner = app.test_cli_runner()
        first = runner.invoke(args=["processes", "sync"])
        assert first.exit_code == 0, first.output
        assert all(f"{key} v1" in first.output for key, _n, _e in ENCODED), first.output
        second = runner.invoke(args=["processes", "sync"])
        assert second.exit_code == 0 and second.output.count("unchanged") == len(ENCODED), second.output
    finally:
        app.config["PROCESSES_DIR"] = before


def test_processes_lint_prints_warnings_without_failing(app, app_ctx):
    runner = app.test_cli_runner()
    monthly = str(ROOT / "processes" / "ca_monthly_fund_report.bpmn")
    result = runner.invoke(args=["processes", "lint", monthly])
    assert result.exit_code == 0, result.output
    assert f"{monthly}:7: start (每月一日): 警告 / warning: 循环计时器没有次数上限" in result.output
    assert "unbounded cycle 'R/2026-12-01T09:00:00+08:00/P1M'" in result.output
    assert result.output.strip().splitlines()[-1].startswith(f"{monthly}: ok (ca_monthly_fund_report")


def test_processes_lint_reads_decision_tables(app, app_ctx, tmp_path):
    runner = app.test_cli_runner()
    shipped = str(ROOT / "processes" / "ca_approval_authority.dmn")
    ok = runner.invoke(args=["processes", "lint", shipped])
    assert ok.exit_code == 0 and "ok (ca_approval_authority, 3 rules)" in ok.output
    broken = tmp_path / "broken.dmn"
    broken.write_text(
        Path(shipped).read_text(encoding="utf-8").replace('"street"', "__import__('os')"), encoding="utf-8"
    )
    bad = runner.invoke(args=["processes", "lint", str(broken)])
    assert (
        bad.exit_code == 1
        and "rule_street_level: 第 3 行的输出无效 / row 3: invalid output entry" in bad.output
    )
