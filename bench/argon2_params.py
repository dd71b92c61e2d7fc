"""Time of one argon2id hash (= one password check) per parameter set, on this machine.

    .venv/bin/python bench/argon2_params.py [REPEATS]

Prints the median and the CPU time for each candidate: the library's default (RFC 9106's second
recommendation, 64 MiB, t=3, p=4), OWASP's minimum configurations, and a few between. With password
checks bounded to one per core (api/security.py PasswordSlots), a core does 1/median checks a second:
pick the strongest set whose time still lets a node absorb its expected login burst. The choice is
set with ASSISTFLOW_ARGON2=time_cost,memory_kib,parallelism (docs/DEPLOY.md).
"""

from __future__ import annotations

import statistics
import sys
import time

from argon2 import PasswordHasher

CANDIDATES = [
    ("library default / RFC 9106 #2", 3, 65536, 4),
    ("t=2 m=64MiB p=1", 2, 65536, 1),
    ("t=3 m=32MiB p=1", 3, 32768, 1),
    ("OWASP m=46MiB t=1 p=1", 1, 47104, 1),
    ("OWASP m=19MiB t=2 p=1", 2, 19456, 1),
    ("OWASP m=12MiB t=3 p=1", 3, 12288, 1),
]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    print(f"{'parameters':32} {'median ms':>10} {'CPU ms':>8} {'checks/s/core':>14}")
    for label, t, m, p in CANDIDATES:
        hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)
        stored = hasher.hash("benchmark-password-1")
        wall, cpu = [], []
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            hasher.verify(stored, "benchmark-password-1")
            wall.append((time.perf_counter() - w) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        med, cpu_med = statistics.median(wall), statistics.median(cpu)
        print(f"{label:32} {med:10.1f} {cpu_med:8.1f} {1000 / max(cpu_med, 0.001):14.1f}")


if __name__ == "__main__":
    main()
