"""``actsearch evolve``: DEAP NSGA-II as a backend of the one search contract (``base.Search``):
it proposes each generation's new individuals and hears their fitness; the run scores them, so
evolve shares the space, the evaluator, the run folder, racing, the report and the export with
tune. Fitness: (paired validation difference from ReLU, cost); a failed, pruned or infeasible
candidate gets the worst of both (constraint domination for ``--max-cost``).

Genome: one gene per dimension of the space, in its order. Float and int genes live in [0, 1]
(log-scaled where the space says ``log``) and take bounded simulated-binary crossover and bounded
polynomial mutation; categorical genes and switches hold a choice index and take uniform
crossover and random-reset mutation. Genes of inactive dimensions ride along unused, so a later
switch can revive them.

After every generation a JSON checkpoint (never a pickle: a run folder may come from someone
else) stores the population with fitnesses, the logbook and the Python, NumPy and torch RNG
states, written to a temporary file and renamed. A run resumed from it ends exactly as an
uninterrupted run with the same seed.
"""

from __future__ import annotations

import base64
import json
import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from deap import base, creator, tools

from actsearch.errors import ConfigError, RunDirError, shown
from actsearch.results import CHECKSUM, seal, seal_problem
from actsearch.rundir import write_atomic
from actsearch.search.base import Proposal, Search, SearchSettings
from actsearch.search.space import SearchSpace

CHECKPOINT = "checkpoint.json"
CHECKPOINT_FORMAT = "actsearch-evolve-checkpoint/1"
WORST_COST = 1e30  # fitness cost of a candidate that failed, diverged, was pruned or is infeasible
WORST_VALUE = -1e9
ETA = 20.0  # SBX and polynomial-mutation crowding (DEAP's NSGA-II example)


@dataclass
class EvolveSettings(SearchSettings):
    population: int = 16
    generations: int = 10
    cxpb: float = 0.9  # probability a pair is crossed over
    mutpb: float = 1.0  # probability an individual is mutated (then each gene with 1/n)


def _creator_classes():
    """DEAP's creator classes, made once per process (a second create warns)."""
    if not hasattr(creator, "ActsearchFitness"):
        creator.create("ActsearchFitness", base.Fitness, weights=(1.0, -1.0))
    if not hasattr(creator, "ActsearchIndividual"):
        creator.create("ActsearchIndividual", list, fitness=creator.ActsearchFitness)
    return creator.ActsearchIndividual


# --- genome <-> point: the space's own unit mapping -------------------------------------------


def decode(space: SearchSpace, genome: list[float]) -> dict[str, Any]:
    """The point a genome stands for (inactive dimensions dropped)."""
    return space.active_values({d.name: d.from_unit(g) for d, g in zip(space.dimensions, genome)})


def encode(space: SearchSpace, point: dict[str, Any], rng) -> list[float]:
    """A genome for a (partial) point; unspecified genes are random."""
    genome = []
    for d in space.dimensions:
        if d.name in point:
            genome.append(d.to_unit(point[d.name]))
        else:
            genome.append(float(rng.randrange(len(d.choices))) if d.choices else rng.random())
    return genome


# --- the toolbox --------------------------------------------------------------------------------


def make_toolbox(space: SearchSpace, rng, settings: EvolveSettings) -> base.Toolbox:
    individual = _creator_classes()
    cont = [i for i, d in enumerate(space.dimensions) if not d.choices]
    cat = [i for i, d in enumerate(space.dimensions) if d.choices]
    n = len(space.dimensions)

    def mate(a, b):
        if cont:
            ca, cb = [a[i] for i in cont], [b[i] for i in cont]
            tools.cxSimulatedBinaryBounded(ca, cb, eta=ETA, low=0.0, up=1.0)
            for i, x, y in zip(cont, ca, cb):
                a[i], b[i] = x, y
        for i in cat:
            if rng.random() < 0.5:
                a[i], b[i] = b[i], a[i]
        return a, b

    def mutate(ind):
        if cont:
            c = [ind[i] for i in cont]
            tools.mutPolynomialBounded(c, eta=ETA, low=0.0, up=1.0, indpb=1.0 / n)
            for i, x in zip(cont, c):
                ind[i] = x
        for i in cat:
            if rng.random() < 1.0 / n:
                ind[i] = float(rng.randrange(len(space.dimensions[i].choices)))
        return (ind,)

    toolbox = base.Toolbox()
    toolbox.register("individual", lambda point=None: individual(encode(space, point or {}, rng)))
    toolbox.register("mate", mate)
    toolbox.register("mutate", mutate)
    toolbox.register("select", tools.selNSGA2)
    toolbox.register("parents", tools.selTournamentDCD)
    return toolbox


# --- checkpoints --------------------------------------------------------------------------------


def _rng_states(rng) -> dict[str, Any]:
    version, state, gauss = rng.getstate()
    np_state = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
    }


