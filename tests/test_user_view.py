"""What a user sees: the knee and the pick, ReLU under another name, export, the activation in
the user's own model, the README snippet, plots that tell the truth, progress in a log."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from rich.console import Console
from torch import nn

import actsearch
from actsearch.activations import build_activation, describe, validate_config
from actsearch.analysis import stats
from actsearch.analysis.export import active_config, export, formula
from actsearch.analysis.front import Candidate, RunAnalysis, knee_point, pareto_front, pick
from actsearch.analysis.report import collapsed_front, front_table, headline, next_steps, print_report
from actsearch.errors import ConfigError, RunDirError
from actsearch.search.objectives import relu_equal

ROOT = Path(__file__).resolve().parents[1]
NOISE = [0.8, -1.1, 0.3, -0.6, 1.4, -0.8]

R_RELU = {"name": "bounded_negative", "shape": "linear", "alpha": 0.3, "T": 2.0, "eta": 0.7, "sigma": 0.0,
          "sigma_schedule": "constant", "sigma_end": 0.4, "eps": 0.0, "eps_learnable": False}
ZERO = {**R_RELU, "shape": "zero", "sigma_end": 0.0}


def cand(trial, diff, cost, seeds=1, noisy=False, activation=None, flops=None):
    vals = {s: 90.0 + diff + (NOISE[(s + trial) % 6] if noisy else 0.0) for s in range(seeds)}
    act = validate_config(activation or {"name": "r_relu", "alpha": 0.1 + trial / 100})
    record = {"activation_flops": flops or int(cost), "flops": 34_000 + (flops or int(cost)), "task": "digits",
              "model": "mlp", "budget": "tiny", "seed": 0}
    c = Candidate(trial=trial, activation=act, label=describe(act), status="ok", record=record, cost=cost,
                  trials=[trial], val_by_seed=vals, equals_relu=relu_equal(act))
    c.val_diff = stats.paired(list(vals.values()), [90.0] * seeds)
    return c


def analysis_of(front, verdict=None, candidates=None):
    knee, why = knee_point(front)
    return RunAnalysis(run_dir=Path("runs/x"), settings={"train": {"task": "digits", "budget": "tiny", "model": "mlp",
                                                                   "val_subset": 500, "test_subset": 1000}},
                       objective="activation_flops", candidates=candidates or front, front=front, knee=knee,
                       knee_reason=why, hypervolume=1.0, reference=(-1.0, 1000.0),
                       baseline_val={s: 90.0 for s in range(6)}, baseline_acc=90.0, holdout_relu={},
                       holdout_gelu={}, verdict=verdict,
                       counts={"trials": len(front), "complete": len(front), "pruned": 0, "diverged": 0,
                               "failed": 0, "infeasible": 0}, skipped_lines=[], raced=False)


NO_GAIN = stats.Verdict(beats=False, winners=[], adjusted={}, sentence="No candidate beats ReLU: ...", decided=True)


# --- the knee --------------------------------------------------------------------------------


@pytest.mark.parametrize("points, knee", [
    ([], None),
    ([(0, 1.0, 10)], None),  # one point
    ([(0, 0.0, 1), (1, 1.0, 10)], None),  # two: both ends, nothing between
    ([(0, 0.0, 1), (1, 0.001, 1.00001), (2, 1.0, 10)], None),  # 0 and 1 print the same: two points
    ([(0, 0.0, 1), (1, 0.9, 2), (2, 1.0, 10)], 1),  # the elbow
    ([(0, 0.0, 1), (1, 0.9, 2), (2, 0.95, 3), (3, 1.0, 10)], 1),  # 4 points: the farthest above
    ([(0, 0.0, 1), (1, 0.1, 9), (2, 1.0, 10)], None),  # below the chord: no knee, not the cheap end
])
def test_knee_on_fronts_of_any_size(points, knee):
    got, why = knee_point(pareto_front([cand(*p) for p in points]))
    assert (got.trial if got else None) == knee, why
    assert why.startswith("no knee" if knee is None else "knee")


def test_knee_ties_go_to_the_better_supported_member_and_say_so():
    a, b = cand(1, 0.5, 4.0, seeds=1), cand(2, 0.5, 4.0, seeds=6, noisy=False)
    front = [cand(0, 0.0, 1), a, b, cand(3, 1.0, 10)]
    knee, why = knee_point(front)
    assert knee is b and "tied with trial(s) 1" in why
    # same seeds: the narrower interval wins, then the lower cost, never the order given
    c, d = cand(4, 0.5, 4.0, seeds=6, noisy=True), cand(5, 0.5, 4.0, seeds=6)
    for order in ([c, d], [d, c]):
        assert knee_point([cand(0, 0.0, 1), *order, cand(3, 1.0, 10)])[0] is d


def test_a_relu_equal_member_is_labelled_and_never_picked():
    relu_like = cand(0, 0.0, 192, activation=ZERO)
    front = pareto_front([relu_like, cand(1, 0.9, 300), cand(2, 1.0, 1000)])
    assert relu_like.equals_relu and front[0] is relu_like
    a = analysis_of(front)
    assert a.knee is not relu_like
    for how in ("knee", "min-cost"):
        assert not pick(a, how)[0].equals_relu
    assert "= ReLU" in pick(a, "trial:0")[1]
    # no gain: the fallback skips ReLU too
    no_gain = analysis_of(pareto_front([cand(0, 0.0, 192, 6, activation=ZERO), cand(1, 0.2, 300, 6, True)]),
                          NO_GAIN)
    chosen, why = pick(no_gain, "knee")
    assert chosen.trial == 1 and "no member beats ReLU" in why
    # the table says "= ReLU" and "same function"
    console = Console(width=400, record=True)
    console.print(front_table(a))
    text = console.export_text()
    assert "bounded_negative(zero) = ReLU" in text and "0 (same function)" in text


def test_pick_prefers_a_held_out_winner():
    front = pareto_front([cand(0, 0.0, 1), cand(1, 0.9, 2), cand(2, 1.0, 10)])
    win = stats.Verdict(beats=True, winners=["trial 2"], adjusted={}, sentence="trial 2 beats ReLU", decided=True)
    chosen, why = pick(analysis_of(front, win), "knee")
    assert chosen.trial == 2 and "beats ReLU on the held-out seeds" in why


# --- the report ------------------------------------------------------------------------------


def test_report_says_no_gain_first_collapses_alike_rows_and_cautions(tmp_path):
    front = pareto_front([cand(0, 0.2, 1, 6, True), cand(1, 0.9, 2, 6), cand(2, 0.9, 2, 6), cand(3, 1.0, 10, 6)])
    a = analysis_of(front, NO_GAIN)
    rows = collapsed_front(a)
    assert len(rows) == 3 and [len(alike) for _, alike in rows] == [0, 1, 0]
    out = tmp_path / "report.txt"
    with out.open("w") as f:
        print_report(Console(file=f, force_terminal=False), a)  # a log: no terminal
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("No gain over ReLU shown") and headline(a) == lines[0]
    assert "(+1 alike: 2)" in text
    assert "val acc % (500 img)" in text and "1,000 img" in text  # split and images in the headers
    assert "+0.20 ~" in text  # a difference smaller than its seed spread is flagged
    assert "hypervolume 1: " in text and "reference point" in text and text.count("hypervolume") == 1
    assert "x ReLU" in text and "% of model" in text
    row = next(line for line in lines if "(+1 alike" in line)
    assert "│" in row and len(row) > 80  # in a log a row stays on one line, never cut at 80
    assert any(line.startswith("next: actsearch export runs/x --pick trial:") for line in lines)
    assert "export needs --pick" in text


def test_next_steps_with_a_gain_exports_without_naming():
    front = pareto_front([cand(0, 0.0, 1), cand(1, 0.9, 2), cand(2, 1.0, 10)])
    win = stats.Verdict(beats=True, winners=["trial 1"], adjusted={}, sentence="trial 1 beats ReLU", decided=True)
    lines = next_steps(analysis_of(front, win))
    assert lines[0].startswith("pick: trial 1") and "next: actsearch export runs/x --out best.yaml" in lines


# --- export ------------------------------------------------------------------------------------


def test_export_refuses_without_a_pick_when_no_gain_and_never_overwrites(tmp_path):
    front = pareto_front([cand(0, 0.0, 1), cand(1, 0.9, 2), cand(2, 1.0, 10)])
    out = tmp_path / "best.yaml"
    for verdict, reason in ((NO_GAIN, "no member beats ReLU"), (None, "no held-out seeds")):
        with pytest.raises(ConfigError, match=f"{reason}.*name what to export: --pick knee"):
            export(analysis_of(front, verdict), "knee", out, explicit=False)
        assert not out.exists()
    export(analysis_of(front, NO_GAIN), "trial:1", out, explicit=True)
    with pytest.raises(RunDirError, match="--force"):
        export(analysis_of(front, NO_GAIN), "trial:2", out)
    assert yaml.safe_load(out.read_text())["provenance"]["trial"] == 1  # untouched
    export(analysis_of(front, NO_GAIN), "trial:2", out, force=True)
    assert yaml.safe_load(out.read_text())["provenance"]["trial"] == 2


@pytest.mark.parametrize("config", [
    R_RELU,
    ZERO,
    {**R_RELU, "shape": "cubic", "eta": 0.5, "T": 1.25},
    {**ZERO, "sigma": 0.1, "sigma_schedule": "linear", "sigma_end": 0.0},
    {**ZERO, "sigma": 0.2},
    {**R_RELU, "eps": 0.05, "eps_learnable": True},
    {"name": "n_relu", "sigma": 0.1, "sigma_schedule": "constant", "sigma_end": 0.3},
    {"name": "sr_relu", "eta": 0.5, "T": 1.2},
])
def test_exported_yaml_has_only_active_parameters_and_loads_back_identical(tmp_path, config):
    full = validate_config(config)
    c = cand(7, 1.0, 500, 6, activation=full)
    out = tmp_path / "x.yaml"
    doc = export(analysis_of([c]), "trial:7", out)
    text = out.read_text()
    assert text.startswith("# actsearch export") and "# f(x) = " in text
    short = doc["activation"]
    assert short == active_config(full) and len(short) <= len(full)
    if full["name"] == "bounded_negative" and full["shape"] != "cubic":
        assert "eta" not in short
    if full.get("sigma_schedule") == "constant":
        assert "sigma_end" not in short
    loaded, reference = actsearch.load_activation(out).double(), build_activation(full).double()
    x = torch.linspace(-4, 3, 701, dtype=torch.float64, requires_grad=True)
    for mode in ("eval", "train"):
        outs = []
        for m in (loaded, reference):
            getattr(m, mode)()
            torch.manual_seed(3)
            xi = x.detach().clone().requires_grad_(True)
            y = m(xi)
            (g,) = torch.autograd.grad(y.sum(), xi)
            outs.append((y.detach(), g))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1]), mode
    scores = doc["scores"]
    assert "validation" in scores["validation_accuracy"]["split"] and "500 images" in scores["validation_accuracy"]["split"]
    assert scores["validation_accuracy"]["seeds"] == list(range(6)) and "ci95" in scores["validation_vs_relu"]
    assert doc["objectives"]["activation_flops_x_relu"] > 0


def test_formula_names_the_jump_the_correction_and_the_schedule():
    assert formula(R_RELU) == "x for x >= 0; 0.3*x for -2 <= x < 0; 0 for x < -2"
    assert formula(ZERO) == "max(0, x)"
    text = formula({**ZERO, "sigma": 0.1, "sigma_schedule": "linear", "eps": 0.01, "eps_learnable": True})
    assert "eps learnable per layer" in text and "set_progress" in text and "eval: no noise" in text


# --- the activation in the user's model --------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU())
        self.blocks = nn.ModuleList([nn.SiLU(), nn.Sequential(nn.Linear(16, 16), nn.ReLU())])
        self.gate = nn.Sigmoid()  # a gate, not a hidden activation: left alone
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        x = self.body(x)
        x = self.blocks[1](self.blocks[0](x))
        return self.head(x * self.gate(x))


def test_replace_activations_builds_one_fresh_module_per_layer():
    model = Net()
    crrelu = {"name": "crrelu", "eps": 0.01, "learnable": True}
    assert actsearch.replace_activations(model, crrelu) is model
    acts = [m for m in model.modules() if isinstance(m, actsearch.activations.Activation)]
    assert len(acts) == 4 and len({id(m) for m in acts}) == 4
    assert len({id(m.eps) for m in acts}) == 4  # one learnable eps per layer, as the trainer builds
    assert isinstance(model.gate, nn.Sigmoid)
    model(torch.randn(3, 8)).sum().backward()
    assert all(m.eps.grad is not None for m in acts)
    # from a module: its config is used, the module itself never shared
    one = build_activation("r_relu")
    actsearch.replace_activations(model, one)
    assert all(m is not one and m.config() == one.config()
               for m in model.modules() if isinstance(m, actsearch.activations.Activation))
    with pytest.raises(ConfigError, match="no activation module"):
        actsearch.replace_activations(nn.Sequential(nn.Linear(2, 2)), "r_relu")


def test_schedule_warning_helper():
    from actsearch.activations.swap import check_schedule, mark_advanced

    m = build_activation({"name": "n_relu", "sigma": 0.1, "sigma_schedule": "linear", "sigma_end": 0.0}).train()
    with pytest.warns(UserWarning, match="never advanced.*set_progress"):
        check_schedule(m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_schedule(m)  # once per module
        fresh = build_activation({"name": "n_relu", "sigma": 0.1, "sigma_schedule": "linear"}).train()
        mark_advanced(fresh)
        check_schedule(fresh)  # advanced: silent
        check_schedule(build_activation({"name": "n_relu", "sigma": 0.1}).train())  # constant: silent
        check_schedule(build_activation({"name": "n_relu", "sigma": 0.1, "sigma_schedule": "cosine"}).eval())


WIRED = "check_schedule" in inspect.getsource(actsearch.activations.BoundedNegative.forward)


@pytest.mark.skipif(not WIRED, reason="BoundedNegative.forward does not call swap.check_schedule yet")
def test_a_schedule_never_advanced_warns_in_a_plain_training_loop():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    actsearch.replace_activations(model, {"name": "n_relu", "sigma": 0.1, "sigma_schedule": "linear"})
    with pytest.warns(UserWarning, match="never advanced"):
        model.train()(torch.randn(2, 4))
    model2 = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    actsearch.replace_activations(model2, {"name": "n_relu", "sigma": 0.1, "sigma_schedule": "linear"})
    actsearch.set_progress(model2, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model2.train()(torch.randn(2, 4))


def test_readme_snippet_runs(tmp_path, monkeypatch):
    """The README's "Use it in your model" block, as written, on an exported file with a noise
    schedule and a learnable eps."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Use it in your model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    config = {**ZERO, "sigma": 0.1, "sigma_schedule": "linear", "eps": 0.01, "eps_learnable": True}
    (tmp_path / "best.yaml").write_text(yaml.safe_dump({"activation": active_config(config)}))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model = namespace["model"]
    acts = [m for m in model.modules() if isinstance(m, actsearch.activations.Activation)]
    assert len(acts) == 2 and acts[0] is not acts[1] and acts[0].eps is not acts[1].eps
    assert acts[0].sigma_t == pytest.approx(0.1 * (1 - 2 / 3))  # advanced by the loop


