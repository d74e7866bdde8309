"""Hypothesis strategies over every input a user (or a broken script, or a crash) can hand actsearch.

Each strategy draws *hostile* inputs: mostly near-valid documents with one or a few parts
damaged, plus some that are anything at all. They are meant for properties of the form "the
library raises only its own documented errors (``actsearch.errors.ActsearchError``) and the CLI
prints one ``error:`` line and exits 2". Import them from other test files::

    from tests.strategies import results_lines, run_snapshots, checkpoint_docs

Surfaces and their strategies:

* values: ``scalars``, ``numbers``, ``yaml_values``, ``user_text`` (markup and emoji codes)
* activation configs: ``activation_configs`` (mappings), ``set_pairs`` (``--set K=V`` strings)
* YAML files: ``yaml_texts`` (any YAML text, often broken), ``dump_yaml`` (a value as YAML text)
* search spaces: ``space_docs``, ``damaged_spaces``, ``valid_space`` (parsed mappings; dump with
  ``dump_yaml``)
* data files: ``idx_files`` (bytes of gzip'd IDX files), ``cifar_batches`` (pickled dicts)
* run folders: ``results_lines`` (bytes of one ``results.jsonl``), ``run_snapshots`` (``run.yaml``
  mappings), ``checkpoint_docs`` (evolve ``checkpoint.json`` documents, as Python objects; use
  ``checkpoint_texts`` for the bytes, truncation included)

Every strategy shrinks to a small, readable example. Importing this module does not import
torch (a few strategies do when first drawn).
"""

from __future__ import annotations

import gzip
import json
import math
import pickle
import struct
import sys
from typing import Any

import numpy as np
import yaml
from hypothesis import strategies as st

from actsearch.choices import TASKS

# --- values -----------------------------------------------------------------------------------

#: Floats a numeric parameter must survive: zeros, subnormals, tiny, huge, non-finite.
EDGE_FLOATS = (0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-300, 1e-150, 1e-12, 0.5, 1.0,
               1.0000000000000002, 1e12, 1e150, 1e300, sys.float_info.max, -sys.float_info.max,
               math.inf, -math.inf, math.nan)
#: Integers beyond every float (``float(10**400)`` raises OverflowError) and beyond int64.
EDGE_INTS = (0, 1, -1, 2**31, 2**63, -(2**63) - 1, 10**20, 10**400, -(10**400))
#: Text that rich would turn into styles or emoji if it were not printed verbatim.
MARKUP = ("[bold]", "[/]", "[/x]", "[red]x[/red]", ":smile:", ":thumbs_up:", "[link=x]", "\\[",
          "[", "]", "%s", "{}", "\x1b[31m", "\u202e", "\u00e9", "\U0001f600")

numbers = st.one_of(
    st.sampled_from(EDGE_FLOATS),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.integers(),
)
"""Any Python number a YAML or JSON file can hold, edge cases first."""

user_text = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(st.sampled_from(MARKUP), st.text(max_size=4)), max_size=5).map("".join),
)
"""Strings a user might type, often carrying rich markup or emoji codes."""

scalars = st.one_of(st.none(), st.booleans(), numbers, user_text)
"""Any YAML/JSON scalar."""

yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(user_text, st.integers(), st.booleans()), inner, max_size=4)),
    max_leaves=12,
)
"""Any nested value of lists and mappings of scalars (mapping keys of any scalar type)."""


def dump_yaml(value: Any) -> str:
    """``value`` as YAML text (non-finite floats and huge ints included)."""
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


yaml_texts = st.one_of(
    yaml_values.map(dump_yaml),
    st.text(max_size=60),
    st.lists(st.sampled_from(["a:", " b", "- ", "[", "]", "{", "}", ": ", "\n", "  ", "!!python/name:os.system ",
                              "&a ", "*a ", "*b ", "'", '"', "1" * 5000, "1e400", ".nan", "\t", "\x00", "%YAML 9\n",
                              "---\n", "? "]), max_size=12).map("".join),
)
"""YAML text: valid dumps of any value, random text, and fragments of YAML syntax."""

