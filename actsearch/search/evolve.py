"""``actsearch evolve``: DEAP NSGA-II over the same search spaces, objectives, evaluator, run
folder, report and export as tune.

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
import multiprocessing as mp
import random
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from deap import base, creator, tools

from actsearch.errors import ConfigError, RunDirError
from actsearch.analysis.front import RunAnalysis, analyse
from actsearch.search.objectives import Evaluator, cost_value
from actsearch.results import read_results
from actsearch.rundir import RunLock, write_atomic
from actsearch.search.base import GracefulStop, Search, SearchSettings
from actsearch.activations.base import shown
from actsearch.search.space import Dimension, SearchSpace

CHECKPOINT = "checkpoint.json"
CHECKPOINT_FORMAT = "actsearch-evolve-checkpoint/1"
WORST_COST = 1e30  # fitness cost of a candidate that failed or diverged
ETA = 20.0  # SBX and polynomial-mutation crowding (DEAP's NSGA-II example)


@dataclass
class EvolveSettings(SearchSettings):
    population: int = 16
    generations: int = 10
    cxpb: float = 0.9  # probability a pair is crossed over
    mutpb: float = 1.0  # probability an individual is mutated (then each gene with 1/n)
    workers: int = 1


def _creator_classes():
    """DEAP's creator classes, made once per process (a second create warns)."""
    if not hasattr(creator, "ActsearchFitness"):
        creator.create("ActsearchFitness", base.Fitness, weights=(1.0, -1.0))
    if not hasattr(creator, "ActsearchIndividual"):
        creator.create("ActsearchIndividual", list, fitness=creator.ActsearchFitness)
    return creator.ActsearchIndividual


# --- genome <-> point -------------------------------------------------------------------------


def _to_unit(d: Dimension, value: float) -> float:
    if d.log:
        return (math.log(value) - math.log(d.low)) / (math.log(d.high) - math.log(d.low))
    return (value - d.low) / (d.high - d.low)


def _from_unit(d: Dimension, g: float) -> float | int:
    g = min(max(g, 0.0), 1.0)
    value = math.exp(math.log(d.low) + g * (math.log(d.high) - math.log(d.low))) if d.log else d.low + g * (d.high - d.low)
    if d.step:
        value = d.low + round((value - d.low) / d.step) * d.step
    if d.type == "int":
        return int(round(value))
    return float(min(max(value, d.low), d.high))


def decode(space: SearchSpace, genome: list[float]) -> dict[str, Any]:
    """The point a genome stands for (inactive dimensions dropped)."""
    values = {}
    for d, g in zip(space.dimensions, genome):
        values[d.name] = d.choices[int(g)] if d.choices else _from_unit(d, g)
    return space.active_values(values)


def encode(space: SearchSpace, point: dict[str, Any], rng) -> list[float]:
    """A genome for a (partial) point; unspecified genes are random."""
    genome = []
    for d in space.dimensions:
        if d.name in point:
            genome.append(float(d.choices.index(point[d.name])) if d.choices else _to_unit(d, point[d.name]))
        else:
            genome.append(float(rng.randrange(len(d.choices))) if d.choices else rng.random())
    return genome


def candidate_key(activation: dict[str, Any]) -> str:
    return json.dumps(activation, sort_keys=True)


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


def _evaluate_worker(args: tuple) -> dict[str, Any]:
    """Score one activation (in a pool worker: module level so it pickles)."""
    base_config, objective, activation = args
    return Evaluator(base_config, objective).score(activation)


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
    write_atomic(path, json.dumps(doc))


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


# --- the loop -------------------------------------------------------------------------------------


class _Scorer:
    """Evaluates genomes through ``map``, never training one activation config twice."""

    def __init__(self, search: Search, toolbox: base.Toolbox):
        self.search, self.map = search, toolbox.map  # builtin map, or a process pool's
        records, _ = read_results(search.run_dir)
        self.cache = {candidate_key(r["activation_config"]): r for r in records if r.get("role") == "search"}
        self.next_trial = 1 + max((r["trial"] for r in records if r.get("role") == "search"), default=-1)

    def fitness(self, record: dict[str, Any]) -> tuple[float, float]:
        """(accuracy, cost); a diverged or failed candidate gets the worst of both."""
        if record["status"] != "ok":
            return 0.0, WORST_COST
        cost = cost_value(record, self.search.objective)
        return record["test_acc"], WORST_COST if cost is None else cost

    def evaluate(self, population, on_done: Callable[[], None] | None = None) -> int:
        """Give every invalid individual its fitness; return how many candidates were trained."""
        invalid = [ind for ind in population if not ind.fitness.valid]
        keys, configs = [], {}
        for ind in invalid:
            params = decode(self.search.space, ind)
            act = self.search.space.to_activation(params)
            keys.append(candidate_key(act))
            configs.setdefault(keys[-1], (act, params))
        todo = [(key, act, params) for key, (act, params) in configs.items() if key not in self.cache]
        jobs = [(self.search.evaluator.base, self.search.objective, act) for _, act, _ in todo]
        for (key, _, params), record in zip(todo, self.map(_evaluate_worker, jobs)):
            self.cache[key] = self.search.record(record, role="search", trial=self.next_trial, params=params)
            self.next_trial += 1
            if on_done:
                on_done()
        for ind, key in zip(invalid, keys):
            ind.fitness.values = self.fitness(self.cache[key])
        return len(todo)


