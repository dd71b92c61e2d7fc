"""``assistflow archive``: the package of an ended case exported, verified offline, then tampered with
(a changed byte in a file, a removed file, an edited manifest, an edited audit event) and refused with
a message naming what is wrong; retention listing per procedure."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile

import pytest

from engine.archive import retention
from engine.archive import verify as verifier
from engine.audit import signing
from tests.documents_pdf import pdf_text
from tests.procedures.helpers import Case


def _ended_case(client, login) -> Case:
    case = Case(client, login)
    case.do("acceptance", "pt_officer", {"accepted": False, "rejection_reason": "不属于帮扶范围"})
    return case


def _rewrite(src, dst, *, change=None, drop=None, manifest=None):
    """A copy of the zip ``src`` with one file's bytes changed, one removed or the manifest edited."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == drop:
                continue
            if info.filename == change:
                data = data[:100] + bytes([data[100] ^ 0x01]) + data[101:]
            if info.filename == "manifest.json" and manifest is not None:
                data = json.dumps(manifest(json.loads(data)), ensure_ascii=False).encode()
            zout.writestr(info, data)
    return dst


def _verify(runner, path):
    return runner.invoke(args=["archive", "verify", str(path)])


def test_export_verify_and_tampered_packages_refused(app, client, login, tmp_path):
    case = _ended_case(client, login)
    runner = app.test_cli_runner()
    running = Case(client, login)
    refused = runner.invoke(args=["archive", "export", str(running.id), str(tmp_path / "no.zip")])
    assert refused.exit_code != 0 and "尚未办结" in refused.output and not (tmp_path / "no.zip").exists()
    out = tmp_path / "case.zip"
    done = runner.invoke(args=["archive", "export", str(case.id), str(out)])
    assert done.exit_code == 0, done.output
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"case_file.pdf", "records.json", "audit_events.json", "manifest.json"} <= names
        originals = sorted(n for n in names if n.startswith("originals/"))
        assert originals  # the application's materials, decrypted
        records = json.loads(zf.read("records.json"))
        assert [r["step"] for r in records["records"]] == ["application", "acceptance"]
        assert records["case"]["status"] == "completed"
        for m in records["materials"]:
            assert hashlib.sha256(zf.read(m["path"])).hexdigest() == m["sha256"]  # decrypted originals
        events = json.loads(zf.read("audit_events.json"))
        assert events and all(e["seq"] and e["hash"] and e["prev_hash"] for e in events)
        assert "一户一档" in pdf_text(zf.read("case_file.pdf"))
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["signature"]["key_id"] == signing.keys().current_id
    ok = _verify(runner, out)
    assert ok.exit_code == 0 and "verified" in ok.output, ok.output
    assert verifier.verify(out).ok

    changed = _verify(runner, _rewrite(out, tmp_path / "changed.zip", change=originals[0]))
    assert changed.exit_code == 1 and f"file changed (SHA-256 differs): {originals[0]}" in changed.output
    assert "REFUSED" in changed.output
    removed = _verify(runner, _rewrite(out, tmp_path / "removed.zip", drop="records.json"))
    assert removed.exit_code == 1 and "file missing: records.json" in removed.output

    def new_hash(m):  # the tamperer changes a file and puts its new hash into the manifest
        m["files"][0]["sha256"] = "0" * 64
        return m

    edited = _verify(runner, _rewrite(out, tmp_path / "edited.zip", manifest=new_hash))
    assert edited.exit_code == 1 and "the manifest was edited" in edited.output

    def drop_entry(m):
        m["files"] = [f for f in m["files"] if f["path"] != "audit_events.json"]
        return m

    unlisted = _verify(runner, _rewrite(out, tmp_path / "unlisted.zip", manifest=drop_entry))
    assert "file not in the manifest: audit_events.json" in unlisted.output and unlisted.exit_code == 1
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"PK\x03\x04 not really")
    assert "not an archive package" in _verify(runner, not_zip).output


def test_an_audit_event_edited_in_the_package_breaks_its_chain_link(app, client, login, tmp_path):
    case = _ended_case(client, login)
    out = tmp_path / "case.zip"
    assert app.test_cli_runner().invoke(args=["archive", "export", str(case.id), str(out)]).exit_code == 0
    with zipfile.ZipFile(out) as zf:
        events = json.loads(zf.read("audit_events.json"))
    events[0]["action"] = "task.cancelled"
    edited = tmp_path / "events.zip"
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(edited, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "audit_events.json":
                data = json.dumps(events).encode()
            zout.writestr(info, data)
    problems = verifier.verify(edited).problems
    assert f"audit event {events[0]['id']}: its chain link does not match" in " ".join(problems)
    assert "file changed (SHA-256 differs): audit_events.json" in " ".join(problems)


def test_retention_lists_cases_past_their_procedure_period(app, client, login, tmp_path):
    case = _ended_case(client, login)
    runner = app.test_cli_runner()
    config = retention.periods(env="")
    assert config["comprehensive_assistance"] == 30 and config["default"] == 30
    ended = client.get(f"/api/v1/process-instances/{case.id}", headers=login("pt_head")).json["ended_at"]
    end = dt.datetime.fromisoformat(ended).date()
    soon = runner.invoke(args=["archive", "retention", "--at", (end + dt.timedelta(days=1)).isoformat()])
    assert soon.exit_code == 0 and f"{case.id}\tcomprehensive_assistance" not in soon.output
    later = (end.replace(year=end.year + 31)).isoformat()
    listed = runner.invoke(args=["archive", "retention", "--at", later])
    assert listed.exit_code == 0 and f"{case.id}\tcomprehensive_assistance" in listed.output
    assert "retention 30 years" in listed.output
    # per procedure, from the environment
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(retention.ENV, "comprehensive_assistance=2")
        two = (end.replace(year=end.year + 2) + dt.timedelta(days=1)).isoformat()
        listed = runner.invoke(args=["archive", "retention", "--at", two])
        assert (
            f"{case.id}\tcomprehensive_assistance" in listed.output and "retention 2 years" in listed.output
        )
        mp.setenv(retention.ENV, "comprehensive_assistance=zero")
        bad = runner.invoke(args=["archive", "retention"])
        assert bad.exit_code != 0 and "1–200" in bad.output


def _of(name: str, case_id: int) -> bool:
    return name == f"{case_id}.zip" or name.endswith(f"-{case_id}.zip")


def test_export_ended_archives_each_ended_case_once(app, client, login, tmp_path):
    ended = [_ended_case(client, login), _ended_case(client, login)]
    running = Case(client, login)
    runner = app.test_cli_runner()
    out = tmp_path / "out"
    first = runner.invoke(args=["archive", "export-ended", str(out)])
    assert first.exit_code == 0, first.output
    written = sorted(p.name for p in out.iterdir())
    for case in ended:
        package = next(out / name for name in written if _of(name, case.id))
        assert verifier.verify(package).ok
    assert not any(_of(name, running.id) for name in written)
    assert not any(name.endswith(".part") for name in written)
    again = runner.invoke(args=["archive", "export-ended", str(out)])
    assert again.exit_code == 0 and again.output.startswith("0 ")
