"""Start-up time of the ``registry`` command, against importing SQLAlchemy's ORM alone.

    python benchmarks/cli_startup_benchmark.py [--rounds 21] [--dir DIR]

Three commands, each in a fresh process, run in turn within every round (so a
busy machine slows all three alike): ``python -c 'import sqlalchemy.orm'``,
``registry --help``, and ``registry show models:/bench/1`` on a small SQLite
catalog made beforehand (one version, one check, one approval). Printed: the
median wall time and the median CPU time (user + system) of each, with their
ratios to the SQLAlchemy import.

Goals: ``registry --help`` <= 0.5x and ``registry show`` <= 1.5x the wall time
of ``import sqlalchemy.orm``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SETUP = """
import sys
from registry_core import Registry
db, root, source = sys.argv[1:4]
with Registry(db, root, actor="alice") as registry:
    registry.register("bench", source, metrics={"auc": 0.9}, description="start-up benchmark")
    registry.record_check("bench", 1, "unit", passed=True)
    registry.transition("bench", 1, "Staging")
    registry.as_actor("bob").approve("bench", 1)
"""


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``command`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21, help="Runs of each command (default 21).")
    parser.add_argument("--dir", type=Path, help="Where the temporary catalog goes (default: the system's temp folder).")
    args = parser.parse_args()

    registry_command = str(Path(sys.executable).with_name("registry"))
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        model = Path(work) / "model.bin"
        model.write_bytes(os.urandom(4096))
        env = {
            **os.environ,
            "REGISTRY_DATABASE_URL": f"sqlite:///{work}/catalog.db",
            "REGISTRY_ARTIFACT_ROOT": f"{work}/artifacts",
            "REGISTRY_ACTOR": "alice",
        }
        subprocess.run([sys.executable, "-c", _SETUP, env["REGISTRY_DATABASE_URL"], env["REGISTRY_ARTIFACT_ROOT"],
                        str(model)], check=True)
        commands = {
            "python -c 'import sqlalchemy.orm'": [sys.executable, "-c", "import sqlalchemy.orm"],
            "registry --help": [registry_command, "--help"],
            "registry show models:/bench/1": [registry_command, "show", "models:/bench/1"],
        }
        for command in commands.values():  # warm the page cache and the bytecode caches
            run(command, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", file=sys.stderr)
            for name, command in commands.items():
                times[name].append(run(command, env))

    medians = {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in times.items()
    }
    base_wall, base_cpu = medians["python -c 'import sqlalchemy.orm'"]
    print(f"\nmedian of {args.rounds} rounds, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}\n")
    print("| command | wall s | vs import | CPU s | vs import |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in medians.items():
        print(f"| `{name}` | {wall:.3f} | {wall / base_wall:.2f}x | {cpu:.3f} | {cpu / base_cpu:.2f}x |")
    print("\ngoals (wall): registry --help <= 0.5x, registry show <= 1.5x the import of sqlalchemy.orm")


if __name__ == "__main__":
    main()
