"""Prometheus metrics. Counters for what this process did (syncs, API calls, 429s); gauges read from the store
at scrape time (invoices, open amounts, actions, outbox, last successful sync), so they survive restarts.
Labels name administrations, platforms, stages and statuses: never a customer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.health.status import AdministrationFigures
from connector.sync import SyncReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreCollector(Collector):
    def __init__(
        self,
        figures: Callable[[], list[AdministrationFigures]],
        clock: Callable[[], datetime],
        live_replicas: Callable[[], int],
        lease_clock: Callable[[], datetime],
    ) -> None:
        self._figures = figures
        self._now = clock
        self._live_replicas = live_replicas
        self._lease_now = lease_clock

    def collect(self) -> Iterator[Metric]:
        figures = self._figures()
        now = self._now()
        lease_now = self._lease_now()
        mirrored = GaugeMetricFamily(
            "connector_invoices_mirrored", "Invoices in the local mirror (open and closed).", labels=["administration"]
        )
        open_count = GaugeMetricFamily("connector_invoices_open", "Open invoices.", labels=["administration"])
        open_amount = GaugeMetricFamily(
            "connector_open_amount", "Open amount of the open invoices.", labels=["administration", "currency"]
        )
        actions = GaugeMetricFamily(
            "connector_actions", "Reminder actions by stage and status.", labels=["administration", "stage", "status"]
        )
        depth = GaugeMetricFamily(
            "connector_outbox_depth", "Actions in the outbox not yet finished.", labels=["administration"]
        )
        oldest = GaugeMetricFamily(
            "connector_outbox_oldest_age_seconds",
            "Age of the oldest unfinished action in the outbox (0 when empty).",
            labels=["administration"],
        )
        last_success = GaugeMetricFamily(
            "connector_last_successful_sync_timestamp_seconds",
            "When the last successful sync finished (Unix time; 0: never).",
            labels=["administration"],
        )
        parked = GaugeMetricFamily(
            "connector_administration_parked", "1 when parked after an auth failure.", labels=["administration"]
        )
        ready = GaugeMetricFamily(
            "connector_administration_ready", "1 when ready (see /readyz).", labels=["administration"]
        )
        quarantined = GaugeMetricFamily(
            "connector_quarantined_records", "Ledger records that could not be mirrored.", labels=["administration"]
        )
        lease_owned = GaugeMetricFamily(
            "connector_lease_owned",
            "1 for the replica that owns the administration now (any replica reports every lease).",
            labels=["administration", "replica"],
        )
        lease_age = GaugeMetricFamily(
            "connector_lease_age_seconds", "Since when the current owner holds the lease.", labels=["administration"]
        )
        takeovers = CounterMetricFamily(
            "connector_lease_takeovers",
            "Leases claimed from a replica that had not let go (it died or hung).",
            labels=["administration"],
        )
        channel_failing = GaugeMetricFamily(
            "connector_channel_failing",
            "1 while a channel (email, task, ledger_reminder, handover) is failing (see channel_failing_after).",
            labels=["administration", "channel"],
        )
        channel_failures = GaugeMetricFamily(
            "connector_channel_failures_in_a_row",
            "Failed tries on a channel since its last success.",
            labels=["administration", "channel"],
        )
        replicas = GaugeMetricFamily("connector_replicas_live", "Replicas with a current heartbeat.")
        replicas.add_metric([], self._live_replicas())
        for item in figures:
            name = item.name
            mirrored.add_metric([name], item.invoices_mirrored)
            open_count.add_metric([name], item.open_invoice_count)
            for currency, amount in sorted(item.open_amounts.items()):
                open_amount.add_metric([name, currency], float(amount))
            for (stage, status), count in sorted(item.actions.items()):
                actions.add_metric([name, stage, status], count)
            depth.add_metric([name], item.outbox_depth)
            age = (now - item.oldest_unfinished_at).total_seconds() if item.oldest_unfinished_at else 0.0
            oldest.add_metric([name], max(age, 0.0))
            last_success.add_metric([name], item.last_success_at.timestamp() if item.last_success_at else 0.0)
            parked.add_metric([name], 1 if item.parked_at else 0)
            ready.add_metric([name], 1 if item.not_ready_because(now) is None else 0)
            quarantined.add_metric([name], item.quarantined)
            for channel in item.channels:
                channel_failing.add_metric(
                    [name, channel.channel], 1 if channel.failing(item.channel_failing_after) else 0
                )
                channel_failures.add_metric([name, channel.channel], channel.failures)
            lease = item.lease
            if lease is not None:
                holder = lease.holder(lease_now)
                if holder is not None:
                    lease_owned.add_metric([name, holder], 1)
                    since = lease.acquired_at or lease_now
                    lease_age.add_metric([name], max((lease_now - since).total_seconds(), 0.0))
                takeovers.add_metric([name], lease.takeovers)
        yield from (mirrored, open_count, open_amount, actions, depth, oldest, last_success, parked, ready, quarantined)
        yield from (lease_owned, lease_age, takeovers, replicas, channel_failing, channel_failures)


class Metrics:
    def __init__(
        self,
        figures: Callable[[], list[AdministrationFigures]],
        clock: Callable[[], datetime],
        live_replicas: Callable[[], int] = lambda: 1,
        lease_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        labels = ["administration", "platform"]
        self.syncs = Counter("connector_syncs", "Sync runs by outcome.", [*labels, "outcome"], registry=self.registry)
        self.sync_seconds = Histogram(
            "connector_sync_duration_seconds",
            "How long sync runs take.",
            ["platform"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.api_calls = Counter("connector_api_calls", "Calls to the ledger's API.", labels, registry=self.registry)
        self.api_throttled = Counter(
            "connector_api_throttled", "429 Too Many Requests answers from the ledger.", labels, registry=self.registry
        )
        self.dispatched = Counter(
            "connector_dispatch_actions",
            "Actions handled by dispatch runs, by result.",
            [*labels, "result"],
            registry=self.registry,
        )
        self.up = Gauge("connector_scheduler_running", "1 while the scheduler runs.", registry=self.registry)
        self.cycles_working = Gauge(
            "connector_cycles_working", "Cycles holding a work slot (max_concurrent_cycles).", registry=self.registry
        )
        self.cycles_waiting = Gauge(
            "connector_cycles_waiting_on_ledger",
            "Cycles that lent their slot while they wait on their ledger's rate limit.",
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(figures, clock, live_replicas, lease_clock or clock))

    def observe_sync(self, report: SyncReport, platform: str, throttled: int) -> None:
        labels = (report.administration, platform)
        self.syncs.labels(*labels, report.outcome).inc()
        self.sync_seconds.labels(platform).observe(report.seconds)
        self.api_calls.labels(*labels).inc(report.api_calls)
        self.api_throttled.labels(*labels).inc(throttled)

    def observe_dispatch(
        self, administration: str, platform: str, results: dict[str, int], calls: int, throttled: int
    ) -> None:
        for result, count in results.items():
            if count:
                self.dispatched.labels(administration, platform, result).inc(count)
        self.api_calls.labels(administration, platform).inc(calls)
        self.api_throttled.labels(administration, platform).inc(throttled)

    def render(self) -> bytes:
        return generate_latest(self.registry)
