"""The ``actsearch`` command line. It parses and validates, then calls library functions."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import sys
from dataclasses import replace
from typing import Annotated, Any, Callable, Optional

import click
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import actsearch
from actsearch import crash, progress
from actsearch.choices import (BUDGETS, DEVICES, LR_SCHEDULES, MODELS, NORMS, OPTIMIZERS, PRESETS, RANKS,
                               SAMPLERS, TASKS)
from actsearch.errors import ActsearchError, ConfigError

app = typer.Typer(
    name="actsearch",
    help="Search the bounded-negative ReLU family (R-ReLU, SR-ReLU, N-ReLU, CRReLU) for your task.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


class VerbatimConsole(Console):
    """A Console that prints user text exactly as typed.

    Messages echo paths, names, keys and values a user wrote; rich markup (``[bold]``, ``[/x]``)
    and emoji codes (``:smile:``) in them must neither style the text nor raise MarkupError. So
    markup and emoji are off, and the one style tag our own messages open with (``[yellow]warning:[/]
    ...``) is the only markup read: a leading ``[STYLE]WORDS[/]`` with STYLE one of ``OWN_STYLES``.
    """

    OWN_STYLES = ("bold red", "red", "yellow", "green", "bold", "dim")
    _OWN = re.compile(r"\[(%s)\]([^\[\]]*)\[/\]" % "|".join(map(re.escape, OWN_STYLES)))

    def __init__(self, **kwargs: Any):
        super().__init__(markup=False, emoji=False, **kwargs)

    def verbatim(self, message: Any) -> Any:
        """``message`` as a Text whose user part is literal (non-strings pass unchanged)."""
        if not isinstance(message, str):
            return message
        own = self._OWN.match(message)
        if own is None:
            return Text(message)
        return Text.assemble((own.group(2), own.group(1)), message[own.end():])

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(self.verbatim(o) for o in objects), **kwargs)

    def status(self, status: Any, *args: Any, **kwargs: Any):
        return super().status(self.verbatim(status), *args, **kwargs)


def _width(stream) -> int | None:
    """No width limit when the output is not a terminal (a log, a pipe): tables are never cut at
    80 columns there. A terminal, or $COLUMNS, sets it as usual."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return None if terminal or os.environ.get("COLUMNS") else 10_000


console = VerbatimConsole(width=_width(sys.stdout))
err_console = VerbatimConsole(stderr=True, highlight=False, width=_width(sys.stderr))
INTERRUPTED = 130  # exit code after a graceful stop on Ctrl-C or SIGTERM (128 + SIGINT)


def error_line(message: str) -> Text:
    """``error: MESSAGE`` with the prefix in red and the message verbatim, on one line."""
    return Text.assemble(("error:", "bold red"), " ", " ".join(str(message).splitlines()))


def friendly_errors(command: Callable) -> Callable:
    """Turn an ActsearchError into one red line on stderr and exit code 2, never a traceback.

    Any other exception is a bug: ``actsearch.crash`` logs its traceback (in the run folder when
    the command has one) and prints one line asking for a report, exit code 1.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ActsearchError as exc:
            err_console.print(error_line(str(exc)), soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own ways to end a command
        except Exception as exc:  # the last resort, for bugs only (see actsearch.crash)
            raise typer.Exit(crash.handle(exc, kwargs.get("run_dir"), err_console)) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"actsearch {actsearch.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Search the bounded-negative ReLU family for the activation that suits your task."""


@app.command("activations")
@friendly_errors
def activations_command() -> None:
    """List every activation actsearch can build, its parameters and its per-element cost.

    Example: actsearch activations
    """
    from actsearch.activations import ACTIVATIONS
    from actsearch.cost import activation_cost

    table = Table(title="Activations (cost: FLOP equivalents per element, see actsearch.cost)")
    table.add_column("name", style="bold")
    table.add_column("parameters (default; allowed)")
    table.add_column("cost infer", justify="right")
    table.add_column("cost train", justify="right")
    for name, cls in ACTIVATIONS.items():
        params = "\n".join(f"{k}={p.default!r}; {p.allowed(k)}" for k, p in cls.params.items())
        table.add_row(
            name,
            params or "-",
            str(activation_cost(name).flops),
            str(activation_cost(name, training=True).flops),
        )
    console.print(table)


