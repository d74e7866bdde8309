"""Export a chosen candidate as YAML that ``actsearch.load_activation`` rebuilds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import actsearch
from actsearch.analysis.front import RunAnalysis, pick
from actsearch.errors import RunDirError


def _interval(p) -> dict[str, Any] | None:
    if p is None or p.mean is None:
        return None
    out = {"mean_difference": round(p.mean, 4), "seeds": p.n}
    if p.ci is not None:
        out["ci95"] = [round(p.ci[0], 4), round(p.ci[1], 4)]
    if p.p is not None:
        out.update(p_value=round(p.p, 6), test=p.test)
    return out


def export(analysis: RunAnalysis, how: str, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Write the picked candidate; refuse to overwrite an existing file unless ``force``."""
    out = Path(out)
    if out.exists() and not force:
        raise RunDirError(f"{out} exists; pass --force to overwrite it, or --out another file")
    c, why = pick(analysis, how)
    r, s = c.record, analysis.settings
    doc = {
        "activation": dict(c.activation),
        "objectives": {
            "validation_accuracy": {"mean": round(c.acc_mean, 4), "std": round(c.acc_std, 4), "seeds": c.seeds,
                                    "split": "validation (carved from the training data; chosen on)"},
            "validation_vs_relu": _interval(c.val_diff),
            "test_vs_relu_heldout": _interval(c.vs_relu),
            "test_vs_gelu_heldout": _interval(c.vs_gelu),
            analysis.objective: c.cost,  # the cost the search minimized, as it saw it
            "activation_flops": r.get("activation_flops"),  # per sample, inference
            "flops": r.get("flops"),  # per sample: matmuls and convolutions + activations (model_flops objective)
            "matmul_flops": r.get("model_flops"),  # per sample: what FlopCounterMode counts alone
            "dead_ratio": r.get("dead_ratio"),
        },
        "provenance": {
            "run_dir": str(analysis.run_dir),
            "pick": how,
            "why": why,
            "trial": c.trial,
            "task": r.get("task"),
            "model": r.get("model"),
            "budget": r.get("budget"),
            "seed": r.get("seed"),
            "space": s.get("space"),
            "actsearch_version": actsearch.__version__,
        },
    }
    try:
        out.write_text(yaml.safe_dump(doc, sort_keys=False))
    except OSError as exc:
        raise RunDirError(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    return doc
