"""`connector run`: keeps every administration mirrored and its reminders going, unattended, for months.

One APScheduler job per owned administration runs a cycle every `sync_interval_seconds`: sync, then plan
and dispatch (the dispatcher only acts inside the send window). At most `max_concurrent_cycles` work at
once (a cycle that only waits on a ledger's rate limit lends its slot, connector/slots.py); first runs are
spread over most of the interval, so a thousand administrations never start together. A
per-administration lock means cycles of one administration never overlap; coalescing means runs missed
during a pause (a suspended machine, a long sync) collapse into one instead of a burst. One
administration's trouble is reported and contained: an auth failure parks it until a person acts, anything
else is retried on the next cycle. SIGTERM/SIGINT: no new work, the action in hand is finished or cleanly
abandoned (the outbox picks it up on the next start), exit 0 within the grace period.

Ownership comes from leases in the store (connector/replicas.py): alone, this process owns every enabled
administration; with other replicas on the same PostgreSQL, each owns a share, and takes over a dead one's.
On SQLite a second `connector run` refuses to start.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connector.clock import Clock, SystemClock, business_date
from connector.config import AdministrationConfig, Settings
from connector.dispatch.deliveries import delivery_tracker, purge_evidence
from connector.dispatch.dispatcher import Dispatcher
from connector.health.metrics import Metrics
from connector.health.status import (
    AdministrationFigures,
    gather,
    readiness,
    replica_documents,
    status_document,
)
from connector.ledger.http import HttpOptions, close_pools
from connector.ledger.port import ApiBudget
from connector.ledger.registry import PlatformNotAvailable, create_adapter, end_sessions
from connector.log import get_logger, redact_text
from connector.ownership import spread_offsets
from connector.pacing import Pace, average_calls, pace
from connector.replicas import ReplicaKeeper, replica_name
from connector.slots import WAITING_PER_SLOT, WorkSlots
from connector.store import Store
from connector.store.db import ProcessLock, process_lock
from connector.store.leases import Heartbeat, LeaseRow, LeaseStore
from connector.store.overview import OverviewStore
from connector.store.tokens import TokenVault
from connector.store.users import UserStore
from connector.sync import sync_administration
from connector.web.app import Site, create_app
from connector.web.health import HealthEndpoints
from connector.web.server import WebServer

log = get_logger("daemon")
HOUSEKEEPING_SECONDS = 3600
FIRST_RUN_SPACING = 0.5  # seconds between first runs of newly owned administrations, at most...
FIRST_RUN_WINDOW = 0.8  # ...and all of them within this part of the interval
FORGET_REPLICAS_AFTER = timedelta(days=1)


def credential_fingerprint(config: AdministrationConfig, tokens: TokenVault | None = None) -> str:
    """Tells whether the credentials changed since an administration was parked, without keeping them.
    For OAuth ledgers a new consent (a new token chain) or another secret key counts as a change."""
    material = [config.platform, config.base_url or "", *config.secrets()]
    connection = config.token_connection
    if tokens is not None and connection is not None:
        status = tokens.status(connection)
        material += [tokens.key_fingerprint, str(status.generation if status else 0)]
    return hashlib.sha256("\0".join(material).encode()).hexdigest()[:32]


@dataclass
class Pacing:
    """What the daemon knows about one administration's call budget."""

    last_started: float | None = None  # monotonic seconds
    calls_per_cycle: float | None = None
    budget: ApiBudget | None = None
    pace: Pace | None = None


