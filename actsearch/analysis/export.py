"""Export a chosen candidate as YAML that ``actsearch.load_activation`` rebuilds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import actsearch
from actsearch.analysis.front import RunAnalysis, pick


def export(analysis: RunAnalysis, how: str, out: str | Path) -> dict[str, Any]:
    c = pick(analysis, how)
    r, s = c.record, analysis.settings
    doc = {
        "activation": {"name": c.activation["name"], **{k: v for k, v in c.activation.items() if k != "name"}},
        "objectives": {
            "accuracy_mean": round(c.acc_mean, 4),
            "accuracy_std": round(c.acc_std, 4),
            "seeds": len(c.accs),
            analysis.objective: c.cost,
            "activation_flops": r.get("activation_flops"),
            "model_flops": r.get("model_flops"),
            "dead_ratio": r.get("dead_ratio"),
        },
        "provenance": {
            "run_dir": str(analysis.run_dir),
            "pick": how,
            "trial": c.trial,
            "task": r.get("task"),
            "model": r.get("model"),
            "budget": r.get("budget"),
            "seed": r.get("seed"),
            "space": s.get("space"),
            "actsearch_version": actsearch.__version__,
        },
    }
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc
