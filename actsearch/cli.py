"""The ``actsearch`` command line. It parses and validates, then calls library functions."""

from __future__ import annotations

import functools
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

import actsearch
from actsearch.errors import ActsearchError

app = typer.Typer(
    name="actsearch",
    help="Search the bounded-negative ReLU family (R-ReLU, SR-ReLU, N-ReLU, CRReLU) for your task.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def friendly_errors(command: Callable) -> Callable:
    """Turn an ActsearchError into one red line on stderr and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ActsearchError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

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
Model = Annotated[Optional[str], typer.Option(help="mlp, cnn, resnet or vit [default: mlp for digits/MNISTs, cnn for CIFAR].")]
Budget = Annotated[str, typer.Option("--budget", "-b", help="tiny, small, medium or full (train images, epochs, batch, width).")]
Seed = Annotated[int, typer.Option(help="Random seed: fixes model init, data order and noise.")]
DataDir = Annotated[Optional[str], typer.Option(help="Data folder [default: $ACTSEARCH_DATA, else ~/.cache/actsearch/data].")]
Epochs = Annotated[Optional[int], typer.Option(help="Override the budget's epochs.")]
BatchSize = Annotated[Optional[int], typer.Option(help="Override the budget's batch size.")]
TrainSubset = Annotated[Optional[int], typer.Option(help="Override the budget's number of training images.")]
Width = Annotated[Optional[float], typer.Option(help="Override the budget's model width multiplier.")]
Optimizer = Annotated[str, typer.Option(help="adam (lr 1e-3, the N-ReLU seed's), adamw or sgd (Nesterov).")]
Lr = Annotated[Optional[float], typer.Option(help="Learning rate [default: the optimizer's].")]
LrSchedule = Annotated[str, typer.Option(help="constant or cosine.")]
Device = Annotated[str, typer.Option(help="auto (CUDA when present, else CPU), cpu, cuda or mps.")]
Threads = Annotated[Optional[int], typer.Option(help="CPU threads [default: all cores].")]
Amp = Annotated[bool, typer.Option(help="bf16 autocast.")]
Compile = Annotated[bool, typer.Option(help="torch.compile the activation kernels (faster on big tensors; seconds of warm-up).")]
Target = Annotated[float, typer.Option(help="Accuracy (%) for the epochs-to-target column.")]


def train_config(**kwargs) -> "TrainConfig":
    from actsearch.config import TrainConfig

    return TrainConfig(**kwargs).resolved()


def parse_sets(pairs: list[str]) -> dict:
    """``--set T=1.2 --set shape=cubic`` -> {"T": 1.2, "shape": "cubic"} (values typed as YAML)."""
    import yaml

    from actsearch.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} is not KEY=VALUE; write e.g. --set T=1.2")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


@app.command("train")
@friendly_errors
def train_command(
    task: Task = "digits",
    activation: Annotated[str, typer.Option("--activation", "-a", help="Activation name (see `actsearch activations`).")] = "relu",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Activation parameter KEY=VALUE (repeatable).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", "-c", help="Exported YAML file whose activation to train.")] = None,
    model: Model = None,
    budget: Budget = "small",
    seed: Seed = 0,
    data_dir: DataDir = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    train_subset: TrainSubset = None,
    width: Width = None,
    optimizer: Optimizer = "adam",
    lr: Lr = None,
    lr_schedule: LrSchedule = "constant",
    device: Device = "auto",
    threads: Threads = None,
    amp: Amp = False,
    compile: Compile = False,
    target: Target = 90.0,
    run_dir: Annotated[Optional[str], typer.Option(help="Append the result to RUN_DIR/results.jsonl.")] = None,
) -> None:
    """Train one candidate activation with a proxy job and print its scores."""
    from actsearch.activations import activation_config_from_file, validate_config
    from actsearch.results import append_result
    from actsearch.trainer import get_dataset, train

    if config:
        act = activation_config_from_file(config)
        if set_:
            act = validate_config({**act, **parse_sets(set_)})
    else:
        act = validate_config({"name": activation, **parse_sets(set_ or [])})
    cfg = train_config(
        task=task, activation=act, model=model, budget=budget, seed=seed, data_dir=data_dir,
        epochs=epochs, batch_size=batch_size, train_subset=train_subset, width=width,
        optimizer=optimizer, lr=lr, lr_schedule=lr_schedule, device=device, threads=threads,
        amp=amp, compile=compile, target=target,
    )
    with console.status(f"loading {task}"):
        get_dataset(cfg.task, cfg.data_dir)
    with epoch_progress(cfg.epochs) as advance:
        result = train(cfg, callback=advance)
    if run_dir:
        append_result(run_dir, result.record())
    from actsearch.report import train_summary

    console.print(train_summary(result))
    if result.status == "diverged":
        err_console.print(f"[yellow]diverged:[/] {result.reason}")


def epoch_progress(epochs: int):
    """A context giving a per-epoch callback that advances a rich progress bar."""
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextlib.contextmanager
    def bar():
        with Progress(
            TextColumn("epochs"), BarColumn(), MofNCompleteColumn(), TextColumn("acc {task.fields[acc]}"),
            TimeElapsedColumn(), console=console, transient=True,
        ) as progress:
            task_id = progress.add_task("train", total=epochs, acc="-")

            def advance(epoch: int, acc: float) -> None:
                progress.update(task_id, completed=epoch, acc=f"{acc:.2f}%")

            yield advance

    return bar()


def main() -> None:
    app()
