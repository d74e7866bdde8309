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
