"""Export a chosen candidate as YAML that ``actsearch.load_activation`` rebuilds.

The file holds the activation with only the parameters that act (the others take their
defaults, which the chosen shape ignores), its formula as a comment, each score with its split,
seeds and interval, and its cost beside ReLU's and the model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import actsearch
from actsearch.analysis.front import Candidate, RunAnalysis, pick
from actsearch.analysis.report import cost_parts, split_sizes
from actsearch.rundir import check_output_path, write_atomic
from actsearch.errors import ConfigError, RunDirError

PICKS = "knee, best-accuracy, min-cost or trial:N"


# --- the activation, its active parameters and its formula ----------------------------------


def _noise_active(c: dict[str, Any]) -> bool:
    return c.get("sigma", 0) > 0 or (c.get("sigma_schedule", "constant") != "constant" and c.get("sigma_end", 0) > 0)


def active_keys(config: dict[str, Any]) -> list[str]:
    """The parameters of a validated config that change what it computes (in eval or training)."""
    from actsearch.activations.family import SHAPE_KNOBS

    name = config["name"]
    if name == "bounded_negative":
        keys = ["shape", *SHAPE_KNOBS[config["shape"]]]
        if _noise_active(config):
            keys.append("sigma")
            if config["sigma_schedule"] != "constant":
                keys += ["sigma_schedule", "sigma_end"]
        if config["eps"] != 0 or config["eps_learnable"]:
            keys += ["eps", "eps_learnable"]
        return keys
    keys = [k for k in config if k != "name"]
    if name == "n_relu" and config["sigma_schedule"] == "constant":
        keys.remove("sigma_end")
    return keys


def same_function(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two configs build modules that compute the same values and gradients on [-4, 3],
    in eval mode and in training mode under the same random seed."""
    import torch

    from actsearch.activations import build_activation

    x = torch.linspace(-4, 3, 701, dtype=torch.float64)
    results = []
    for config in (a, b):
        module = build_activation(config).double()
        out = []
        for mode in ("eval", "train"):
            getattr(module, mode)()
            xi = x.clone().requires_grad_(True)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                y = module(xi)
            (g,) = torch.autograd.grad(y.sum(), xi)
            out += [y.detach(), g]
        results.append(out)
    return all(torch.equal(u, v) for u, v in zip(*results))


