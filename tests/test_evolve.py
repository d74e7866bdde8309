import json
import warnings

import pytest
import torch
from typer.testing import CliRunner

import actsearch
from actsearch.activations import build_activation
from actsearch.cli import app
from actsearch.training.config import TrainConfig
from actsearch.analysis.front import analyse, pick
from actsearch.results import read_results
from actsearch.search.evolve import CHECKPOINT, EvolveSettings, decode, encode, evolve
from actsearch.search.space import load_space

FAST = ["--task", "digits", "--budget", "tiny", "--threads", "1", "--population", "4", "--confirm", "0", "--holdout", "0"]


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def settings(run_dir, generations=2, workers=1, threads=1, **kw):
    return EvolveSettings(space="bounded_negative", train=TrainConfig(budget="tiny", threads=threads),
                          population=4, generations=generations, confirm=0, holdout=0, workers=workers,
                          run_dir=str(run_dir), **kw)


def final_state(run_dir):
    doc = json.loads((run_dir / CHECKPOINT).read_text())
    front = [(c.trial, c.label, c.acc_mean, c.cost) for c in analyse(run_dir).front]
    return doc["population"], front


def test_evolve_end_to_end_then_report_and_export(tmp_path):
    run = tmp_path / "run"
    result = invoke("evolve", *FAST, "--generations", "2", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert "NSGA-II logbook" in result.output and "front" in result.output
    records, _ = read_results(run)
    # warm start: the first population holds the seed papers' defaults
    first = [r for r in records if r.get("role") == "search"][:4]
    assert first[0]["activation"] == "bounded_negative(zero)" and first[1]["activation"] == "bounded_negative(linear, alpha=0.5, T=1)"
    assert all(r["warm"] for r in first)
    assert invoke("report", str(run)).exit_code == 0
    out = tmp_path / "best.yaml"
    assert invoke("export", str(run), "--pick", "best-accuracy", "--out", str(out)).exit_code == 0
    loaded = actsearch.load_activation(out)
    best, _ = pick(analyse(run), "best-accuracy")
    x = torch.randn(100)
    assert torch.equal(loaded.eval()(x), build_activation(best.activation).eval()(x))


def test_identical_genomes_are_trained_once(tmp_path):
    evolve(settings(tmp_path / "run", generations=3))
    records, _ = read_results(tmp_path / "run")
    search = [r for r in records if r.get("role") == "search"]
    trained = [json.dumps(r["activation_config"], sort_keys=True) for r in search if not r.get("reused")]
    assert len(trained) == len(set(trained))  # each config trained once
    assert len(search) == 4 * 4  # every individual of 4 populations answered, repeats from the log


def test_seeded_runs_are_identical_and_no_creator_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # DEAP warns when creator classes are re-made
        evolve(settings(tmp_path / "a"))
        evolve(settings(tmp_path / "b"))
    assert final_state(tmp_path / "a") == final_state(tmp_path / "b")


def test_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    evolve(settings(tmp_path / "straight", generations=3))
    evolve(settings(tmp_path / "resumed", generations=1))
    evolve(settings(tmp_path / "resumed", generations=3))
    assert final_state(tmp_path / "resumed") == final_state(tmp_path / "straight")


def test_parallel_equals_serial(tmp_path):
    # the same thread count per evaluation: 1 thread serially, 2 threads split over 2 workers
    evolve(settings(tmp_path / "serial", threads=1))
    evolve(settings(tmp_path / "parallel", threads=2, workers=2))
    assert final_state(tmp_path / "parallel") == final_state(tmp_path / "serial")


@pytest.mark.parametrize("content, message", [
    ('{"format": "actsearch-evolve-checkpoint/1", "generation": 1', "not a usable evolve checkpoint"),
    ('{"format": "something-else"}', "not a usable evolve checkpoint"),
    ("\x80\x04pickle", "not a usable evolve checkpoint"),
])
def test_corrupted_checkpoint_is_one_clear_line(tmp_path, content, message):
    run = tmp_path / "run"
    assert invoke("evolve", *FAST, "--generations", "1", "--run-dir", str(run)).exit_code == 0
    (run / CHECKPOINT).write_text(content)
    result = invoke("evolve", *FAST, "--generations", "2", "--run-dir", str(run))
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_population_must_suit_the_tournament(tmp_path):
    result = invoke("evolve", "--population", "6", "--run-dir", str(tmp_path / "r"))
    assert result.exit_code == 2 and "multiple of 4" in result.output


def test_genome_round_trip_every_dimension_kind():
    import random

    space = load_space("bounded_negative")
    point = {"noise": True, "correction": True, "shape": "cubic", "eta": 0.3, "T": 2.0, "sigma": 0.1,
             "sigma_schedule": "cosine", "eps": -0.05, "eps_learnable": True}
    back = decode(space, encode(space, point, random.Random(0)))
    assert back.keys() == point.keys()
    for k, v in point.items():
        assert back[k] == pytest.approx(v) if isinstance(v, float) else back[k] == v


def test_ctrl_c_stops_after_the_generation_and_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "actsearch", "evolve", "--task", "digits", "--budget", "full", "--epochs", "10",
           "--population", "4", "--generations", "50", "--confirm", "0", "--holdout", "0", "--threads", "1",
           "--run-dir", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    deadline = time.time() + 120
    while not (run / CHECKPOINT).exists() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out  # the conventional code after the graceful stop and its report
    assert "stopping after the current generation" in out and "NSGA-II logbook" in out
    stopped_at = json.loads((run / CHECKPOINT).read_text())["generation"]
    assert stopped_at < 50
    result = invoke("evolve", "--task", "digits", "--budget", "full", "--epochs", "10", "--population", "4",
                    "--generations", str(stopped_at + 1), "--confirm", "0", "--holdout", "0", "--threads", "1",
                    "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert json.loads((run / CHECKPOINT).read_text())["generation"] == stopped_at + 1


def test_unavailable_device_is_one_clear_line():
    result = invoke("train", "--device", "mps", "--budget", "tiny")
    assert result.exit_code == 2 and "--device mps" in result.output
