"""The ``actsearch`` command line. It parses and validates, then calls library functions."""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import replace
from typing import Annotated, Any, Callable, Optional

import click
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import actsearch
from actsearch import crash, progress
from actsearch.errors import ActsearchError, ConfigError

app = typer.Typer(
    name="actsearch",
    help="Search the bounded-negative ReLU family (R-ReLU, SR-ReLU, N-ReLU, CRReLU) for your task.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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


console = VerbatimConsole()
err_console = VerbatimConsole(stderr=True, highlight=False)


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
    """List every activation actsearch can build, its parameters and its per-element cost."""
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

Task = Annotated[str, typer.Option("--task", "-t", help="digits (bundled), mnist, fashion-mnist, cifar10, cifar100.")]
TRAINING = "Proxy training"
Model = Annotated[Optional[str], typer.Option(rich_help_panel=TRAINING, help="mlp, cnn, resnet or vit \\[default: mlp for digits/MNISTs, cnn for CIFAR].")]
Budget = Annotated[str, typer.Option("--budget", "-b", rich_help_panel=TRAINING, help="tiny, small, medium or full (train images, epochs, batch, width).")]
Seed = Annotated[int, typer.Option(rich_help_panel=TRAINING, help="Random seed: fixes model init, data order and noise.")]
DataDir = Annotated[Optional[str], typer.Option(rich_help_panel=TRAINING, help="Data folder \\[default: $ACTSEARCH_DATA, else ~/.cache/actsearch/data].")]
Epochs = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's epochs.")]
BatchSize = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's batch size.")]
TrainSubset = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's number of training images.")]
TestSubset = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="Override the budget's number of test images scored each epoch.")]
Width = Annotated[Optional[float], typer.Option(rich_help_panel=TRAINING, help="Override the budget's model width multiplier.")]
Optimizer = Annotated[str, typer.Option(rich_help_panel=TRAINING, help="adam (lr 1e-3, the N-ReLU seed's), adamw or sgd (Nesterov).")]
Lr = Annotated[Optional[float], typer.Option(rich_help_panel=TRAINING, help="Learning rate \\[default: the optimizer's].")]
LrSchedule = Annotated[str, typer.Option(rich_help_panel=TRAINING, help="constant or cosine.")]
Device = Annotated[str, typer.Option(rich_help_panel=TRAINING, help="auto (CUDA when present, else CPU), cpu, cuda or mps.")]
Threads = Annotated[Optional[int], typer.Option(rich_help_panel=TRAINING, help="CPU threads \\[default: all cores].")]
Amp = Annotated[bool, typer.Option(rich_help_panel=TRAINING, help="bf16 autocast.")]
Compile = Annotated[Optional[bool], typer.Option("--compile/--no-compile", rich_help_panel=TRAINING, help="torch.compile the activation kernels: faster on big tensors, seconds of warm-up \\[default: on when a batch sends >= 1M elements through activations].")]
Target = Annotated[float, typer.Option(rich_help_panel=TRAINING, help="Accuracy (%) for the epochs-to-target column.")]


TRAIN_OPTIONS = {  # shared by every command that trains: name -> (annotation, default)
    "model": (Model, None),
    "budget": (Budget, "small"),
    "seed": (Seed, 0),
    "data_dir": (DataDir, None),
    "epochs": (Epochs, None),
    "batch_size": (BatchSize, None),
    "train_subset": (TrainSubset, None),
    "test_subset": (TestSubset, None),
    "width": (Width, None),
    "optimizer": (Optimizer, "adam"),
    "lr": (Lr, None),
    "lr_schedule": (LrSchedule, "constant"),
    "device": (Device, "auto"),
    "threads": (Threads, None),
    "amp": (Amp, False),
    "compile": (Compile, None),
}


