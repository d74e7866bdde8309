"""Kill a tune at random moments, resume it each time, and check the run folder at the end.

    python benchmarks/kill_loop.py                           # 50 kills, 8 trials, tiny digits jobs
    python benchmarks/kill_loop.py --kills 100 --trials 12 --repair

Each round starts (or resumes) `actsearch tune` in a subprocess and kills it at a random moment:
either SIGKILL after a random delay, or at a random write point through the fault hook
(ACTSEARCH_FAULT=N:kill, which dies just before that write of results.jsonl, run.yaml, .lock or
a statement of study.db; N random). When the target number of kills is reached, one last resume
runs to the end (a round that reaches --trials before its kill is verified, and the loop
goes on in a new folder). Then, for each folder:

- the study holds exactly --trials distinct trials that count toward --trials, and no trial
  RUNNING;
- every line of results.jsonl is a whole record;
- study and log agree (same trial numbers, same parameters, same outcome: `actsearch check`);
- no trial has two search records (the report counts each trial once).

With --repair, `actsearch check --repair` runs before each resume (what the search backends do
once they call actsearch.check.fail_stale and reconcile on resume).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tune_command(run: Path, args) -> list[str]:
    return [sys.executable, "-m", "actsearch", "tune", "--task", "digits", "--budget", args.budget,
            "--epochs", str(args.epochs), "--threads", "1", "--trials", str(args.trials), "--confirm", "0",
            "--sampler", "random", "--seed", str(args.seed), "--run-dir", str(run)]


def env(fault: str | None = None) -> dict[str, str]:
    out = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out.pop("ACTSEARCH_FAULT", None)
    if fault:
        out["ACTSEARCH_FAULT"] = fault
    return out


def check(run: Path, repair: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "actsearch", "check", str(run)] + (["--repair"] if repair else [])
    return subprocess.run(cmd, env=env(), capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--budget", default="tiny")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="of the search and of the kill moments")
    parser.add_argument("--max-delay", type=float, default=12.0, help="longest SIGKILL delay, seconds")
    parser.add_argument("--max-write", type=int, default=120, help="highest write point a hook kill picks")
    parser.add_argument("--repair", action="store_true", help="run `actsearch check --repair` before each resume")
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    run = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="kill-loop-")) / "run"
    kills, finished_early, how, verdicts = 0, 0, Counter(), []
    started = time.time()
    while kills < args.kills:
        if args.repair and (run / "run.yaml").exists():
            check(run, repair=True)
        if rng.random() < 0.5:
            n = rng.randint(1, args.max_write)
            proc = subprocess.run(tune_command(run, args), env=env(f"{n}:kill"), capture_output=True, text=True)
            killed = proc.returncode == 137
            kind = "hook"
        else:
            delay = rng.uniform(0.5, args.max_delay)
            proc = subprocess.Popen(tune_command(run, args), env=env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            try:
                proc.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
            kind = "sigkill"
        if killed:
            kills += 1
            how[kind] += 1
        elif proc.returncode == 0:  # reached --trials before its kill: verify it, go on in a new folder
            finished_early += 1
            print(f"round ended before its kill (exit 0) after {kills} kills so far; its folder:")
            verdicts.append(summarize(run, args.trials))
            run = run.parent / f"run{finished_early}"
        else:
            err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.read()
            print(f"a resume failed with exit {proc.returncode}:\n{err[-2000:]}")
            return 1
    if args.repair:
        check(run, repair=True)
    last = subprocess.run(tune_command(run, args), env=env(), capture_output=True, text=True)
    print(f"{kills} kills ({how['sigkill']} SIGKILL at a random moment, {how['hook']} at a random write point), "
          f"{finished_early} round(s) finished before their kill; {time.time() - started:.0f} s")
    print(f"final resume: exit {last.returncode}" + (f"\n{last.stderr[-2000:]}" if last.returncode else ""))
    verdicts.append(summarize(run, args.trials))
    print(f"{len(verdicts)} run folder(s), {sum(v == 0 for v in verdicts)} passing every check")
    return max(verdicts)


def summarize(run: Path, trials: int) -> int:
    import optuna

    sys.path.insert(0, str(ROOT))
    from actsearch.results import read_results

    study = optuna.load_study(study_name="actsearch", storage=f"sqlite:///{run}/study.db")
    states = Counter(t.state.name for t in study.trials)
    counted = states["COMPLETE"] + states["PRUNED"]  # today's count; with the contracts refactor, + FAIL
    records, bad = read_results(run)
    search = Counter(r["trial"] for r in records if r.get("role") == "search")
    doubled = sorted(n for n, c in search.items() if c > 1)
    finished = {t.number for t in study.trials if t.state.is_finished()}
    checked = check(run)
    results = {
        f"trials counting toward --trials == {trials}": counted == trials,
        "no trial left RUNNING": states["RUNNING"] == 0,
        "every line of results.jsonl is a whole record": not bad,
        "study and log hold the same trial numbers": finished == set(search),
        "no trial has two search records": not doubled,
        "actsearch check passes": checked.returncode == 0,
    }
    print(f"run folder: {run}")
    print(f"study: {dict(states)}; log: {len(records)} records, {len(search)} distinct search trials, "
          f"damaged lines {bad[:10]}, trials with two records {doubled[:10]}")
    for name, ok in results.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    if checked.returncode:
        print("  check says:\n    " + checked.stdout.strip().replace("\n", "\n    "))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