def _version() -> str:
    try:
        return version("ledger-connector")
    except PackageNotFoundError:
        return "unknown"


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        time_scale: float = 1.0,
        http_options: HttpOptions | None = None,
        serve_health: bool = True,
        lease_clock: Clock | None = None,
    ) -> None:
        """`time_scale` > 1 runs the schedule faster than the wall clock, for an accelerated `clock` (the demo).
        Leases keep `lease_clock` (wall time unless a test injects one): they are about processes being alive."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self.lease_clock = lease_clock or SystemClock()
        self.time_scale = time_scale
        self.http_options = http_options
        self.serve_health = serve_health
        self.administrations = {admin.name: admin for admin in settings.enabled_administrations}
        self._locks = {name: threading.Lock() for name in self.administrations}
        self.slots = WorkSlots(settings.connector.max_concurrent_cycles)
        self._housekeeping_lock = threading.Lock()
        self._stopping = threading.Event()
        self._unavailable_logged: set[str] = set()
        self._awaiting_approval: set[str] = set()  # logged once each way, on the transition
        self._pacing = {name: Pacing() for name in self.administrations}
        self.tokens: TokenVault | None = None
        self.started_at: datetime | None = None
        self.store: Store
        self.overview: OverviewStore
        self.scheduler: BackgroundScheduler | None = None
        self.health: WebServer | None = None  # the health endpoints and the cockpit
        self.keeper: ReplicaKeeper | None = None
        self.leases: LeaseStore
        self._process_lock: ProcessLock | None = None
        self.metrics = Metrics(self._figures, self.clock.now, self._live_replicas, self.lease_clock.now)
        self.metrics.cycles_working.set_function(lambda: self.slots.working_now)
        self.metrics.cycles_waiting.set_function(lambda: self.slots.waiting_now)

    # --- lifecycle ------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (and upgrade) the store; `start` does this first. Raises StoreInUse when another process
        runs on the same SQLite file."""
        section = self.settings.connector
        self._process_lock = process_lock(section.database_url)
        if self._process_lock is not None:
            self._process_lock.acquire()
        self.store = Store.open(section.database_url, self.clock, connections=section.max_concurrent_cycles + 4)
        self.overview = OverviewStore(self.store)
        self.leases = LeaseStore(self.store, self.lease_clock)
        self.keeper = ReplicaKeeper(
            self.leases,
            list(self.administrations),
            timedelta(seconds=section.lease_ttl_seconds),
            self.lease_clock,
            name=replica_name(section.replica_name),
            on_change=self._ownership_changed,
            busy=self._busy,
        )
        if self._process_lock is not None:
            # The file lock proves this process runs alone: whoever still holds a lease died (a kill -9 or a
            # crash), so its leases are taken now instead of after they run out.
            freed = self.leases.free_the_dead(self.keeper.name)
            if freed:
                log.info("leases.freed_from_a_dead_process", administrations=len(freed))
        self.keeper.tick()  # alone, this owns everything from here on
        self.tokens = TokenVault.for_settings(self.store, self.settings)
        self.started_at = self.clock.now()
        for name, record in self.overview.administrations().items():
            if record.parked and name in self.administrations:
                log.warning("administration.parked", administration=name, reason=record.parked_reason)

    def start(self) -> None:
        section = self.settings.connector
        self.open()
        if self.serve_health:
            self.health = WebServer(
                create_app(Site(self.settings, self.store, self.clock), self.endpoints()),
                section.health_host,
                section.health_port,
            )
            self.health.start()
        workers = min(section.max_concurrent_cycles * WAITING_PER_SLOT, max(len(self.administrations), 1))
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max_workers=workers),
                "housekeeping": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_job(
            self.housekeeping,
            IntervalTrigger(seconds=max(HOUSEKEEPING_SECONDS / self.time_scale, 1.0)),
            id="housekeeping",
            executor="housekeeping",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self.deliveries,
            IntervalTrigger(seconds=max(section.delivery_poll_seconds / self.time_scale, 1.0)),
            id="deliveries",
            executor="housekeeping",
            next_run_time=datetime.now(UTC) + timedelta(seconds=5 / self.time_scale),
        )
        self.scheduler.start()
        keeper = self.keeper
        assert keeper is not None
        self._schedule(sorted(keeper.owned()))
        keeper.start()
        self.metrics.up.set(1)
        log.info(
            "daemon.started",
            administrations=len(self.administrations),
            owned=len(keeper.owned()),
            replica=keeper.name,
            replicas=len(keeper.last.live_replicas) if keeper.last else 1,
            health=self.health.url if self.health else None,
            version=_version(),
        )

    def _ownership_changed(self, heartbeat: Heartbeat) -> None:
        """Schedule what this replica now owns, unschedule what it let go or lost."""
        scheduler = self.scheduler
        if scheduler is None or self._stopping.is_set():
            return
        for name in [*heartbeat.released, *heartbeat.lost]:
            with contextlib.suppress(JobLookupError):
                scheduler.remove_job(f"cycle:{name}")
        self._schedule(heartbeat.claimed)

    def _schedule(self, names: list[str]) -> None:
        """A job for each newly owned administration, first runs spread out (a takeover of hundreds, or a
        start with a thousand, never fires at once)."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        claimed = [name for name in names if name in self.administrations]
        order = spread_offsets(claimed, 1.0)
        now = datetime.now(UTC)  # the scheduler keeps wall-clock time; business time is self.clock
        for name in claimed:
            interval = self.administrations[name].sync_interval / self.time_scale
            window = min(FIRST_RUN_WINDOW * interval, len(claimed) * FIRST_RUN_SPACING / self.time_scale)
            scheduler.add_job(
                self.cycle,
                IntervalTrigger(seconds=interval),
                args=[name],
                id=f"cycle:{name}",
                name=f"sync and dispatch {name}",
                next_run_time=now + timedelta(seconds=order[name] * window),
                replace_existing=True,
            )

    def _busy(self) -> set[str]:
        return {name for name, lock in self._locks.items() if lock.locked()}

    def stop(self) -> bool:
        """Stop taking work and wait (up to the grace period) for the cycles in hand; True when all finished."""
        self._stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.metrics.up.set(0)
        deadline = time.monotonic() + self.settings.connector.shutdown_grace_seconds
        clean = True
        for name, lock in [*self._locks.items(), ("housekeeping", self._housekeeping_lock)]:
            if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                clean = False
                log.warning(
                    "daemon.abandoning", administration=name, detail="still busy at the end of the grace period"
                )
        if self.health is not None:
            self.health.stop()
        if clean:
            end_sessions()  # only when no cycle still uses them
            close_pools()
        # Clean: hand the leases back now, so other replicas need not wait for them to run out. Not clean:
        # a cycle may still act, so they run out by themselves (the fences stop it by then).
        self.close(release=clean)
        log.info("daemon.stopped", clean=clean)
        return clean

    def close(self, *, release: bool = True) -> None:
        """Let go of the leases (unless told not to), the store and the SQLite process lock."""
        if self.keeper is not None:
            self.keeper.stop(release=release)
        if release:
            self.store.close()
        if self._process_lock is not None:
            self._process_lock.release()

    def serve(self) -> bool:
        """Run until SIGTERM or SIGINT (or the scheduler dies); returns whether the shutdown was clean."""
        signalled = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("daemon.signal", signal=signal.Signals(signum).name)
            signalled.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not signalled.wait(0.5):
                if self.scheduler is None or not self.scheduler.running:
                    log.error("daemon.scheduler_stopped")
                    break
            return self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # --- the jobs -------------------------------------------------------------------------------------

    def cycle(self, name: str) -> None:
        """Sync one administration, then plan and dispatch; never raises (a defect costs one cycle)."""
        if self._stopping.is_set() or self.keeper is None:
            return
        try:
            if not self.keeper.holds_fresh(name):
                return
        except Exception:
            log.exception("cycle.lease_unknown", administration=name)
            return
        lock = self._locks[name]
        if not lock.acquire(blocking=False):
            log.info("cycle.skipped", administration=name, reason="the previous cycle is still running")
            return
        try:
            with structlog.contextvars.bound_contextvars(administration=name), self.slots.working():
                if not self._stopping.is_set():  # the wait for a slot may have outlasted the run
                    self._cycle(self.administrations[name])
        except Exception:
            log.exception("cycle.crashed", administration=name)
        finally:
            lock.release()

    def _owns(self, name: str) -> bool:
        return self.keeper is not None and self.keeper.holds(name)

    def _should_stop(self, name: str) -> bool:
        return self._stopping.is_set() or not self._owns(name)

    def _cycle(self, config: AdministrationConfig) -> None:
        if self._parked(config) or self._budget_says_wait(config):
            return
        try:
            adapter = create_adapter(config, self.clock, self.http_options, self.tokens)
        except PlatformNotAvailable as exc:
            if config.name not in self._unavailable_logged:
                self._unavailable_logged.add(config.name)
                log.error("cycle.platform_not_available", error=str(exc))
            return
        pacing = self._pacing[config.name]
        pacing.last_started = time.monotonic()
        try:
            self._sync_and_dispatch(config, adapter)
        finally:
            pacing.calls_per_cycle = average_calls(pacing.calls_per_cycle, sum(adapter.api_calls().values()))
            pacing.budget = adapter.budget() or pacing.budget

    def _record_figures(self, name: str) -> None:
        """Today's receivables of a freshly synced administration, for the cockpit's overview (never fatal)."""
        try:
            administration_id = self.store.administration_id(name)
            if administration_id is not None:
                today = business_date(self.clock, self.settings.connector.zone)
                self.overview.record_day(today, administration_id)
        except Exception:
            log.exception("figures.not_recorded", administration=name)

    def _budget_says_wait(self, config: AdministrationConfig) -> bool:
        """Stretch the interval when the day's remaining calls would not last at the configured one."""
        pacing = self._pacing[config.name]
        reserve = config.reserved_calls
        previous = pacing.pace
        pacing.pace = pace(
            config.sync_interval, pacing.budget, pacing.calls_per_cycle or 0.0, reserve, datetime.now(UTC)
        )
        if pacing.pace.stretched != (previous.stretched if previous else False):
            log.info("budget.pace", stretched=pacing.pace.stretched, reason=pacing.pace.reason)
        if not pacing.pace.stretched or pacing.last_started is None:
            return False
        elapsed = (time.monotonic() - pacing.last_started) * self.time_scale
        return elapsed < pacing.pace.interval_seconds - 1

    def _sync_and_dispatch(self, config: AdministrationConfig, adapter: Any) -> None:
        with adapter:
            report = sync_administration(
                self.store,
                adapter,
                name=config.name,
                ledger_reference=config.ledger_reference,
                clock=self.clock,
                should_stop=lambda: self._should_stop(config.name),
            )
            throttled = adapter.throttled_responses()
            self.metrics.observe_sync(report, config.platform, throttled)
            if report.outcome == "auth_failed":
                self._park(config, report.error or "the ledger refused the credentials")
                return
            if report.ok:
                self._record_figures(config.name)
            fence = self.keeper.fence(config.name) if self.keeper is not None else None
            if not report.ok or fence is None or self._stopping.is_set():
                return  # act only on a fresh mirror, and only under a lease
            dispatcher = Dispatcher.for_settings(self.settings, self.store, adapter, config, self.clock, fence=fence)
            reserve = config.reserved_calls

            def should_stop() -> bool:
                budget = adapter.budget()
                if budget is not None and budget.remaining <= reserve:
                    log.warning("dispatch.budget_reserve_reached", remaining=budget.remaining, reserve=reserve)
                    return True  # the rest waits for the next cycle; the reserve is for people and tools
                return self._should_stop(config.name)

            dispatcher.should_stop = should_stop
            result = dispatcher.run()
            self._note_approval(config.name, result.awaiting_approval)
            self.metrics.observe_dispatch(
                config.name,
                config.platform,
                {"executed": result.executed, "dropped": result.dropped, "retried": result.retried,
                 "failed": result.failed, "review": result.review},
                sum(adapter.api_calls().values()) - report.api_calls,
                adapter.throttled_responses() - throttled,
            )  # fmt: skip
            if result.executed or result.dropped or result.failed or result.review or result.notes_written:
                log.info("dispatch.finished", **{k: v for k, v in result.to_json().items() if k != "administration"})

    def _note_approval(self, name: str, awaiting: str | None) -> None:
        if awaiting is not None and name not in self._awaiting_approval:
            self._awaiting_approval.add(name)
            log.warning("administration.awaiting_approval", administration=name, reason=awaiting)
        elif awaiting is None and name in self._awaiting_approval:
            self._awaiting_approval.discard(name)
            log.info("administration.approved", administration=name)

    def _parked(self, config: AdministrationConfig) -> bool:
        record = self.overview.administration(config.name)  # read each cycle: `connector unpark` acts at once
        if record is None or not record.parked:
            return False
        if record.parked_credential != credential_fingerprint(config, self.tokens):
            self.overview.unpark(config.name, by="connector: the credentials changed")
            log.info("administration.unparked", reason="the credentials changed")
            return False
        return True

    def _park(self, config: AdministrationConfig, reason: str) -> None:
        administration_id = self.store.administration_id(config.name)
        if administration_id is None:
            return
        self.overview.park(administration_id, redact_text(reason), credential_fingerprint(config, self.tokens))
        log.error(
            "administration.parked",
            reason=reason,
            action="renew the credentials in the configuration (or run `connector unpark`); "
            "nothing is tried until then",
        )

    def housekeeping(self) -> None:
        if self._stopping.is_set() or not self._housekeeping_lock.acquire(blocking=False):
            return
        try:
            cutoff = self.clock.now() - timedelta(days=self.settings.connector.keep_sync_runs_days)
            pruned = self.overview.prune_sync_runs(cutoff)
            if pruned:
                log.info("housekeeping.pruned_sync_runs", runs=pruned)
            self.store.forget_api_calls(self.clock.now() - timedelta(days=1))  # windows are minutes long
            forgotten = self.leases.forget_replicas(self.lease_clock.now() - FORGET_REPLICAS_AFTER)
            if forgotten:
                log.info("housekeeping.forgot_replicas", replicas=forgotten)
            purge_evidence(self.store, self.clock, self.settings.connector.evidence_retention_days)
            # The day's receivables, for the cockpit's DSO over time: rewritten through the day, so a day keeps
            # what it closed with.
            self.overview.record_day(business_date(self.clock, self.settings.connector.zone))
            UserStore(self.store).prune(self.clock.now() - timedelta(days=1))
        except Exception:
            log.exception("housekeeping.crashed")
        finally:
            self._housekeeping_lock.release()

    def deliveries(self) -> None:
        """Read what came back (bounces, auto-replies) and ask the post service about posted letters."""
        if self._stopping.is_set():
            return
        try:
            boxes = [
                email.bounces
                for admin in self.administrations.values()
                if (email := self.settings.email_for(admin)) is not None and email.bounces is not None
            ]
            tracker = delivery_tracker(self.settings, self.store, self.clock)
            tracker.poll_post(tracker.read_mailboxes(boxes))
        except Exception:
            log.exception("deliveries.crashed")

    # --- what the health endpoint asks ----------------------------------------------------------------

    def _figures(self) -> list[AdministrationFigures]:
        return gather(self.overview, self.settings, self._leases())

    def _live_replicas(self) -> int:
        now = self.lease_clock.now()
        return sum(1 for replica in self.leases.replicas() if replica.expires_at > now)

    def _leases(self) -> dict[str, LeaseRow]:
        return {row.administration: row for row in self.leases.leases()}

    def endpoints(self) -> HealthEndpoints:
        """What /healthz, /readyz, /metrics and /status answer with."""
        token = self.settings.connector.status_token
        return HealthEndpoints(
            liveness=self.liveness,
            readiness=self.readiness,
            metrics=self.metrics.registry,
            status=self.status,
            status_token=token.get_secret_value() if token else None,
        )

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        scheduler = self.scheduler
        thread = getattr(scheduler, "_thread", None)
        alive = scheduler is not None and scheduler.running and (thread is None or thread.is_alive())
        return alive, {
            "alive": alive,
            "scheduler": "running" if alive else "stopped",
            "stopping": self._stopping.is_set(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        try:
            self.overview.ping()
            figures = gather(self.overview, self.settings, detail=False)  # no invoice or action figures
        except Exception as exc:
            return readiness([], self.clock.now(), type(exc).__name__)
        return readiness(figures, self.clock.now(), None)

    def status(self) -> dict[str, Any]:
        leases = self._leases()  # read once for the figures and the replica list
        figures = gather(self.overview, self.settings, leases)
        return status_document(figures, self.overview, self.settings, self.clock, self._runtime(leases))

    def _runtime(self, leases: dict[str, LeaseRow]) -> dict[str, Any]:
        next_runs: dict[str, str] = {}
        if self.scheduler is not None and self.scheduler.running:
            wall, now = datetime.now(UTC), self.clock.now()
            for name in self.administrations:
                job = self.scheduler.get_job(f"cycle:{name}")
                if job is not None and job.next_run_time is not None:
                    ahead = (job.next_run_time - wall).total_seconds() * self.time_scale
                    next_runs[name] = (now + timedelta(seconds=max(ahead, 0))).isoformat()
        budgets: dict[str, dict[str, Any]] = {}
        for name, pacing in self._pacing.items():
            if pacing.budget is not None:
                budgets[name] = {
                    **pacing.budget.to_json(),
                    "reserve": self.administrations[name].reserved_calls,
                    "calls_per_cycle": round(pacing.calls_per_cycle or 0, 1),
                    "interval_seconds": round(pacing.pace.interval_seconds) if pacing.pace else None,
                    "stretched": bool(pacing.pace and pacing.pace.stretched),
                }
        lease_now = self.lease_clock.now()
        keeper = self.keeper
        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "version": _version(),
            "next_runs": next_runs,
            "api_budgets": budgets,
            "lease_now": lease_now,
            "replica": None
            if keeper is None
            else {
                "name": keeper.name,
                "administrations": len(keeper.owned()),
                "lease_ttl_seconds": int(keeper.ttl.total_seconds()),
                "heartbeat_failures": keeper.failures,
            },
            "replicas": replica_documents(self.leases.replicas(), leases, lease_now),
        }