# --- options shared by every command that trains -------------------------------------------

def choices(values) -> dict:
    """Option settings for a fixed list: the list as the metavar (help shows it) and shell
    completion by prefix. Validation (with did-you-mean) stays in the library, one error line."""
    values = tuple(values)

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return {"metavar": "|".join(values), "autocompletion": complete}


Task = Annotated[str, typer.Option("--task", "-t", **choices(TASKS), help="digits (bundled), mnist, fashion-mnist, cifar10, cifar100.")]
TRAINING = "Proxy training"
Model = Annotated[Optional[str], typer.Option(rich_help_panel=TRAINING, **choices(MODELS), help="mlp, cnn, resnet or vit \\[default: mlp for digits/MNISTs, cnn for CIFAR].")]
Budget = Annotated[str, typer.Option("--budget", "-b", rich_help_panel=TRAINING, **choices(BUDGETS), help="tiny, small, medium or full (train images, epochs, batch, width).")]
Seed = Annotated[int, typer.Option(rich_help_panel=TRAINING, help="Random seed: fixes model init, data order and noise.")]
DataDir = Annotated[Optional[str], typer.Option(rich_help_panel=TRAINING, help="Data folder \\[default: $ACTSEARCH_DATA, else ~/.cache/actsearch/data].")]
Epochs = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's epochs.")]
BatchSize = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's batch size.")]
TrainSubset = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's number of training images.")]
ValSubset = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's number of validation images carved from the training split (searches choose on them; 0: none).")]
TestSubset = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's number of test images scored each epoch.")]
Width = Annotated[Optional[float], typer.Option(rich_help_panel=TRAINING, help="Override the budget's model width multiplier.")]
Optimizer = Annotated[str, typer.Option(rich_help_panel=TRAINING, **choices(OPTIMIZERS), help="adam (lr 1e-3, the N-ReLU seed's), adamw or sgd (Nesterov).")]
Lr = Annotated[Optional[float], typer.Option(rich_help_panel=TRAINING, help="Learning rate \\[default: the optimizer's].")]
LrSchedule = Annotated[str, typer.Option(rich_help_panel=TRAINING, **choices(LR_SCHEDULES), help="constant or cosine.")]
Device = Annotated[str, typer.Option(rich_help_panel=TRAINING, **choices(DEVICES), help="auto (CUDA when present, else CPU), cpu, cuda or mps.")]
Threads = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="CPU threads \\[default: all cores].")]
Amp = Annotated[bool, typer.Option(rich_help_panel=TRAINING, help="bf16 autocast.")]
Compile = Annotated[Optional[bool], typer.Option("--compile/--no-compile", rich_help_panel=TRAINING, help="torch.compile the activation kernels: faster on big tensors, seconds of warm-up \\[default: on when a batch sends >= 1M elements through activations].")]
Target = Annotated[float, typer.Option(rich_help_panel=TRAINING, help="Accuracy (%) for the epochs-to-target column.")]
Depth = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Hidden layers (mlp: 256, 128, 128, ... units), conv layers (cnn), 6n+2 (resnet) or blocks (vit) \\[default: the seed model's: 2, 2, 20, 4].")]
Norm = Annotated[Optional[str], typer.Option(rich_help_panel=TRAINING, **choices(NORMS), help="none, batch or layer, before every activation of mlp and cnn \\[default: none; resnet keeps batch, vit layer].")]
Preset = Annotated[Optional[str], typer.Option(rich_help_panel=TRAINING, **choices(PRESETS), help=f"Named task setting: {', '.join(PRESETS)} (see README); options you give win over it.")]


TRAIN_OPTIONS = {  # shared by every command that trains: name -> (annotation, default)
    "model": (Model, None),
    "budget": (Budget, "small"),
    "seed": (Seed, 0),
    "data_dir": (DataDir, None),
    "epochs": (Epochs, None),
    "batch_size": (BatchSize, None),
    "train_subset": (TrainSubset, None),
    "val_subset": (ValSubset, None),
    "test_subset": (TestSubset, None),
    "width": (Width, None),
    "depth": (Depth, None),
    "norm": (Norm, None),
    "optimizer": (Optimizer, "adam"),
    "lr": (Lr, None),
    "lr_schedule": (LrSchedule, "constant"),
    "device": (Device, "auto"),
    "threads": (Threads, None),
    "amp": (Amp, False),
    "compile": (Compile, None),
    "preset": (Preset, None),
}


def given_options(ctx: typer.Context | None, names) -> set[str]:
    """The options among ``names`` that the user gave (command line or environment), which a
    preset must not override; without a context (a direct call), none."""
    if ctx is None:
        return set()
    # By name: Typer vendors its own click, whose ParameterSource is not click's.
    return {n for n in names if getattr(ctx.get_parameter_source(n), "name", None) in ("COMMANDLINE", "ENVIRONMENT")}


def with_train_options(command: Callable) -> Callable:
    """Add the shared training options to a command, which receives them, with its --task and
    (where it has one) --target, as one checked TrainConfig ``base``, a --preset applied. A
    command with a ``preset`` parameter also receives the Preset (or None), for its lists."""
    hidden = ("base", "preset")
    signature = inspect.signature(command, eval_str=True).parameters
    own = [p for p in signature.values() if p.name not in hidden]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, (annotation, default) in TRAIN_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs):
        from actsearch.training.config import TrainConfig
        from actsearch.training.presets import apply_preset, get_preset

        ctx = kwargs.pop("ctx", None)
        preset_name = kwargs.pop("preset")
        train = {name: kwargs.pop(name) for name in TRAIN_OPTIONS if name != "preset"}
        if "target" in kwargs:
            train["target"] = kwargs["target"]
        base = TrainConfig(task=kwargs["task"], **train)
        if preset_name is not None:
            preset = get_preset(preset_name)
            base = apply_preset(preset_name, base, given_options(ctx, [*train, "task"]))
            kwargs["task"] = base.task  # the command loads the preset's task
            if "preset" in signature:
                kwargs["preset"] = preset
        base.resolved()  # refuse bad values before any work
        return command(base=base, **kwargs)

    # Typer passes the context to a parameter annotated typer.Context: it tells given from default.
    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    params = own + shared + [context]
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def parse_sets(pairs: list[str]) -> dict:
    """``--set T=1.2 --set shape=cubic`` -> {"T": 1.2, "shape": "cubic"} (values typed as YAML)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} is not KEY=VALUE; write e.g. --set T=1.2")
        out[key.strip()] = _set_value(key.strip(), value)
    return out


def _set_value(key: str, text: str) -> Any:
    """One ``--set`` value: a YAML scalar, list or mapping, or the text itself when it is not
    YAML. ``1e-300`` is a number (YAML 1.1 reads it as a string)."""
    import yaml

    try:
        return float(text) if _EXPONENT.fullmatch(text.strip()) else yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    except (ValueError, RecursionError) as exc:  # an int of over 4300 digits, a date 2001-13-45, [[[[...
        problem = ("nested too deep" if isinstance(exc, RecursionError) else "an integer has too many digits"
                   if "digits" in str(exc) else str(exc).splitlines()[0])
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ConfigError(f"--set {key}={shown}: cannot read the value ({problem}); write a plain number or "
                          "word") from None


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@app.command("train")
@friendly_errors
@with_train_options
def train_command(
    task: Task = "digits",
    activation: Annotated[str, typer.Option("--activation", "-a", help="Activation name (see `actsearch activations`).")] = "relu",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Activation parameter KEY=VALUE (repeatable).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", "-c", help="Exported YAML file whose activation to train.")] = None,
    target: Target = 90.0,
    run_dir: Annotated[Optional[str], typer.Option(help="Append the result to RUN_DIR/results.jsonl.")] = None,
    base: Any = None,
) -> None:
    """Train one candidate activation with a proxy job and print its scores.

    Example: actsearch train --task digits --activation sr_relu --set T=1.2 --set eta=0.5
    """
    from actsearch.activations import activation_config_from_file, validate_config
    from actsearch.results import append_result
    from actsearch.training.trainer import get_dataset, train

    if run_dir:
        from actsearch.rundir import check_output_path

        check_output_path(run_dir)  # before training: a result that cannot be written is lost
    if config:
        act = activation_config_from_file(config)
        if set_:
            act = validate_config({**act, **parse_sets(set_)})
    else:
        act = validate_config({"name": activation, **parse_sets(set_ or [])})
    cfg = replace(base, activation=act).resolved()
    with console.status(f"loading {task}"):
        get_dataset(cfg.task, cfg.data_dir)
    with progress.epochs(console, cfg.epochs) as advance:
        result = train(cfg, callback=advance)
    if run_dir:
        append_result(run_dir, {**result.record(), "role": "train"})
    from actsearch.analysis.report import train_summary

    console.print(train_summary(result))
    if result.status == "diverged":
        err_console.print(f"[yellow]diverged:[/] {result.reason}")


Objectives = Annotated[str, typer.Option(help="accuracy,COST with COST one of activation_flops, model_flops, latency, dead_ratio.")]
RunDir = Annotated[Optional[str], typer.Option(help="Run folder; an existing one resumes \\[default: a new dated folder under runs/].")]
Space = Annotated[str, typer.Option("--space", "-s", help="Shipped space name (see `actsearch spaces`) or a YAML file.")]
SEARCHING = "Choosing and confirming"

SEARCH_OPTIONS = {  # shared by tune and evolve: name -> (annotation, default)
    "space": (Space, "bounded_negative"),
    "objectives": (Objectives, "accuracy,activation_flops"),
    "warm_start": (Annotated[bool, typer.Option(help="Try the seed papers' default points first.")], True),
    "prune": (Annotated[bool, typer.Option(rich_help_panel=SEARCHING, help="Stop a candidate at epochs 1, 2, 4, ... when its validation difference from ReLU is below the top third of earlier candidates by more than ReLU's seed spread.")], True),
    "rank": (Annotated[str, typer.Option(rich_help_panel=SEARCHING, **choices(RANKS), help="What the sampler is told: mean paired validation difference from ReLU, or lcb (mean minus one standard error).")], "mean"),
    "max_cost": (Annotated[Optional[float], typer.Option(rich_help_panel=SEARCHING, help="Candidates costing more than this multiple of ReLU on the cost objective are infeasible (recorded, never picked).")], None),
    "confirm": (Annotated[int, typer.Option(rich_help_panel=SEARCHING, help="Racing: up to this many extra seeds for each front member, given while its difference from ReLU is undecided.")], 5),
    "confirm_budget": (Annotated[Optional[int], typer.Option(rich_help_panel=SEARCHING, help="Racing: at most this many training jobs \\[default: no limit].")], None),
    "holdout": (Annotated[int, typer.Option(rich_help_panel=SEARCHING, help="Seeds the search never used, on which the front, ReLU and GELU are scored on the test split for the report (6 is the fewest a signed-rank test can decide with).")], 6),
    "max_failures": (Annotated[int, typer.Option(rich_help_panel=SEARCHING, help="Stop after this many candidates in a row failed.")], 5),
    "workers": (Annotated[Optional[int], typer.Option(help="Processes scoring candidates in parallel, each with its share of --threads \\[default: on a CPU one per thread (up to 8), each job on one thread; 1 on a GPU].", show_default=False)], None),
    "run_dir": (RunDir, None),
}


def with_search_options(command: Callable) -> Callable:
    """Add the options every search backend shares; the command receives them as ``search``
    (keyword arguments of SearchSettings) beside ``base``."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "search"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, (annotation, default) in SEARCH_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs):
        search = {name: kwargs.pop(name) for name in SEARCH_OPTIONS}
        return command(search=search, **kwargs)

    params = own + shared
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _finish_search(search, analysis, as_json: bool = False, interrupted: bool = False) -> None:
    from actsearch.analysis.report import print_report

    if as_json:
        from actsearch.analysis.report import report_json

        summary = report_json(analysis)
        summary.update(run_dir=str(search.run_dir), interrupted=interrupted)
        print(json.dumps(summary, indent=2, default=str), flush=True)
    else:
        print_report(console, analysis, search.run_dir)
    if interrupted:  # Ctrl-C or SIGTERM: the report of what was done, then the conventional code
        raise typer.Exit(INTERRUPTED)


