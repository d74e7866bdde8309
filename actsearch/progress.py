"""Rich progress bars for long work: epochs of one job, trials, generations, lists of jobs.

Each is a context manager yielding the callback(s) the library calls as work advances.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _LazyProgress(Progress):
    """Shown from its first update on, so an error raised while a command sets up prints alone."""

    def __enter__(self) -> _LazyProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.live.is_started:
            self.stop()

    def update(self, *args, **kwargs) -> None:
        if not self.live.is_started:
            self.start()
        super().update(*args, **kwargs)


def _bar(console: Console, label: str, fields: str, transient: bool) -> Progress:
    return _LazyProgress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(fields),
                         TimeElapsedColumn(), console=console, transient=transient)


def _stop_notice(progress: Progress, unit: str) -> Callable[[], None]:
    def on_stop() -> None:
        progress.console.print(f"[yellow]Ctrl-C: stopping after the current {unit} (Ctrl-C again to abort)[/]")

    return on_stop


@contextlib.contextmanager
def epochs(console: Console, total: int) -> Iterator[Callable[[int, float], None]]:
    """One training job: yields the trainer's per-epoch callback (epoch, accuracy)."""
    with _bar(console, "epochs", "acc {task.fields[acc]}", transient=True) as progress:
        task = progress.add_task("train", total=total, acc="-")
        yield lambda epoch, acc: progress.update(task, completed=epoch, acc=f"{acc:.2f}%")


@contextlib.contextmanager
def trials(console: Console) -> Iterator[tuple[Callable[[dict], None], Callable[[], None]]]:
    """A tune search: yields (update with done/total/best_acc/front, Ctrl-C notice)."""
    with _bar(console, "trials", "best {task.fields[best]}  front {task.fields[front]}", transient=False) as progress:
        task = progress.add_task("search", total=None, best="-", front=0)

        def update(state: dict) -> None:
            best = "-" if state["best_acc"] is None else f"{state['best_acc']:.2f}%"
            progress.update(task, completed=state["done"], total=state["total"], best=best, front=state["front"])

        yield update, _stop_notice(progress, "trial")


@contextlib.contextmanager
def generations(console: Console, total: int, population: int):
    """An evolve run: yields (update with generation/done/total[/front/hypervolume], Ctrl-C notice)."""
    label = "generation {task.fields[gen]}/" + str(total)
    with _bar(console, label, "front {task.fields[front]}  hypervolume {task.fields[hv]}", transient=False) as progress:
        task = progress.add_task("evolve", total=population, gen=0, front="-", hv="-")

        def update(state: dict) -> None:
            fields = {"gen": state.get("generation", 0)}
            if "hypervolume" in state:
                fields.update(front=state["front"], hv=f"{state['hypervolume']:,.0f}")
            progress.update(task, completed=state.get("done", 0), total=state.get("total") or population, **fields)

        yield update, _stop_notice(progress, "generation")


@contextlib.contextmanager
def steps(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A fixed list of jobs (compare, fidelity): yields on_step(description, step, total)."""
    with _bar(console, "{task.description}", "", transient=True) as progress:
        task = progress.add_task("training", total=None)
        yield lambda description, step, total: progress.update(
            task, description=description, completed=step - 1, total=total)
