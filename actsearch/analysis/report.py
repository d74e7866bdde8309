"""Rich tables for results: one training job, and (for searches) the Pareto front."""

from __future__ import annotations

from rich.table import Table

from actsearch.activations import describe
from actsearch.training.trainer import TrainResult


def train_summary(result: TrainResult) -> Table:
    c = result.config
    table = Table(title=f"{describe(c['activation'])} on {c['task']} ({c['model']}, budget {c['budget']}, seed {c['seed']})")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    test = f"{c['test_subset']:,}" if c.get("test_subset") else "all"
    rows = [
        ("status", result.status + (f" ({result.reason})" if result.reason else "")),
        (f"test accuracy ({test} images)", f"{result.test_acc:.2f}%"),
        ("test loss", "-" if result.test_loss is None else f"{result.test_loss:.4f}"),
        ("test accuracy per epoch", " ".join(f"{a:.1f}" for a in result.curve)),
        (f"epochs to {c['target']:g}% (test)", "-" if result.epoch_to_target is None else str(result.epoch_to_target)),
        ("dead ratio (hidden units, eval mode)", "-" if result.dead_ratio is None else f"{result.dead_ratio:.4f}"),
        ("model FLOPs / sample", f"{result.model_flops:,}"),
        ("activation FLOPs / sample", f"{result.activation_flops:,} (training {result.activation_flops_train:,})"),
        ("parameters", f"{result.params:,}"),
        ("wall time", f"{result.time_s:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


CAUTION = "~"  # beside a difference smaller than its seed-to-seed spread


def split_sizes(analysis) -> tuple[str, str]:
    """(validation, test) image counts of the run's proxy jobs, as text."""
    t = analysis.settings.get("train", {})
    val, test = t.get("val_subset"), t.get("test_subset")
    return (f"{val:,}" if val else "?"), (f"{test:,}" if test else "all")


def cost_parts(record: dict, config: dict) -> dict | None:
    """A candidate's activation FLOPs per sample (inference) beside ReLU's on the same model and
    as a share of the model's FLOPs: {activation_flops, relu_activation_flops, times_relu,
    model_share}, or None when the record has no counts."""
    from actsearch.cost import activation_cost

    act, flops = record.get("activation_flops"), record.get("flops")
    per_element = activation_cost(config).flops
    if not act or not per_element:
        return None
    relu = act / per_element * activation_cost("relu").flops
    return {"activation_flops": act, "relu_activation_flops": relu, "times_relu": act / relu,
            "model_share": act / flops if flops else None}


def _cost_cell(c) -> str:
    parts = cost_parts(c.record, c.activation)
    if parts is None:
        return "-"
    share = "" if parts["model_share"] is None else f", {100 * parts['model_share']:.2g}% of model"
    return f"{parts['activation_flops']:,} ({parts['times_relu']:.2g}x ReLU{share})"


def _cost_cell_compact(c) -> str:
    return _cost_cell(c).replace(" (", "\n(", 1)


def _noisy(p) -> bool:
    """Whether a paired difference is smaller than its seed-to-seed spread (the sd of the paired
    differences): within the noise, whatever its p-value says about the mean."""
    if p is None or p.mean is None or p.se is None or p.n < 2:
        return False
    sd = p.se * p.n ** 0.5
    return abs(p.mean) < sd


def _paired_cell(p, adjusted: float | None = None, sep: str = " ") -> str:
    """``+1.42 [+0.31, +2.50] p 0.004 signed-rank``: a mean paired difference, its 95% interval
    and the p-value of the test valid for the data (Holm-adjusted where given); ``~`` marks a
    difference smaller than its seed-to-seed spread."""
    if p is None or not p.n or p.mean is None:
        return "-"
    mark = f" {CAUTION}" if _noisy(p) else ""
    if p.ci is None or p.p is None:
        return f"{p.mean:+.2f}{mark} ({p.n} seed{'s' if p.n > 1 else ''})"
    value = adjusted if adjusted is not None else p.p
    return f"{p.mean:+.2f}{mark}{sep}[{p.ci[0]:+.2f}, {p.ci[1]:+.2f}]{sep}{stats_p(value)} {p.test}"


def stats_p(p: float) -> str:
    """One p-value format everywhere: ``p 0.018``, ``p < 0.001``."""
    return "p < 0.001" if p < 0.001 else f"p {p:.2g}"


def collapsed_front(analysis) -> list[tuple[object, list]]:
    """The front as (representative, alike) rows: members whose values print the same (validation
    accuracy, its difference from ReLU, cost) share one row. The representative is the knee when
    it is among them, else the member with the most seeds, then the lowest trial number."""
    groups: dict[tuple, list] = {}
    for c in analysis.front:
        key = (f"{c.acc_mean:.2f}", f"{c.acc_std:.2f}", f"{c.diff:.2f}", f"{c.cost:.4g}", c.equals_relu)
        groups.setdefault(key, []).append(c)
    rows = []
    for members in groups.values():
        rep = next((c for c in members if c is analysis.knee),
                   max(members, key=lambda c: (c.seeds, -c.trial)))
        rows.append((rep, [c for c in members if c is not rep]))
    return rows


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def measure_latency(analysis) -> dict[int, float]:
    """Each front member's forward+backward time over ReLU's, measured now in this process at
    the run's task shapes (the ``latency`` objective's measurement): what FLOPs do not say."""
    from dataclasses import fields

    from actsearch.search.objectives import activation_latency
    from actsearch.training.config import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    base = TrainConfig(**{k: v for k, v in analysis.settings.get("train", {}).items() if k in known})
    return {c.trial: activation_latency(base, c.activation) for c in analysis.front}


def front_table(analysis, compact: bool = False, latency: dict[int, float] | None = None) -> Table:
    """The front sorted by cost, knee marked, one statistic per column, each named with its split
    and image count: validation accuracy (what was chosen on) and its paired difference from
    ReLU; the cost beside ReLU's and the model's; on the held-out seeds, the test-split
    differences from ReLU and GELU with intervals and p-values. ``compact`` (a terminal): each
    p-value on its own line in the cell, so the columns stay narrow."""
    from actsearch.search.objectives import COSTS

    s = analysis.settings
    unit = COSTS[analysis.objective][1]
    val_n, test_n = split_sizes(analysis)
    heldout = max((len(c.holdout) for c in analysis.front), default=0)
    title = "Racing survivors" if analysis.raced else "Pareto front (search seed only)"
    table = Table(title=f"{title}: validation accuracy vs {analysis.objective} ({unit}) - {analysis.run_dir}",
                  title_justify="left", caption_justify="left")
    nl = "\n" if compact else " "
    columns = (("", "left"), ("trial", "right"), ("activation", "left"),
               (f"val acc %{nl}({val_n} img){nl}mean ± sd (seeds)", "right"),
               (f"val Δ ReLU{nl}({val_n} img)", "right"), (f"act FLOPs / sample{nl}(inference)", "right"),
               (f"test Δ ReLU{nl}({test_n} img,{nl}{heldout} held-out seeds)", "right"),
               (f"test Δ GELU{nl}({test_n} img,{nl}{heldout} held-out seeds)", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")
    if analysis.objective != "activation_flops":
        table.add_column(analysis.objective, justify="right")
    if latency is not None and analysis.objective != "latency":
        table.add_column(f"latency{nl}(fwd+bwd / ReLU,{nl}measured now)", justify="right")
    sep = "\n" if compact else " "
    for c, alike in collapsed_front(analysis):
        label = c.label + (" = ReLU" if c.equals_relu else "")
        trial = str(c.trial)
        if alike:
            shown = ", ".join(str(o.trial) for o in alike[:4]) + (", ..." if len(alike) > 4 else "")
            trial += f" (+{len(alike)} alike: {shown})"
        same = "0 (same function)"
        row = ["knee" if c is analysis.knee else "", trial, label,
               f"{c.acc_mean:.2f} ± {c.acc_std:.2f} ({c.seeds})",
               same if c.equals_relu else _paired_cell(c.val_diff, sep=sep),
               _cost_cell_compact(c) if compact else _cost_cell(c),
               same if c.equals_relu and c.vs_relu is not None else _paired_cell(c.vs_relu, c.p_adjusted, sep),
               _paired_cell(c.vs_gelu, sep=sep)]
        if analysis.objective != "activation_flops":
            row.append(f"{c.cost:.4g}")
        if latency is not None and analysis.objective != "latency":
            row.append(f"{latency[c.trial]:.2f}x" if c.trial in latency else "-")
        table.add_row(*row, style="bold green" if c is analysis.knee else None)
    n = analysis.counts
    base = "-" if analysis.baseline_acc is None else f"{analysis.baseline_acc:.2f}% ({len(analysis.baseline_val)} seeds)"
    t = s.get("train", {})
    ref_d, ref_c = analysis.reference
    table.caption = (
        f"trials: {n.get('trials', 0)} ({n.get('complete', 0)} complete, {n.get('pruned', 0)} pruned, "
        f"{n.get('diverged', 0)} diverged, {n.get('failed', 0)} failed, {n.get('infeasible', 0)} infeasible) | "
        f"ReLU validation accuracy {base} | task {t.get('task')}, model {t.get('model')}, budget {t.get('budget')}\n"
        f"Δ: mean paired difference in accuracy points on the same seeds [95% interval], p of the named test "
        f"(held-out p Holm-adjusted across the front); {CAUTION}: the difference is smaller than its "
        f"seed-to-seed spread (sd of the paired differences)\n"
        f"hypervolume {_number(analysis.hypervolume)}: the area (Δ points x {analysis.objective}) the front "
        f"dominates, measured from the reference point Δ {ref_d:+.2f} (the worst candidate), "
        f"{analysis.objective} {ref_c:,.4g} (1.1x the costliest)"
    )
    return table


def verdict_line(analysis) -> str | None:
    """The plain sentence: a gain that holds on held-out seeds, or that none was found."""
    if analysis.verdict is not None:
        return analysis.verdict.sentence
    if analysis.front:
        return ("No held-out seeds were scored (--holdout 0), so no gain over ReLU is claimed; run "
                "`actsearch compare --config FILE --seeds 10` on an export.")
    return None


def headline(analysis) -> str | None:
    """What the run shows, said before the table: ``No gain over ReLU: ...`` or the gain."""
    line = verdict_line(analysis)
    if line is None:
        return None
    if analysis.verdict is not None and analysis.verdict.beats:
        return f"Gain over ReLU on held-out seeds: {line}"
    return f"No gain over ReLU shown. {line}"


def next_steps(analysis, run_dir=None) -> list[str]:
    """The commands that follow: export (naming a pick when the run shows no gain), plot, compare."""
    from actsearch.analysis.front import pick

    run = run_dir if run_dir is not None else analysis.run_dir
    t = analysis.settings.get("train", {})
    if not analysis.front:
        return [f"next: rerun the search to resume it: the folder {run} has no completed trial yet"]
    gain = analysis.verdict is not None and analysis.verdict.beats
    chosen, why = pick(analysis, "knee")
    export = f"actsearch export {run} --out best.yaml" if gain else \
        f"actsearch export {run} --pick trial:{chosen.trial} --out best.yaml"
    lines = [f"pick: trial {chosen.trial}, {chosen.label}{' = ReLU' if chosen.equals_relu else ''} ({why})"]
    if not gain:
        lines.append("export needs --pick here: no member is shown to beat ReLU, so name the one you want")
    lines += [f"next: {export}", f"      actsearch plot {run}",
              f"      actsearch compare --task {t.get('task')} --budget {t.get('budget')} --activations relu,gelu "
              f"--config best.yaml --seeds 10"]
    return lines


def print_table(console, table) -> None:
    """Print a rich table: on a terminal wrapped to the window; elsewhere (a log file, a pipe)
    with every row on one line however wide (up to 400 columns), no colour, no trailing spaces,
    so a log keeps every number whole."""
    from rich.console import Console
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    wide = Console(width=100_000, force_terminal=False, no_color=True)
    width = Measurement.get(wide, wide.options, table).maximum
    out = Console(width=max(80, min(width, 400)), force_terminal=False, no_color=True)
    with out.capture() as captured:
        out.print(table)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def print_report(console, analysis, run_dir=None, latency: dict[int, float] | None = None) -> None:
    """The whole report of a search, in reading order: the verdict first, the front table, the
    pick and the next commands. On a terminal the table wraps to the window; elsewhere (a log
    file, a pipe) every row is kept on one line, however wide, so nothing is cut."""
    head = headline(analysis)
    if head:
        style = "bold green" if analysis.verdict is not None and analysis.verdict.beats else "bold yellow"
        console.print(head, style=style, highlight=False, markup=False, soft_wrap=True)
    print_table(console, front_table(analysis, compact=console.is_terminal, latency=latency))
    for line in next_steps(analysis, run_dir):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    try:
        console.file.flush()
    except (AttributeError, ValueError):
        pass


def logbook_table(logbook: list[dict], objective: str) -> Table:
    table = Table(title="NSGA-II logbook (validation difference from ReLU, one seed)")
    for name in ("generation", "trained", "best Δ ReLU", f"lowest {objective}", "front"):
        table.add_column(name, justify="right")
    for row in logbook:
        table.add_row(str(row["generation"]), str(row["evaluations"]), f"{row['best_diff']:+.2f}",
                      f"{row['lowest_cost']:,.4g}", str(row["front"]))
    return table


def _paired_json(p) -> dict | None:
    if p is None:
        return None
    return {k: getattr(p, k, None) for k in ("n", "mean", "se", "ci", "t_p", "w_p", "p", "test", "wins", "ties",
                                             "losses")}


def report_json(analysis) -> dict:
    """What a script needs from a search's analysis: the front, knee, counts, baseline, verdict."""
    def member(c) -> dict:
        return {"trial": c.trial, "trials": c.trials, "activation": c.label, "activation_config": c.activation,
                "knee": c is analysis.knee, "seeds": c.seeds, "val_acc_mean": c.acc_mean, "val_acc_std": c.acc_std,
                "diff": c.diff, "cost": c.cost, "equals_relu": c.equals_relu, "val_diff": _paired_json(c.val_diff),
                "vs_relu": _paired_json(c.vs_relu), "vs_gelu": _paired_json(c.vs_gelu),
                "p_adjusted": c.p_adjusted, "activation_flops": c.record.get("activation_flops")}

    v = analysis.verdict
    return {
        "source": str(analysis.run_dir), "objective": analysis.objective, "raced": analysis.raced,
        "front": [member(c) for c in analysis.front],
        "knee": None if analysis.knee is None else analysis.knee.trial, "knee_reason": analysis.knee_reason,
        "hypervolume": analysis.hypervolume, "reference": list(analysis.reference), "counts": analysis.counts,
        "baseline_val": analysis.baseline_val, "baseline_acc": analysis.baseline_acc,
        "verdict": None if v is None else {"beats": v.beats, "winners": v.winners, "sentence": v.sentence,
                                           "decided": v.decided},
        "settings": analysis.settings, "skipped_lines": analysis.skipped_lines,
    }
