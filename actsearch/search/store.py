"""The records of a search whose Optuna study lives in a shared database (``tune --storage URL``).

When several processes on several machines run one study, the database is the truth and each
run folder's ``results.jsonl`` is only that process's log. Everything ``report``, ``export``,
``plot`` and racing need is in the same database:

- a search record is the trial's user attribute ``record`` (written before the trial is told,
  with Optuna's own storage calls, so in the same transactions Optuna writes trials);
- baseline, confirm and holdout records are rows of ``actsearch_records`` beside Optuna's tables;
- ``actsearch_jobs`` holds one row per (activation config, seed) training job of the study: a
  claim while a process trains it (kept alive by a heartbeat counter), then its scores. A job
  another process has claimed is waited for, not trained again; a claim whose owner stopped
  beating (killed, or dead on this host) is taken over.
- the run's settings are the study user attribute ``actsearch`` (with task, budget, space and
  objectives as readable attributes for optuna-dashboard).

``read_study_records(url, study)`` gives ``(records, settings)`` for ``analyse_records``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from actsearch.errors import ConfigError

SETTINGS_ATTR = "actsearch"  # study user attribute: the run identity every process must share
RECORD_ATTR = "record"  # trial user attribute: the search record
HEARTBEAT = 10  # seconds between heartbeats of a process's running trials and claimed jobs
GRACE = 60  # seconds without a heartbeat after which a trial or a claim is taken as dead
POLL = 1.0  # seconds between looks at a job another process is training
MAX_WAIT = 7 * 24 * 3600  # a bound on waiting for one job of a process that keeps beating
SHARED_SCHEMES = ("postgresql", "mysql", "sqlite")
LOCK_KEY = 0x61637473  # "acts": the advisory lock that serialises schema creation, study setup and asks


def is_database(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0] in SHARED_SCHEMES


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: show only the scheme
        return url.split("://", 1)[0] + "://..."


def driver_hint(url: str) -> str:
    scheme = url.split(":", 1)[0]
    if scheme.startswith("postgresql"):
        if "psycopg2" in scheme:
            return 'install the psycopg2 driver (pip install psycopg2-binary), or use postgresql:// with psycopg 3'
        return 'install the PostgreSQL driver psycopg 3 (pip install "actsearch[postgres]", i.e. "psycopg[binary]")'
    if scheme.startswith("mysql"):
        return ('install a MySQL driver: pip install "actsearch[mysql]" (PyMySQL) and write the URL as '
                "mysql+pymysql://USER:PASSWORD@HOST/DB")
    return "install the database driver SQLAlchemy names for this URL"


def database_error(exc: BaseException, url: str, what: str = "open the study in") -> ConfigError:
    """One clear line for a database that cannot be reached, refuses the login, or lacks a driver."""
    if isinstance(exc, ImportError):
        return ConfigError(f"--storage {redact(url)}: no database driver ({exc}); {driver_hint(url)}")
    if type(exc).__name__ == "StorageInternalError" and exc.__cause__ is not None:  # Optuna wraps the cause
        exc = exc.__cause__
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    low = text.lower()
    if "password authentication failed" in low or "access denied" in low or "authentication failed" in low:
        hint = "check the user name and password in the URL"
    elif "does not exist" in low and "database" in low:
        hint = "create the database first (createdb NAME), or fix its name in the URL"
    elif url.startswith("sqlite"):
        hint = "check that the file's folder exists and is writable"
    elif any(s in low for s in ("connection refused", "could not connect", "timeout", "timed out",
                                "name or service not known", "can't connect", "no route", "unable to open")):
        hint = "check the host and port in the URL and that the database server is running"
    else:
        hint = "check the URL and that the database server is running"
    if len(text) > 300:
        text = text[:300] + "..."
    return ConfigError(f"cannot {what} {redact(url)}: {text}; {hint}")


# --- the tables beside Optuna's -----------------------------------------------------------------


def _tables():
    import sqlalchemy as sa

    metadata = sa.MetaData()
    jobs = sa.Table(
        "actsearch_jobs", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, nullable=False),
        sa.Column("job", sa.String(64), nullable=False),  # sha256 of the config key and seed
        sa.Column("owner", sa.String(300), nullable=False),  # host:pid:uuid of the process training it
        sa.Column("state", sa.String(16), nullable=False),  # running | done
        sa.Column("beats", sa.Integer, nullable=False, default=0),  # the owner's heartbeat counter
        sa.Column("record", sa.Text, nullable=True),  # the scores, once done
        sa.UniqueConstraint("study_id", "job", name="actsearch_jobs_study_job"),
    )
    records = sa.Table(
        "actsearch_records", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("trial", sa.Integer, nullable=False),  # -1: none (the baseline, ReLU and GELU held out)
        sa.Column("record", sa.Text, nullable=False),
        sa.UniqueConstraint("study_id", "role", "job", "trial", name="actsearch_records_unique"),
    )
    return metadata, jobs, records


METADATA, JOBS, RECORDS = _tables()


def job_key(activation: dict[str, Any] | str, seed: int) -> str:
    from actsearch.search.space import config_key

    key = activation if isinstance(activation, str) else config_key(activation)
    return hashlib.sha256(f"{key}|{seed}".encode()).hexdigest()


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


@contextlib.contextmanager
def database_lock(engine) -> Iterator[None]:
    """A lock across every process on the database (PostgreSQL advisory lock, MySQL GET_LOCK);
    SQLite serialises its writers itself, so there it is a no-op."""
    import sqlalchemy as sa

    dialect = engine.dialect.name
    if dialect not in ("postgresql", "mysql"):
        yield
        return
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        else:
            conn.execute(sa.text("SELECT GET_LOCK(:k, 600)"), {"k": f"actsearch-{LOCK_KEY}"})
        conn.commit()
        try:
            yield
        finally:
            if dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            else:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:k)"), {"k": f"actsearch-{LOCK_KEY}"})
            conn.commit()


def probe(url: str) -> bool:
    """Connect once, so an unreachable server, a refused login or a missing database or driver
    fail here with the driver's own words rather than deep inside Optuna. True when the
    database holds Optuna's tables."""
    import sqlalchemy as sa

    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        if not Path(url[len("sqlite:///"):]).is_file():
            return False
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return sa.inspect(conn).has_table("studies")
    finally:
        engine.dispose()