def active_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with only its active parameters: ``load_activation`` fills the rest with
    defaults, which the chosen shape ignores, so the module is the same function (checked
    numerically; the full config is kept if it were not)."""
    from actsearch.activations import validate_config

    full = validate_config(config)
    short = {"name": full["name"], **{k: full[k] for k in active_keys(full)}}
    return short if short == full or same_function(short, full) else full


def _num(v: float) -> str:
    return f"{v:.4g}"


def formula(config: dict[str, Any]) -> str:
    """f(x) of a validated config in plain text, e.g. ``x for x >= 0; 0.3*x for -2 <= x < 0; 0
    for x < -2``; the noise (training only) and a learnable eps are named."""
    from actsearch.activations import validate_config
    from actsearch.activations.family import cubic_coefficients

    c = validate_config(config)
    name = c["name"]
    simple = {
        "relu": "max(0, x)", "gelu": "x * Phi(x)" if c.get("approximate") == "none" else "GELU, tanh approximation",
        "silu": "x * sigmoid(x)", "mish": "x * tanh(softplus(x))", "leaky_relu": f"x for x >= 0; {_num(c.get('negative_slope', 0))}*x for x < 0",
        "prelu": f"x for x >= 0; a*x for x < 0 (a learnable, starts at {_num(c.get('init', 0))})",
        "elu": f"x for x > 0; {_num(c.get('alpha', 1))}*(exp(x) - 1) for x <= 0",
        "celu": f"x for x > 0; {_num(c.get('alpha', 1))}*(exp(x/{_num(c.get('alpha', 1))}) - 1) for x <= 0",
        "softplus": f"log(1 + exp({_num(c.get('beta', 1))}*x)) / {_num(c.get('beta', 1))}",
        "squareplus": f"(x + sqrt(x^2 + {_num(c.get('b', 4))})) / 2",
        "rrelu": f"x for x >= 0; a*x for x < 0, a ~ U({_num(c.get('lower', 0))}, {_num(c.get('upper', 0))}) in training, their mean in eval",
    }
    if name in simple:
        return simple[name]
    p = _family_point(c)
    T = p["T"]
    if p["shape"] == "linear" and p["alpha"] != 0:
        text = f"x for x >= 0; {_num(p['alpha'])}*x for -{_num(T)} <= x < 0; 0 for x < -{_num(T)}"
    elif p["shape"] == "cubic":
        c2, c3 = cubic_coefficients(p["eta"], T)
        text = (f"x for x >= 0; x + {_num(c2)}*x^2 + {_num(c3)}*x^3 for -{_num(T)} <= x < 0; "
                f"0 for x < -{_num(T)}")
    else:
        text = "max(0, x)"
    if p["eps_learnable"]:
        text = f"[{text}] + eps*x*exp(-x^2/2), eps learnable per layer (starts at {_num(p['eps'])})"
    elif p["eps"] != 0:
        text = f"[{text}] + {_num(p['eps'])}*x*exp(-x^2/2)"
    if _noise_active(p):
        if p["sigma_schedule"] == "constant":
            sigma = _num(p["sigma"])
        else:
            sigma = (f"sigma_t ({p['sigma_schedule']} from {_num(p['sigma'])} to {_num(p['sigma_end'])} over "
                     "training: call actsearch.set_progress(model, epoch / epochs) every epoch)")
        text += f"; in training only, plus N(0, {sigma}^2) noise where x <= 0 (eval: no noise)"
    return text


def _family_point(config: dict[str, Any]) -> dict[str, Any]:
    from actsearch.activations import ACTIVATIONS

    return ACTIVATIONS[config["name"]].family_point(config)


# --- the scores -----------------------------------------------------------------------------


def _interval(p, split: str, seeds: list[int] | None = None, p_value: float | None = None,
              adjusted: bool = False) -> dict[str, Any] | None:
    if p is None or p.mean is None:
        return None
    out: dict[str, Any] = {"split": split, "seeds": list(seeds if seeds is not None else p.seeds),
                           "mean_difference": round(p.mean, 4)}
    if p.ci is not None:
        out["ci95"] = [round(p.ci[0], 4), round(p.ci[1], 4)]
    p_value = p.p if p_value is None else p_value
    if p_value is not None:
        out["p_value"] = round(p_value, 6)
        out["test"] = p.test + (", Holm-adjusted across the front" if adjusted else "")
    return out


def scores(analysis: RunAnalysis, c: Candidate) -> dict[str, Any]:
    """Every accuracy of ``c`` with its split, seeds and interval (points; differences paired on
    the same seeds)."""
    val_n, test_n = split_sizes(analysis)
    val_split = f"validation ({val_n} images carved from the training data; the search chose on it)"
    test_split = f"test ({test_n} images; held-out seeds the search never used)"
    relu_seeds = sorted(s for s in c.val_by_seed if s in analysis.baseline_val)
    out: dict[str, Any] = {
        "validation_accuracy": {"split": val_split, "seeds": sorted(c.val_by_seed), "mean": round(c.acc_mean, 4),
                                "std": round(c.acc_std, 4)},
        "validation_vs_relu": _interval(c.val_diff, val_split, relu_seeds),
    }
    if c.holdout:
        seeds = sorted(c.holdout)
        vals = [c.holdout[s] for s in seeds]
        out["test_accuracy_heldout"] = {"split": test_split, "seeds": seeds, "mean": round(sum(vals) / len(vals), 4)}
    heldout_relu = sorted(set(c.holdout) & set(analysis.holdout_relu))
    heldout_gelu = sorted(set(c.holdout) & set(analysis.holdout_gelu))
    out["test_vs_relu_heldout"] = _interval(c.vs_relu, test_split, heldout_relu, c.p_adjusted,
                                            adjusted=c.p_adjusted is not None)
    out["test_vs_gelu_heldout"] = _interval(c.vs_gelu, test_split, heldout_gelu)
    return {k: v for k, v in out.items() if v is not None}


# --- the file ---------------------------------------------------------------------------------


def refusal(analysis: RunAnalysis) -> str | None:
    """Why an export without an explicit ``--pick`` is refused, or None when the run shows a gain."""
    if analysis.verdict is not None and analysis.verdict.beats:
        return None
    if analysis.verdict is None:
        reason = "this run scored no held-out seeds (--holdout 0), so no member is shown to beat ReLU"
    else:
        reason = "no member beats ReLU on the held-out seeds (see `actsearch report`)"
    return f"{reason}; name what to export: --pick {PICKS.replace(' or ', '|').replace(', ', '|')}"


def _rounded(parts: dict[str, Any] | None, key: str, digits: int) -> float | None:
    """A cost part, rounded; None when the record lacks what it is computed from."""
    value = None if parts is None else parts.get(key)
    return None if value is None else round(value, digits)


def export(analysis: RunAnalysis, how: str, out: str | Path, force: bool = False,
           explicit: bool = True) -> dict[str, Any]:
    """Write the picked candidate to ``out`` and return the document written.

    Refuses to overwrite an existing file unless ``force``. ``explicit``: whether the user named
    the pick (``--pick`` given); when not, and the run does not show a member beating ReLU on
    held-out seeds, nothing is written and a ConfigError asks for a ``--pick``. A member that
    computes exactly ReLU is written when named, marked ``equals_relu: true``."""
    out = Path(out)
    if not explicit and (why_not := refusal(analysis)):
        raise ConfigError(why_not)
    if out.exists() and not force:
        raise RunDirError(f"{out} exists; pass --force to overwrite it, or --out another file")
    check_output_path(out, folder=False, option="--out")  # before any work: a path that cannot be written
    c, why = pick(analysis, how)
    r, s = c.record, analysis.settings
    cost = cost_parts(r, c.activation)
    doc = {
        "activation": active_config(c.activation),
        "equals_relu": c.equals_relu,
        "scores": scores(analysis, c),
        "objectives": {
            analysis.objective: c.cost,  # the cost the search minimized, as it saw it
            "activation_flops": r.get("activation_flops"),  # per sample, inference
            "activation_flops_x_relu": _rounded(cost, "times_relu", 4),
            "activation_share_of_model_flops": _rounded(cost, "model_share", 6),
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
    header = [f"# actsearch export of trial {c.trial} from {analysis.run_dir} (--pick {how})",
              f"# f(x) = {formula(c.activation)}"]
    if c.equals_relu:
        header.append("# = ReLU: this activation computes exactly ReLU; torch.nn.ReLU does the same at no extra cost")
    header += ["# parameters not listed take their defaults, which this shape ignores",
               f"# use: actsearch.replace_activations(model, '{out.name}') (a fresh module per layer), then "
               "actsearch.set_progress(model, epoch / epochs) every epoch if a schedule is listed"]
    # atomic: an interrupted export never leaves half a file where a good one was
    write_atomic(out, "\n".join(header) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None,
                                                                   width=120))
    return doc
