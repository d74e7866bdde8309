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
    rows = [
        ("status", result.status + (f" ({result.reason})" if result.reason else "")),
        ("test accuracy", f"{result.test_acc:.2f}%"),
        ("test loss", "-" if result.test_loss is None else f"{result.test_loss:.4f}"),
        ("accuracy per epoch", " ".join(f"{a:.1f}" for a in result.curve)),
        (f"epochs to {c['target']:g}%", "-" if result.epoch_to_target is None else str(result.epoch_to_target)),
        ("dead-neuron ratio", "-" if result.dead_ratio is None else f"{result.dead_ratio:.4f}"),
        ("model FLOPs / sample", f"{result.model_flops:,}"),
        ("activation FLOPs / sample", f"{result.activation_flops:,} (training {result.activation_flops_train:,})"),
        ("parameters", f"{result.params:,}"),
        ("wall time", f"{result.time_s:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _paired_cell(p, adjusted: float | None = None) -> str:
    """``+1.42 [+0.31, +2.50] p 0.004 signed-rank``: a mean paired difference, its 95% interval
    and the p-value of the test valid for the data (Holm-adjusted where given)."""
    if p is None or not p.n or p.mean is None:
        return "-"
    if p.ci is None or p.p is None:
        return f"{p.mean:+.2f} ({p.n} seed{'s' if p.n > 1 else ''})"
    value = adjusted if adjusted is not None else p.p
    return f"{p.mean:+.2f} [{p.ci[0]:+.2f}, {p.ci[1]:+.2f}] p {value:.2g} {p.test}"


def front_table(analysis) -> Table:
    """The front sorted by cost, knee marked: validation accuracy (what was chosen on) and, on
    the held-out seeds, the test-split differences from ReLU and GELU with intervals and p-values."""
    from actsearch.search.objectives import COSTS

    s = analysis.settings
    unit = COSTS[analysis.objective][1]
    title = "Racing survivors" if analysis.raced else "Pareto front (one seed each)"
    table = Table(title=f"{title}: validation accuracy vs {analysis.objective} ({unit}) - {analysis.run_dir}")
    for name, justify in (("", "left"), ("trial", "right"), ("activation", "left"), ("val acc % (seeds)", "right"),
                          ("val Δ ReLU", "right"), ("act FLOPs", "right"), ("test Δ ReLU, held-out", "right"),
                          ("test Δ GELU, held-out", "right")):
        table.add_column(name, justify=justify, min_width=24 if name == "activation" else None, overflow="fold")
    if analysis.objective != "activation_flops":
        table.add_column(analysis.objective, justify="right")
    for c in analysis.front:
        r = c.record
        label = c.label + (" (= ReLU)" if c.equals_relu else "")
        row = ["knee" if c is analysis.knee else "", str(c.trial), label,
               f"{c.acc_mean:.2f} ± {c.acc_std:.2f} ({c.seeds})", _paired_cell(c.val_diff),
               f"{r.get('activation_flops', 0):,}", _paired_cell(c.vs_relu, c.p_adjusted), _paired_cell(c.vs_gelu)]
        if analysis.objective != "activation_flops":
            row.append(f"{c.cost:.4g}")
        table.add_row(*row, style="bold green" if c is analysis.knee else None)
    n = analysis.counts
    base = "-" if analysis.baseline_acc is None else f"{analysis.baseline_acc:.2f}% ({len(analysis.baseline_val)} seeds)"
    t = s.get("train", {})
    table.caption = (
        f"trials: {n['trials']} ({n['complete']} complete, {n['pruned']} pruned, {n['diverged']} diverged, "
        f"{n['failed']} failed, {n['infeasible']} infeasible) | ReLU validation {base} | validation split "
        f"{t.get('val_subset')} images, test split {t.get('test_subset') or 'all'} images | "
        f"hypervolume {analysis.hypervolume:,.4g} (reference: Δ ReLU {analysis.reference[0]:+.2f}, "
        f"{analysis.objective} {analysis.reference[1]:,.4g}) | task {t.get('task')}, model {t.get('model')}, "
        f"budget {t.get('budget')} | Δ: mean paired difference in points [95% interval], "
        "held-out p-values Holm-adjusted across the front"
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


def logbook_table(logbook: list[dict], objective: str) -> Table:
    table = Table(title="NSGA-II logbook (validation difference from ReLU, one seed)")
    for name in ("generation", "trained", "best Δ ReLU", f"lowest {objective}", "front"):
        table.add_column(name, justify="right")
    for row in logbook:
        table.add_row(str(row["generation"]), str(row["evaluations"]), f"{row['best_diff']:+.2f}",
                      f"{row['lowest_cost']:,.4g}", str(row["front"]))
    return table