def _restore_rng(states: dict[str, Any], rng) -> None:
    version, state, gauss = states["python"]
    rng.setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    raw = np.frombuffer(base64.b64decode(states["torch"]), dtype=np.uint8).copy()
    torch.set_rng_state(torch.from_numpy(raw))


def save_checkpoint(path, generation: int, population, logbook: list[dict], rng) -> None:
    doc = {
        "format": CHECKPOINT_FORMAT,
        "generation": generation,
        # crowding_dist: selNSGA2 set it, and the next generation's tournament reads it.
        "population": [{"genome": list(ind), "fitness": list(ind.fitness.values),
                        "crowding": ind.fitness.crowding_dist} for ind in population],
        "logbook": logbook,
        "rng": _rng_states(rng),
    }
    write_atomic(path, json.dumps(seal(doc)))  # sealed: a changed number that still parses is caught


def load_checkpoint(path, space: SearchSpace, rng):
    """(generation, population, logbook) of a checkpoint, with the RNG states restored.

    A damaged or foreign file of any shape is one RunDirError naming it; the whole document is
    checked before any RNG state changes, so a refused checkpoint leaves the process as it was.
    """
    individual = _creator_classes()

    def refuse(problem: str) -> RunDirError:
        return RunDirError(f"{path} is not a usable evolve checkpoint ({problem}); delete it to restart the "
                           "evolution, or use another --run-dir")

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise refuse(f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError; an integer of over 4300 digits
        raise refuse(f"not JSON: {str(exc).splitlines()[0][:80]}") from None
    except RecursionError:
        raise refuse("JSON nested too deep") from None
    if seal_problem(doc):
        raise refuse(seal_problem(doc))
    if isinstance(doc, dict):
        doc.pop(CHECKSUM, None)
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        found = shown(doc.get("format")) if isinstance(doc, dict) else type(doc).__name__
        raise refuse(f"format is {found}, expected {CHECKPOINT_FORMAT!r}")
    missing = [k for k in ("generation", "population", "logbook", "rng") if k not in doc]
    if missing:
        raise refuse(f"no '{missing[0]}' entry")
    generation, entries, logbook = doc["generation"], doc["population"], doc["logbook"]
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise refuse(f"generation {shown(generation)} is not a whole number >= 0")
    if not isinstance(logbook, list) or not all(isinstance(row, dict) for row in logbook):
        raise refuse("logbook is not a list of rows")
    if not isinstance(entries, list) or not entries or len(entries) % 4:
        raise refuse("population is not a non-empty list of a multiple of 4 individuals")
    population = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(k in entry for k in ("genome", "fitness", "crowding")):
            raise refuse(f"individual {i} is not a mapping with genome, fitness and crowding")
        genome, fitness, crowding = entry["genome"], entry["fitness"], entry["crowding"]
        if not isinstance(genome, list) or len(genome) != len(space.dimensions):
            raise refuse(f"individual {i}'s genome has {len(genome) if isinstance(genome, list) else 'no'} genes, "
                         f"the space {len(space.dimensions)}")
        for d, g in zip(space.dimensions, genome):
            if not _real(g) or not math.isfinite(g) or (d.choices and (g != int(g) or not 0 <= g < len(d.choices))):
                raise refuse(f"individual {i}'s gene for {d.name} is {shown(g)}")
        if (not isinstance(fitness, list) or len(fitness) != 2
                or not all(_real(v) and math.isfinite(v) for v in fitness)):
            raise refuse(f"individual {i}'s fitness {shown(fitness)} is not two finite numbers")
        if not _real(crowding) or math.isnan(crowding):
            raise refuse(f"individual {i}'s crowding distance {shown(crowding)} is not a number")
        ind = individual([float(g) for g in genome])
        ind.fitness.values = tuple(float(v) for v in fitness)
        ind.fitness.crowding_dist = float(crowding)
        population.append(ind)
    try:
        states = _checked_rng_states(doc["rng"])
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RuntimeError) as exc:
        raise refuse(f"its RNG states are damaged ({type(exc).__name__})") from None
    _restore_rng(states, rng)
    return generation, population, logbook


