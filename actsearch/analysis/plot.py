"""``actsearch plot``: the Pareto front and the activation curves, as PNG files (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from actsearch.activations import build_activation
from actsearch.analysis.front import RunAnalysis
from actsearch.search.objectives import COSTS
from actsearch.activations import describe

X_RANGE = (-4.0, 3.0)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def curve(config: dict[str, Any], points: int = 701) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x, f(x) and f'(x) on X_RANGE, in eval mode (no noise: the expectation for N-ReLU)."""
    module = build_activation(config).double().eval()
    x = torch.linspace(*X_RANGE, points, dtype=torch.float64, requires_grad=True)
    y = module(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return x.detach(), y.detach(), dy


def plot_curves(configs: list[tuple[str, dict[str, Any]]], out: Path, title: str) -> Path:
    plt = _pyplot()
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 4.2))
    references = [("ReLU", {"name": "relu"}), ("GELU", {"name": "gelu"})]
    for label, config in references + configs:
        x, y, dy = curve(config)
        style = {"linestyle": "--", "linewidth": 1.2, "alpha": 0.7} if (label, config) in references else {"linewidth": 1.8}
        ax_f.plot(x, y, label=label, **style)
        ax_d.plot(x, dy, label=label, **style)
    for ax, name in ((ax_f, "f(x)"), (ax_d, "f'(x)")):
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.grid(alpha=0.3)
    ax_f.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_front(analysis: RunAnalysis, out: Path) -> Path:
    """Every trial's single-seed validation difference from ReLU (dots), the front's multi-seed
    means (a step line: the region it dominates), the knee, and ReLU at 0."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    seed = int(analysis.settings.get("train", {}).get("seed", 0))
    relu = analysis.baseline_val.get(seed)
    scored = [c for c in analysis.candidates if c.cost is not None and seed in c.val_by_seed and relu is not None]
    ax.scatter([c.cost for c in scored], [c.val_by_seed[seed] - relu for c in scored], s=16, alpha=0.45,
               color="grey", label=f"trials (seed {seed} only)")
    front = analysis.front
    if front:
        ax.step([c.cost for c in front], [c.diff for c in front], where="post", color="C3")
        ax.scatter([c.cost for c in front], [c.diff for c in front], color="C3", zorder=3,
                   label=f"front (mean over {'racing seeds' if analysis.raced else 'one seed'})")
    if analysis.knee is not None:
        ax.scatter([analysis.knee.cost], [analysis.knee.diff], s=140, facecolors="none", edgecolors="black",
                   label="knee", zorder=4)
    for c in scored:
        if c.record.get("warm"):  # the seed papers' default points, tried first
            ax.annotate(describe(c.activation), (c.cost, c.val_by_seed[seed] - relu), fontsize=6, alpha=0.8,
                        xytext=(4, 4), textcoords="offset points")
    ax.axhline(0, color="grey", linestyle="--", linewidth=1, label="ReLU")
    ax.set_xlabel(f"{analysis.objective} ({COSTS[analysis.objective][1]})")
    ax.set_ylabel("validation accuracy - ReLU's, same seed (points)")
    s = analysis.settings.get("train", {})
    n = analysis.counts
    ax.set_title(f"{s.get('task')} / {s.get('model')} / {s.get('budget')}: {n['trials']} trials "
                 f"({n['pruned']} pruned, {n['failed'] + n['diverged']} failed, {n['infeasible']} infeasible: not shown)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_run(analysis: RunAnalysis) -> list[Path]:
    front = plot_front(analysis, analysis.run_dir / "pareto.png")
    members = [(f"#{c.trial} {describe(c.activation)}", c.activation) for c in analysis.front]
    curves = plot_curves(members, analysis.run_dir / "activations.png", f"front members of {analysis.run_dir}")
    return [front, curves]
