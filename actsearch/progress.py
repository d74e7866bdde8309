"""Progress for long work: epochs of one job, a search's phases, lists of jobs.

Each is a context manager yielding the callback(s) the library calls as work advances. On a
terminal they draw rich bars (phase named, counts, ETA; a bar ends at its total). When stdout is
not a terminal (a log file, nohup, SLURM, CI) they print plain lines instead, flushed at once so
``tail -f`` follows the run: one line per finished trial (as Optuna's own logging does) and a
status line every ``STATUS_EVERY`` seconds while work runs (as Ray Tune's reporter does in batch
logs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

STATUS_EVERY = float(os.environ.get("ACTSEARCH_STATUS_EVERY", 30))  # seconds between status lines in logs

ORDER = {"loading": 0, "baseline": 1, "search": 2, "racing": 3, "holdout": 4}
PHASES = {"loading": "loading data", "baseline": "ReLU baseline", "search": "search",
          "racing": "racing the front", "holdout": "held-out seeds"}


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


def _bar(console: Console, label: str, fields: str, transient: bool, eta: bool = False) -> Progress:
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(fields), TimeElapsedColumn()]
    if eta:
        columns += [TextColumn("eta"), TimeRemainingColumn()]
    return _LazyProgress(*columns, console=console, transient=transient)


def _stop_notice(console: Console, unit: str) -> Callable[[], None]:
    def on_stop() -> None:
        console.print(f"[yellow]Ctrl-C: stopping after the current {unit} (Ctrl-C again to abort)[/]")

    return on_stop


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class _Lines:
    """Plain flushed lines to a file (stdout by default), safe from several threads."""

    def __init__(self, file=None):
        self.file = file
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            out = self.file or sys.stdout
            out.write(text + "\n")
            out.flush()


@contextlib.contextmanager
def epochs(console: Console, total: int) -> Iterator[Callable[[int, float], None]]:
    """One training job: yields the trainer's per-epoch callback (epoch, accuracy)."""
    if not console.is_terminal:
        say = _Lines(console.file)
        yield lambda epoch, acc: say(f"epoch {epoch}/{total}: test accuracy {acc:.2f}%")
        return
    with _bar(console, "epochs", "acc {task.fields[acc]}", transient=True) as progress:
        task = progress.add_task("train", total=total, acc="-")
        yield lambda epoch, acc: progress.update(task, completed=epoch, acc=f"{acc:.2f}%")


def _best(event: dict[str, Any]) -> str:
    best = event.get("best")
    return "-" if best is None else f"{best:+.2f}"


def _counts(event: dict[str, Any]) -> str:
    """``0 failed, 2 pruned`` (and infeasible when a --max-cost made any)."""
    keys = ("failed", "pruned", "infeasible") if event.get("infeasible") else ("failed", "pruned")
    return ", ".join(f"{event.get(k) or 0} {k}" for k in keys)


def trial_line(event: dict[str, Any], elapsed: float) -> str:
    """One finished trial, for a log: number, status, validation accuracy and its difference
    from ReLU on the same seed, cost, best so far and the counts."""
    r = event["trial"]
    total = event.get("total")
    of = f"{event.get('done', 0)}/{total}" if total else f"{event.get('done', 0)}"
    status = r.get("status", "?") + (" (already scored)" if r.get("reused") else "")
    acc = "-" if r.get("val_acc") is None else f"{r['val_acc']:.2f}%"
    cost = "-" if r.get("activation_flops") is None else f"{r['activation_flops']:,}"
    reason = f" ({r['reason']})" if r.get("reason") and r.get("status") != "ok" else ""
    return (f"trial {r.get('trial')} {status}{reason} | val acc {acc} | act FLOPs {cost} | "
            f"{r.get('activation', '')} | best val Δ ReLU {_best(event)} (search seed) | "
            f"{of} done, {_counts(event)} | {_clock(elapsed)}")


