import struct

import pytest
from typer.testing import CliRunner

from actsearch.cli import app
from actsearch.results import read_results


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_compare_two_activations_two_seeds(tmp_path):
    run = tmp_path / "cmp"
    result = invoke("compare", "--task", "digits", "--activations", "relu,sr_relu", "--seeds", "2",
                    "--budget", "tiny", "--threads", "1", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert "Welch" in result.output and "sr_relu" in result.output
    records, _ = read_results(run)
    assert len(records) == 4 and {r["seed"] for r in records} == {0, 1}
    md = (run / "comparison.md").read_text()
    assert "| mlp | sr_relu |" in md and "± " in md
    row = next(line for line in md.splitlines() if line.startswith("| mlp | sr_relu |"))
    cells = [c.strip() for c in row.split("|")]
    p = float(cells[11])
    assert 0.0 <= p <= 1.0  # a finite Welch p-value
    assert cells[9].startswith(("+", "-"))  # the paired difference from ReLU
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


def test_compare_says_whether_the_setting_has_headroom(tmp_path):
    """Before searching, a short compare tells a user whether activations differ by more than
    seed noise on their setting; the deep MLP's collapsed ReLU seed is named, not averaged in."""
    from actsearch.analysis.compare import Row, summary

    def row(label, name, accs):
        return Row("mlp", label, {"name": name}, [{"seed": s, "test_acc": a} for s, a in enumerate(accs)])

    relu = [84.0, 83.6, 84.3, 67.84, 83.9, 84.1]
    deep = summary([row("relu", "relu", relu), row("gelu", "gelu", [84.9, 85.1, 84.7, 85.0, 84.8, 85.2])])
    note = next(line for line in deep if "headroom" in line)
    assert note.startswith("mlp: headroom: ") and "1 of 6 relu seeds collapsed (67.84)" in note
    flat = summary([row("relu", "relu", [88.4, 88.1, 88.7]), row("gelu", "gelu", [88.6, 88.2, 88.9])])
    assert any(line.startswith("mlp: no headroom: ") for line in flat)
    assert not any("headroom" in line for line in summary([row("relu", "relu", [88.4])]))  # one seed: no claim


def test_compare_pairs_seeds_and_states_the_verdict(tmp_path):
    run = tmp_path / "cmp"
    result = invoke("compare", "--task", "digits", "--activations", "relu,gelu,sr_relu", "--seeds", "3",
                    "--budget", "tiny", "--threads", "1", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    table = (run / "comparison.md").read_text()
    assert "Δ ReLU, paired [95% CI] p" in table and "p vs ReLU (Welch, unpaired)" in table
    assert "Not enough seeds to decide" in table  # 3 seeds: the verdict refuses to claim anything
    from actsearch.analysis.compare import table_rows

    rows = {r.label: r for r in table_rows(run, ["mlp"], [("relu", {"name": "relu"}),
                                                         ("gelu", {"name": "gelu", "approximate": "none"})])}
    gelu = rows["gelu"]
    by_seed = [a - b for a, b in zip(gelu.values("test_acc"), rows["relu"].values("test_acc"))]
    assert gelu.vs_relu.n == 3 and gelu.vs_relu.mean == pytest.approx(sum(by_seed) / 3)


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
