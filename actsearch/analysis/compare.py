"""``actsearch compare``: train several activations under identical settings over seeds and
reproduce the seed papers' comparison tables, with a Welch t-test against ReLU.

Identical settings: the same model, budget and optimizer, and for each seed the same model
initialization stream and the same data order (the trainer draws data order from its own
seeded generator). Results go to ``results.jsonl`` (role ``compare``), so an interrupted
comparison resumes where it stopped, and the table to ``comparison.md``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from scipy import stats

from actsearch.activations import activation_config_from_file, validate_config
from actsearch.training.config import TrainConfig
from actsearch.errors import ConfigError
from actsearch.results import append_result, read_results
from actsearch.rundir import new_run_dir, open_run, write_atomic
from actsearch.activations import describe
from actsearch.training.trainer import train

# The presets (the N-ReLU seed's protocol among them) live in one registry for every command.
from actsearch.training.presets import NRELU_ACTIVATIONS, PRESETS  # noqa: F401 (re-exported)


@dataclass
class Row:
    model: str
    label: str
    activation: dict[str, Any]
    records: list[dict[str, Any]]
    p_value: float | None = None  # Welch t-test of accuracy against ReLU

    def values(self, key: str) -> list[float]:
        return [r[key] for r in self.records if r.get(key) is not None]

    def mean_std(self, key: str) -> tuple[float, float] | None:
        v = self.values(key)
        if not v:
            return None
        return statistics.fmean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def candidates(names: str | None, configs: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    """(label, config) for --activations NAMES and each --config FILE."""
    out = []
    for name in [n.strip() for n in (names or "").split(",") if n.strip()]:
        config = validate_config({"name": name})
        out.append((name, config))
    for path in configs or []:
        config = activation_config_from_file(path)
        out.append((f"{Path(path).stem}: {describe(config)}", config))
    if not out:
        raise ConfigError("nothing to compare: give --activations relu,gelu,... and/or --config FILE, or --preset")
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"an activation is listed twice in {', '.join(labels)}")
    return out


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch t-test p-value; None when either side has under two values or no spread."""
    if len(a) < 2 or len(b) < 2:
        return None
    if statistics.pstdev(a) == 0 and statistics.pstdev(b) == 0:
        return 1.0 if statistics.fmean(a) == statistics.fmean(b) else 0.0
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def compare(base: TrainConfig, models: list[str], entries: list[tuple[str, dict[str, Any]]], seeds: int,
            run_dir: str | None, on_step: Callable[[str, int, int], None] | None = None) -> tuple[Path, list[Row]]:
    """Train every (model, activation, seed) not yet in the run folder; return the table rows."""
    if seeds < 1:
        raise ConfigError("--seeds must be >= 1")
    base = base.resolved()
    folder = Path(run_dir) if run_dir else new_run_dir("compare", base.task)
    identity = {"task": base.task, "budget": base.budget, "epochs": base.epochs, "batch_size": base.batch_size,
                "optimizer": base.optimizer, "lr": base.lr, "train_subset": base.train_subset,
                "test_subset": base.test_subset, "width": base.width}
    open_run(folder, "compare", identity)
    done = {(r.get("model"), r.get("label"), r.get("seed")) for r in read_results(folder)[0]
            if r.get("role") == "compare"}
    total = len(models) * len(entries) * seeds
    step = 0
    for model in models:
        for i in range(seeds):
            seed = base.seed + i
            for label, config in entries:
                step += 1
                if (model, label, seed) in done:
                    continue
                if on_step:
                    on_step(f"{model} {label} seed {seed}", step, total)
                cfg = replace(base, model=model, activation=config, seed=seed)
                record = train(cfg).record()
                record.update(role="compare", label=label)
                append_result(folder, record)
    rows = table_rows(folder, models, entries)
    write_atomic(folder / "comparison.md", markdown(rows, base))
    return folder, rows


def table_rows(folder: Path, models: list[str], entries: list[tuple[str, dict[str, Any]]]) -> list[Row]:
    records = [r for r in read_results(folder)[0] if r.get("role") == "compare" and r.get("status") == "ok"]
    rows = []
    for model in models:
        group = [Row(model, label, config, [r for r in records if r.get("model") == model and r.get("label") == label])
                 for label, config in entries]
        relu = next((row for row in group if row.activation == validate_config({"name": "relu"})), None)
        for row in group:
            if relu is not None and row is not relu:
                row.p_value = welch_p(row.values("test_acc"), relu.values("test_acc"))
        rows += group
    return rows


def _pm(ms: tuple[float, float] | None, fmt: str) -> str:
    return "-" if ms is None else f"{ms[0]:{fmt}} ± {ms[1]:{fmt}}"


def row_cells(row: Row, target: float) -> list[str]:
    """The cells shared by the terminal and Markdown tables."""
    first = row.records[0] if row.records else {}
    reached = row.values("epoch_to_target")
    p = "-" if row.p_value is None else f"{row.p_value:.3g}"
    return [
        row.model, row.label, _pm(row.mean_std("test_acc"), ".2f"),
        f"{_pm(row.mean_std('epoch_to_target'), '.1f')} ({len(reached)}/{len(row.records)})" if row.records else "-",
        _pm(row.mean_std("test_loss"), ".4f"), _pm(row.mean_std("dead_ratio"), ".3f"),
        f"{first['model_flops']:,}" if first else "-",
        f"{first.get('activation_flops', 0):,}" if first else "-", p, str(len(row.records)),
    ]


def headers(target: float) -> list[str]:
    return ["model", "activation", "test acc % (mean ± std)", f"epochs to {target:g}% (reached)",
            "test loss", "dead ratio", "model FLOPs", "act FLOPs", "p vs ReLU (Welch)", "seeds"]


def markdown(rows: list[Row], base: TrainConfig) -> str:
    head = headers(base.target)
    lines = [f"Task {base.task}, budget {base.budget} ({base.epochs} epochs, batch {base.batch_size}, "
             f"{base.optimizer} lr {base.lr:g}); FLOPs per sample, forward.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(r, base.target)) + " |" for r in rows]
    return "\n".join(lines) + "\n"