class _SearchLog:
    """The plain-line view of a search for logs."""

    def __init__(self, console: Console):
        self.say = _Lines(console.file)
        self.start = time.monotonic()
        self.phase: str | None = None
        self.phase_start = self.start
        self.starts: dict[str, float] = {}
        self.last: dict[str, Any] = {}
        self.seen_search = False
        self.said_search = False  # the search's "n candidate(s)" line: once, then one line per trial
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._status_loop, daemon=True)

    def _eta(self) -> str:
        total, done = self.last.get("total"), self.last.get("done") or 0
        if not total or not done or done >= total:
            return ""
        per = (time.monotonic() - self.phase_start) / done
        return f", eta {_clock(per * (total - done))}"

    def status(self) -> str:
        e = self.last
        if not e:
            return f"status: starting | {_clock(time.monotonic() - self.start)} elapsed"
        total = e.get("total")
        of = f"{e.get('done', 0)}/{total}" if total else f"{e.get('done', 0)}"
        counts = f", {_counts(e)}" if self.phase == "search" else ""
        best = f" | best val Δ ReLU {_best(e)}" if self.phase == "search" else ""
        return (f"status: {PHASES.get(self.phase, self.phase)} {of}{counts}{best} | "
                f"{_clock(time.monotonic() - self.start)} elapsed{self._eta()}")

    def _status_loop(self) -> None:
        while not self.stop.wait(STATUS_EVERY):
            self.say(self.status())

    def on_event(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        elapsed = time.monotonic() - self.start
        if phase == "done":
            if not self.seen_search:
                self.say("search: nothing left to do: the run folder already holds every trial asked for "
                         "(raise --trials or --generations to search further)")
            how = "stopped (rerun the same command to resume)" if event.get("interrupted") else "finished"
            self.say(f"run {how} after {_clock(elapsed)}")
            return
        if phase in ("racing", "holdout") and not self.seen_search:
            self.seen_search = True
            self.say("search: nothing left to do: the run folder already holds every trial asked for "
                     "(raise --trials or --generations to search further)")
        if phase != self.phase:  # a phase's ETA counts from its first event (racing interleaves baselines)
            self.phase, self.phase_start = phase, self.starts.setdefault(phase, time.monotonic())
        if phase == "search":
            self.seen_search = True
        self.last = event
        if event.get("trial") is not None:
            self.say(trial_line(event, elapsed))
        elif event.get("message") and not (phase == "search" and self.said_search):
            self.said_search = self.said_search or phase == "search"
            total = event.get("total")
            of = f" {event.get('done', 0)}/{total}" if total else ""
            self.say(f"{PHASES.get(phase, phase)}{of}: {event['message']} | {_clock(elapsed)}")
        elif event.get("total") and event.get("done") == event.get("total"):
            self.say(f"{PHASES.get(phase, phase)}: {event['done']}/{event['total']} done | {_clock(elapsed)}")


class _SearchBars:
    """The terminal view of a search: one bar per phase, each ended at its total when the next
    phase starts."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}
        self.finished: set[str] = set()
        self.phase: str | None = None
        self.seen_search = False

    def _finish(self, phase: str | None) -> None:
        """End a phase's bar at what it did: a phase may end before its first estimate (no more
        proposals, every racing member decided), and a bar must not stay half full."""
        if phase is None or phase not in self.tasks:
            return
        done = int(self.progress._tasks[self.tasks[phase]].completed)
        self.progress.update(self.tasks[phase], total=done, completed=done, description=PHASES.get(phase, phase))

    def on_event(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        if phase == "search":
            if not self.seen_search and event.get("total") == 0 and event.get("message"):
                self.progress.console.print(f"search: {event['message']}", highlight=False, markup=False)
            self.seen_search = True
        if phase in ("racing", "holdout", "done") and not self.seen_search:
            self.seen_search = True
            self.progress.console.print("search: nothing left to do: the run folder already holds every trial "
                                        "asked for (raise --trials or --generations to search further)")
        if phase == "done":
            if not event.get("interrupted"):
                for started in list(self.tasks):
                    self._finish(started)
            return
        # phases before this one are over; a baseline event during racing (a new ReLU seed) is not
        for started in list(self.tasks):
            if ORDER.get(started, 0) < ORDER.get(phase, 0) and started not in self.finished:
                self._finish(started)
                self.finished.add(started)
        self.phase = phase
        name = PHASES.get(phase, phase)
        total = event.get("total")
        done = event.get("done", 0)
        if total is not None and done > total:  # never draw 12/5: the bar grows to what was done
            total = done
        if phase == "search":
            fields = f"{_counts(event)}  best val Δ ReLU {_best(event)}"
        else:
            fields = ""
        message = event.get("message") if event.get("trial") is None and phase != "search" else None
        description = name + (f": {message}" if message else "")
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(description, total=total, fields=fields)
        else:
            description = description if message else self.progress._tasks[self.tasks[phase]].description
        self.progress.update(self.tasks[phase], completed=done, total=total, fields=fields, description=description)


@contextlib.contextmanager
def search(console: Console, unit: str) -> Iterator[tuple[Callable[[dict], None], Callable[[], None]]]:
    """A search (tune or evolve): yields (on_event for ``Search.run``'s progress events, Ctrl-C
    notice). ``unit``: what Ctrl-C lets finish (a trial, a generation).

    On a terminal: one bar per phase (ReLU baseline, search, racing the front, held-out seeds),
    named, with done/total, failed/pruned/infeasible counts, the best validation difference from
    ReLU on the search seed, elapsed time and an ETA. Elsewhere: one flushed line per finished
    trial and per phase step, and a status line every STATUS_EVERY seconds."""
    if not console.is_terminal:
        log = _SearchLog(console)
        log.thread.start()
        try:
            yield log.on_event, _stop_notice(console, unit)
        finally:
            log.stop.set()
        return
    with _bar(console, "{task.description}", "{task.fields[fields]}", transient=False, eta=True) as progress:
        bars = _SearchBars(progress)
        yield bars.on_event, _stop_notice(console, unit)


@contextlib.contextmanager
def steps(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A fixed list of jobs (compare, fidelity): yields on_step(description, step, total)."""
    if not console.is_terminal:
        say, start = _Lines(console.file), time.monotonic()
        yield lambda description, step, total: say(
            f"{step}/{total}: {description} | {_clock(time.monotonic() - start)}")
        return
    with _bar(console, "{task.description}", "", transient=True, eta=True) as progress:
        task = progress.add_task("training", total=None)
        yield lambda description, step, total: progress.update(
            task, description=description, completed=step - 1, total=total)
