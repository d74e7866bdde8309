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


def front_table(analysis) -> Table:
    """The Pareto front sorted by cost, knee marked, against the ReLU baseline."""
    from actsearch.search.objectives import COSTS

    s = analysis.settings
    unit = COSTS[analysis.objective][1]
    table = Table(title=f"Pareto front: accuracy vs {analysis.objective} ({unit}) - {analysis.run_dir}")
    for name, justify in (("", "left"), ("trial", "right"), ("activation", "left"), ("accuracy %", "right"),
                          ("seeds", "right"), ("act FLOPs", "right"), ("model FLOPs", "right"),
                          ("dead", "right"), ("vs ReLU", "right")):
        table.add_column(name, justify=justify, min_width=30 if name == "activation" else None,
                         overflow="fold")
    if analysis.objective not in ("activation_flops", "model_flops"):
        table.add_column(analysis.objective, justify="right")
    for c in analysis.front:
        r = c.record
        delta = "-" if analysis.baseline_acc is None else f"{c.acc_mean - analysis.baseline_acc:+.2f}"
        row = ["knee" if c is analysis.knee else "", str(c.trial), c.label,
               f"{c.acc_mean:.2f} ± {c.acc_std:.2f}", str(len(c.accs)), f"{r.get('activation_flops', 0):,}",
               f"{r['model_flops']:,}",
               "-" if r.get("dead_ratio") is None else f"{r['dead_ratio']:.3f}", delta]
        if analysis.objective not in ("activation_flops", "model_flops"):
            row.append(f"{c.cost:.4g}")
        table.add_row(*row, style="bold green" if c is analysis.knee else None)
    n = analysis.counts
    base = "-" if analysis.baseline_acc is None else f"{analysis.baseline_acc:.2f}%"
    table.caption = (
        f"trials: {n['complete']} complete, {n['pruned']} pruned, {n['diverged']} diverged, {n['failed']} failed"
        f" | ReLU baseline {base} | hypervolume {analysis.hypervolume:,.1f} (reference: accuracy "
        f"{analysis.reference[0]:g}%, {analysis.objective} {analysis.reference[1]:,.4g})"
        f" | task {s['train']['task']}, model {s['train']['model']}, budget {s['train']['budget']}"
    )
    return table


def logbook_table(logbook: list[dict], objective: str) -> Table:
    table = Table(title="NSGA-II logbook")
    for name in ("generation", "evaluations", "best accuracy %", f"lowest {objective}", "hypervolume", "front"):
        table.add_column(name, justify="right")
    for row in logbook:
        table.add_row(str(row["generation"]), str(row["evaluations"]), f"{row['best_acc']:.2f}",
                      f"{row['lowest_cost']:,.4g}", f"{row['hypervolume']:,.1f}", str(row["front"]))
    return table