# --- activation configs ------------------------------------------------------------------------


def _activation_params() -> dict[str, list[str]]:
    from actsearch.activations import ACTIVATIONS  # imports torch: only when drawn

    return {name: list(cls.params) for name, cls in ACTIVATIONS.items()}


ACTIVATION_NAMES = ("relu", "gelu", "bounded_negative", "r_relu", "sr_relu", "n_relu", "crrelu", "squareplus")
PARAM_KEYS = ("shape", "alpha", "T", "eta", "sigma", "sigma_schedule", "sigma_end", "eps", "eps_learnable",
              "learnable", "b", "name")


@st.composite
def activation_configs(draw) -> Any:
    """An activation config mapping (sometimes not a mapping): a name, then known or unknown
    keys with edge-case or wrong-typed values."""
    if draw(st.integers(0, 19)) == 0:
        return draw(yaml_values)
    names = _activation_params()
    name = draw(st.one_of(st.sampled_from(sorted(names)), scalars))
    keys = names.get(name, []) if isinstance(name, str) else []
    config: dict[Any, Any] = {} if draw(st.integers(0, 9)) == 0 else {"name": name}
    for key in draw(st.lists(st.one_of(st.sampled_from(keys or list(PARAM_KEYS)), st.sampled_from(PARAM_KEYS),
                                       user_text), max_size=4)):
        config[key] = draw(st.one_of(numbers, scalars, yaml_values))
    return config


set_pairs = st.one_of(
    st.tuples(st.sampled_from(PARAM_KEYS), st.one_of(
        st.sampled_from(["1e-300", "1.0e-300", "1e400", "1.0e+400", "-0", ".nan", ".inf", "nan", "inf", "1" * 5000,
                         "[1, 2]", "{a: 1}", "x", "", "true", "null", "~", "2001-12-14", "2001-13-45", "[" * 600, "!!binary AA==",
                         "!!python/name:os.system", "0x10", "1_000", "0o17", "5e-324", "1.0e-320"]),
        st.floats().map(repr), st.integers().map(str), user_text)).map(lambda kv: f"{kv[0]}={kv[1]}"),
    user_text,
)
"""``--set`` arguments: ``KEY=VALUE`` with hostile values, and strings with no ``=`` at all."""

# --- search spaces -----------------------------------------------------------------------------

SPACE_ACTIVATIONS = ("bounded_negative", "r_relu", "sr_relu", "n_relu", "crrelu")


@st.composite
def _range_spec(draw, categorical_names: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["float", "int", "categorical", "float"]))
    spec: dict[str, Any] = {"type": kind}
    if kind == "categorical":
        spec["choices"] = draw(st.one_of(st.lists(scalars, max_size=3), scalars))
    else:
        for bound in ("low", "high"):
            if draw(st.integers(0, 9)):
                spec[bound] = draw(st.one_of(st.floats(-2, 5), numbers, scalars))
        if draw(st.booleans()):
            spec["log"] = draw(st.one_of(st.booleans(), scalars))
        if draw(st.integers(0, 3)) == 0:
            spec["step"] = draw(st.one_of(st.floats(0, 1), numbers, scalars))
    if categorical_names and draw(st.integers(0, 2)) == 0:
        ref = draw(st.sampled_from(categorical_names))
        spec["when"] = {ref: draw(st.one_of(scalars, st.lists(scalars, max_size=2)))}
    elif draw(st.integers(0, 15)) == 0:
        spec["when"] = draw(yaml_values)
    if draw(st.integers(0, 15)) == 0:
        spec[draw(user_text)] = draw(scalars)
    return spec


