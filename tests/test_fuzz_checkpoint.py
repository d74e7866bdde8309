"""Fuzz: evolve ``checkpoint.json`` of any shape. Property: only RunDirError, one line naming the file."""

from __future__ import annotations

import random

from hypothesis import example, given

from actsearch.errors import RunDirError
from actsearch.search.evolve import load_checkpoint, save_checkpoint
from actsearch.search.space import parse_space
from tests.strategies import checkpoint_texts, examples

SPACE = parse_space({"activation": "r_relu", "params": {"alpha": {"type": "float", "low": 0.1, "high": 1.0},
                                                       "T": {"type": "float", "low": 0.5, "high": 2.0}}}, "s.yaml")


@examples(80)
@given(raw=checkpoint_texts(genes=len(SPACE.dimensions)))
@example(raw=b'{"format": "actsearch-evolve-checkpoint/1", "generation": 1e400, "population": [], '
             b'"logbook": [], "rng": {}}')
@example(raw=b"\xff")
@example(raw=b"[" * 100000)
def test_damaged_checkpoints_raise_only_rundir_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("ck") / "checkpoint.json"
    path.write_bytes(raw)
    try:
        load_checkpoint(path, SPACE, random.Random(0))
    except RunDirError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


def test_a_saved_checkpoint_loads(tmp_path):
    rng = random.Random(3)
    generation, population, logbook = 2, [], [{"gen": 2}]
    from actsearch.search.evolve import _creator_classes

    for i in range(4):
        ind = _creator_classes()([0.25, i / 4])
        ind.fitness.values = (90.0, 3.0)
        ind.fitness.crowding_dist = float("inf") if i == 0 else 1.5  # NSGA-II's boundary points: inf
        population.append(ind)
    save_checkpoint(tmp_path / "checkpoint.json", generation, population, logbook, rng)
    restored = random.Random(0)
    gen, pop, log = load_checkpoint(tmp_path / "checkpoint.json", SPACE, restored)
    assert (gen, [list(p) for p in pop], log) == (2, [[0.25, i / 4] for i in range(4)], [{"gen": 2}])
    assert restored.random() == rng.random() and pop[0].fitness.crowding_dist == float("inf")


def test_the_strategies_valid_checkpoint_loads(tmp_path):
    import json

    from tests.strategies import valid_checkpoint

    (tmp_path / "checkpoint.json").write_text(json.dumps(valid_checkpoint(genes=2)))
    generation, population, logbook = load_checkpoint(tmp_path / "checkpoint.json", SPACE, random.Random(0))
    assert generation == 1 and len(population) == 4


def test_a_refused_checkpoint_leaves_the_rng_alone(tmp_path):
    import json

    from tests.strategies import valid_checkpoint

    doc = valid_checkpoint(genes=2)
    doc["rng"]["torch"] = "AAAA"  # python and numpy parts fine, torch's damaged
    (tmp_path / "checkpoint.json").write_text(json.dumps(doc))
    rng = random.Random(7)
    expected = random.Random(7).random()
    try:
        load_checkpoint(tmp_path / "checkpoint.json", SPACE, rng)
    except RunDirError:
        pass
    assert rng.random() == expected
