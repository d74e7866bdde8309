"""Start-up: the commands a user runs interactively import no heavy package (a behaviour check
in fresh processes, not a timing; benchmarks/startup.py measures the time)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "optuna", "deap", "scipy", "sklearn", "matplotlib", "numpy", "sqlalchemy")
PROBE = """
import runpy, sys
sys.argv = ["actsearch", *{argv!r}]
try:
    runpy.run_module("actsearch", run_name="__main__")
except SystemExit:
    pass
print("HEAVY", sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["tune", "--help"], ["report", "--help"],
                                  ["spaces"]])
def test_interactive_commands_import_nothing_heavy(argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert "HEAVY []" in out.stderr, out.stderr[-2000:]