def valid_space() -> dict[str, Any]:
    """A search space that parses: switches, conditions, log ranges, a step and warm starts."""
    return {
        "activation": "bounded_negative",
        "fixed": {"sigma_schedule": "constant"},
        "switches": {"noise": [False, True]},
        "params": {
            "shape": {"type": "categorical", "choices": ["zero", "linear", "cubic"]},
            "alpha": {"type": "float", "low": 0.05, "high": 1.0, "when": {"shape": "linear"}},
            "eta": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.25, "when": {"shape": "cubic"}},
            "T": {"type": "float", "low": 0.25, "high": 3.0, "log": True, "when": {"shape": ["linear", "cubic"]}},
            "sigma": {"type": "float", "low": 0.01, "high": 0.3, "log": True, "when": {"noise": True}},
        },
        "warm_start": [{"shape": "linear", "alpha": 0.5, "T": 1.0, "noise": False},
                       {"shape": "cubic", "eta": 0.5, "T": 1.25, "noise": True, "sigma": 0.05}],
    }


#: Where ``damaged_spaces`` puts its one hostile value (paths into ``valid_space()``).
SPACE_PATHS = (("activation",), ("fixed",), ("fixed", "sigma_schedule"), ("fixed", "alpha"), ("switches",),
               ("switches", "noise"), ("params",), ("params", "shape"), ("params", "shape", "choices"),
               ("params", "alpha", "low"), ("params", "alpha", "high"), ("params", "alpha", "when"),
               ("params", "alpha", "when", "shape"), ("params", "eta", "step"), ("params", "eta", "type"),
               ("params", "T", "log"), ("params", "T", "low"), ("params", "sigma", "when", "noise"),
               ("warm_start",), ("warm_start", 0), ("warm_start", 0, "alpha"), ("warm_start", 0, "T"),
               ("warm_start", 1, "eta"), ("warm_start", 1, "shape"), ("warm_start", 1, "noise"), ("name",),
               ("description",), ("params", "T", "type"))


def _damage(draw, doc: Any, paths, changes, drop_one_in: int, values) -> Any:
    """``doc`` with ``changes`` (a strategy) of its ``paths`` replaced by a draw of ``values``, or
    removed from their dict once in ``drop_one_in``; a path whose parent an earlier change
    removed or replaced is skipped."""
    for _ in range(draw(changes)):
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.integers(0, drop_one_in - 1)) == 0 and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(values)
        except (KeyError, IndexError, TypeError):
            pass
    return doc


@st.composite
def damaged_spaces(draw) -> dict[str, Any]:
    """``valid_space()`` with one to three values replaced by hostile ones (numbers at the
    edges, wrong types, lists where a number belongs) or removed."""
    return _damage(draw, valid_space(), SPACE_PATHS, st.integers(1, 3), 6,
                   st.one_of(numbers, scalars, st.lists(numbers, max_size=2), yaml_values,
                             st.sampled_from(["int", "float", "categorical", 0, 0.0, -1])))


@st.composite
def space_docs(draw) -> Any:
    """A parsed search-space document: half the time ``damaged_spaces`` (one value wrong in a
    valid space), else a plausible structure built from hostile parts (bounds, ``log`` with
    zero, steps, conditions, fixed values, warm starts of any type)."""
    if draw(st.booleans()):
        return draw(damaged_spaces())
    if draw(st.integers(0, 19)) == 0:
        return draw(yaml_values)
    activation = draw(st.one_of(st.sampled_from(SPACE_ACTIVATIONS), st.sampled_from(SPACE_ACTIVATIONS), scalars))
    names = _activation_params().get(activation, list(PARAM_KEYS)) if isinstance(activation, str) else list(PARAM_KEYS)
    doc: dict[str, Any] = {"activation": activation}
    if draw(st.booleans()):
        doc["switches"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(["noise", "correction", "shape"]),
                            st.one_of(st.lists(scalars, max_size=3), st.just([False, True])), max_size=2),
            yaml_values))
    params: dict[str, Any] = {}
    categorical = [k for k, v in (doc.get("switches") or {}).items()] if isinstance(doc.get("switches"), dict) else []
    for name in draw(st.lists(st.one_of(st.sampled_from(names), user_text), min_size=1, max_size=4, unique=True)):
        spec = draw(st.one_of(_range_spec(categorical), _range_spec(categorical), scalars))
        params[name] = spec
        if isinstance(spec, dict) and spec.get("type") == "categorical":
            categorical.append(name)
    doc["params"] = params if draw(st.integers(0, 15)) else draw(yaml_values)
    if draw(st.integers(0, 3)) == 0:
        doc["fixed"] = draw(st.one_of(st.dictionaries(st.sampled_from(names), numbers | scalars, max_size=2),
                                      yaml_values))
    if draw(st.booleans()):
        keys = list(params) + categorical
        point = st.dictionaries(st.sampled_from(keys) | user_text,
                                st.one_of(numbers, scalars, st.lists(numbers, max_size=2), yaml_values), max_size=3)
        doc["warm_start"] = draw(st.one_of(st.lists(point, max_size=3), yaml_values))
    if draw(st.integers(0, 15)) == 0:
        doc[draw(user_text)] = draw(scalars)
    for key in ("name", "description"):
        if draw(st.integers(0, 7)) == 0:
            doc[key] = draw(yaml_values)
    return doc


