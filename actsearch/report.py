"""Rich tables for results: one training job, and (for searches) the Pareto front."""

from __future__ import annotations

from rich.table import Table

from actsearch.trainer import TrainResult, activation_label


def train_summary(result: TrainResult) -> Table:
    c = result.config
    table = Table(title=f"{activation_label(c['activation'])} on {c['task']} ({c['model']}, budget {c['budget']}, seed {c['seed']})")
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