def with_train_options(command: Callable) -> Callable:
    """Add the shared training options to a command, which receives them, with its --task and
    (where it has one) --target, as one checked TrainConfig ``base``."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "base"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, (annotation, default) in TRAIN_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs):
        from actsearch.training.config import TrainConfig

        train = {name: kwargs.pop(name) for name in TRAIN_OPTIONS}
        if "target" in kwargs:
            train["target"] = kwargs["target"]
        base = TrainConfig(task=kwargs["task"], **train)
        base.resolved()  # refuse bad values before any work
        return command(base=base, **kwargs)

    params = own + shared
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def parse_sets(pairs: list[str]) -> dict:
    """``--set T=1.2 --set shape=cubic`` -> {"T": 1.2, "shape": "cubic"} (values typed as YAML)."""
    import yaml

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
    """Train one candidate activation with a proxy job and print its scores."""
    from actsearch.activations import activation_config_from_file, validate_config
    from actsearch.results import append_result
    from actsearch.training.trainer import get_dataset, train

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
        append_result(run_dir, result.record())
    from actsearch.analysis.report import train_summary

    console.print(train_summary(result))
    if result.status == "diverged":
        err_console.print(f"[yellow]diverged:[/] {result.reason}")


Objectives = Annotated[str, typer.Option(help="accuracy,COST with COST one of activation_flops, model_flops, latency, dead_ratio.")]
RunDir = Annotated[Optional[str], typer.Option(help="Run folder; an existing one resumes \\[default: a new dated folder under runs/].")]
Space = Annotated[str, typer.Option("--space", "-s", help="Shipped space name (see `actsearch spaces`) or a YAML file.")]


@app.command("tune")
@friendly_errors
@with_train_options
def tune_command(
    task: Task = "digits",
    space: Space = "bounded_negative",
    sampler: Annotated[str, typer.Option(help="tpe, nsga2, nsga3, gp or random.")] = "tpe",
    trials: Annotated[int, typer.Option(help="Finished trials the study should reach (a resumed run continues to it).")] = 30,
    timeout: Annotated[Optional[float], typer.Option(help="Stop starting new trials after this many seconds.")] = None,
    objectives: Objectives = "accuracy,activation_flops",
    warm_start: Annotated[bool, typer.Option(help="Try the seed papers' default points first.")] = True,
    prune: Annotated[bool, typer.Option(help="Stop candidates whose accuracy curve falls below the median.")] = True,
    confirm: Annotated[int, typer.Option(help="Extra seeds to re-train each front member with after the search.")] = 2,
    run_dir: RunDir = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (postgresql://, mysql://, sqlite:///, journal:PATH) shared by several processes or machines.")] = None,
    study: Annotated[str, typer.Option(help="Study name inside --storage.")] = "actsearch",
    workers: Annotated[int, typer.Option(help="Local worker processes on one study (CPU threads are split).")] = 1,
    base: Any = None,
) -> None:
    """Search a space with Optuna for the best accuracy / cost trade-off, then report and confirm the front."""
    from actsearch.analysis.report import front_table
    from actsearch.search.tune import TuneSettings, tune
    from actsearch.training.trainer import get_dataset

    settings = TuneSettings(
        space=space, train=base, objectives=objectives, prune=prune, warm_start=warm_start,
        confirm=confirm, run_dir=run_dir, sampler=sampler, trials=trials, timeout=timeout,
        storage=storage, study=study, workers=workers,
    )
    with console.status(f"loading {task}"):
        get_dataset(task, base.data_dir)
    with progress.trials(console) as (on_progress, on_stop):
        search, analysis = tune(settings, progress=on_progress, on_stop_request=on_stop)
    console.print(front_table(analysis))
    console.print(f"run folder: {search.run_dir}  (actsearch report / export {search.run_dir})")


@app.command("evolve")
@friendly_errors
@with_train_options
def evolve_command(
    task: Task = "digits",
    space: Space = "bounded_negative",
    population: Annotated[int, typer.Option(help="Individuals per generation (a multiple of 4).")] = 16,
    generations: Annotated[int, typer.Option(help="Generations to reach (a resumed run continues to it).")] = 10,
    cxpb: Annotated[float, typer.Option(help="Probability that a pair of parents is crossed over.")] = 0.9,
    mutpb: Annotated[float, typer.Option(help="Probability that a child is mutated.")] = 1.0,
    objectives: Objectives = "accuracy,activation_flops",
    warm_start: Annotated[bool, typer.Option(help="Seed the first population with the seed papers' default points.")] = True,
    confirm: Annotated[int, typer.Option(help="Extra seeds to re-train each front member with at the end.")] = 2,
    workers: Annotated[int, typer.Option(help="Processes evaluating a generation in parallel (CPU threads are split).")] = 1,
    run_dir: RunDir = None,
    base: Any = None,
) -> None:
    """Evolve a space with DEAP's NSGA-II; checkpointed every generation, resumable, same report and export as tune."""
    from actsearch.analysis.report import front_table, logbook_table
    from actsearch.search.evolve import EvolveSettings, evolve
    from actsearch.training.trainer import get_dataset

    settings = EvolveSettings(
        space=space, train=base, objectives=objectives, prune=False, warm_start=warm_start,
        confirm=confirm, run_dir=run_dir, population=population, generations=generations, cxpb=cxpb,
        mutpb=mutpb, workers=workers,
    )
    with console.status(f"loading {task}"):
        get_dataset(task, base.data_dir)
    with progress.generations(console, generations, population) as (update, on_stop):
        search, analysis, logbook = evolve(settings, progress=update, on_stop_request=on_stop)
    console.print(logbook_table(logbook, analysis.objective))
    console.print(front_table(analysis))
    console.print(f"run folder: {search.run_dir}  (actsearch report / export {search.run_dir})")


