"""``actsearch plot``: the Pareto front and the activation curves, as PNG files (matplotlib Agg).

Each mark shows one named statistic; legends sit outside the axes, so they never cover data;
jumps of f(x) and f'(x) are drawn as gaps, not as steep lines; the curves are in eval mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from actsearch.activations import build_activation, describe
from actsearch.analysis.front import RunAnalysis
from actsearch.search.objectives import COSTS

X_RANGE = (-4.0, 3.0)
JUMP_RATIO = 8.0  # a step this many times larger than both neighbouring steps is a jump
EVAL_NOTE = "eval mode: noise off (N-ReLU's expectation, = ReLU); learnable eps at its initial value"


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


def with_jumps(x, y) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` with NaN inserted wherever ``y`` jumps, so a line plot shows the jump as a
    gap instead of a steep segment: a step counts as a jump when it is more than JUMP_RATIO
    times both neighbouring steps (a kink changes the slope, a jump the value)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d = np.abs(np.diff(y))
    if len(d) < 3:
        return x, y
    scale = max(float(np.ptp(y[np.isfinite(y)])) if np.isfinite(y).any() else 0.0, 1e-12)
    left = np.concatenate([[0.0], d[:-1]])
    right = np.concatenate([d[1:], [0.0]])
    jumps = np.flatnonzero((d > JUMP_RATIO * np.maximum(left, right)) & (d > 1e-3 * scale))
    if not len(jumps):
        return x, y
    xs, ys = list(x), list(y)
    for i in reversed(jumps):  # between sample i and i + 1
        xs.insert(i + 1, (x[i] + x[i + 1]) / 2)
        ys.insert(i + 1, np.nan)
    return np.asarray(xs), np.asarray(ys)


def plot_curves(configs: list[tuple[str, dict[str, Any]]], out: Path, title: str) -> Path:
    """f(x) and f'(x) of each config against ReLU and GELU, legend to the right of both panels."""
    plt = _pyplot()
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 4.2))
    references = [("ReLU", {"name": "relu"}), ("GELU", {"name": "gelu"})]
    lines = []
    for label, config in references + configs:
        x, y, dy = curve(config)
        # the references on top, dashed, so a member equal to one of them does not hide it
        style = ({"linestyle": "--", "linewidth": 1.2, "alpha": 0.8, "zorder": 3} if (label, config) in references
                 else {"linewidth": 1.8, "zorder": 2})
        (line,) = ax_f.plot(*with_jumps(x, y), label=label, **style)
        ax_d.plot(*with_jumps(x, dy), color=line.get_color(), **style)
        lines.append(line)
    for ax, name in ((ax_f, "f(x)"), (ax_d, "f'(x)")):
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}\n{EVAL_NOTE}; gaps mark jumps", fontsize=9)
    fig.legend(handles=lines, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False,
               ncol=1 if len(lines) <= 20 else 2)
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def front_figure(analysis: RunAnalysis):
    """The front plot as a matplotlib (figure, axes), for saving or for inspecting."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5))
    seed = int(analysis.settings.get("train", {}).get("seed", 0))
    relu = analysis.baseline_val.get(seed)
    scored = [c for c in analysis.candidates if c.cost is not None and seed in c.val_by_seed and relu is not None]
    ax.scatter([c.cost for c in scored], [c.val_by_seed[seed] - relu for c in scored], s=16, alpha=0.5,
               color="grey", marker="o", label=f"each candidate: Δ on the search seed ({seed}) only")
    front = analysis.front
    if front:
        kind = f"mean Δ over its {'racing ' if analysis.raced else ''}seeds"
        seeds = sorted({c.seeds for c in front})
        span = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        xs, ys = [c.cost for c in front], [c.diff for c in front]
        right = analysis.reference[1]
        ax.step(xs + [max(right, xs[-1])], ys + [ys[-1]], where="post", color="C3", linewidth=1.2,
                label="front: the region it dominates (step)")
        ax.scatter(xs, ys, color="C3", marker="D", s=36, zorder=3, label=f"front member: {kind} ({span} seeds)")
        for c in front:  # tie each member's mean to its own search-seed dot
            if seed in c.val_by_seed and relu is not None:
                ax.plot([c.cost, c.cost], [c.val_by_seed[seed] - relu, c.diff], color="C3", linewidth=0.6,
                        linestyle=":", alpha=0.7)
    if analysis.knee is not None:
        ax.scatter([analysis.knee.cost], [analysis.knee.diff], s=160, facecolors="none", edgecolors="black",
                   label="knee", zorder=4)
    for c in scored:
        if c.record.get("warm"):  # the seed papers' default points, tried first
            ax.annotate(describe(c.activation) + (" = ReLU" if c.equals_relu else ""), (c.cost, c.val_by_seed[seed] - relu), fontsize=6, alpha=0.8,
                        xytext=(4, 4), textcoords="offset points")
    ax.axhline(0, color="grey", linestyle="--", linewidth=1, label="ReLU (Δ = 0)")
    ax.set_xlabel(f"{analysis.objective} ({COSTS[analysis.objective][1]})")
    ax.set_ylabel("validation accuracy - ReLU's on the same seed (points)")
    s = analysis.settings.get("train", {})
    n = analysis.counts
    ax.set_title(f"{s.get('task')} / {s.get('model')} / budget {s.get('budget')}: validation split "
                 f"({s.get('val_subset')} images)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)
    shown = len(scored)
    fig.text(0.01, 0.01,
             f"{n.get('trials', 0)} trials, {shown} candidates shown; not shown: {n.get('pruned', 0)} pruned "
             f"(stopped early), {n.get('failed', 0) + n.get('diverged', 0)} failed or diverged, "
             f"{n.get('infeasible', 0)} infeasible (over --max-cost)", fontsize=7, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig, ax


def plot_front(analysis: RunAnalysis, out: Path) -> Path:
    """Every candidate's single-seed validation difference from ReLU (grey dots), the front
    members' means over their seeds (red diamonds, a dotted line to their own dot), the front as
    a step line, the knee, ReLU at 0; the legend outside the axes, pruned and failed counted in
    the caption."""
    plt = _pyplot()
    fig, _ = front_figure(analysis)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_run(analysis: RunAnalysis) -> list[Path]:
    front = plot_front(analysis, analysis.run_dir / "pareto.png")
    members = [(f"#{c.trial} {describe(c.activation)}" + (" = ReLU" if c.equals_relu else ""), c.activation)
               for c in analysis.front]
    curves = plot_curves(members, analysis.run_dir / "activations.png", f"front members of {analysis.run_dir}")
    return [front, curves]
