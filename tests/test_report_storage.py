"""report / export / plot with --storage: argument checks and read-only refusals (no server needed;
tests/test_postgres.py runs them against PostgreSQL)."""

import io

import pytest
from typer.testing import CliRunner

from actsearch.cli import _width, app


def invoke(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("args, message", [
    (["report"], "give a RUN_DIR, or --storage URL --study NAME"),
    (["report", "--study", "s"], "--study needs --storage"),
    (["report", "--storage", "sqlite:///x.db"], "--storage needs --study"),
    (["report", "some/run", "--storage", "sqlite:///x.db", "--study", "s"], "not both"),
    (["report", "--storage", "journal:x.log", "--study", "s"], "give the database URL"),
    (["export", "--storage", "redis://localhost", "--study", "s"], "give the database URL"),
    (["plot", "--storage", "journal:x.log", "--study", "s"], "give the database URL"),
])
def test_storage_arguments_are_checked(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_missing_sqlite_study_is_reported_and_nothing_is_created(tmp_path):
    db = tmp_path / "none.db"
    result = invoke("report", "--storage", f"sqlite:///{db}", "--study", "fm", "--json")
    assert result.exit_code == 2 and "no study 'fm'" in result.output
    assert not db.exists()  # a read-only command creates no database


def test_tables_are_not_cut_when_output_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert _width(io.StringIO()) == 10_000  # a log or a pipe: whole lines
    monkeypatch.setenv("COLUMNS", "120")
    assert _width(io.StringIO()) is None  # $COLUMNS rules, as rich reads it