# --- data files ----------------------------------------------------------------------------------


def idx_bytes(dims: tuple[int, ...], data: bytes, magic: bytes = b"\x00\x00\x08") -> bytes:
    """The raw (not gzip'd) bytes of an IDX file: magic, ndim, big-endian uint32 sizes, data."""
    return magic + bytes([len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + data


@st.composite
def idx_files(draw, ndim: int = 3) -> bytes:
    """The bytes of a ``.gz`` IDX file of ``ndim`` dimensions, damaged in one of many ways:
    dims of zero or up to 2**32-1 with little or no data, wrong magic or ndim, labels of any
    byte value, truncation anywhere, not gzip'd at all."""
    small = st.integers(0, 4)
    dims = tuple(draw(st.one_of(small, small, st.sampled_from([28, 4194304, 1048576, 2**32 - 1, 2**31])))
                 for _ in range(ndim))
    announced = math.prod(dims)
    size = draw(st.one_of(st.just(min(announced, 4096)), st.integers(0, 64)))
    data = draw(st.binary(min_size=size, max_size=size)) if size <= 64 else bytes(size)
    magic = draw(st.one_of(st.just(b"\x00\x00\x08"), st.just(b"\x00\x00\x08"), st.binary(min_size=3, max_size=3)))
    if draw(st.integers(0, 7)) == 0:
        ndim_byte = draw(st.integers(0, 255))
        raw = magic + bytes([ndim_byte]) + struct.pack(f">{len(dims)}I", *dims) + data
    else:
        raw = idx_bytes(dims, data, magic)
    if draw(st.integers(0, 5)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    packed = gzip.compress(raw, mtime=0)
    how = draw(st.integers(0, 9))
    if how == 0:
        return raw  # not gzip'd
    if how == 1:
        return packed[: draw(st.integers(0, len(packed)))]  # a torn download
    return packed


def _cifar_labels(n: int):
    return st.one_of(
        st.lists(st.integers(0, 9), min_size=n, max_size=n),
        st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=2), st.none(), st.booleans(),
                           st.binary(max_size=2)), min_size=n, max_size=n),
        st.just(["x"] * n),
        st.just([10**30] * n),
        st.just(np.full(n, -1, dtype=np.int64)),
        st.just(np.zeros((n, 2), dtype=np.uint8)),
        st.just(np.zeros(n, dtype=np.float64) + 0.5),
        st.just(np.array(["x"] * n)),
        scalars,
        st.lists(st.lists(st.integers(0, 9), max_size=2), min_size=n, max_size=n),
    )