def _log_row(generation: int, evaluated: int, population, search: Search) -> dict[str, Any]:
    analysis = analyse(search.run_dir)
    fits = [ind.fitness.values for ind in population]
    return {"generation": generation, "evaluations": evaluated, "best_acc": max(f[0] for f in fits),
            "lowest_cost": min(f[1] for f in fits), "hypervolume": analysis.hypervolume,
            "front": len(analysis.front)}


def evolve(settings: EvolveSettings, progress: Callable[[dict[str, Any]], None] | None = None,
           on_stop_request: Callable[[], None] | None = None) -> tuple[Search, RunAnalysis, list[dict]]:
    """Run (or resume) NSGA-II; returns the search, its analysis and the logbook rows."""
    if settings.population < 4 or settings.population % 4:
        raise ConfigError(f"--population {settings.population}: NSGA-II's tournament needs a multiple of 4 (>= 4)")
    if settings.generations < 1 or settings.workers < 1:
        raise ConfigError("--generations and --workers must be >= 1")
    for name in ("cxpb", "mutpb"):
        if not 0.0 <= getattr(settings, name) <= 1.0:
            raise ConfigError(f"--{name} {getattr(settings, name)} must be in [0, 1]")
    if settings.workers > 1:
        threads = max(1, (settings.train.resolved().threads or 1) // settings.workers)
        settings = replace(settings, train=replace(settings.train, threads=threads))
    search = Search("evolve", settings, {"population": settings.population, "cxpb": settings.cxpb,
                                         "mutpb": settings.mutpb})
    # DEAP's operators (SBX, polynomial mutation, tournaments) draw from the global `random`
    # module, so that is the generator to seed and to checkpoint.
    random.seed(settings.seed)
    rng = random
    toolbox = make_toolbox(search.space, rng, settings)
    checkpoint = search.run_dir / CHECKPOINT

    pool = mp.get_context("spawn").Pool(settings.workers) if settings.workers > 1 else None
    try:
        with RunLock(search.run_dir), GracefulStop(on_stop_request) as stop:
            search.ensure_baseline()
            toolbox.register("map", pool.imap if pool else map)  # imap: results stream, in order
            scorer = _Scorer(search, toolbox)

            def tick(state: dict[str, Any]) -> Callable[[], None]:
                def done() -> None:
                    state["done"] += 1
                    if progress:
                        progress(state)
                return done

            if checkpoint.exists():
                generation, population, logbook = load_checkpoint(checkpoint, search.space, rng)
            else:
                np.random.seed(settings.seed)
                points = list(search.space.warm_start) if settings.warm_start else []
                population = [toolbox.individual(p) for p in points[: settings.population]]
                population += [toolbox.individual() for _ in range(settings.population - len(population))]
                state = {"generation": 0, "done": 0, "total": len(population)}
                evaluated = scorer.evaluate(population, tick(state))
                population = toolbox.select(population, len(population))  # assigns crowding distance
                generation, logbook = 0, [_log_row(0, evaluated, population, search)]
                save_checkpoint(checkpoint, 0, population, logbook, rng)
            if progress:
                progress({"generation": generation, "done": 0, "total": 0, **logbook[-1]})

            while generation < settings.generations and not stop.requested:
                generation += 1
                offspring = [toolbox.clone(ind) for ind in toolbox.parents(population, len(population))]
                for a, b in zip(offspring[::2], offspring[1::2]):
                    if rng.random() <= settings.cxpb:
                        toolbox.mate(a, b)
                    for child in (a, b):
                        if rng.random() <= settings.mutpb:
                            toolbox.mutate(child)
                    del a.fitness.values, b.fitness.values
                state = {"generation": generation, "done": 0, "total": len(offspring)}
                evaluated = scorer.evaluate(offspring, tick(state))
                population = toolbox.select(population + offspring, settings.population)
                logbook.append(_log_row(generation, evaluated, population, search))
                save_checkpoint(checkpoint, generation, population, logbook, rng)
                if progress:
                    progress({**state, **logbook[-1]})
            if not stop.requested:
                search.confirm_front()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return search, analyse(search.run_dir), logbook
