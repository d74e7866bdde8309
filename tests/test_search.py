"""The search contract's promises: each config trained once, the cost limit, searches that end,
the verdict, and the regressions of the contracts issue."""

import json

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from actsearch.analysis.front import analyse, candidates_of
from actsearch.cli import app
from actsearch.results import read_results
from actsearch.search.space import load_space

FAST = ["--task", "digits", "--budget", "tiny", "--threads", "1"]


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def write_space(path, text):
    path.write_text(text)
    return str(path)


TWO_POINTS = "activation: r_relu\nparams: {alpha: {type: categorical, choices: [0.25, 0.75]}}\n"


def test_a_proposed_point_already_scored_is_not_trained_again(tmp_path):
    space = write_space(tmp_path / "two.yaml", TWO_POINTS)
    run = tmp_path / "run"
    result = invoke("tune", *FAST, "--space", space, "--trials", "6", "--confirm", "0", "--holdout", "0",
                    "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    search = [r for r in read_results(run)[0] if r["role"] == "search"]
    assert len(search) == 6 and sum(not r.get("reused") for r in search) == 2  # two distinct points
    study = optuna.load_study(study_name="actsearch", storage=f"sqlite:///{run}/study.db")
    assert len(study.trials) == 6 and len({tuple(t.values) for t in study.trials if t.values}) == 2
    assert len(analyse(run).candidates) == 2  # one candidate per config, however often proposed


def test_fidelity_refuses_more_candidates_than_the_space_holds(tmp_path):
    space = write_space(tmp_path / "two.yaml", TWO_POINTS)
    result = invoke("fidelity", *FAST, "--space", space, "--candidates", "3", "--run-dir", str(tmp_path / "f"))
    assert result.exit_code == 2 and "holds 2 distinct activation(s)" in result.output


def test_every_backend_honours_a_step():
    space = load_space_text("activation: r_relu\nparams: {alpha: {type: float, low: 0.0, high: 1.0, step: 0.25}}\n")
    import random

    rng = random.Random(0)
    values = {space.sample(lambda d: d.random(rng))["alpha"] for _ in range(200)}
    assert values == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert space.distinct_points() == 5


def load_space_text(text):
    from actsearch.search.space import parse_space

    return parse_space(yaml.safe_load(text), "inline")


def test_max_cost_makes_costlier_candidates_infeasible(tmp_path):
    run = tmp_path / "run"
    result = invoke("tune", *FAST, "--trials", "10", "--confirm", "0", "--holdout", "0", "--max-cost", "1.5",
                    "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    records = [r for r in read_results(run)[0] if r["role"] == "search"]
    infeasible = [r for r in records if r["status"] == "infeasible"]
    assert infeasible and all(r["cost_ratio"] > 1.5 and "val_acc" not in r for r in infeasible)  # never trained
    analysis = analyse(run)
    relu_flops = min(r["activation_flops"] for r in records if r["status"] == "ok")
    assert all(c.cost <= 1.5 * relu_flops for c in analysis.front)
    assert analysis.counts["infeasible"] == len(infeasible)


@pytest.mark.parametrize("args, message", [
    (["--max-cost", "0"], "--max-cost must be a positive"),
    (["--rank", "foo"], "unknown --rank 'foo'"),
    (["--confirm-budget", "0"], "at least one training job"),
    (["--timeout", "0"], "--timeout must be a positive"),
    (["--val-subset", "0"], "chooses on a validation split"),
])
def test_bad_search_options_are_one_clear_line(tmp_path, args, message):
    result = invoke("tune", *FAST, *args, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_search_where_everything_fails_ends(tmp_path, monkeypatch):
    import actsearch.training.trainer as trainer

    def broken(cfg, callback=None):
        if cfg.activation["name"] != "relu":
            raise RuntimeError("kernel exploded")
        return real(cfg, callback=callback)

    real = trainer.train
    monkeypatch.setattr(trainer, "train", broken)
    run = tmp_path / "run"
    result = invoke("tune", *FAST, "--trials", "50", "--max-failures", "3", "--run-dir", str(run))
    assert result.exit_code == 2 and "3 candidates in a row failed" in result.output
    assert "kernel exploded" in result.output
    assert len([r for r in read_results(run)[0] if r["role"] == "search"]) == 3


def test_a_job_logged_twice_counts_once(tmp_path):
    """Two processes on one folder may both log a confirmation: a seed is one seed."""
    rec = {"role": "search", "trial": 0, "seed": 0, "status": "ok", "val_acc": 80.0, "test_acc": 79.0,
           "activation_config": {"name": "gelu", "approximate": "none"}, "activation_flops": 10}
    confirm = {**rec, "role": "confirm", "seed": 1, "val_acc": 81.0}
    base = [{"role": "baseline", "trial": None, "seed": s, "status": "ok", "val_acc": 79.0, "test_acc": 78.0,
             "activation_config": {"name": "relu"}} for s in (0, 1)]
    cands, relu = candidates_of([rec, confirm, confirm, *base, *base], "activation_flops")
    (c,) = cands.values()
    assert c.seeds == 2 and c.val_diff.n == 2 and relu == {0: 79.0, 1: 79.0}


def test_compare_resume_with_another_lr_schedule_is_refused(tmp_path):
    run = tmp_path / "cmp"
    assert invoke("compare", *FAST, "--activations", "relu", "--seeds", "1", "--run-dir", str(run)).exit_code == 0
    result = invoke("compare", *FAST, "--activations", "relu", "--seeds", "1", "--lr-schedule", "cosine",
                    "--run-dir", str(run))
    assert result.exit_code == 2 and "lr_schedule" in result.output


def test_no_warm_start_marks_no_trial_as_a_seed_default(tmp_path):
    run = tmp_path / "run"
    assert invoke("tune", *FAST, "--trials", "3", "--confirm", "0", "--holdout", "0", "--no-warm-start",
                  "--run-dir", str(run)).exit_code == 0
    assert not any(r.get("warm") for r in read_results(run)[0])


def test_export_writes_the_flops_the_search_optimized(tmp_path):
    run = tmp_path / "run"
    assert invoke("tune", *FAST, "--trials", "4", "--confirm", "0", "--holdout", "0", "--objectives",
                  "accuracy,model_flops", "--run-dir", str(run)).exit_code == 0
    out = tmp_path / "x.yaml"
    assert invoke("export", str(run), "--pick", "best-accuracy", "--out", str(out)).exit_code == 0
    doc = yaml.safe_load(out.read_text())
    trial = doc["provenance"]["trial"]
    record = next(r for r in read_results(run)[0] if r.get("trial") == trial and r["role"] == "search")
    assert doc["objectives"]["model_flops"] == record["flops"] == doc["objectives"]["flops"]


def test_held_out_seeds_give_the_verdict(tmp_path):
    """The calibration of the trustworthy-search issue, reduced: on a space whose members differ
    from ReLU by a negligible term, the report says no candidate beats ReLU."""
    run = tmp_path / "run"
    result = invoke("tune", *FAST, "--space", "near_null", "--trials", "4", "--confirm", "0", "--holdout", "6",
                    "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    analysis = analyse(run)
    assert analysis.verdict is not None and analysis.verdict.decided and not analysis.verdict.beats
    assert "No candidate beats ReLU" in result.output
    holdout = [r for r in read_results(run)[0] if r["role"] == "holdout"]
    assert {r["seed"] for r in holdout} == set(range(1000, 1006))  # seeds the search never used
    assert {r["activation_config"]["name"] for r in holdout} >= {"relu", "gelu"}
    assert json.loads(json.dumps(analysis.verdict.sentence))


def test_every_shipped_space_is_valid():
    """`actsearch spaces` lists the shipped files without validating them (no torch at start-up):
    this is where they are validated."""
    from actsearch.search.space import shipped_spaces

    names = list(shipped_spaces())
    assert {"bounded_negative", "r_relu", "sr_relu", "n_relu", "crrelu", "near_null"} <= set(names)
    for name in names:
        space = load_space(name)
        assert space.dimensions and all(space.to_activation(space.active_values(p)) for p in space.warm_start)
