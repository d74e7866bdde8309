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


def main() -> None:
    app()
