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


PHASES = {"baseline": "ReLU baseline", "search": "search", "racing": "racing the front",
          "holdout": "held-out seeds"}


@contextlib.contextmanager
def search(console: Console, unit: str) -> Iterator[tuple[Callable[[dict], None], Callable[[], None]]]:
    """A search (tune or evolve): yields (on_event for ``Search.run``'s progress events, Ctrl-C
    notice). One bar per phase on a terminal; when stdout is not a terminal (a log file, nohup,
    a batch queue), one flushed line per finished trial and per phase instead. ``unit``: what
    Ctrl-C lets finish (a trial, a generation)."""
    fields = "{task.fields[counts]}  best {task.fields[best]}"
    with _bar(console, "{task.description}", fields, transient=False) as progress:
        tasks: dict[str, int] = {}

        def on_event(event: dict) -> None:
            phase = event["phase"]
            if phase == "done" or phase not in PHASES:
                return
            best = "-" if event.get("best") is None else f"{event['best']:+.2f} vs ReLU"
            counts = ", ".join(f"{event[k]} {k}" for k in ("failed", "pruned", "infeasible") if event.get(k))
            if not console.is_terminal:
                trial = event.get("trial")
                if trial is not None:
                    acc = "-" if trial.get("val_acc") is None else f"val {trial['val_acc']:.2f}%"
                    print(f"trial {trial['trial']}: {trial['status']} {acc} {trial.get('activation', '')} | "
                          f"best {best}", flush=True)
                elif event.get("message"):
                    print(f"{PHASES[phase]}: {event['message']}", flush=True)
                return
            if phase not in tasks:
                tasks[phase] = progress.add_task(PHASES[phase], total=event.get("total"), counts="", best="-")
            progress.update(tasks[phase], completed=event.get("done", 0), total=event.get("total"),
                            counts=counts, best=best if phase == "search" else "-",
                            description=f"{PHASES[phase]}" + (f": {event['message']}" if event.get("message") else ""))

        yield on_event, _stop_notice(progress, unit)


@contextlib.contextmanager
def steps(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A fixed list of jobs (compare, fidelity): yields on_step(description, step, total)."""
    with _bar(console, "{task.description}", "", transient=True) as progress:
        task = progress.add_task("training", total=None)
        yield lambda description, step, total: progress.update(
            task, description=description, completed=step - 1, total=total)