def _run_search(task: str, base, json_: bool, unit: str, run: Callable):
    """Load the data, then run a search (``run(progress=..., on_stop_request=...)``) under its
    progress display; returns (its result, whether Ctrl-C or SIGTERM stopped it). With --json,
    stdout carries the summary alone: progress lines and messages go to stderr."""
    from actsearch.training.trainer import get_dataset

    shown = err_console if json_ else console
    with contextlib.redirect_stdout(sys.stderr) if json_ else contextlib.nullcontext():
        with shown.status(f"loading {task}"):
            get_dataset(task, base.data_dir)
        with progress.search(shown, unit) as (on_event, on_stop):
            on_event, seen = _watch_interrupt(on_event)
            result = run(progress=on_event, on_stop_request=on_stop)
    return result, seen["interrupted"]


def _watch_interrupt(on_event):
    """Wrap a progress callback to learn whether the run ended on Ctrl-C / SIGTERM."""
    seen = {"interrupted": False}

    def wrapped(event: dict) -> None:
        if event.get("phase") == "done" and event.get("interrupted"):
            seen["interrupted"] = True
        on_event(event)

    return wrapped, seen


@app.command("tune")
@friendly_errors
@with_train_options
@with_search_options
def tune_command(
    task: Task = "digits",
    sampler: Annotated[str, typer.Option(help="tpe, nsga2, nsga3, gp or random.", **choices(SAMPLERS))] = "tpe",
    trials: Annotated[int, typer.Option(help="Trials of the study in a terminal state (complete, pruned, failed, infeasible) to reach; a resumed run continues to it.")] = 30,
    timeout: Annotated[Optional[float], typer.Option(help="Stop proposing new trials after this many seconds.")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (postgresql://, mysql://, sqlite:///, journal:PATH) shared by several processes or machines.")] = None,
    study: Annotated[str, typer.Option(help="Study name inside --storage.")] = "actsearch",
    json_: Annotated[bool, typer.Option("--json", help="End with a JSON summary on stdout (progress goes to stderr) instead of the tables.")] = False,
    search: Any = None,
    base: Any = None,
) -> None:
    """Search a space with Optuna for the best accuracy / cost trade-off, race the front over more seeds, report.

    Example: actsearch tune --task digits --trials 30
    """
    from actsearch.search.tune import TuneSettings, tune

    settings = TuneSettings(train=base, sampler=sampler, trials=trials, timeout=timeout, storage=storage,
                            study=study, **search)
    (run, analysis), interrupted = _run_search(task, base, json_, "trial", lambda **kw: tune(settings, **kw))
    _finish_search(run, analysis, json_, interrupted)


@app.command("evolve")
@friendly_errors
@with_train_options
@with_search_options
def evolve_command(
    task: Task = "digits",
    population: Annotated[int, typer.Option(help="Individuals per generation (a multiple of 4).")] = 16,
    generations: Annotated[int, typer.Option(help="Generations to reach (a resumed run continues to it).")] = 10,
    cxpb: Annotated[float, typer.Option(help="Probability that a pair of parents is crossed over.")] = 0.9,
    mutpb: Annotated[float, typer.Option(help="Probability that a child is mutated.")] = 1.0,
    json_: Annotated[bool, typer.Option("--json", help="End with a JSON summary on stdout (progress goes to stderr) instead of the tables.")] = False,
    search: Any = None,
    base: Any = None,
) -> None:
    """Evolve a space with DEAP's NSGA-II; checkpointed every generation, resumable, same racing, report and export as tune.

    Example: actsearch evolve --task digits --population 16 --generations 10
    """
    from actsearch.analysis.report import logbook_table
    from actsearch.search.evolve import EvolveSettings, evolve

    settings = EvolveSettings(train=base, population=population, generations=generations, cxpb=cxpb, mutpb=mutpb,
                              **search)
    (run, analysis, logbook), interrupted = _run_search(task, base, json_, "generation",
                                                        lambda **kw: evolve(settings, **kw))
    if not json_:
        console.print(logbook_table(logbook, analysis.objective))
    _finish_search(run, analysis, json_, interrupted)


@app.command("compare")
@friendly_errors
@with_train_options
def compare_command(
    task: Task = "digits",
    activations: Annotated[Optional[str], typer.Option("--activations", "--activation", "-a", help="Comma-separated names, e.g. relu,gelu,mish,r_relu,sr_relu.")] = None,
    config: Annotated[Optional[list[str]], typer.Option("--config", "-c", help="Exported YAML candidate to add (repeatable).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per activation (same data order per seed for all).")] = 3,
    models: Annotated[Optional[str], typer.Option(help="Comma-separated models \\[default: --model, else the preset's, else the task's].")] = None,
    run_dir: RunDir = None,
    target: Target = 90.0,
    base: Any = None,
    preset: Any = None,
) -> None:
    """Train activations under identical settings over seeds: the seed papers' tables, each activation paired with ReLU and GELU on the same seeds.

    With --preset, its activations are trained (nrelu: the N-ReLU seed's nine; deep-mlp, vit-small: relu and gelu); --activations and --config add to them.

    Example: actsearch compare --task digits --activations relu,gelu,sr_relu --seeds 6
    """
    from actsearch.analysis.compare import compare, plan, summary, table
    from actsearch.analysis.report import print_table
    from actsearch.training.trainer import get_dataset

    entries, model_list = plan(base, preset, activations, config, models)
    with console.status(f"loading {task}"):
        get_dataset(task, base.data_dir)
    with progress.steps(console) as on_step:
        folder, rows = compare(base, model_list, entries, seeds, run_dir, on_step)
    print_table(console, table(rows, f"{task}: {len(entries)} activations x {seeds} seed(s) - {folder}", target))
    for line in summary(rows):
        console.print(line, markup=False, highlight=False)
    console.print(f"written: {folder / 'results.jsonl'}, {folder / 'comparison.md'}", markup=False, highlight=False)


@app.command("fidelity")
@friendly_errors
@with_train_options
def fidelity_command(
    task: Task = "digits",
    space: Space = "bounded_negative",
    candidates: Annotated[int, typer.Option(help="Candidates sampled from the space.")] = 12,
    low: Annotated[str, typer.Option(help="The cheap proxy budget a search would use.")] = "tiny",
    high: Annotated[str, typer.Option(help="The longer training it should agree with.")] = "medium",
    run_dir: RunDir = None,
    base: Any = None,
) -> None:
    """Check that a cheap proxy ranks candidates as a longer training does (Kendall's tau, Spearman's rho).

    Example: actsearch fidelity --task digits --low tiny --high medium
    """
    from actsearch.analysis.fidelity import fidelity
    from actsearch.training.trainer import get_dataset

    with console.status(f"loading {task}"):
        get_dataset(task, base.data_dir)
    with progress.steps(console) as on_step:
        result = fidelity(base, space, candidates, low, high, run_dir, on_step)
    table = Table(title=f"Proxy fidelity on {task}: {low} vs {high}, validation accuracy - {result.run_dir}")
    for col in ("candidate", f"{low} val acc %", f"{high} val acc %"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for row in sorted(result.rows, key=lambda r: -r["high"]):
        table.add_row(row["label"], f"{row['low']:.2f}", f"{row['high']:.2f}")
    table.caption = (f"Kendall tau {result.tau:.3f} (p={result.tau_p:.3g}), Spearman rho {result.rho:.3f} "
                     f"(p={result.rho_p:.3g})")
    console.print(table)
    console.print(f"verdict: {result.verdict}", markup=False, highlight=False)


StorageOpt = Annotated[Optional[str], typer.Option("--storage", help="Read the study in this database instead of a run folder (the URL `tune --storage` used); no run folder needed.")]
StudyOpt = Annotated[Optional[str], typer.Option("--study", help="The study name inside --storage.")]


def _analysis(run_dir: str | None, storage: str | None, study: str | None):
    """The analysis of a run folder, or of a database study alone (--storage URL --study NAME)."""
    from actsearch.analysis.front import analyse, analyse_records

    if storage is None:
        if study is not None:
            raise ConfigError("--study needs --storage URL (the database the study lives in)")
        if run_dir is None:
            raise ConfigError("give a RUN_DIR, or --storage URL --study NAME to read a database study")
        return analyse(run_dir)
    if run_dir is not None:
        raise ConfigError("give either a RUN_DIR or --storage URL --study NAME, not both")
    if not study:
        raise ConfigError("--storage needs --study NAME (the study name `tune --study` used)")
    from actsearch.search.store import read_study_records, study_source

    records, settings = read_study_records(storage, study)
    return analyse_records(records, settings, study_source(storage, study))


@app.command("plot")
@friendly_errors
def plot_command(
    run_dir: Annotated[Optional[str], typer.Argument(help="A tune or evolve run folder.")] = None,
    config: Annotated[Optional[str], typer.Option("--config", "-c", help="Draw one exported activation instead.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="PNG for --config \\[default: beside the YAML]; the folder for --storage \\[default: the current folder].")] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
) -> None:
    """Write PNGs: the Pareto front, and f(x), f'(x) on [-4, 3] of the front against ReLU and GELU.

    Example: actsearch plot runs/quick
    """
    from pathlib import Path

    from actsearch.activations import activation_config_from_file
    from actsearch.analysis.front import analyse
    from actsearch.analysis.plot import plot_curves, plot_run
    from actsearch.activations import describe

    if sum(x is not None for x in (run_dir, config, storage)) != 1:
        raise ConfigError("give either a RUN_DIR, --config FILE, or --storage URL --study NAME")
    if config:
        act = activation_config_from_file(config)
        target = Path(out) if out else Path(config).with_suffix(".png")
        written = [plot_curves([(describe(act), act)], target, str(config))]
    elif storage is not None:
        from dataclasses import replace as _replace

        folder = Path(out or ".")
        folder.mkdir(parents=True, exist_ok=True)
        written = plot_run(_replace(_analysis(None, storage, study), run_dir=folder))
    else:
        written = plot_run(analyse(run_dir))
    for path in written:
        console.print(f"wrote {path}")


@app.command("report")
@friendly_errors
def report_command(
    run_dir: Annotated[Optional[str], typer.Argument(help="A folder written by tune or evolve.")] = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON (front, knee, counts, baseline, verdict).")] = False,
    latency: Annotated[bool, typer.Option("--latency", help="Also measure each front member's forward+backward time over ReLU's at the task's shapes, on this machine, now (a few seconds per member).")] = False,
) -> None:
    """Print a search's report: the verdict, the front with the knee, hypervolume, trial counts.

    Example: actsearch report runs/quick   (or --storage postgresql://user@host/db --study fm: no folder needed)
    """
    from actsearch.analysis.report import measure_latency, print_report, report_json

    analysis = _analysis(run_dir, storage, study)
    measured = None
    if latency:
        with (err_console if json_ else console).status("measuring latency of the front"):
            measured = measure_latency(analysis)
    if json_:
        out = report_json(analysis)
        if measured is not None:
            out["latency"] = {str(k): v for k, v in measured.items()}
        print(json.dumps(out, indent=2, default=str), flush=True)
        if analysis.skipped_lines:
            err_console.print(f"[yellow]warning:[/] skipped {len(analysis.skipped_lines)} damaged line(s) of "
                              f"results.jsonl: {analysis.skipped_lines[:5]}")
        return
    print_report(console, analysis, latency=measured)
    if analysis.skipped_lines:
        err_console.print(f"[yellow]warning:[/] skipped {len(analysis.skipped_lines)} damaged line(s) of "
                          f"results.jsonl: {analysis.skipped_lines[:5]}")


@app.command("export")
@friendly_errors
def export_command(
    run_dir: Annotated[Optional[str], typer.Argument(help="A folder written by tune or evolve.")] = None,
    pick: Annotated[Optional[str], typer.Option(metavar="knee|best-accuracy|min-cost|trial:N", help="Which candidate \\[default: knee when the held-out seeds show a gain over ReLU; otherwise required].")] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="YAML file to write.")] = "best.yaml",
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    storage: StorageOpt = None,
    study: StudyOpt = None,
) -> None:
    """Write the chosen activation as YAML that actsearch.load_activation() rebuilds.

    Example: actsearch export runs/quick --pick knee --out best.yaml
    """
    from actsearch.activations import describe
    from actsearch.analysis.export import export

    doc = export(_analysis(run_dir, storage, study), pick or "knee", out, force=force, explicit=pick is not None)
    label = describe(doc["activation"]) + (" = ReLU" if doc.get("equals_relu") else "")
    console.print(f"wrote {out}: trial {doc['provenance']['trial']}, {label} ({doc['provenance']['why']})",
                  highlight=False, markup=False, soft_wrap=True)


@app.command("spaces")
@friendly_errors
def spaces_command() -> None:
    """List the shipped search spaces.

    Example: actsearch spaces
    """
    import yaml

    from actsearch.choices import shipped_spaces

    # The shipped files as written (the tests validate them), so listing needs no torch.
    table = Table(title="Search spaces (--space NAME, or a path to your own YAML)")
    for col in ("name", "activation", "parameters", "description"):
        table.add_column(col)
    for name, path in shipped_spaces().items():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        dims = [*(doc.get("switches") or {}), *(doc.get("params") or {})]
        table.add_row(name, doc.get("activation", "bounded_negative"), ", ".join(dims), doc.get("description", ""))
    console.print(table)


@app.command("check")
@friendly_errors
def check_command(
    run_dir: Annotated[str, typer.Argument(help="A run folder written by tune, evolve, compare or fidelity.")],
    repair: Annotated[bool, typer.Option("--repair", help="Do the repairs that lose nothing (a torn line, a missing study, stale trials).")] = False,
) -> None:
    """Check that every file of a run folder is whole and that they agree; exit 1 when something is damaged.

    Example: actsearch check runs/quick --repair
    """
    from actsearch.check import check, render

    result = check(run_dir, repair=repair)
    for line in render(result):
        console.print(line, markup=False, emoji=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


def main() -> None:
    """The ``actsearch`` script. A bug outside any command (an import, a callback) still gets
    the last-resort line and exit code 1; inside a command ``friendly_errors`` handles it."""
    try:
        app()
    except Exception as exc:
        raise SystemExit(crash.handle(exc, console=err_console)) from None
