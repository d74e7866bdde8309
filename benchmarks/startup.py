"""Start-up time of the CLI as whole processes, against ``python -c pass`` in the same run.

    python benchmarks/startup.py              # 7 repeats each, interleaved, median
    python benchmarks/startup.py --repeats 15

Each command runs as its own process (``python -m actsearch ...``), so the numbers include the
interpreter, every import and Typer's parsing: what a user waits for. Commands are interleaved
(one round runs each once) so a busy machine slows all of them alike; the table gives the median
wall time, the time minus ``python -c pass`` (what actsearch itself costs) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "actsearch --help": ["-m", "actsearch", "--help"],
    "actsearch --version": ["-m", "actsearch", "--version"],
    "actsearch tune --help": ["-m", "actsearch", "tune", "--help"],
    "actsearch report --help": ["-m", "actsearch", "report", "--help"],
    "actsearch spaces": ["-m", "actsearch", "spaces"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "120"}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for name, argv in COMMANDS.items():  # warm the file cache once
        subprocess.run([sys.executable, *argv], env=env, capture_output=True, check=True)
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *argv], env=env, capture_output=True, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    print(f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, median of {args.repeats}, interleaved\n")
    print(f"| command | median s | minus `python -c pass` s | ratio to `python -c pass` |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {median - base:.3f} | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