# --- plots ----------------------------------------------------------------------------------------


def _overlaps(fig, ax) -> list:
    """Data points (display coordinates) that fall inside the legend's box."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [lg for lg in (ax.get_legend(), *fig.legends) if lg is not None]
    boxes = [lg.get_window_extent(renderer) for lg in legends]
    hits = []
    for artist in [*ax.collections, *ax.lines]:
        if hasattr(artist, "get_offsets") and len(artist.get_offsets()):
            pts = artist.get_offsets()
        elif hasattr(artist, "get_xydata"):
            pts = artist.get_xydata()
        else:
            continue
        import numpy as np

        pts = np.asarray(pts, dtype=float)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if not len(pts):
            continue
        disp = artist.get_transform().transform(pts) if artist.get_transform() else ax.transData.transform(pts)
        hits += [tuple(p) for p in disp for box in boxes if box.contains(*p)]
    return hits


def test_front_plot_legend_never_covers_data_and_counts_what_it_leaves_out():
    from actsearch.analysis.plot import front_figure

    front = pareto_front([cand(0, 0.0, 192, activation=ZERO), cand(1, 0.9, 300), cand(2, 1.0, 1000)])
    others = [cand(k, v, c) for k, v, c in ((5, 0.95, 100), (6, 1.05, 110), (7, -0.5, 900))]  # top left crowded
    a = analysis_of(front, candidates=front + others)
    a.counts.update(trials=9, pruned=2, failed=1)
    fig, ax = front_figure(a)
    assert _overlaps(fig, ax) == []
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "2 pruned" in texts and "1 failed" in texts
    labels = ax.get_legend_handles_labels()[1]
    assert any("search seed" in s for s in labels) and any("mean" in s for s in labels)


def test_curves_draw_jumps_as_gaps_in_eval_mode(tmp_path):
    import matplotlib.image

    from actsearch.analysis.plot import curve, plot_curves, with_jumps

    x, y, dy = curve({"name": "r_relu", "alpha": 0.5, "T": 2.0})
    xs, ys = with_jumps(x, y)
    gaps = xs[torch.isnan(torch.as_tensor(ys)).numpy()]
    assert len(gaps) == 1 and abs(gaps[0] + 2.0) < 0.02  # f jumps at -T only
    _, dys = with_jumps(x, dy)
    assert int(torch.isnan(torch.as_tensor(dys)).sum()) == 2  # f' jumps at -T and 0
    _, gelu = with_jumps(*curve({"name": "gelu"})[:2])
    assert not torch.isnan(torch.as_tensor(gelu)).any()  # smooth: no gap
    out = plot_curves([(f"#{k}", {"name": "r_relu", "alpha": k / 20}) for k in range(16)], tmp_path / "a.png", "t")
    assert matplotlib.image.imread(out).shape[0] > 300


# --- progress in a log ---------------------------------------------------------------------------


def test_piped_tune_streams_one_line_per_trial_before_it_exits(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACTSEARCH_STATUS_EVERY": "5"}
    cmd = [sys.executable, "-m", "actsearch", "tune", "--task", "digits", "--budget", "tiny", "--trials", "6",
           "--holdout", "0", "--confirm", "0", "--threads", "1", "--run-dir", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    seen, running_when_seen = [], []
    try:
        for line in proc.stdout:
            if re.match(r"trial \d+ (ok|pruned|failed|diverged)", line):
                seen.append(line)
                running_when_seen.append(proc.poll() is None)
                assert "val acc" in line and "act FLOPs" in line and "best val Δ ReLU" in line
    finally:
        proc.wait(timeout=600)
    assert proc.returncode == 0
    assert len(seen) == 6
    assert running_when_seen[0]  # the first trial's line arrived while the run went on


def test_resumed_run_with_nothing_left_says_so():
    from actsearch.progress import _SearchLog

    lines = []
    log = _SearchLog(Console(force_terminal=False))
    log.say = lines.append
    log.on_event({"phase": "racing", "done": 1, "total": 1})
    log.on_event({"phase": "done", "done": 0, "total": 0, "interrupted": False})
    assert lines[0].startswith("search: nothing left to do")


def test_terminal_bars_name_the_phase_and_end_at_their_total():
    import io

    from actsearch import progress

    con = Console(file=io.StringIO(), force_terminal=True, width=150)
    with progress.search(con, "trial") as (on_event, _):
        bars = on_event.__self__
        on_event({"phase": "baseline", "done": 0, "total": 3, "message": "ReLU on seed(s) [0, 1, 2]"})
        on_event({"phase": "baseline", "done": 3, "total": 3})
        on_event({"phase": "search", "done": 12, "total": 5, "failed": 1, "pruned": 2, "best": 1.5,
                  "trial": {"trial": 11}})  # a resumed run past its old total: never 12/5
        on_event({"phase": "racing", "done": 0, "total": 5, "message": "seed 1: 2 candidate(s) still racing"})
        on_event({"phase": "baseline", "done": 0, "total": 1, "message": "ReLU on seed(s) [3]"})
        racing = bars.progress._tasks[bars.tasks["racing"]]
        assert racing.total == 5  # a new ReLU seed during racing does not end the racing bar
        on_event({"phase": "racing", "done": 2, "total": 5})  # every member decided after 2 seeds
        on_event({"phase": "done", "done": 0, "total": 0, "interrupted": False})
        tasks = {name: bars.progress._tasks[i] for name, i in bars.tasks.items()}
    assert all(t.completed == t.total for t in tasks.values())
    assert tasks["search"].total == 12 and "1 failed, 2 pruned" in tasks["search"].fields["fields"]
    assert tasks["racing"].description == "racing the front"
