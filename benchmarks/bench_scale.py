"""Benchmark: `connector run` with a thousand administrations, alone on SQLite and as three replicas on PostgreSQL.

The simulated ledgers run in a child process (benchmarks/scale_world.py, so their memory is not counted):
by default 1,000 administrations of 200 open invoices each, 40% Moneybird, 30% Exact Online, 30%
e-Boekhouden, every invoice not yet due except one of each of 3 customers per administration, which the
default policy reminds by e-mail. The e-Boekhouden simulators share one port, each administration below a
path of its own, as all reach one host in reality (`--eboekhouden-servers per-administration`: a port each).
The connector runs as real `connector run` processes on a generated configuration (send window open all
day, every day), e-mail goes to a local SMTP sink run here.

Phase 1, one process on SQLite: the time until every administration has synced once, administrations synced
per minute, the process's peak RSS (VmHWM), RSS and threads, sampled from /proc. Targets: all synced within
one sync interval (600 s), peak RSS below 400 MB.

Phase 2, three replicas on PostgreSQL (a fresh database, `connector_scale` by default): how the leases split
the administrations; then one replica is killed (SIGKILL) midway through the first pass, and the time until
every administration it held has another live owner is measured (target: within the lease TTL).

Both phases end with an exactly-once check: no action's e-mail (header X-Connector-Action) reached the SMTP
sink twice, no action that went out (done/sent) is missing from the sink, none is left pending, no invoice got
the connector's note `[ref KEY]` twice; actions in `review` (interrupted mid-send, waiting for a person) are
counted apart. Exit 1 when a target is missed.

    python benchmarks/bench_scale.py                      # the full run (25-30 minutes)
    python benchmarks/bench_scale.py --administrations 60 --invoices 50 --interval 60 --lease-ttl 15
    python benchmarks/bench_scale.py --phase 2 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/connector_scale
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from connector.dispatch.mailsink import MailSink

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/connector_scale"
EXACT_CONNECTION = "exact-sim"
UNFINISHED = ("pending", "executing", "sending")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FIRST_RUN_WINDOW = 0.8  # as connector/daemon.py: first runs spread over 80% of the interval...
FIRST_RUN_SPACING = 0.5  # ...or half a second per administration, whichever is shorter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=("1", "2", "both"), default="both")
    parser.add_argument("--administrations", type=int, default=1000)
    parser.add_argument("--invoices", type=int, default=200, help="open invoices per administration")
    parser.add_argument("--mix", default="40,30,30", help="percent Moneybird, Exact Online, e-Boekhouden")
    parser.add_argument("--overdue-customers", type=int, default=3, help="reminder e-mails per administration")
    parser.add_argument("--interval", type=int, default=600, help="sync_interval_seconds of every administration")
    parser.add_argument("--concurrency", type=int, default=16, help="[connector] max_concurrent_cycles")
    parser.add_argument("--lease-ttl", type=int, default=30, help="[connector] lease_ttl_seconds")
    parser.add_argument("--replicas", type=int, default=3, help="phase 2: connector processes")
    parser.add_argument("--kill-at", type=float, default=0.5, help="phase 2: kill once this share has synced once")
    parser.add_argument("--kill-after", type=float, help="phase 2: kill after this many seconds instead")
    parser.add_argument("--database-url", default=DEFAULT_PG, help="phase 2 (dropped and created afresh)")
    parser.add_argument("--rss-limit-mb", type=float, default=400.0, help="phase 1 target for peak RSS")
    parser.add_argument("--timeout", type=float, help="seconds per phase (default: 2 intervals + 10 minutes)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for the last e-mails")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--eboekhouden-servers",
        choices=("shared", "per-administration"),
        default="shared",
        help="the e-Boekhouden simulators on one port, a path each (like the one real host; default), or a port "
        "each (the connector keeps a connection pool, with its own TLS context, per origin: ~0.85 MB each)",
    )
    parser.add_argument(
        "--without-new-keys",
        action="store_true",
        help="leave max_concurrent_cycles, lease_ttl_seconds and replica_name out of the configuration",
    )
    parser.add_argument(
        "--malloc-arena-max",
        type=int,
        default=2,
        help="MALLOC_ARENA_MAX for the connector processes, as the Dockerfile and systemd unit set it (0: unset)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder (configs, logs, dumps)")
    args = parser.parse_args()
    args.timeout = args.timeout or 2 * args.interval + 600
    mix = [int(part) for part in args.mix.split(",")]
    if len(mix) != 3 or min(mix) < 0 or not sum(mix):
        parser.error("--mix needs three non-negative numbers, e.g. 40,30,30")
    if make_url(args.database_url).database in ("test", "postgres", "template0", "template1"):
        parser.error("--database-url must name a database of its own: it is dropped and created afresh")

    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    print(f"bench_scale: {args.administrations} administrations x {args.invoices} invoices, mix {args.mix}, "
          f"interval {args.interval}s, concurrency {args.concurrency}, lease TTL {args.lease_ttl}s")  # fmt: skip
    print(f"working folder: {workdir}{'' if args.keep else ' (removed at the end; --keep keeps it)'}")
    results: list[PhaseResult] = []
    try:
        if args.phase in ("1", "both"):
            results.append(Phase(args, workdir / "phase1", 1).run())
        if args.phase in ("2", "both"):
            results.append(Phase(args, workdir / "phase2", 2).run())
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    failures = report(results, args)
    sys.exit(1 if failures else 0)


# --- processes ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    peak_rss_kb: int = 0  # VmHWM
    rss_kb: int = 0  # VmRSS, last seen
    max_rss_kb: int = 0  # highest VmRSS seen
    threads: int = 0
    max_threads: int = 0
    cpu_seconds: float = 0.0


class Sampler(threading.Thread):
    """Reads /proc/PID/status and /proc/PID/stat of the watched processes twice a second."""

    def __init__(self) -> None:
        super().__init__(name="sampler", daemon=True)
        self.samples: dict[int, Sample] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def watch(self, pid: int) -> None:
        with self._lock:
            self.samples.setdefault(pid, Sample())

    def get(self, pid: int) -> Sample:
        self.sample(pid)
        with self._lock:
            return self.samples.get(pid, Sample())

    def run(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                pids = list(self.samples)
            for pid in pids:
                self.sample(pid)

    def sample(self, pid: int) -> None:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return  # gone: the last sample stands
        values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if values.get("State", "").strip().startswith(("Z", "X")) or "VmRSS" not in values:
            return  # exiting: its memory is already being torn down
        fields = stat.rsplit(")", 1)[1].split()
        with self._lock:
            sample = self.samples.setdefault(pid, Sample())
            sample.peak_rss_kb = max(sample.peak_rss_kb, _kb(values.get("VmHWM")))
            sample.rss_kb = _kb(values.get("VmRSS"))
            sample.max_rss_kb = max(sample.max_rss_kb, sample.rss_kb)
            sample.threads = int(values.get("Threads", "0").strip() or 0)
            sample.max_threads = max(sample.max_threads, sample.threads)
            sample.cpu_seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        self._stop.set()


def _kb(value: str | None) -> int:
    return int(value.split()[0]) if value and value.split() else 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WorldProcess:
    """benchmarks/scale_world.py in a child process: the simulated ledgers."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.folder = folder
        self.command = [
            sys.executable, str(Path(__file__).with_name("scale_world.py")),
            "--administrations", str(args.administrations), "--invoices", str(args.invoices),
            "--mix", args.mix, "--overdue-customers", str(args.overdue_customers), "--seed", str(args.seed),
            "--eboekhouden-servers", args.eboekhouden_servers,
        ]  # fmt: skip
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(self.folder / "simulators.log").open("w"),
            text=True,
            cwd=ROOT,
        )
        line = self._read()
        try:
            self.info = json.loads(line)
        except ValueError:
            raise SystemExit(f"the simulators did not start ({line!r}); see {self.folder / 'simulators.log'}") from None
        return self.info

    def _read(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def command_line(self, text: str) -> str:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return self._read()

    def dump(self) -> dict[str, Any]:
        path = self.folder / "ledgers.json"
        answer = self.command_line(f"dump {path}")
        if answer != "ok":
            raise RuntimeError(f"the simulators did not dump their state: {answer!r}")
        return dict(json.loads(path.read_text()))

    def close(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.command_line("quit")
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass
class Connector:
    """One `connector run` process."""

    name: str
    process: subprocess.Popen[bytes]
    health_port: int
    started: datetime
    log_path: Path
    killed_at: float | None = None
    stop_seconds: float | None = None
    exit_code: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    peak_before_scrape_kb: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def owns(self, owner: str | None) -> bool:
        """Whether a lease owner names this process (connector/replicas.py: NAME-PID-SUFFIX)."""
        return owner is not None and f"-{self.pid}-" in owner

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self, timeout: float = 60.0) -> None:
        if not self.alive():
            self.exit_code = self.process.returncode
            return
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_code = self.process.wait()
        self.stop_seconds = time.monotonic() - started

    def startup_seconds(self) -> float | None:
        """From the process start to its `daemon.started` log line (the configuration loaded, the store open,
        the first heartbeat done)."""
        with contextlib.suppress(OSError), self.log_path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if '"daemon.started"' in line:
                    with contextlib.suppress(ValueError, KeyError):
                        stamp = datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00"))
                        return (stamp - self.started).total_seconds()
        return None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.killed_at = time.monotonic()
        self.exit_code = self.process.wait()

    def scrape(self) -> None:
        """/metrics: sync counts per administration (the store does not say which replica synced)."""
        started = time.monotonic()
        try:
            text = httpx.get(f"http://127.0.0.1:{self.health_port}/metrics", timeout=120).text
        except httpx.HTTPError as exc:
            self.metrics = {"error": str(exc)}
            return
        synced: set[str] = set()
        runs = 0
        duration: dict[str, list[float]] = {}
        for line in text.splitlines():
            match = re.match(r"(\w+)\{(.*)\} (\S+)$", line)
            if not match:
                continue
            metric, labels, value = match.group(1), dict(re.findall(r'(\w+)="([^"]*)"', match.group(2))), match.group(3)
            if metric == "connector_syncs_total" and labels.get("outcome") == "success" and float(value) > 0:
                synced.add(labels.get("administration", ""))
                runs += int(float(value))
            elif metric in ("connector_sync_duration_seconds_sum", "connector_sync_duration_seconds_count"):
                pair = duration.setdefault(labels.get("platform", "?"), [0.0, 0.0])
                pair[metric.endswith("_count")] = float(value)
        self.metrics = {
            "synced": synced,
            "runs": runs,
            "sync_seconds": {platform: s / c for platform, (s, c) in duration.items() if c},
            "scrape_seconds": time.monotonic() - started,
        }


# --- the store, read from outside ----------------------------------------------------------------------


def _moment(value: Any) -> datetime | None:
    """A stored instant (SQLite gives text without a zone, PostgreSQL an aware datetime) in UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class StoreReader:
    def __init__(self, url: str) -> None:
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine: Engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)

    def rows(self, sql: str) -> list[Any]:
        try:
            with self.engine.connect() as connection:
                return list(connection.execute(sa.text(sql)))
        except sa.exc.OperationalError as exc:
            if "no such table" in str(exc) or "does not exist" in str(exc):
                return []  # not created yet
            raise
        except sa.exc.ProgrammingError as exc:
            if "does not exist" in str(exc):
                return []
            raise

    def first_success(self) -> dict[str, datetime]:
        found = self.rows(
            "SELECT a.name, MIN(r.finished_at) FROM sync_runs r JOIN administrations a ON a.id = r.administration_id "
            "WHERE r.outcome = 'success' GROUP BY a.name"
        )
        return {name: moment for name, value in found if (moment := _moment(value)) is not None}

    def outcomes(self) -> Counter[str]:
        return Counter(
            {outcome: count for outcome, count in self.rows("SELECT outcome, COUNT(*) FROM sync_runs GROUP BY outcome")}
        )

    def actions(self) -> list[Any]:
        return self.rows(
            "SELECT a.name, x.id, x.key, x.status, x.action, x.stage FROM actions x "
            "JOIN administrations a ON a.id = x.administration_id"
        )

    def action_invoices(self) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for action_id, invoice in self.rows("SELECT action_id, invoice_ledger_id FROM action_invoices"):
            found.setdefault(action_id, []).append(str(invoice))
        return found

    def status_counts(self) -> Counter[str]:
        return Counter(
            {status: count for status, count in self.rows("SELECT status, COUNT(*) FROM actions GROUP BY status")}
        )

    def leases(self) -> dict[str, tuple[str | None, datetime | None, int]]:
        return {
            name: (owner, _moment(expires), takeovers or 0)
            for name, owner, expires, takeovers in self.rows(
                "SELECT administration, owner, expires_at, takeovers FROM leases"
            )
        }

    def replicas(self) -> dict[str, datetime | None]:
        return {name: _moment(expires) for name, expires in self.rows("SELECT name, expires_at FROM replicas")}

    def close(self) -> None:
        self.engine.dispose()


def fresh_postgres_database(url: str, connections: int) -> None:
    """Drop and create the database named in `url`, through the server's `postgres` maintenance database;
    warn when the replicas' pools (`connections` in all) may not fit under max_connections."""
    import psycopg

    target = make_url(url)
    name = target.database
    assert name and name not in ("test", "postgres")
    maintenance = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
            row = connection.execute("SHOW max_connections").fetchone()
    except psycopg.Error as exc:
        raise SystemExit(f"PostgreSQL at {target.render_as_string(hide_password=True)}: {exc}") from None
    limit = int(row[0]) if row else 0
    print(f"  PostgreSQL: database {name!r} created afresh (max_connections {limit})", flush=True)
    if limit and connections > limit - 5:
        print(f"  warning: the replicas may open up to {connections} connections; max_connections is {limit}")


# --- the configuration --------------------------------------------------------------------------------


def write_config(
    path: Path, world: dict[str, Any], args: argparse.Namespace, smtp_port: int, folder: Path
) -> dict[str, str]:
    """The configuration for every administration the simulators serve; returns the secrets it references."""
    env: dict[str, str] = {}
    connector = [
        "[connector]",
        'log_format = "json"',
        f'log_level = "{args.log_level}"',
        f'handover_dir = "{folder / "handover"}"',
        'send_window = "00:00-24:00"',
        'send_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]',
        "send_on_public_holidays = true",
        "health_port = 0",
    ]
    if not args.without_new_keys:
        connector += [
            f"max_concurrent_cycles = {args.concurrency}",
            f"lease_ttl_seconds = {args.lease_ttl}",
            'replica_name = "r1"',
        ]
    if world["exact"]:
        connector.append('secret_key = "${CONNECTOR_SECRET_KEY}"')
        env["CONNECTOR_SECRET_KEY"] = secret_key()
        env["EXACT_CLIENT_SECRET"] = world["exact"]["client_secret"]
    lines = [
        "# Written by benchmarks/bench_scale.py for simulated ledgers that only live during the benchmark.",
        *connector,
        "",
        "[email]",
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        'security = "none"',
        'from_address = "debiteuren@scale.example"',
        'from_name = "Debiteurenbeheer"',
    ]
    for admin in world["administrations"]:
        name = admin["name"]
        variable = name.upper().replace("-", "_") + "_TOKEN"
        lines += ["", "[[administrations]]", f'name = "{name}"', f'platform = "{admin["platform"]}"']
        lines += [f'base_url = "{admin["base_url"]}"', f"sync_interval_seconds = {args.interval}"]
        lines.append(f'company = {{ name = "{name} B.V.", email = "debiteuren@scale.example" }}')
        if admin["platform"] == "moneybird":
            lines += [f'administration_id = "{admin["administration_id"]}"', f'token = "${{{variable}}}"']
            env[variable] = admin["token"]
        elif admin["platform"] == "exact_online":
            exact = world["exact"]
            lines += [
                f"division = {admin['division']}",
                f'client_id = "{exact["client_id"]}"',
                'client_secret = "${EXACT_CLIENT_SECRET}"',
                f'redirect_uri = "{exact["redirect_uri"]}"',
                f'connection = "{EXACT_CONNECTION}"',
            ]
        else:
            lines.append(f'api_token = "${{{variable}}}"')
            env[variable] = admin["api_token"]
    path.write_text("\n".join(lines) + "\n")
    return env


def secret_key() -> str:
    """A Fernet key from `connector secret-key`."""
    return subprocess.run(
        [sys.executable, "-m", "connector", "secret-key"], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()


# --- one phase ----------------------------------------------------------------------------------------


@dataclass
class ProcessRow:
    name: str
    peak_rss_mb: float
    peak_before_scrape_mb: float | None
    end_rss_mb: float
    threads: int
    cpu_seconds: float
    synced: int | None
    runs: int | None
    note: str = ""


@dataclass
class PhaseResult:
    phase: int
    label: str
    administrations: int
    interval: int
    processes: list[ProcessRow] = field(default_factory=list)
    synced: int = 0
    time_to_sync_all: float | None = None
    schedule_floor: float = 0.0
    admins_per_minute: float = 0.0
    runs_per_minute: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    ownership_seconds: float | None = None
    split: dict[str, int] = field(default_factory=dict)
    takeover_seconds: float | None = None
    leases_ran_out: float | None = None  # seconds after the kill: the last of the victim's leases
    replica_ran_out: float | None = None  # and its row in `replicas` (while it lasts, it counts as alive)
    killed_leases: int = 0
    takeovers: int = 0
    lease_ttl: int = 0
    emails: int = 0
    expected_emails: int = 0
    check: dict[str, Any] = field(default_factory=dict)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    sync_seconds: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    simulators: str = ""


class Phase:
    def __init__(self, args: argparse.Namespace, folder: Path, number: int) -> None:
        self.args = args
        self.folder = folder
        self.number = number
        folder.mkdir(parents=True)
        self.sampler = Sampler()
        self.connectors: list[Connector] = []
        self.platforms: dict[str, str] = {}
        self.child = 0
        self.started = time.monotonic()
        self.t0 = self.started  # when the first connector process starts (set in `drive`)
        self.t0_wall = datetime.now(UTC)
        if number == 1:
            self.database_url = f"sqlite:///{folder / 'connector.db'}"
            label = "1 process, SQLite"
        else:
            self.database_url = args.database_url
            label = f"{args.replicas} replicas, PostgreSQL"
        self.result = PhaseResult(number, label, args.administrations, args.interval, lease_ttl=args.lease_ttl)

    def say(self, text: str) -> None:
        print(f"[phase {self.number} {time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    def run(self) -> PhaseResult:
        print(f"\n=== Phase {self.number}: {self.result.label} ===", flush=True)
        world = WorldProcess(self.args, self.folder)
        sink = MailSink()
        self.sampler.start()
        try:
            self.say("starting the simulators (child process)")
            info = world.start()
            child = world.process.pid if world.process else 0
            self.sampler.watch(child)
            self.child = child
            self.result.expected_emails = sum(info["expected_emails"].values())
            self.say(
                f"simulators ready in {info['generated_seconds']}s (pid {child}, {info['rss_mb']} MB): "
                f"{Counter(a['platform'] for a in info['administrations'])}, business date {info['today']}, "
                f"{self.result.expected_emails} reminder e-mails due"
            )
            sink.start()
            self.platforms = {a["name"]: a["platform"] for a in info["administrations"]}
            config = self.folder / "config.toml"
            env = write_config(config, info, self.args, sink.port, self.folder)
            if self.number == 2:
                fresh_postgres_database(self.database_url, self.args.replicas * (self.args.concurrency + 4))
            self.prepare(config, env, info)
            store = StoreReader(self.database_url)
            try:
                self.drive(config, env, store, sink)
                self.finish(store, sink, world)
            finally:
                store.close()
        finally:
            for connector in self.connectors:
                if connector.alive():
                    connector.terminate()
            sink.stop()
            world.close()
            self.sampler.stop()
        self.result.seconds = time.monotonic() - self.started
        return self.result

    # --- before the daemon -------------------------------------------------------------------------------

    def environment(self, env: dict[str, str], **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
        deployed = {"MALLOC_ARENA_MAX": str(self.args.malloc_arena_max)} if self.args.malloc_arena_max else {}
        return {**base, **deployed, **env, "CONNECTOR_DATABASE_URL": self.database_url, **extra}

    def cli(self, config: Path, env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connector", *arguments, "--config", str(config)],
            env=self.environment(env),
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
        )

    def prepare(self, config: Path, env: dict[str, str], info: dict[str, Any]) -> None:
        began = time.monotonic()
        checked = self.cli(config, env, "check-config")
        if checked.returncode != 0:
            problems = (checked.stderr or checked.stdout).strip().splitlines()
            hint = ""
            if any("unknown key" in line for line in problems):
                hint = " (a [connector] key is not known to this connector: try --without-new-keys)"
            raise SystemExit(
                "check-config refused the generated configuration" + hint + ":\n  " + "\n  ".join(problems[:20])
            )
        self.say(f"connector check-config accepted the configuration ({time.monotonic() - began:.1f}s)")
        exact = [a["name"] for a in info["administrations"] if a["platform"] == "exact_online"]
        if exact:
            # One chain for every division (they share `connection`): importing it once serves them all.
            began = time.monotonic()
            imported = self.cli(
                config, env, "auth", "exact", "--admin", exact[0], "--refresh-token", info["exact"]["refresh_token"]
            )
            if imported.returncode != 0:
                raise SystemExit(f"connector auth exact failed: {imported.stderr.strip() or imported.stdout.strip()}")
            self.say(f"{imported.stdout.strip()} ({time.monotonic() - began:.1f}s)")
        elif self.number == 2:
            upgraded = self.cli(config, env, "db", "upgrade")
            if upgraded.returncode != 0:
                raise SystemExit(f"connector db upgrade failed: {upgraded.stderr.strip()}")

    def launch(self, config: Path, env: dict[str, str], name: str) -> Connector:
        port = free_port()
        log_path = self.folder / f"{name}.log"
        extra = {"CONNECTOR_HEALTH_PORT": str(port)}
        if not self.args.without_new_keys:
            extra["CONNECTOR_REPLICA_NAME"] = name
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            env=self.environment(env, **extra),
            cwd=self.folder,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        connector = Connector(name, process, port, datetime.now(UTC), log_path)
        self.sampler.watch(connector.pid)
        self.connectors.append(connector)
        return connector

    # --- while it runs -------------------------------------------------------------------------------

    def drive(self, config: Path, env: dict[str, str], store: StoreReader, sink: MailSink) -> None:
        args = self.args
        count = 1 if self.number == 1 else args.replicas
        self.t0_wall = datetime.now(UTC)
        self.t0 = time.monotonic()
        for index in range(1, count + 1):
            connector = self.launch(config, env, f"r{index}")
            self.say(
                f"started {connector.name}: connector run, pid {connector.pid}, health port {connector.health_port}"
            )
        self.result.schedule_floor = min(FIRST_RUN_WINDOW * args.interval, args.administrations * FIRST_RUN_SPACING)
        deadline = self.t0 + args.timeout
        all_synced_at: float | None = None
        quiet_since: float | None = None
        next_progress = 0.0
        ownership = Ownership(self, store) if self.number == 2 else None
        while time.monotonic() < deadline:
            time.sleep(0.5 if ownership and ownership.watching() else 2.0)
            live = [c for c in self.connectors if c.alive()]
            crashed = [c for c in self.connectors if not c.alive() and c.killed_at is None and c.exit_code is None]
            if crashed:
                for connector in crashed:
                    self.result.problems.append(
                        f"{connector.name} exited on its own (code {connector.process.returncode}); "
                        f"see {connector.log_path}"
                    )
                    connector.exit_code = connector.process.returncode
                self.say("; ".join(self.result.problems[-len(crashed) :]))
                if not live:
                    return
            synced = store.first_success()
            if ownership is not None:
                ownership.observe(len(synced))
            now = time.monotonic()
            if all_synced_at is None and len(synced) >= args.administrations:
                all_synced_at = now
                self.result.time_to_sync_all = (max(synced.values()) - self.t0_wall).total_seconds()
                self.say(f"every administration has synced once: {self.result.time_to_sync_all:.1f}s after the start")
            statuses = store.status_counts()
            unfinished = sum(statuses[s] for s in (*UNFINISHED, "sent"))
            if now >= next_progress:
                next_progress = now + 30
                self.progress(synced, statuses, sink)
            if ownership is not None and not ownership.done():
                continue  # the kill and the takeover come first
            if all_synced_at is not None and unfinished == 0:
                quiet_since = quiet_since or now
                enough = len(sink.messages) >= self.result.expected_emails
                if (enough and now - quiet_since >= 5) or now - quiet_since >= args.settle:
                    break
            else:
                quiet_since = None
        else:
            self.result.problems.append(f"phase {self.number} timed out after {args.timeout:.0f}s")
            self.say(self.result.problems[-1])
        self.progress(store.first_success(), store.status_counts(), sink)

    def progress(self, synced: dict[str, datetime], statuses: Counter[str], sink: MailSink) -> None:
        parts = []
        for connector in self.connectors:
            if connector.alive():
                sample = self.sampler.get(connector.pid)
                parts.append(
                    f"{connector.name} {sample.rss_kb / 1024:.0f}MB/{sample.threads}thr/{sample.cpu_seconds:.0f}cpu-s"
                )
        actions = ", ".join(f"{status} {count}" for status, count in sorted(statuses.items())) or "none"
        self.say(
            f"synced {len(synced)}/{self.args.administrations} ({self.per_platform(synced)}); actions: {actions}; "
            f"e-mails {len(sink.messages)}/{self.result.expected_emails}; {'; '.join(parts)}"
        )

    def scrape(self, connector: Connector) -> None:
        """/metrics of one process, noting its peak RSS just before: a scrape at this scale is not free."""
        connector.peak_before_scrape_kb = self.sampler.get(connector.pid).peak_rss_kb
        connector.scrape()

    def per_platform(self, synced: dict[str, datetime]) -> str:
        done = Counter(self.platforms.get(name, "?") for name in synced)
        total = Counter(self.platforms.values())
        return ", ".join(f"{platform} {done[platform]}/{count}" for platform, count in sorted(total.items()))

    # --- at the end ------------------------------------------------------------------------------------

    def finish(self, store: StoreReader, sink: MailSink, world: WorldProcess) -> None:
        result = self.result
        for connector in self.connectors:
            if connector.alive():
                self.scrape(connector)
        for connector in self.connectors:
            if connector.alive():
                connector.terminate()
                self.say(
                    f"{connector.name}: SIGTERM, exited with {connector.exit_code} after {connector.stop_seconds:.1f}s"
                )
        synced = store.first_success()
        result.synced = len(synced)
        result.outcomes = dict(store.outcomes())
        elapsed = time.monotonic() - self.t0
        if result.time_to_sync_all:
            result.admins_per_minute = result.synced / (result.time_to_sync_all / 60)
        elif synced:
            last = (max(synced.values()) - self.t0_wall).total_seconds()
            result.admins_per_minute = result.synced / max(last / 60, 1e-9)
        result.runs_per_minute = result.outcomes.get("success", 0) / (elapsed / 60)
        sync_seconds: dict[str, list[float]] = {}
        for connector in self.connectors:
            sample = self.sampler.get(connector.pid)
            metrics = connector.metrics
            startup = connector.startup_seconds()
            note = f"started in {startup:.1f}s; " if startup is not None else ""
            note += f"exit {connector.exit_code}"
            if connector.killed_at is not None:
                note = note.replace(f"exit {connector.exit_code}", "SIGKILLed")
            elif connector.stop_seconds is not None:
                note += f" in {connector.stop_seconds:.1f}s"
            if "scrape_seconds" in metrics:
                note += f"; /metrics {metrics['scrape_seconds']:.1f}s"
            for platform, seconds in metrics.get("sync_seconds", {}).items():
                sync_seconds.setdefault(platform, []).append(seconds)
            synced_here = len(metrics["synced"]) if "synced" in metrics else None
            if self.number == 1:
                synced_here = result.synced
            result.processes.append(
                ProcessRow(
                    name=connector.name,
                    peak_rss_mb=sample.peak_rss_kb / 1024,
                    peak_before_scrape_mb=(
                        connector.peak_before_scrape_kb / 1024 if connector.peak_before_scrape_kb is not None else None
                    ),
                    end_rss_mb=sample.rss_kb / 1024,
                    threads=sample.max_threads,
                    cpu_seconds=sample.cpu_seconds,
                    synced=synced_here,
                    runs=metrics.get("runs"),
                    note=note,
                )
            )
        result.sync_seconds = {platform: sum(v) / len(v) for platform, v in sync_seconds.items()}
        if self.number == 2:
            result.takeovers = sum(takeovers for _, _, takeovers in store.leases().values())
        simulators = self.sampler.get(self.child)
        result.simulators = f"{simulators.cpu_seconds:.0f} CPU s, peak RSS {simulators.peak_rss_kb / 1024:.0f} MB"
        ledgers = world.dump()
        result.api_calls = ledgers["requests"]
        result.emails = len(sink.messages)
        result.check = exactly_once(sink, store, ledgers)


class Ownership:
    """Phase 2: how the leases split the administrations, the kill, and the takeover."""

    def __init__(self, phase: Phase, store: StoreReader) -> None:
        self.phase = phase
        self.store = store
        self.stable_split: dict[str, int] | None = None
        self.previous: dict[str, str | None] = {}
        self.victim: Connector | None = None
        self.victim_leases: list[str] = []
        self.due_since: float | None = None
        self.finished = len(phase.connectors) < 2  # nobody to take over

    def watching(self) -> bool:
        return self.victim is not None and not self.finished

    def done(self) -> bool:
        return self.finished

    def owner_of(self, owner: str | None) -> Connector | None:
        for connector in self.phase.connectors:
            if connector.owns(owner):
                return connector
        return None

    def observe(self, synced: int) -> None:
        phase, args = self.phase, self.phase.args
        now = datetime.now(UTC)
        leases = self.store.leases()
        live = {name: self.owner_of(owner) for name, (owner, expires, _) in leases.items() if expires and expires > now}
        owned = {name: c for name, c in live.items() if c is not None and c.alive()}
        if self.stable_split is None and len(owned) >= args.administrations:
            split = Counter(c.name for c in owned.values())
            current = {name: c.name for name, c in owned.items()}
            if phase.result.ownership_seconds is None:
                phase.result.ownership_seconds = time.monotonic() - phase.t0
                phase.say(
                    f"every administration owned by a live replica after {phase.result.ownership_seconds:.1f}s: "
                    f"{dict(sorted(split.items()))}"
                )
            if len(split) == len(phase.connectors) and current == self.previous:
                self.stable_split = dict(sorted(split.items()))
                phase.result.split = self.stable_split
                phase.say(f"split settled: {self.stable_split}")
            self.previous = dict(current)
        if self.victim is None:
            elapsed = time.monotonic() - phase.t0
            due = (
                elapsed >= args.kill_after
                if args.kill_after is not None
                else synced >= args.kill_at * args.administrations
            )
            if due and self.due_since is None:
                self.due_since = time.monotonic()
            # Normally the split has settled by then; if it keeps moving, kill anyway after 3 lease terms.
            unsettled = self.due_since is not None and time.monotonic() - self.due_since > 3 * args.lease_ttl
            if due and (self.stable_split is not None or unsettled):
                self.kill(synced)
            return
        if self.finished:
            return
        moved = [name for name in self.victim_leases if (c := owned.get(name)) is not None and c is not self.victim]
        assert self.victim.killed_at is not None
        waited = time.monotonic() - self.victim.killed_at
        if len(moved) == len(self.victim_leases):
            result = phase.result
            result.takeover_seconds = waited
            split = Counter(owned[name].name for name in self.victim_leases)
            phase.say(
                f"all {len(self.victim_leases)} administrations of {self.victim.name} taken over after {waited:.1f}s "
                f"(lease TTL {args.lease_ttl}s; {expiries(result)}): {dict(sorted(split.items()))}"
            )
            self.finished = True
        elif waited > 3 * args.lease_ttl + 60:
            phase.result.problems.append(
                f"takeover incomplete {waited:.0f}s after the kill: "
                f"{len(self.victim_leases) - len(moved)} administrations without a live owner"
            )
            phase.say(phase.result.problems[-1])
            self.finished = True

    def kill(self, synced: int) -> None:
        phase = self.phase
        victim = phase.connectors[min(1, len(phase.connectors) - 1)]  # r2
        phase.scrape(victim)  # first: at this scale it takes seconds, and the leases move meanwhile
        phase.sampler.sample(victim.pid)
        leases = self.store.leases()
        held = {name: expires for name, (owner, expires, _) in leases.items() if self.owner_of(owner) is victim}
        rows = [expires for name, expires in self.store.replicas().items() if victim.owns(name)]
        victim.kill()
        killed = datetime.now(UTC)
        self.victim = victim
        self.victim_leases = sorted(held)
        latest = max((e for e in held.values() if e is not None), default=None)
        result = phase.result
        result.killed_leases = len(held)
        result.leases_ran_out = (latest - killed).total_seconds() if latest else None
        result.replica_ran_out = (rows[0] - killed).total_seconds() if rows and rows[0] else None
        phase.say(
            f"{synced} administrations synced once; killed {victim.name} (SIGKILL), which held {len(held)} leases"
        )
        if not held:
            self.finished = True


def expiries(result: PhaseResult) -> str:
    def moment(seconds: float | None) -> str:
        return f"{seconds:+.1f}s" if seconds is not None else "?"

    return (
        f"at the kill its leases had {moment(result.leases_ran_out)} to run, its replica row "
        f"{moment(result.replica_ran_out)}"
    )


# --- exactly once ------------------------------------------------------------------------------------


def exactly_once(sink: MailSink, store: StoreReader, ledgers: dict[str, Any]) -> dict[str, Any]:
    """Duplicates and losses, counted from the SMTP sink, the store's outbox and the ledgers' notes."""
    received = Counter(str(message["X-Connector-Action"]) for message in sink.messages)
    actions = store.actions()
    covered = store.action_invoices()
    statuses = Counter(row.status for row in actions)
    keys = {row.key for row in actions}
    went = [row for row in actions if row.status in ("done", "sent") and row.action == "email"]
    lost_emails = [row for row in went if row.key not in received]
    unfinished = [row for row in actions if row.status in UNFINISHED]
    notes = Counter((n["administration"], n["invoice"], n["ref"]) for n in ledgers["notes"])
    missing_notes = [
        (row.name, invoice, row.key[:12])
        for row in actions
        if row.status == "done"
        for invoice in covered.get(row.id, [])
        if (row.name, invoice, row.key[:12]) not in notes
    ]
    return {
        "actions": len(actions),
        "statuses": dict(statuses),
        "duplicate_emails": sum(count - 1 for count in received.values() if count > 1),
        "duplicate_keys": sorted(key for key, count in received.items() if count > 1)[:10],
        "lost_emails": len(lost_emails),
        "unfinished": len(unfinished),
        "lost": len(lost_emails) + len(unfinished),
        "lost_sample": [f"{row.name}/{row.key[:12]} {row.status}" for row in [*lost_emails, *unfinished][:10]],
        "review": statuses.get("review", 0),
        "review_sample": [
            f"{row.name}/{row.key[:12]} {row.stage}, e-mail {'in' if row.key in received else 'not in'} the sink"
            for row in actions
            if row.status == "review"
        ][:10],
        "failed": statuses.get("failed", 0),
        "emails_without_action": sum(1 for key in received if key not in keys),
        "duplicate_notes": sum(count - 1 for count in notes.values() if count > 1),
        "duplicate_notes_sample": [f"{a}/{i} [ref {r}] x{c}" for (a, i, r), c in notes.items() if c > 1][:10],
        "missing_notes": len(missing_notes),
        "notes": sum(notes.values()),
    }


# --- the summary -------------------------------------------------------------------------------------


def report(results: list[PhaseResult], args: argparse.Namespace) -> list[str]:
    failures: list[str] = []
    print("\n=== Summary ===")
    print(
        f"{args.administrations} administrations x {args.invoices} invoices (mix {args.mix}), sync interval "
        f"{args.interval}s, max_concurrent_cycles {args.concurrency}, lease TTL {args.lease_ttl}s, "
        f"MALLOC_ARENA_MAX {args.malloc_arena_max or 'unset'}"
    )
    columns = ("peak RSS MB", "before /metrics", "end RSS", "threads", "CPU s", "synced", "runs")
    header = f"{'phase':<26} {'process':<8} " + " ".join(f"{c:>{max(len(c), 7)}}" for c in columns) + "  note"
    print(header)
    print("-" * len(header))
    for result in results:
        for row in result.processes:
            values = (
                f"{row.peak_rss_mb:.1f}",
                "-" if row.peak_before_scrape_mb is None else f"{row.peak_before_scrape_mb:.1f}",
                f"{row.end_rss_mb:.1f}", str(row.threads),
                f"{row.cpu_seconds:.0f}", "-" if row.synced is None else str(row.synced),
                "-" if row.runs is None else str(row.runs),
            )  # fmt: skip
            cells = " ".join(f"{v:>{max(len(c), 7)}}" for c, v in zip(columns, values, strict=True))
            print(f"{f'{result.phase} ({result.label})':<26} {row.name:<8} {cells}  {row.note}")
    for result in results:
        print(f"\nPhase {result.phase} ({result.label}), {result.seconds:.0f}s in all:")
        for label, text in phase_lines(result):
            print(f"  {label:<32} {text}")
        failures += verdicts(result, args)
    print()
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    if not failures:
        print("All targets met.")
    return failures


def phase_lines(result: PhaseResult) -> list[tuple[str, str]]:
    to_all = f"{result.time_to_sync_all:.1f}s" if result.time_to_sync_all is not None else "not reached"
    lines = [
        ("administrations synced", f"{result.synced}/{result.administrations}"),
        (
            "time until all synced once",
            f"{to_all} (interval {result.interval}s; the schedule alone spreads the first runs over "
            f"{result.schedule_floor:.0f}s)",
        ),
        ("administrations synced / minute", f"{result.admins_per_minute:.1f} (first pass)"),
        ("successful syncs / minute", f"{result.runs_per_minute:.1f} (whole phase); runs by outcome {result.outcomes}"),
    ]
    if result.sync_seconds:
        durations = ", ".join(f"{p} {s:.2f}s" for p, s in sorted(result.sync_seconds.items()))
        lines.append(("mean sync duration", durations))
    if result.phase == 2:
        own = f"{result.ownership_seconds:.1f}s" if result.ownership_seconds is not None else "not reached"
        lines.append(("all owned by a live replica", f"{own}; split {result.split or 'not settled'}"))
        takeover = f"{result.takeover_seconds:.1f}s" if result.takeover_seconds is not None else "not measured"
        detail = f"{takeover} for {result.killed_leases} leases (lease TTL {result.lease_ttl}s"
        detail += f"; {expiries(result)}"
        lines.append(("takeover after SIGKILL", detail + f"); takeovers counted in the leases {result.takeovers}"))
    check = result.check
    if check:
        lines += [
            ("e-mails in the SMTP sink", f"{result.emails} (expected {result.expected_emails})"),
            ("actions in the store", f"{check['actions']}: {check['statuses']}"),
            ("duplicate e-mails", f"{check['duplicate_emails']} {check['duplicate_keys'] or ''}"),
            (
                "lost actions",
                f"{check['lost']} ({check['lost_emails']} done/sent without an e-mail, {check['unfinished']} "
                f"still pending/executing) {check['lost_sample'] or ''}",
            ),
            ("review (interrupted mid-send)", f"{check['review']} {check['review_sample'] or ''}"),
            ("failed", f"{check['failed']}; e-mails without an action in the store {check['emails_without_action']}"),
            (
                "notes in the ledgers",
                f"{check['notes']}; duplicate [ref] notes {check['duplicate_notes']} "
                f"{check['duplicate_notes_sample'] or ''}; missing for done actions {check['missing_notes']}",
            ),
        ]
    if result.simulators:
        lines.append(("simulators (child process)", result.simulators + " (they share the machine's cores)"))
    for platform, counts in sorted(result.api_calls.items()):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "total")
        lines.append((f"API calls {platform}", f"{counts.get('total', 0)} ({detail})"))
    lines += [("problem", problem) for problem in result.problems]
    return lines


def verdicts(result: PhaseResult, args: argparse.Namespace) -> list[str]:
    missed: list[str] = []
    tag = f"phase {result.phase}"
    if result.synced < result.administrations:
        missed.append(f"{tag}: only {result.synced}/{result.administrations} administrations synced")
    if result.phase == 1:
        if result.time_to_sync_all is None or result.time_to_sync_all > result.interval:
            missed.append(f"{tag}: not every administration synced within one interval ({result.interval}s)")
        for row in result.processes:
            if row.peak_rss_mb >= args.rss_limit_mb:
                before = row.peak_before_scrape_mb
                detail = f" ({before:.0f} MB before the /metrics scrape)" if before is not None else ""
                missed.append(
                    f"{tag}: peak RSS {row.peak_rss_mb:.0f} MB of {row.name} is not below {args.rss_limit_mb:.0f} MB"
                    + detail
                )
    else:
        if result.ownership_seconds is None:
            missed.append(f"{tag}: the administrations were never all owned by live replicas")
        takeover = result.takeover_seconds
        if args.replicas > 1 and (takeover is None or takeover > result.lease_ttl):
            missed.append(f"{tag}: takeover not within the lease TTL ({result.lease_ttl}s)")
    check = result.check
    if not check:
        missed.append(f"{tag}: no exactly-once check")
    else:
        for name in ("duplicate_emails", "lost", "duplicate_notes"):
            if check[name]:
                missed.append(f"{tag}: {name.replace('_', ' ')} {check[name]}")
    missed += [f"{tag}: {problem}" for problem in result.problems]
    return missed


if __name__ == "__main__":
    main()
