"""``actsearch compare``: train several activations under identical settings over seeds and
reproduce the seed papers' comparison tables, with a Welch t-test against ReLU.

Identical settings: the same model, budget and optimizer, and for each seed the same model
initialization stream and the same data order (the trainer draws data order from its own
seeded generator). Results go to ``results.jsonl`` (role ``compare``), so an interrupted
comparison resumes where it stopped, and the table to ``comparison.md``.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable


from actsearch.activations import activation_config_from_file, validate_config
from actsearch.training.config import TrainConfig
from actsearch.errors import ConfigError
from actsearch.results import append_result, read_results
from actsearch.analysis import stats
from actsearch.analysis.report import _paired_cell
from actsearch.rundir import new_run_dir, open_run, run_identity, write_atomic
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
    p_value: float | None = None  # Welch t-test of accuracy against ReLU (unpaired)
    vs_relu: stats.Paired | None = None  # paired by seed: same initialization stream and data order
    vs_gelu: stats.Paired | None = None

    def by_seed(self) -> dict[int, float]:
        return {r["seed"]: r["test_acc"] for r in self.records}

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


def compare(base: TrainConfig, models: list[str], entries: list[tuple[str, dict[str, Any]]], seeds: int,
            run_dir: str | None, on_step: Callable[[str, int, int], None] | None = None) -> tuple[Path, list[Row]]:
    """Train every (model, activation, seed) not yet in the run folder; return the table rows."""
    if seeds < 1:
        raise ConfigError("--seeds must be >= 1")
    base = base.resolved()
    folder = Path(run_dir) if run_dir else new_run_dir("compare", base.task)
    # Every training option counts (lr schedule, amp, weight decay, ...); the model, activation
    # and seed vary inside a comparison.
    open_run(folder, "compare", run_identity(replace(base, model=None, activation={"name": "relu"}, seed=0)))
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
        gelu = next((row for row in group if row.activation == validate_config({"name": "gelu"})), None)
        for row in group:
            for ref, attr in ((relu, "vs_relu"), (gelu, "vs_gelu")):
                if ref is not None and row is not ref:
                    mine, theirs = row.by_seed(), ref.by_seed()
                    seeds = sorted(set(mine) & set(theirs))
                    setattr(row, attr, stats.paired([mine[s] for s in seeds], [theirs[s] for s in seeds], seeds))
            if relu is not None and row is not relu:
                row.p_value = stats.welch(row.values("test_acc"), relu.values("test_acc"))
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
        f"{first.get('activation_flops', 0):,}" if first else "-",
        _paired_cell(row.vs_relu), _paired_cell(row.vs_gelu), p, str(len(row.records)),
    ]


def plan(base: TrainConfig, preset, names: str | None, configs: list[str] | None,
         models: str | None) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(activations, models) a comparison trains: a preset's activations and models, plus the
    ones named; every model checked before any job runs."""
    from actsearch.training.config import DEFAULT_MODEL

    entries = [(label, validate_config(c)) for label, c in preset.activations] if preset is not None else []
    if names or configs or not entries:
        known = [c for _, c in entries]  # naming a preset's activation again adds nothing
        entries += [(label, c) for label, c in candidates(names, configs) if c not in known]
    if models:
        model_list = [m.strip() for m in models.split(",") if m.strip()]
    elif preset is not None and preset.models and base.model is None:
        model_list = list(preset.models)
    else:
        model_list = [base.model or DEFAULT_MODEL.get(base.task, "mlp")]
    for model in model_list:
        replace(base, model=model).resolved()  # an unknown model, or a depth it cannot take
    return entries, model_list


def table(rows: list[Row], title: str, target: float):
    """The terminal table (rich), the same cells as comparison.md."""
    from rich.table import Table

    out = Table(title=title)
    for h in headers(target):
        out.add_column(h, justify="left" if h in ("model", "activation") else "right")
    for row in rows:
        out.add_row(*row_cells(row, target))
    return out


def headers(target: float) -> list[str]:
    return ["model", "activation", "test acc % (mean ± std)", f"epochs to {target:g}% (reached)",
            "test loss", "dead ratio", "model FLOPs", "act FLOPs", "Δ ReLU, paired [95% CI] p",
            "Δ GELU, paired [95% CI] p", "p vs ReLU (Welch, unpaired)", "seeds"]


def markdown(rows: list[Row], base: TrainConfig) -> str:
    head = headers(base.target)
    lines = [f"Task {base.task}, budget {base.budget} ({base.epochs} epochs, batch {base.batch_size}, "
             f"{base.optimizer} lr {base.lr:g}); FLOPs per sample, forward.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(r, base.target)) + " |" for r in rows]
    notes = [n for n in (summary(rows)) if n]
    return "\n".join(lines + [""] + notes) + "\n"


def summary(rows: list[Row]) -> list[str]:
    """Plain sentences under the table: collapsed seeds, per model whether anything beats ReLU
    (Holm-adjusted across the rows of that model), and whether the setting has headroom at all
    (the spread between activations against seed noise, ``headroom``)."""
    from actsearch.analysis.headroom import headroom

    out = []
    for model in dict.fromkeys(r.model for r in rows):
        group = [r for r in rows if r.model == model]
        accuracies = {r.label: r.values("test_acc") for r in group}
        room = None
        if len(accuracies) >= 2 and all(len(v) >= 2 for v in accuracies.values()):
            with contextlib.suppress(ConfigError):  # too few seeds left besides collapsed ones
                room = headroom(accuracies)
                out.append(f"{model}: {room.summary()}.")  # it names every collapsed seed
        relu = next((r for r in group if r.activation == validate_config({"name": "relu"})), None)
        if room is None and relu is not None and (note := stats.collapse_sentence(relu.values("test_acc"), "ReLU")):
            out.append(f"{model}: {note}.")
        judged = {r.label: r.vs_relu for r in group if r.vs_relu is not None}
        if judged:
            out.append(f"{model}: {stats.verdict(judged, baseline='ReLU').sentence}")
    return out
