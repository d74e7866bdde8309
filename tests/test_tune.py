import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import torch
from typer.testing import CliRunner

import actsearch
from actsearch.activations import build_activation
from actsearch.cli import app
from actsearch.training.config import TrainConfig
from actsearch.analysis.front import analyse
from actsearch.analysis.front import pick
from actsearch.choices import SAMPLERS
from actsearch.results import read_results
from actsearch.search.objectives import Rungs
from actsearch.search.tune import TuneSettings, tune

FAST = ["--task", "digits", "--budget", "tiny", "--threads", "1", "--holdout", "0"]


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def search_trials(run_dir):
    records, _ = read_results(run_dir)
    return [r["trial"] for r in records if r.get("role") == "search"]


def study_of(run_dir):
    return optuna.load_study(study_name="actsearch", storage=f"sqlite:///{run_dir}/study.db")


def test_tune_end_to_end_report_and_export(tmp_path):
    run = tmp_path / "run"
    result = invoke("tune", *FAST, "--trials", "7", "--confirm", "1", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert "Racing survivors" in result.output and "hypervolume" in result.output
    assert "no gain over ReLU is claimed" in result.output  # --holdout 0: nothing is claimed
    # warm start: the seed papers' points are the first trials
    study = study_of(run)
    assert study.trials[0].params == {"noise": False, "correction": False, "shape": "zero"}
    assert study.trials[1].params["alpha"] == 0.5 and study.trials[1].params["T"] == 1.0
    assert all("activation" in t.user_attrs for t in study.trials)
    records, _ = read_results(run)
    # ReLU once per seed: the rung rule's spread, then the racing seeds (1 here)
    assert sorted(r["seed"] for r in records if r["role"] == "baseline") == [0, 1, 2]
    search = [r for r in records if r["role"] == "search"]
    # the search point apart from the model's parameter count
    assert all(isinstance(r["point"], dict) and isinstance(r.get("params", 0), int) for r in search)
    assert all("val_acc" in r and "test_acc" in r for r in search if r["status"] == "ok")
    analysis = analyse(run)
    assert analysis.raced and all(c.seeds == 2 for c in analysis.front if not c.equals_relu)  # + 1 racing seed
    # a member computing exactly ReLU differs from it by zero on every seed: racing gives it none
    assert all(c.seeds == 1 for c in analysis.front if c.equals_relu)
    # report again on demand
    again = invoke("report", str(run))
    assert again.exit_code == 0 and "Racing survivors" in again.output
    # time beside FLOPs: each front member's measured fwd+bwd over ReLU's, at the task's shapes
    timed = invoke("report", str(run), "--latency", "--json")
    assert timed.exit_code == 0, timed.output
    latency = json.loads(timed.stdout)["latency"]
    assert set(latency) == {str(c.trial) for c in analysis.front} and all(v > 0 for v in latency.values())
    # export loads back into the same module
    out = tmp_path / "best.yaml"
    exported = invoke("export", str(run), "--pick", "best-accuracy", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    loaded = actsearch.load_activation(out)
    best, _ = pick(analysis, "best-accuracy")
    reference = build_activation(best.activation).eval()
    x = torch.randn(256)
    assert torch.equal(loaded.eval()(x), reference(x))
    again = invoke("export", str(run), "--pick", "min-cost", "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output  # never overwritten silently
    for how in ("knee", "min-cost", f"trial:{best.trial}"):
        assert invoke("export", str(run), "--pick", how, "--out", str(out), "--force").exit_code == 0
    bad = invoke("export", str(run), "--pick", "trial:999", "--out", str(tmp_path / "other.yaml"))
    assert bad.exit_code == 2 and "no trial 999" in bad.output


def test_resume_continues_the_count_without_recomputing(tmp_path):
    run = tmp_path / "run"
    assert invoke("tune", *FAST, "--trials", "3", "--confirm", "0", "--run-dir", str(run)).exit_code == 0
    first = search_trials(run)
    result = invoke("tune", *FAST, "--trials", "5", "--confirm", "0", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    trials = search_trials(run)
    assert trials[:3] == first and sorted(trials) == list(range(len(trials))) and len(trials) == 5
    records, _ = read_results(run)
    assert sum(r["role"] == "baseline" for r in records) == 3  # trained once per seed, not per session


def test_resume_with_other_options_is_refused(tmp_path):
    run = tmp_path / "run"
    assert invoke("tune", *FAST, "--trials", "1", "--confirm", "0", "--run-dir", str(run)).exit_code == 0
    result = invoke("tune", "--task", "digits", "--budget", "small", "--trials", "2", "--run-dir", str(run))
    assert result.exit_code == 2 and "Traceback" not in result.output
    # only the setting that differs is named, not the whole training configuration
    assert "was started with budget='tiny', not 'small'" in result.output and "'epochs'" not in result.output


def _kill_mid_trial(cmd, run) -> None:
    """Start a tune process and SIGKILL it while a trial is RUNNING (after 2 finished ones)."""
    for _ in range(3):  # a trial can finish between the check and the kill: try again then
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                time.sleep(0.05)
                if len(search_trials(run)) < 2 or not (run / "study.db").exists():
                    continue
                states = [t.state for t in study_of(run).trials]
                if states and states[-1] == optuna.trial.TrialState.RUNNING:
                    break
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if optuna.trial.TrialState.RUNNING in [t.state for t in study_of(run).trials]:
            return
    pytest.fail("could not catch the tune process mid-trial")


def test_sigkill_mid_run_then_resume(tmp_path):
    run = tmp_path / "run"
    # 40 epochs: trials of about a second, so the kill lands inside one
    opts = ["--task", "digits", "--budget", "full", "--epochs", "40", "--threads", "1", "--no-prune",
            "--confirm", "0", "--run-dir", str(run)]
    _kill_mid_trial([sys.executable, "-m", "actsearch", "tune", "--trials", "200", *opts], run)
    finished_before = set(search_trials(run))
    # the killed trial becomes FAIL and counts toward --trials: one more trial is trained
    n = len(study_of(run).trials) + 1
    result = invoke("tune", "--trials", str(n), *opts)
    assert result.exit_code == 0, result.output
    study = study_of(run)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert states.count(optuna.trial.TrialState.FAIL) >= 1
    records, _ = read_results(run)
    assert any(r.get("status") == "failed" and "killed" in r.get("reason", "") for r in records)
    assert finished_before <= set(search_trials(run))  # every finished trial kept
    assert len(study.trials) == n and len(set(search_trials(run))) == n


def test_two_worker_processes_share_one_study(tmp_path):
    """--threads 2 on a CPU runs two one-thread worker processes by default (benchmarks/threads.py)."""
    run = tmp_path / "run"
    result = invoke("tune", "--task", "digits", "--budget", "tiny", "--threads", "2",
                    "--trials", "6", "--confirm", "0", "--no-prune", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    records, _ = read_results(run)
    assert records and {r["train_config"]["threads"] for r in records} == {1}
    study = study_of(run)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(study.trials) == 6 and len(complete) >= 5  # exactly --trials; at most a repeat is failed
    trials = search_trials(run)
    assert len(trials) == len(set(trials))  # nothing duplicated
    assert {t.number for t in complete} <= set(trials)  # nothing lost


def test_default_workers_one_process_per_cpu_thread_capped():
    from actsearch.search.base import MAX_DEFAULT_WORKERS, default_workers

    assert default_workers(TrainConfig(threads=1, device="cpu").resolved()) == 1
    assert default_workers(TrainConfig(threads=2, device="cpu").resolved()) == 2
    assert default_workers(TrainConfig(threads=64, device="cpu").resolved()) == MAX_DEFAULT_WORKERS


def test_rung_rule_keeps_candidates_within_the_seed_spread():
    relu = {0: [50.0, 60.0, 70.0, 75.0], 1: [52.0, 61.0, 71.0, 76.0], 2: [48.0, 59.0, 69.0, 74.0]}
    rungs = Rungs(list(relu.values()), relu)
    assert rungs.epochs(8) == [1, 2, 4] and rungs.margin(1) == pytest.approx(2.0)
    assert rungs.should_stop(0, 1, 0.0) is False  # no peers yet: nothing is stopped
    for diff in (5.0, 4.0, 3.0, 2.0, 1.0, 0.0):
        rungs.add(0, [50.0 + diff], 4)
    # top third of six peers: 5 and 4; stop only below 4 - 2 (ReLU's spread at epoch 1)
    assert rungs.should_stop(0, 1, 50.0 + 1.9) is True
    assert rungs.should_stop(0, 1, 50.0 + 2.1) is False
    assert rungs.should_stop(7, 1, 0.0) is False  # no ReLU on that seed: no paired difference


def test_warm_start_points_and_relu_are_never_pruned(tmp_path):
    run = tmp_path / "run"
    result = invoke("tune", "--task", "digits", "--budget", "tiny", "--epochs", "4", "--threads", "1", "--holdout",
                    "0", "--trials", "14", "--confirm", "0", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    records = [r for r in read_results(run)[0] if r.get("role") == "search"]
    assert all(r["status"] != "pruned" for r in records if r.get("warm"))
    assert sum(1 for r in records if r.get("warm")) == 5  # the shipped space's five warm starts


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_runs_with_pruned_trials(tmp_path, sampler):
    settings = TuneSettings(space="bounded_negative", train=TrainConfig(budget="tiny", threads=1, epochs=3),
                            sampler=sampler, trials=6, confirm=0, holdout=0, run_dir=str(tmp_path / sampler))
    search, analysis = tune(settings)
    assert analysis.counts["trials"] == 6 and analysis.front


BAD_SPACES = {
    "syntax": ("params: {alpha: {type: float, low: 0\n", "invalid YAML"),
    "top key": ("paramz: {}\n", "paramz: unknown key"),
    "unknown param": ("activation: r_relu\nparams: {beta: {type: float, low: 0, high: 1}}\n",
                      "params.beta: 'beta' is not a parameter of r_relu"),
    "low >= high": ("activation: r_relu\nparams: {alpha: {type: float, low: 0.5, high: 0.5}}\n",
                    "params.alpha: low (0.5) must be < high (0.5)"),
    "empty choices": ("params: {shape: {type: categorical, choices: []}}\n",
                      "params.shape.choices: needs a non-empty list"),
    "outside activation": ("activation: r_relu\nparams: {alpha: {type: float, low: 0.0, high: 2.0}}\n",
                           "params.alpha.high: outside what r_relu accepts"),
    "log from zero": ("activation: r_relu\nparams: {T: {type: float, low: 0, high: 2, log: true}}\n",
                      "params.T.low: a log-scale range needs low > 0"),
    "bad when": ("params: {alpha: {type: float, low: 0, high: 1, when: {shape: linear}}}\n",
                 "params.alpha.when.shape: must name a categorical parameter"),
    "unknown type": ("params: {alpha: {type: real, low: 0, high: 1}}\n", "params.alpha: needs 'type: float'"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPACES))
def test_bad_space_is_one_clear_line(tmp_path, case):
    text, message = BAD_SPACES[case]
    path = tmp_path / "space.yaml"
    path.write_text(text)
    result = invoke("tune", *FAST, "--space", str(path), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_spaces_command_lists_shipped_spaces():
    result = invoke("spaces")
    assert result.exit_code == 0
    for name in ("bounded_negative", "r_relu", "sr_relu", "n_relu", "crrelu"):
        assert name in result.output


def test_ctrl_c_finishes_the_trial_and_prints_the_report(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "actsearch", "tune", "--task", "digits", "--budget", "full", "--epochs", "20",
           "--threads", "1", "--trials", "200", "--no-prune", "--confirm", "0", "--holdout", "0",
           "--run-dir", str(run)]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 120
    while len(search_trials(run)) < 1 and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out  # the conventional code after the graceful stop and its report
    assert "stopping after the current trial" in out and "Pareto front" in out and "Traceback" not in out
    states = [t.state for t in study_of(run).trials]
    assert optuna.trial.TrialState.RUNNING not in states and optuna.trial.TrialState.FAIL not in states


def test_two_processes_share_one_journal_study(tmp_path):
    run, journal = tmp_path / "run", tmp_path / "study.log"
    cmd = [sys.executable, "-m", "actsearch", "tune", "--task", "digits", "--budget", "tiny", "--threads", "1",
           "--trials", "8", "--confirm", "0", "--holdout", "0", "--no-prune", "--storage", f"journal:{journal}",
           "--study", "shared",
           "--run-dir", str(run)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="shared", storage=storage)
    complete = {t.number for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(complete) >= 6
    trials = search_trials(run)
    assert len(trials) == len(set(trials)) and complete <= set(trials)  # none lost, none twice


def test_other_objectives(tmp_path):
    for objective in ("dead_ratio", "model_flops", "latency"):
        run = tmp_path / objective
        result = invoke("tune", *FAST, "--trials", "3", "--confirm", "0", "--objectives", f"accuracy,{objective}",
                        "--run-dir", str(run))
        assert result.exit_code == 0, result.output
        assert f"accuracy vs {objective}" in result.output
        assert all(t.values[1] >= 0 for t in study_of(run).get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    bad = invoke("tune", *FAST, "--objectives", "accuracy,speed", "--run-dir", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and "accuracy,COST" in bad.output


def test_timeout_stops_starting_trials(tmp_path):
    result = invoke("tune", *FAST, "--trials", "1000", "--timeout", "1", "--confirm", "0", "--run-dir",
                    str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert 1 <= len(search_trials(tmp_path / "run")) < 1000


@pytest.mark.parametrize("url, message", [
    ("redis://localhost", "give an Optuna RDB URL"),
    ("sqlite:////nonexistent-dir/x/study.db", "cannot open the study"),
])
def test_bad_storage_is_one_clear_line(tmp_path, url, message):
    result = invoke("tune", *FAST, "--storage", url, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_every_front_member_ends_confirmed(tmp_path):
    run = tmp_path / "run"
    assert invoke("tune", *FAST, "--trials", "12", "--confirm", "2", "--run-dir", str(run)).exit_code == 0
    front = analyse(run).front
    raced = [c for c in front if not c.equals_relu]  # ReLU's equal gets no racing seeds: nothing to decide
    assert raced and all(c.seeds == 3 for c in raced)  # equal seed sets: no cascade
    records, _ = read_results(run)
    assert sorted(r["seed"] for r in records if r["role"] == "baseline") == [0, 1, 2]


def test_pruning_path_is_taken_and_recorded(tmp_path):
    run = tmp_path / "run"
    result = invoke("tune", "--task", "digits", "--budget", "tiny", "--epochs", "4", "--threads", "1",
                    "--trials", "30", "--confirm", "0", "--holdout", "0", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    pruned = study_of(run).get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert pruned  # some candidate fell behind the leaders by more than ReLU's seed spread
    records = {r["trial"]: r for r in read_results(run)[0] if r.get("role") == "search"}
    for t in pruned:
        assert records[t.number]["status"] == "pruned" and len(records[t.number]["curve"]) < 4
    assert analyse(run).counts["pruned"] == len(pruned)


def test_a_crashing_candidate_fails_alone(tmp_path, monkeypatch):
    import actsearch.training.trainer as trainer

    real_train = trainer.train

    def flaky(cfg, callback=None):
        if cfg.activation.get("shape") == "linear":
            raise RuntimeError("boom")
        return real_train(cfg, callback=callback)

    monkeypatch.setattr(trainer, "train", flaky)
    run = tmp_path / "run"
    result = invoke("tune", *FAST, "--trials", "4", "--confirm", "0", "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    failed = [r for r in read_results(run)[0] if r.get("status") == "failed"]
    assert failed and all("boom" in r["reason"] for r in failed)
    states = [t.state for t in study_of(run).trials]
    assert optuna.trial.TrialState.FAIL in states and len(states) == 4  # failed trials count toward --trials
