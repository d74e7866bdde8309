import re
from pathlib import Path

from typer.testing import CliRunner

import actsearch
from actsearch.cli import app

ROOT = Path(__file__).resolve().parent.parent


def test_version_and_help():
    runner = CliRunner()
    assert actsearch.__version__ in runner.invoke(app, ["--version"]).output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "bounded-negative" in result.output


def test_every_command_has_help_text():
    runner = CliRunner()
    for command in app.registered_commands:
        name = command.name
        assert command.callback.__doc__, f"{name} has no docstring"
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, name


def test_activations_command_lists_the_family():
    result = CliRunner().invoke(app, ["activations"])
    assert result.exit_code == 0
    for name in ("r_relu", "sr_relu", "n_relu", "crrelu", "bounded_negative", "squareplus"):
        assert name in result.output


def test_ci_runs_the_readme_install_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    install = next(b for b in blocks if "pip install" in b).strip().splitlines()[-1]
    test = next(b for b in blocks if "pytest" in b and "pip" not in b).strip().splitlines()[-1]
    assert ci.index(install) < ci.index(test)


def test_the_cli_starts_without_heavy_imports():
    """``actsearch --help`` must be instant: torch, optuna and friends load only in the commands
    that use them (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, actsearch, actsearch.cli; "
            "print(sorted(m for m in ('torch', 'optuna', 'deap', 'scipy', 'sklearn', 'matplotlib', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_top_level_names_load_on_first_use():
    import actsearch

    act = actsearch.load_activation  # resolved lazily
    assert callable(act) and callable(actsearch.set_progress) and "build_activation" in dir(actsearch)


def test_every_command_has_help_with_an_example():
    from typer.main import get_command

    from actsearch.cli import app

    group = get_command(app)
    for name, command in group.commands.items():
        assert command.help and "Example: actsearch " + name in command.help, name