def _real(value: Any) -> bool:
    """An int or float that fits a float (bools and 300-digit ints are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _checked_rng_states(states: Any) -> dict[str, Any]:
    """``states`` (a checkpoint's ``rng`` entry) once each part is known to restore: tried on
    scratch generators, so a damaged part raises here before any real state changes."""
    if not isinstance(states, dict):
        raise TypeError("not a mapping")
    version, state, gauss = states["python"]
    random.Random().setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.RandomState().set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    raw = np.frombuffer(base64.b64decode(states["torch"], validate=True), dtype=np.uint8).copy()
    torch.Generator().set_state(torch.from_numpy(raw))  # RuntimeError: wrong size or invalid state
    return states


# --- the backend ---------------------------------------------------------------------------------


class DeapBackend:
    """NSGA-II by generations: ``ask`` hands out the individuals of the current generation that
    have no fitness yet; once all are told, it selects, checkpoints and breeds the next."""

    command = "evolve"
    local = True

    def __init__(self, settings: EvolveSettings):
        if settings.population < 4 or settings.population % 4:
            raise ConfigError(f"--population {settings.population}: NSGA-II's tournament needs a multiple of 4 (>= 4)")
        if settings.generations < 1:
            raise ConfigError(f"--generations must be >= 1, got {settings.generations}")
        for name in ("cxpb", "mutpb"):
            if not 0.0 <= getattr(settings, name) <= 1.0:
                raise ConfigError(f"--{name} {getattr(settings, name)} must be in [0, 1]")
        self.settings = settings
        self.logbook: list[dict[str, Any]] = []
        self.pending: list = []  # this generation's individuals without fitness
        self.asked = False

    def identity(self) -> dict[str, Any]:
        s = self.settings
        return {"population": s.population, "cxpb": s.cxpb, "mutpb": s.mutpb}

    def open(self, search: Search, warm: list[dict[str, Any]]) -> None:
        self.search = search
        # DEAP's operators (SBX, polynomial mutation, tournaments) draw from the global `random`
        # module, so that is the generator to seed and to checkpoint.
        random.seed(self.settings.seed)
        self.rng = random
        self.toolbox = make_toolbox(search.space, self.rng, self.settings)
        self.checkpoint = search.run_dir / CHECKPOINT
        if self.checkpoint.exists():
            self.generation, self.population, self.logbook = load_checkpoint(self.checkpoint, search.space, self.rng)
            self.pending = []
        else:
            np.random.seed(self.settings.seed)
            points = warm[: self.settings.population]
            self.population = [self.toolbox.individual(p) for p in points]
            self.population += [self.toolbox.individual() for _ in range(self.settings.population - len(points))]
            self.generation = 0
            self.pending = list(self.population)
            self.warm_ids = {id(ind) for ind in self.population[: len(points)]}
        self.trained_before = self._trained()

    def _trained(self) -> int:
        return sum(1 for r in self.search.records if r.get("role") == "search" and not r.get("reused"))

    def remaining(self) -> int:
        return len(self.pending) + (self.settings.generations - self.generation) * self.settings.population

    def ask(self) -> list[Proposal]:
        if self.pending and not self.asked:
            self.asked = True
            warm = getattr(self, "warm_ids", set())
            return [Proposal(point=decode(self.search.space, ind), warm=id(ind) in warm, handle=ind)
                    for ind in self.pending]
        if self.pending:  # all told: close the generation
            self._close_generation()
        if self.generation >= self.settings.generations:
            return []
        self._breed()
        return self.ask()

    def tell(self, proposal: Proposal, record: dict[str, Any], value: float | None, cost: float | None) -> None:
        ok = record["status"] == "ok" and value is not None and cost is not None
        proposal.handle.fitness.values = (value, cost) if ok else (WORST_VALUE, WORST_COST)

    def _close_generation(self) -> None:
        if self.generation == 0:
            self.population = self.toolbox.select(self.population, len(self.population))  # assigns crowding
        else:
            self.population = self.toolbox.select(self.population + self.pending, self.settings.population)
        trained = self._trained()
        fits = [ind.fitness.values for ind in self.population]
        front = tools.sortNondominated(self.population, len(self.population), first_front_only=True)[0]
        self.logbook.append({"generation": self.generation, "evaluations": trained - self.trained_before,
                             "best_diff": max(f[0] for f in fits), "lowest_cost": min(f[1] for f in fits),
                             "front": len({tuple(ind.fitness.values) for ind in front})})
        self.trained_before = trained
        save_checkpoint(self.checkpoint, self.generation, self.population, self.logbook, self.rng)
        self.pending, self.asked, self.warm_ids = [], False, set()

    def _breed(self) -> None:
        self.generation += 1
        offspring = [self.toolbox.clone(ind) for ind in self.toolbox.parents(self.population, len(self.population))]
        for a, b in zip(offspring[::2], offspring[1::2]):
            if self.rng.random() <= self.settings.cxpb:
                self.toolbox.mate(a, b)
            for child in (a, b):
                if self.rng.random() <= self.settings.mutpb:
                    self.toolbox.mutate(child)
            del a.fitness.values, b.fitness.values
        self.pending, self.asked = offspring, False

    def abandon(self, proposals: list[Proposal], exc: BaseException) -> None:
        pass  # the generation resumes from the last checkpoint; its scored jobs are in the log

    def close(self) -> None:
        pass


def evolve(settings: EvolveSettings, progress=None, on_stop_request=None):
    """Run (or resume) NSGA-II; returns the search, its analysis and the logbook rows."""
    backend = DeapBackend(settings)
    search = Search(settings, backend)
    analysis = search.run(progress, on_stop_request)
    return search, analysis, backend.logbook
