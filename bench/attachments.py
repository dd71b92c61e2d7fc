"""Attachments: a 100 MB upload and download through the service (content checks, SHA-256, streaming
AES-GCM, the local store), RSS growth and throughput against a plain file copy on the same disk.

    python bench/attachments.py [MB] [ROUNDS]       # default 100 MB, 5 rounds

The upload reads the source file in 256 KiB pieces, as the multipart decoder hands over a request body;
the download writes the decrypted chunks to a file. RSS is sampled every 5 ms in a thread (peak minus the
level before the operation). The plain copy is ``shutil.copyfileobj`` with the same piece size.
"""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402  (keys for the benchmark's app)

PIECE = 256 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Peak:
    def __init__(self) -> None:
        self.base = rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.005)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024 / 1024


def make_pdf(path: Path, megabytes: int) -> None:
    """A valid PDF of ``megabytes`` MB: one page, then incompressible filler, then the cross-reference."""
    sys.path.insert(0, str(common.ROOT))
    from tests.attachment_files import pdf

    block = os.urandom(1024 * 1024)
    head = pdf()
    with open(path, "wb") as out:
        out.write(head[: head.index(b"xref")])
        for _ in range(megabytes):
            out.write(b"% ")  # a comment line in the PDF syntax
            out.write(block.replace(b"\n", b" ").replace(b"\r", b" "))
            out.write(b"\n")
        xref = out.tell()
        out.write(b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root 1 0 R >>\n")
        out.write(b"startxref\n%d\n%%%%EOF\n" % xref)


def pieces(path: Path):
    with open(path, "rb") as f:
        while chunk := f.read(PIECE):
            yield chunk


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    (common.ROOT / "instance").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="assistflow-bench-files-", dir=str(common.ROOT / "instance")))
    os.environ["ASSISTFLOW_FILES_URL"] = str(work / "store")
    from engine import formstore
    from engine.formversions import service as formversions
    from engine.instances import service as instances
    from engine.tasks import service as tasks
    from engine.users import service as users

    try:
        _engine, factory = common.migrated(
            f"sqlite:///{work}/bench.db", [("bench_advisor", [("advisor", "310107014")])], "bench-pass-2026"
        )
        from engine.attachments import service as attachments

        source = work / "source.pdf"
        make_pdf(source, megabytes)
        size = source.stat().st_size
        with factory() as s:
            raw = copy.deepcopy(dict(formstore.get("demo_application").raw))
            for f in raw["fields"]:
                if f["name"] == "supporting_documents":
                    f["max_size_mb"] = megabytes + 10
            formversions.save(s, "demo_application", raw, actor_id=None)
            user = users.by_username(s, "bench_advisor")
            instance = instances.start(s, user, "demo_assistance", "310107014", business_key="BENCH-FILES")
            task = tasks.open_tasks_of(s, instance.id)[0]
            s.commit()

            shutil.copyfile(source, work / "warm.pdf")  # the page cache holds the source for everyone
            os.remove(work / "warm.pdf")
            attachments.configure(case_max_mb=(megabytes + 1) * (rounds + 1))
            results = []
            for _ in range(rounds):  # copy, upload and download in turn: ratios within one round
                with Peak() as copy_peak:
                    started = time.perf_counter()
                    with open(source, "rb") as src, open(work / "copy.pdf", "wb") as dst:
                        shutil.copyfileobj(src, dst, PIECE)
                        dst.flush()
                        os.fsync(dst.fileno())
                    copy_s = time.perf_counter() - started
                os.remove(work / "copy.pdf")
                with Peak() as up_peak:
                    started, main_cpu, all_cpu = time.perf_counter(), time.thread_time(), time.process_time()
                    row = attachments.upload(
                        s, user, task.id, "supporting_documents", "big.pdf", pieces(source)
                    )
                    s.commit()
                    up_s = time.perf_counter() - started
                    main_cpu, all_cpu = time.thread_time() - main_cpu, time.process_time() - all_cpu
                with Peak() as down_peak:
                    started = time.perf_counter()
                    _row, body = attachments.download(s, user, row.id)
                    with open(work / "back.pdf", "wb") as out:
                        for chunk in body:
                            out.write(chunk)
                        out.flush()
                        os.fsync(out.fileno())
                    s.commit()
                    down_s = time.perf_counter() - started
                same = row.size == size and (work / "back.pdf").stat().st_size == size
                os.remove(work / "back.pdf")
                results.append((copy_s, up_s, down_s, main_cpu, all_cpu, same, copy_peak, up_peak, down_peak))
        mbs = size / 1024 / 1024
        print(f"attachments: {mbs:.0f} MB file, local store in {work}, {rounds} rounds")
        for copy_s, up_s, down_s, main_cpu, all_cpu, same, copy_peak, up_peak, down_peak in results:
            print(
                f"  copy {copy_s:5.2f} s {mbs / copy_s:6.0f} MB/s RSS +{copy_peak.growth_mb:4.1f} MB | "
                f"upload {up_s:5.2f} s {mbs / up_s:6.0f} MB/s RSS +{up_peak.growth_mb:4.1f} MB "
                f"ratio {copy_s / up_s:4.2f} (CPU: request thread {main_cpu * 1000:.0f} ms, all "
                f"{all_cpu * 1000:.0f} ms) | download {down_s:5.2f} s RSS +{down_peak.growth_mb:4.1f} MB "
                f"ratio {copy_s / down_s:4.2f} | intact {same}"
            )
        up = sorted(r[0] / r[1] for r in results)
        down = sorted(r[0] / r[2] for r in results)
        growth = max(max(r[7].growth_mb, r[8].growth_mb) for r in results)
        print(
            f"  upload ratio to copy: median {statistics.median(up):.2f} (min {up[0]:.2f}, max {up[-1]:.2f}); "
            f"download: median {statistics.median(down):.2f} (min {down[0]:.2f}); largest RSS growth "
            f"{growth:.1f} MB; all intact: {all(r[5] for r in results)}"
        )
        print("  goals: RSS growth <= 20 MB, throughput >= 50 % of the copy")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