@st.composite
def cifar_batches(draw, label_key: bytes = b"labels") -> bytes:
    """The bytes of one pickled CIFAR batch (protocol 2, bytes keys as the releases):
    label lists of strings, floats, huge or negative ints, nested lists; data of the wrong
    dtype, shape or length; missing keys; not a dict; not a pickle; truncated."""
    n = draw(st.integers(0, 4))
    rows = draw(st.sampled_from([n, n, 0, n + 1]))
    width = draw(st.sampled_from([3072, 3072, 3071, 1]))
    dtype = draw(st.sampled_from([np.uint8, np.uint8, np.int64, np.float32, object]))
    data = np.zeros((rows, width), dtype=dtype)
    if dtype is object:
        data[...] = "x"
    batch: Any = {b"batch_label": b"fuzz", b"data": data, label_key: draw(_cifar_labels(n))}
    how = draw(st.integers(0, 11))
    if how == 0:
        batch.pop(draw(st.sampled_from([b"data", label_key])))
    elif how == 1:
        batch = draw(yaml_values)
    elif how == 2:
        batch[b"data"] = draw(st.one_of(yaml_values, st.binary(max_size=8)))
    raw = pickle.dumps(batch, protocol=2)
    if how == 3:
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == 4:
        raw = draw(st.binary(max_size=40))
    return raw


# --- run folders -----------------------------------------------------------------------------------

COMMANDS = ("tune", "evolve", "compare", "train", "fidelity")
STATUSES = ("ok", "pruned", "diverged", "failed")
ROLES = ("search", "baseline", "confirm", "compare")


def valid_record(trial: int = 0, role: str = "search", acc: float = 91.5) -> dict[str, Any]:
    """A ``results.jsonl`` record as ``actsearch tune`` writes it (the fields readers use)."""
    return {
        "role": role, "trial": trial, "status": "ok", "reason": "", "val_acc": acc, "test_acc": acc, "seed": 0,
        "activation": "r_relu(alpha=0.5, T=1)", "activation_config": {"name": "r_relu", "alpha": 0.5, "T": 1.0},
        "activation_flops": 3, "model_flops": 1000, "dead_ratio": 0.1, "latency_us": 1.5,
        "task": "digits", "model": "mlp", "budget": "tiny", "epochs": 2, "curve": [80.0, acc],
    }


@st.composite
def records(draw) -> Any:
    """One record: a valid one with fields removed, replaced by any value, or added."""
    record: Any = valid_record(draw(st.integers(0, 5)), draw(st.sampled_from(ROLES)),
                               draw(st.floats(0, 100)))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.integers(0, 3))
        key = draw(st.sampled_from(sorted(record)))
        if how == 0:
            del record[key]
        elif how == 1:
            record[key] = draw(st.one_of(scalars, yaml_values, st.sampled_from(STATUSES), st.sampled_from(ROLES)))
        elif how == 2:
            record[draw(user_text)] = draw(scalars)
        else:
            record["activation_config"] = draw(activation_configs())
    if draw(st.integers(0, 15)) == 0:
        record = draw(yaml_values)
    return record


def _json_line(value: Any) -> bytes:
    return (json.dumps(value, default=str) + "\n").encode()  # NaN and Infinity as Python writes them