@app.command("compare")
@friendly_errors
@with_train_options
def compare_command(
    task: Task = "digits",
    activations: Annotated[Optional[str], typer.Option("--activations", "-a", help="Comma-separated names, e.g. relu,gelu,mish,r_relu,sr_relu.")] = None,
    config: Annotated[Optional[list[str]], typer.Option("--config", "-c", help="Exported YAML candidate to add (repeatable).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per activation (same data order per seed for all).")] = 3,
    preset: Annotated[Optional[str], typer.Option(help="nrelu: the N-ReLU seed's protocol (MLP and CNN, Adam 1e-3, batch 128, 8 epochs, its 9 activations).")] = None,
    models: Annotated[Optional[str], typer.Option(help="Comma-separated models \\[default: the task's, or the preset's].")] = None,
    run_dir: RunDir = None,
    target: Target = 90.0,
    base: Any = None,
) -> None:
    """Train activations under identical settings over seeds: the seed papers' tables, with a Welch t-test against ReLU."""
    from actsearch.analysis.compare import PRESETS, candidates, compare, headers, row_cells
    from actsearch.training.config import DEFAULT_MODEL
    from actsearch.training.trainer import get_dataset

    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}'; choose one of: {', '.join(PRESETS)}")
        p = PRESETS[preset]
        entries = p["activations"] + (candidates(activations, config) if activations or config else [])
        model_list = p["models"]
        base = replace(base, budget=p["budget"], optimizer=p["optimizer"],
                       **{k: p[k] for k in ("epochs", "batch_size", "lr") if getattr(base, k) is None})
    else:
        entries = candidates(activations, config)
        model_list = [base.model or DEFAULT_MODEL.get(task, "mlp")]
    with console.status(f"loading {task}"):
        get_dataset(task, base.data_dir)
    with progress.steps(console) as on_step:
        folder, rows = compare(base, model_list, entries, seeds, run_dir, on_step)
    table = Table(title=f"{task}: {len(entries)} activations x {seeds} seed(s) - {folder}")
    for h in headers(target):
        table.add_column(h, justify="left" if h in ("model", "activation") else "right")
    for row in rows:
        table.add_row(*row_cells(row, target))
    console.print(table)
    console.print(f"written: {folder / 'results.jsonl'}, {folder / 'comparison.md'}")


