"""Checking an archive package offline (no database): the manifest's signature under the audit key,
every file listed there present with its size and SHA-256, no file that the manifest does not list, and
every audit event's hash-chain link recomputed from the event as archived.

Each problem is one line "中文 / English" naming the file or event; the package is sound when there is
none. Without the audit key (``ASSISTFLOW_AUDIT_KEYS``) the signature cannot be checked: that is a
problem too, so an edited manifest (new hashes for changed files) is never taken for a sound one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.archive.package import FORMAT, MANIFEST, MANIFEST_DOMAIN, manifest_body
from engine.audit import chain, signing


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    files: int = 0
    events: int = 0
    case_number: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _signature(manifest: dict[str, Any]) -> str | None:
    sig = manifest.get("signature")
    if not isinstance(sig, dict) or not sig.get("key_id") or not sig.get("mac"):
        return "清单没有签名 / the manifest is not signed"
    try:
        ring = signing.keys()
    except signing.AuditKeysNotConfigured:
        return f"无法核验清单签名：未配置审计密钥 / cannot check the manifest's signature: set {signing.AUDIT_KEYS_ENV}"
    expected = ring.mac(str(sig["key_id"]), MANIFEST_DOMAIN, manifest_body(manifest))
    if expected is None:
        return f"清单签名所用密钥 {sig['key_id']} 不在审计密钥中 / signed with key {sig['key_id']}, not in {signing.AUDIT_KEYS_ENV}"
    if not hmac.compare_digest(expected, str(sig["mac"])):
        return "清单签名不符：清单被修改 / the manifest's signature does not match: the manifest was edited"
    return None


def _sha256(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(name) as src:
        while chunk := src.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _chain(zf: zipfile.ZipFile, verdict: Verdict) -> None:
    try:
        events = json.loads(zf.read("audit_events.json"))
    except (KeyError, ValueError):
        return  # reported as a missing or changed file
    for e in events:
        verdict.events += 1
        if e.get("seq") is None:
            continue  # not chained when exported
        row = {**e, "at": dt.datetime.fromisoformat(e["at"])}
        if e.get("prev_hash") is None or chain.event_hash(row, e["seq"], e["prev_hash"]) != e.get("hash"):
            verdict.problems.append(
                f"审计事件 {e.get('id')} 的链哈希不符 / audit event {e.get('id')}: its chain link does not match"
            )


def verify(source: Path | IO[bytes]) -> Verdict:
    verdict = Verdict()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        verdict.problems.append(f"不是有效的档案包（zip）/ not an archive package (zip): {exc}")
        return verdict
    with zf:
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except KeyError:
            verdict.problems.append("缺少清单 manifest.json / manifest.json is missing")
            return verdict
        except ValueError:
            verdict.problems.append("清单无法读取 / manifest.json is not JSON")
            return verdict
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            verdict.problems.append(f"不是本系统的档案包格式 / not an {FORMAT} package")
            return verdict
        verdict.case_number = manifest.get("case_number")
        problem = _signature(manifest)
        if problem:
            verdict.problems.append(problem)
        present = {i.filename for i in zf.infolist() if not i.is_dir()} - {MANIFEST}
        listed = set()
        for f in manifest.get("files") or []:
            path = str(f.get("path"))
            listed.add(path)
            verdict.files += 1
            if path not in present:
                verdict.problems.append(f"缺少文件 / file missing: {path}")
                continue
            try:
                digest, size = _sha256(zf, path)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:  # a CRC error: bytes changed in the zip
                verdict.problems.append(f"文件已损坏 / file corrupt: {path} ({exc})")
                continue
            if digest != f.get("sha256") or size != f.get("size"):
                verdict.problems.append(f"文件被修改（SHA-256 不符）/ file changed (SHA-256 differs): {path}")
        for path in sorted(present - listed):
            verdict.problems.append(f"清单外的文件 / file not in the manifest: {path}")
        _chain(zf, verdict)
    return verdict
