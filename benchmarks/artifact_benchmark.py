"""Registering a large file on the local store, against `cp` of the same file on the same disk.

    python benchmarks/artifact_benchmark.py [--size-mib 1024] [--dir DIR] [--rounds 3]

Each round, in this order, on one file that is already in the page cache:
`cp` (plain, as a user would copy), `cp` followed by `sync` of the copy (what
a durable copy costs), a first registration (hash + copy + fsync + publish),
and a second registration of the same bytes (only hashing remains; no bytes
written). Registrations run in a fresh process each, so their peak memory
(max RSS) is the registering process's own. Every step starts with the
disk flushed (``sync``), so none pays for the previous step's writes.
Medians over the rounds are printed with the ratios to `cp`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REGISTER = """
import json, resource, sys, time
from registry_core import Registry
db, root, source = sys.argv[1:4]
registry = Registry(db, root, actor="bench")
started = time.perf_counter()
version = registry.register("big", source)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "version": version.version,
                  "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed(command: list[str]) -> float:
    os.sync()
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def register(db: str, root: Path, source: Path) -> dict[str, float]:
    os.sync()
    result = subprocess.run(
        [sys.executable, "-c", _REGISTER, db, str(root), str(source)], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout)


def blob_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in (root / "sha256").rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary folder under the current one)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds to take the median of (default 3)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="artifact-bench-", dir=args.dir or Path.cwd()))
    try:
        source = work / "model.bin"
        print(f"writing a {args.size_mib} MiB file of random bytes in {work} ...", file=sys.stderr)
        with source.open("wb") as handle:
            for _ in range(args.size_mib):
                handle.write(os.urandom(1024 * 1024))
        rows: dict[str, list[float]] = {"cp": [], "cp + sync": [], "register (new)": [], "register (again)": []}
        rss: dict[str, list[float]] = {"register (new)": [], "register (again)": []}
        written_again: list[int] = []
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", file=sys.stderr)
            copy = work / "copy.bin"
            rows["cp"].append(timed(["cp", str(source), str(copy)]))
            copy.unlink()
            rows["cp + sync"].append(timed(["sh", "-c", f'cp "{source}" "{copy}" && sync "{copy}"']))
            copy.unlink()
            root = work / f"store-{round_number}"
            db = f"sqlite:///{work / f'catalog-{round_number}.db'}"
            first = register(db, root, source)
            before = blob_bytes(root)
            again = register(db, root, source)
            written_again.append(blob_bytes(root) - before)
            rows["register (new)"].append(first["seconds"])
            rows["register (again)"].append(again["seconds"])
            rss["register (new)"].append(first["max_rss_mib"])
            rss["register (again)"].append(again["max_rss_mib"])
            shutil.rmtree(root)
        cp = statistics.median(rows["cp"])
        print(f"\n{args.size_mib} MiB file, median of {args.rounds} rounds, {os.cpu_count()} cores\n")
        print("| operation | seconds (median) | vs cp | peak memory (max RSS) |")
        print("|---|---:|---:|---:|")
        for name, values in rows.items():
            seconds = statistics.median(values)
            memory = f"{max(rss[name]):.0f} MiB" if name in rss else "-"
            print(f"| {name} | {seconds:.2f} | {seconds / cp:.2f}x | {memory} |")
        print(f"\nbytes written by the second registration: {max(written_again)}")
        print("goals: register (new) <= 1.3x cp; register (again) <= 0.5x cp with no bytes written; peak memory < 150 MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