def create_tables(engine) -> None:
    """Our two tables, under the database lock so processes starting together do not race."""
    with database_lock(engine):
        METADATA.create_all(engine, checkfirst=True)


def _alive_here(owner: str) -> bool | None:
    """Whether the process named by an owner string lives; None when it runs on another host."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StudyStore:
    """One process's view of a database study: its records, job claims and heartbeats."""

    def __init__(self, storage, study_id: int, url: str, engine):
        self.storage = storage  # the Optuna storage (trial attributes, heartbeats)
        self.study_id = study_id
        self.url = url
        self.engine = engine
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.running_trials: set[int] = set()  # Optuna trial ids this process is scoring
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat_errors = 0

    # --- records ---------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        return study_records(self.storage, self.study_id, self.engine)

    def write(self, record: dict[str, Any]) -> None:
        """Store one record: a search record on its trial, any other in actsearch_records."""
        import sqlalchemy as sa
        import sqlalchemy.exc

        if record.get("role") == "search":
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, record["trial"])
            self.storage.set_trial_user_attr(trial_id, RECORD_ATTR, json.loads(_dumps(record)))
            return
        trial = record.get("trial")
        row = {"study_id": self.study_id, "role": record.get("role", "?"), "trial": -1 if trial is None else trial,
               "job": job_key(record["activation_config"], record.get("seed")), "record": _dumps(record)}
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(RECORDS).values(**row))
        except sqlalchemy.exc.IntegrityError:
            pass  # another process wrote the same (role, job, trial): one row is the truth

    # --- job claims ------------------------------------------------------------------------------

    def _row(self, job: str):
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return conn.execute(sa.select(JOBS.c.owner, JOBS.c.state, JOBS.c.beats, JOBS.c.record)
                                .where(JOBS.c.study_id == self.study_id, JOBS.c.job == job)).first()

    def _claim(self, job: str) -> tuple[str, Any]:
        """("done", record) | ("mine", None) | ("busy", (owner, beats))."""
        import sqlalchemy as sa
        import sqlalchemy.exc

        for _ in range(5):  # a lost insert race is answered by the row the winner wrote
            row = self._row(job)
            if row is None:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(sa.insert(JOBS).values(study_id=self.study_id, job=job, owner=self.owner,
                                                            state="running", beats=0))
                    return "mine", None
                except sqlalchemy.exc.IntegrityError:
                    continue
            if row.state == "done":
                return "done", json.loads(row.record)
            if row.owner == self.owner:
                return "mine", None
            if _alive_here(row.owner) is False and self._take_over(job, row.owner, row.beats):
                return "mine", None
            return "busy", (row.owner, row.beats)
        raise ConfigError(f"cannot claim a training job in {redact(self.url)}: the database keeps changing under it")

    def _take_over(self, job: str, owner: str, beats: int) -> bool:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            done = conn.execute(sa.update(JOBS).where(
                JOBS.c.study_id == self.study_id, JOBS.c.job == job, JOBS.c.owner == owner, JOBS.c.beats == beats,
                JOBS.c.state == "running").values(owner=self.owner, beats=0))
        return done.rowcount == 1

    def _finish(self, job: str, record: dict[str, Any]) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.update(JOBS).where(JOBS.c.study_id == self.study_id, JOBS.c.job == job,
                                               JOBS.c.state == "running")
                         .values(state="done", record=_dumps(record), owner=self.owner))

    def release(self) -> None:
        """Drop this process's unfinished claims (a graceful stop), so others need not wait."""
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.delete(JOBS).where(JOBS.c.study_id == self.study_id, JOBS.c.owner == self.owner,
                                               JOBS.c.state == "running"))

    def score(self, keys: list[tuple[str, int]], args: list[Any], run: Callable[[list[Any]], list[dict[str, Any]]],
              chunk: int = 1) -> list[dict[str, Any]]:
        """Score jobs (config key, seed) -> run(args): each trained once in the whole study. Jobs
        another process finished are read, jobs it is training are waited for (and taken over if
        it stops beating), the rest are claimed ``chunk`` at a time and trained here."""
        out: list[dict[str, Any] | None] = [None] * len(keys)
        jobs = [job_key(key, seed) for key, seed in keys]
        busy: dict[int, tuple[str, int]] = {}
        for start in range(0, len(keys), max(1, chunk)):
            mine = []
            for i in range(start, min(len(keys), start + max(1, chunk))):
                state, value = self._claim(jobs[i])
                if state == "done":
                    out[i] = {**value, "reused": True}
                elif state == "busy":
                    busy[i] = value
                else:
                    mine.append(i)
            if mine:
                for i, record in zip(mine, run([args[i] for i in mine])):
                    self._finish(jobs[i], record)
                    out[i] = record
        for i, seen in busy.items():
            out[i] = self._wait(jobs[i], seen, lambda i=i: run([args[i]])[0])
        return out  # type: ignore[return-value]

    def _wait(self, job: str, seen: tuple[str, int], train: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The record of a job another process trains; trained here if that process is dead."""
        last_change = time.monotonic()
        started = last_change
        while time.monotonic() - started < MAX_WAIT:
            row = self._row(job)
            if row is None or row.state == "running" and (
                    _alive_here(row.owner) is False or
                    ((row.owner, row.beats) == seen and time.monotonic() - last_change > GRACE)):
                state, value = self._claim(job) if row is None else (
                    ("mine", None) if self._take_over(job, row.owner, row.beats) else ("busy", None))
                if state == "mine":
                    record = train()
                    self._finish(job, record)
                    return record
                if state == "done":
                    return {**value, "reused": True}
                continue
            if row.state == "done":
                return {**json.loads(row.record), "reused": True}
            if (row.owner, row.beats) != seen:
                seen, last_change = (row.owner, row.beats), time.monotonic()
            time.sleep(POLL)
        raise ConfigError(f"waited {MAX_WAIT} s for a training job another process claims in {redact(self.url)}")

    # --- heartbeats ------------------------------------------------------------------------------

    def _beat(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.update(JOBS).where(JOBS.c.study_id == self.study_id, JOBS.c.owner == self.owner,
                                               JOBS.c.state == "running").values(beats=JOBS.c.beats + 1))
        for trial_id in list(self.running_trials):
            self.storage.record_heartbeat(trial_id)

    def _beating(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self._beat()
            except Exception:  # a database hiccup: the next beat tries again; GRACE covers a few
                self.heartbeat_errors += 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._beating, name="actsearch-heartbeat", daemon=True)
            self._thread.start()

    def trial_started(self, trial_id: int) -> None:
        self.running_trials.add(trial_id)
        self.storage.record_heartbeat(trial_id)

    def trial_finished(self, trial_id: int) -> None:
        self.running_trials.discard(trial_id)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT + 5)
            self._thread = None
        try:
            self.release()
        except Exception:  # the database went away: the claims go stale and are taken over
            pass


# --- reading a study -------------------------------------------------------------------------------


def study_records(storage, study_id: int, engine) -> list[dict[str, Any]]:
    """Every record of a study: search records from its trials (a failed trial without one, e.g.
    of a killed process, as a failed record), then the baseline, confirm and holdout rows."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    from actsearch.results import record_problems

    out: list[dict[str, Any]] = []
    settings = storage.get_study_user_attrs(study_id).get(SETTINGS_ATTR, {})
    seed = int(settings.get("train", {}).get("seed", 0))
    for t in storage.get_all_trials(study_id, deepcopy=False):
        record = t.user_attrs.get(RECORD_ATTR)
        if isinstance(record, dict) and not record_problems(record):
            out.append(record)
        elif t.state == TrialState.FAIL and isinstance(t.user_attrs.get("activation"), dict):
            out.append({"role": "search", "trial": t.number, "seed": seed, "point": dict(t.params),
                        "activation_config": t.user_attrs["activation"], "status": "failed",
                        "reason": "the process running it stopped beating (killed) before it finished"})
    with engine.connect() as conn:
        rows = conn.execute(sa.select(RECORDS.c.record).where(RECORDS.c.study_id == study_id)
                            .order_by(RECORDS.c.id)).all()
    for (text,) in rows:
        record = json.loads(text)
        if not record_problems(record):
            out.append(record)
    return out


def read_study_records(storage_url: str, study_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(records, settings) of an actsearch study in a database, for ``analyse_records``. Reads
    only: creates no table and no study."""
    if not is_database(storage_url):
        raise ConfigError(f"--storage {storage_url!r}: give the database URL the search ran with "
                          "(postgresql://, mysql:// or sqlite:///)")
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if not probe(storage_url):
            raise ConfigError(f"no study '{study_name}' in {redact(storage_url)} (it holds no Optuna study at "
                              "all); check the URL and --study")
        storage = optuna.storages.RDBStorage(storage_url, skip_table_creation=True)
        names = [s for s in optuna.study.get_all_study_names(storage)]
    except (ImportError, sqlalchemy.exc.SQLAlchemyError, OSError, optuna.exceptions.StorageInternalError) as exc:
        raise database_error(exc, storage_url, "read the studies in") from None
    if study_name not in names:
        there = f"studies there: {', '.join(sorted(names)[:10])}" if names else "it holds no study"
        raise ConfigError(f"no study '{study_name}' in {redact(storage_url)} ({there}); check --study")
    study_id = storage.get_study_id_from_name(study_name)
    settings = storage.get_study_user_attrs(study_id).get(SETTINGS_ATTR)
    if not isinstance(settings, dict):
        raise ConfigError(f"study '{study_name}' in {redact(storage_url)} was not made by actsearch (it has no "
                          "actsearch settings; `actsearch tune --storage` writes them); pass the study your search used")
    try:
        records = study_records(storage, study_id, storage.engine)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise database_error(exc, storage_url, "read the records in") from None
    return records, settings


def study_source(storage_url: str, study_name: str) -> str:
    """How a report names a database study."""
    return f"study '{study_name}' in {redact(storage_url)}"
