"""Start-up time of the CLI as whole processes, against ``python -c pass`` in the same run.

    python benchmarks/startup.py              # 7 repeats each, interleaved, median
    python benchmarks/startup.py --repeats 15
    git archive 568b7cc | tar -x -C /tmp/before && python benchmarks/startup.py --before /tmp/before

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
    parser.add_argument("--before", help="another source tree of actsearch (e.g. an older commit) to time "
                                         "in the same run, interleaved")
    args = parser.parse_args()
    roots = {"": ROOT}
    if args.before:
        roots["before: "] = Path(args.before).resolve()
    runs = []  # (row name, argv, cwd, env)
    for prefix, root in roots.items():
        env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "120"}
        for name, argv in COMMANDS.items():
            if prefix and name == "python -c pass":
                continue
            runs.append((prefix + name, argv, root, env))
    times: dict[str, list[float]] = {name: [] for name, *_ in runs}
    for name, argv, cwd, env in runs:  # warm the file cache once
        subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True)
    for _ in range(args.repeats):
        for name, argv, cwd, env in runs:
            start = time.perf_counter()
            subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True)
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