@app.command("fidelity")
@friendly_errors
def fidelity_command(
    task: Task = "digits",
    space: Space = "bounded_negative",
    candidates: Annotated[int, typer.Option(help="Candidates sampled from the space.")] = 12,
    low: Annotated[str, typer.Option(help="The cheap proxy budget a search would use.")] = "tiny",
    high: Annotated[str, typer.Option(help="The longer training it should agree with.")] = "medium",
    model: Model = None,
    seed: Seed = 0,
    run_dir: RunDir = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    threads: Threads = None,
) -> None:
    """Check that a cheap proxy ranks candidates as a longer training does (Kendall's tau, Spearman's rho)."""
    from actsearch.training.config import TrainConfig
    from actsearch.analysis.fidelity import fidelity
    from actsearch.training.trainer import get_dataset

    base = TrainConfig(task=task, model=model, seed=seed, data_dir=data_dir, device=device, threads=threads)
    with console.status(f"loading {task}"):
        get_dataset(task, data_dir)
    with progress.steps(console) as on_step:
        result = fidelity(base, space, candidates, low, high, run_dir, on_step)
    table = Table(title=f"Proxy fidelity on {task}: {low} vs {high} - {result.run_dir}")
    for col in ("candidate", f"{low} acc %", f"{high} acc %"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for row in sorted(result.rows, key=lambda r: -r["high"]):
        table.add_row(row["label"], f"{row['low']:.2f}", f"{row['high']:.2f}")
    table.caption = (f"Kendall tau {result.tau:.3f} (p={result.tau_p:.3g}), Spearman rho {result.rho:.3f} "
                     f"(p={result.rho_p:.3g})")
    console.print(table)
    console.print(f"verdict: {result.verdict}")


@app.command("plot")
@friendly_errors
def plot_command(
    run_dir: Annotated[Optional[str], typer.Argument(help="A tune or evolve run folder.")] = None,
    config: Annotated[Optional[str], typer.Option("--config", "-c", help="Draw one exported activation instead.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="PNG for --config \\[default: beside the YAML].")] = None,
) -> None:
    """Write PNGs: the Pareto front, and f(x), f'(x) on [-4, 3] of the front against ReLU and GELU."""
    from pathlib import Path

    from actsearch.activations import activation_config_from_file
    from actsearch.analysis.front import analyse
    from actsearch.analysis.plot import plot_curves, plot_run
    from actsearch.activations import describe

    if (run_dir is None) == (config is None):
        raise ConfigError("give either a RUN_DIR or --config FILE")
    if config:
        act = activation_config_from_file(config)
        target = Path(out) if out else Path(config).with_suffix(".png")
        written = [plot_curves([(describe(act), act)], target, str(config))]
    else:
        written = plot_run(analyse(run_dir))
    for path in written:
        console.print(f"wrote {path}")


@app.command("report")
@friendly_errors
def report_command(run_dir: Annotated[str, typer.Argument(help="A folder written by tune or evolve.")]) -> None:
    """Print the Pareto front of a run: knee, hypervolume, trial counts, accuracy against ReLU."""
    from actsearch.analysis.front import analyse
    from actsearch.analysis.report import front_table

    analysis = analyse(run_dir)
    console.print(front_table(analysis))
    if analysis.skipped_lines:
        err_console.print(f"[yellow]warning:[/] skipped {len(analysis.skipped_lines)} damaged line(s) of "
                          f"results.jsonl: {analysis.skipped_lines[:5]}")


@app.command("export")
@friendly_errors
def export_command(
    run_dir: Annotated[str, typer.Argument(help="A folder written by tune or evolve.")],
    pick: Annotated[str, typer.Option(help="knee, best-accuracy, min-cost or trial:N.")] = "knee",
    out: Annotated[str, typer.Option("--out", "-o", help="YAML file to write.")] = "best.yaml",
) -> None:
    """Write the chosen activation as YAML that actsearch.load_activation() rebuilds."""
    from actsearch.analysis.export import export
    from actsearch.analysis.front import analyse

    doc = export(analyse(run_dir), pick, out)
    console.print(f"wrote {out}: trial {doc['provenance']['trial']}, {doc['activation']}")


@app.command("spaces")
@friendly_errors
def spaces_command() -> None:
    """List the shipped search spaces."""
    from actsearch.search.space import load_space, shipped_spaces

    table = Table(title="Search spaces (--space NAME, or a path to your own YAML)")
    for col in ("name", "activation", "parameters", "description"):
        table.add_column(col)
    for name in shipped_spaces():
        s = load_space(name)
        table.add_row(name, s.activation, ", ".join(d.name for d in s.dimensions), s.description)
    console.print(table)


def main() -> None:
    """The ``actsearch`` script. A bug outside any command (an import, a callback) still gets
    the last-resort line and exit code 1; inside a command ``friendly_errors`` handles it."""
    try:
        app()
    except Exception as exc:
        raise SystemExit(crash.handle(exc, console=err_console)) from None
