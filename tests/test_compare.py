import struct

import pytest
from typer.testing import CliRunner

from actsearch.cli import app
from actsearch.analysis.compare import NRELU_ACTIVATIONS, welch_p
from actsearch.results import read_results


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_compare_two_activations_two_seeds(tmp_path):
    run = tmp_path / "cmp"
    result = invoke("compare", "--task", "digits", "--activations", "relu,sr_relu", "--seeds", "2",
                    "--budget", "tiny", "--threads", "1", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert "p vs ReLU (Welch)" in result.output and "sr_relu" in result.output
    records, _ = read_results(run)
    assert len(records) == 4 and {r["seed"] for r in records} == {0, 1}
    md = (run / "comparison.md").read_text()
    assert "| mlp | sr_relu |" in md and "± " in md
    row = next(line for line in md.splitlines() if line.startswith("| mlp | sr_relu |"))
    p = float(row.split("|")[9])
    assert 0.0 <= p <= 1.0  # a finite p-value
    # same data order per seed: relu seed 0 is identical when run again in another folder
    again = invoke("compare", "--task", "digits", "--activations", "relu", "--seeds", "1", "--budget", "tiny",
                   "--threads", "1", "--run-dir", str(tmp_path / "again"))
    assert again.exit_code == 0
    first = next(r for r in records if r["label"] == "relu" and r["seed"] == 0)
    (second,), _ = read_results(tmp_path / "again")
    assert first["curve"] == second["curve"]


def test_compare_resumes_without_retraining(tmp_path):
    run = tmp_path / "cmp"
    args = ["compare", "--task", "digits", "--activations", "relu,r_relu", "--seeds", "1", "--budget", "tiny",
            "--threads", "1", "--run-dir", str(run)]
    assert invoke(*args).exit_code == 0
    assert invoke(*args).exit_code == 0
    assert len(read_results(run)[0]) == 2


def test_compare_adds_exported_configs(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("activation: {name: r_relu, alpha: 0.2, T: 2.0}\n")
    result = invoke("compare", "--task", "digits", "--activations", "relu", "--config", str(path), "--seeds", "1",
                    "--budget", "tiny", "--threads", "1", "--run-dir", str(tmp_path / "cmp"))
    assert result.exit_code == 0, result.output
    assert "mine: r_relu(alpha=0.2, T=2)" in (tmp_path / "cmp" / "comparison.md").read_text()


def test_nrelu_preset_is_the_seed_protocol():
    labels = [label for label, _ in NRELU_ACTIVATIONS]
    assert labels[:5] == ["ReLU", "LeakyReLU", "PReLU", "GELU", "RReLU"]
    sigmas = [c.get("sigma") for _, c in NRELU_ACTIVATIONS if c["name"] == "n_relu"]
    assert sigmas == [0.05, 0.10, 0.20, 0.20]
    assert NRELU_ACTIVATIONS[-1][1]["sigma_schedule"] == "cosine"


def test_welch_p_values():
    assert welch_p([1.0, 1.1, 0.9], [1.0, 1.1, 0.9]) == pytest.approx(1.0)
    assert welch_p([1.0, 1.01, 0.99], [5.0, 5.02, 4.98]) < 1e-4
    assert welch_p([1.0], [2.0, 3.0]) is None


def test_compare_bad_input(tmp_path):
    result = invoke("compare", "--activations", "relu,nope", "--run-dir", str(tmp_path / "x"))
    assert result.exit_code == 2 and "unknown activation 'nope'" in result.output
    result = invoke("compare", "--preset", "xyz", "--run-dir", str(tmp_path / "y"))
    assert result.exit_code == 2 and "unknown preset" in result.output


def test_fidelity_on_digits(tmp_path):
    result = invoke("fidelity", "--task", "digits", "--candidates", "4", "--low", "tiny", "--high", "small",
                    "--threads", "1", "--run-dir", str(tmp_path / "fid"))
    assert result.exit_code == 0, result.output
    assert "Kendall tau" in result.output and "Spearman rho" in result.output and "verdict:" in result.output
    records, _ = read_results(tmp_path / "fid")
    assert len(records) == 8 and {r["budget"] for r in records} == {"tiny", "small"}


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_run_and_config(tmp_path):
    run = tmp_path / "run"
    assert invoke("tune", "--task", "digits", "--budget", "tiny", "--threads", "1", "--trials", "5",
                  "--confirm", "0", "--run-dir", str(run)).exit_code == 0
    result = invoke("plot", str(run))
    assert result.exit_code == 0, result.output
    for name in ("pareto.png", "activations.png"):
        w, h = png_size(run / name)
        assert 400 <= w <= 3000 and 300 <= h <= 2000
    cfg = tmp_path / "best.yaml"
    cfg.write_text("activation: {name: sr_relu, eta: 1.0, T: 1.0}\n")
    assert invoke("plot", "--config", str(cfg)).exit_code == 0
    w, h = png_size(tmp_path / "best.png")
    assert w > 400 and h > 300
    assert invoke("plot").exit_code == 2


def test_report_refuses_a_compare_folder(tmp_path):
    run = tmp_path / "cmp"
    assert invoke("compare", "--activations", "relu", "--seeds", "1", "--budget", "tiny", "--threads", "1",
                  "--run-dir", str(run)).exit_code == 0
    for command in (["report", str(run)], ["export", str(run)], ["plot", str(run)]):
        result = invoke(*command)
        assert result.exit_code == 2 and "comparison.md" in result.output, command
    missing = invoke("report", str(tmp_path / "nothing"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