@st.composite
def results_lines(draw) -> bytes:
    """The bytes of a ``results.jsonl``: records (often damaged), blank lines, non-objects,
    invalid UTF-8, and a torn last line (the file cut at any byte)."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        how = draw(st.integers(0, 9))
        if how == 0:
            parts.append(draw(st.binary(max_size=20)) + b"\n")
        elif how == 1:
            parts.append(_json_line(draw(yaml_values)))
        elif how == 2:
            parts.append(b"\n")
        else:
            parts.append(_json_line(draw(records())))
    raw = b"".join(parts)
    if raw and draw(st.integers(0, 3)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


def valid_snapshot(command: str = "tune") -> dict[str, Any]:
    """A ``run.yaml`` mapping as ``open_run`` writes it."""
    return {
        "command": command,
        "settings": {"space": "r_relu", "objectives": "accuracy,activation_flops", "seed": 0,
                     "train": {"task": "digits", "budget": "tiny", "model": "mlp"}, "sampler": "tpe"},
        "versions": {"actsearch": "0.1.0"},
        "created": "2026-01-01T00:00:00",
        "argv": ["actsearch", command],
    }


@st.composite
def run_snapshots(draw) -> Any:
    """A ``run.yaml`` mapping: valid, or with ``command``, ``settings`` or its ``objectives``
    missing or of any type, or not a mapping at all. Dump with ``dump_yaml``."""
    snap: Any = valid_snapshot(draw(st.sampled_from(COMMANDS)))
    how = draw(st.integers(0, 7))
    if how == 0:
        snap["command"] = draw(scalars)
    elif how == 1:
        snap["settings"] = draw(yaml_values)
    elif how == 2:
        snap["settings"]["objectives"] = draw(st.one_of(scalars, st.sampled_from(
            ["accuracy", "accuracy,", "accuracy,model_flops,x", "accuracy,latency", ",", ""])))
    elif how == 3:
        del snap[draw(st.sampled_from(sorted(snap)))]
    elif how == 4:
        snap = draw(yaml_values)
    return snap


def valid_checkpoint(genes: int = 2, individuals: int = 4) -> dict[str, Any]:
    """An evolve ``checkpoint.json`` document (RNG states real, from a fresh ``random.Random``)."""
    import base64
    import random

    import torch

    version, state, gauss = random.Random(0).getstate()
    np_state = np.random.RandomState(0).get_state()
    return {
        "format": "actsearch-evolve-checkpoint/1",
        "generation": 1,
        "population": [{"genome": [0.5] * genes, "fitness": [90.0, 3.0], "crowding": 1.0}
                       for _ in range(individuals)],
        "logbook": [{"gen": 0, "evals": individuals}],
        "rng": {"python": [version, list(state), gauss],
                "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
                "torch": base64.b64encode(torch.Generator().manual_seed(0).get_state().numpy().tobytes()).decode()},
    }


@st.composite
def checkpoint_docs(draw, genes: int = 2) -> Any:
    """A checkpoint document with one to three parts replaced by any value (or removed), or
    anything at all: every shape a damaged or foreign ``checkpoint.json`` can take."""
    doc: Any = valid_checkpoint(genes)
    paths = [("format",), ("generation",), ("population",), ("logbook",), ("rng",), ("population", 0),
             ("population", 0, "genome"), ("population", 0, "genome", 0), ("population", 0, "fitness"),
             ("population", 0, "crowding"), ("rng", "python"), ("rng", "python", 1), ("rng", "python", 0),
             ("rng", "numpy"), ("rng", "numpy", 1), ("rng", "numpy", 2), ("rng", "torch")]
    doc = _damage(draw, doc, paths, st.integers(0, 3), 5,
                  st.one_of(numbers, scalars, yaml_values, st.just("AAAA"), st.just([])))
    if draw(st.integers(0, 15)) == 0:
        doc = draw(yaml_values)
    return doc


@st.composite
def checkpoint_texts(draw, genes: int = 2) -> bytes:
    """The bytes of a ``checkpoint.json``: a damaged document, cut at any byte, or not UTF-8."""
    raw = json.dumps(draw(checkpoint_docs(genes))).encode()
    how = draw(st.integers(0, 7))
    if how == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == 1:
        raw = draw(st.binary(max_size=30))
    return raw


__all__ = ["EDGE_FLOATS", "EDGE_INTS", "LONG_FACTOR", "MARKUP", "TASKS", "examples", "activation_configs", "checkpoint_docs", "checkpoint_texts",
           "cifar_batches", "damaged_spaces", "dump_yaml", "idx_bytes", "idx_files", "numbers", "records", "results_lines",
           "run_snapshots", "scalars", "set_pairs", "space_docs", "user_text", "valid_checkpoint", "valid_record",
           "valid_snapshot", "valid_space", "yaml_texts", "yaml_values"]


# --- example counts ----------------------------------------------------------------------------------

#: How many times more examples the ``long`` profile runs than the default (see conftest.py).
LONG_FACTOR = 25


def examples(n: int):
    """``@settings`` for a test that should run ``n`` examples under the default profile and
    ``n * LONG_FACTOR`` under ``HYPOTHESIS_PROFILE=long`` (other settings from the profile)."""
    import os

    from hypothesis import settings

    long = os.environ.get("HYPOTHESIS_PROFILE") == "long"
    return settings(max_examples=n * LONG_FACTOR if long else n)
