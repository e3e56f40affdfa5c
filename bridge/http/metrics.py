"""``/metrics``: the bridge in the Prometheus text format (prometheus_client).

Built from the bridge's state at each scrape (a custom collector), so that polling pays nothing
for it between scrapes. Units are in the names; labels are ``bus``, ``meter`` (the meter's id,
``<bus>_u<unit>``), ``point`` (a Series 8000 metering point; empty for a whole meter's
reading) and ``reading`` (the catalogue key):

* readings, from the catalogue (measurements: the program id is a label of the info metric):
  totals (energy, reactive energy) as counters
  (``leviton_energy_kwh_total``, ``leviton_reactive_energy_kvarh_total``), the rest as gauges
  (``leviton_power_kilowatts``, ``leviton_power_watts``, ``leviton_voltage_volts``, ...);
* per meter: ``leviton_meter_available``, ``leviton_meter_last_read_timestamp_seconds``,
  ``leviton_meter_failed_polls_total{kind}``, ``leviton_meter_info`` (name, unit id, series,
  model, firmware and program id as labels);
* per bus: ``leviton_bus_transactions_total``, ``leviton_bus_round_trip_seconds`` (a
  histogram), ``leviton_bus_cycle_seconds``, ``leviton_bus_poll_interval_seconds``,
  ``leviton_bus_cycles_total``;
* MQTT: ``leviton_mqtt_connected``, ``leviton_mqtt_published_messages_total``,
  ``leviton_mqtt_reconnects_total``, ``leviton_mqtt_connect_failures_total``;
* BACnet: ``leviton_bacnet_serving``, ``leviton_bacnet_objects``, and where the BACnet
  device counts them: ``leviton_bacnet_datagrams_total{verdict}``,
  ``leviton_bacnet_requests_served_total`` and ``leviton_bacnet_cov_subscriptions``;
* ``leviton_bridge_healthy``, and the process's own (CPU, memory, open files).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from leviton_driver.catalogue import READINGS, Reading

from .stats import ROUND_TRIP_BUCKETS, BusStats

if TYPE_CHECKING:
    from ..daemon import Bridge
    from .health import HealthMonitor

_UNIT_NAMES: Final = {
    "kWh": "energy_kwh",
    "kvarh": "reactive_energy_kvarh",
    "kW": "power_kilowatts",
    "W": "power_watts",
    "var": "reactive_power_var",
    "V": "voltage_volts",
    "s": "duration_seconds",
}
READING_LABELS: Final = ("bus", "meter", "point", "reading")


def metric_name(reading: Reading) -> tuple[str, bool]:
    """The metric a reading goes to, and whether it is a counter (an ever-growing total)."""
    if reading.unit is None:
        return f"leviton_{reading.key}", reading.state_class == "total_increasing"
    base = _UNIT_NAMES.get(reading.unit) or re.sub(r"[^a-z0-9]+", "_", reading.unit.lower())
    return f"leviton_{base}", reading.total


class BridgeCollector(Collector):
    """Everything above, read from the bridge when Prometheus scrapes."""

    def __init__(self, bridge: Bridge, stats: Sequence[BusStats], health: HealthMonitor) -> None:
        self.bridge = bridge
        self.stats = list(stats)
        self.health = health

    def collect(self) -> Iterator[Metric]:
        yield from self._readings()
        yield from self._meters()
        yield from self._buses()
        yield from self._publishers()
        healthy = GaugeMetricFamily(
            "leviton_bridge_healthy", "1 while /healthz answers 200, else 0"
        )
        healthy.add_metric([], 1.0 if self.health.check().ok else 0.0)
        yield healthy

    def _readings(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        family_of: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for key, reading in READINGS.items():
            if reading.state_class is None:
                continue  # not a measurement (the program id): a label of leviton_meter_info
            name, counter = metric_name(reading)
            if name not in families:
                unit = f" ({reading.unit})" if reading.unit else ""
                kind = CounterMetricFamily if counter else GaugeMetricFamily
                families[name] = kind(
                    name, f"Meter readings{unit}, by reading", labels=READING_LABELS
                )
            family_of[key] = families[name]
        for state in self.bridge.states:
            snapshot = state.snapshot
            if snapshot is None:
                continue
            labels = (state.bus.name, state.meter_id)
            for key, value in snapshot.readings.items():
                family = family_of.get(key)
                if family is not None and value is not None:
                    family.add_metric([*labels, "", key], value)
            for point, values in snapshot.points.items():
                for key, value in values.items():
                    family = family_of.get(key)
                    if family is not None and value is not None:
                        family.add_metric([*labels, str(point), key], value)
        yield from families.values()

    def _meters(self) -> Iterator[Metric]:
        labels = ["bus", "meter"]
        available = GaugeMetricFamily(
            "leviton_meter_available", "1 while the meter answers (shown online)", labels=labels
        )
        last_read = GaugeMetricFamily(
            "leviton_meter_last_read_timestamp_seconds",
            "When the meter was last read (seconds since the epoch)",
            labels=labels,
        )
        failed = CounterMetricFamily(
            "leviton_meter_failed_polls",
            "Polls that got no usable answer, by the kind of error",
            labels=[*labels, "kind"],
        )
        info = GaugeMetricFamily(
            "leviton_meter_info",
            "The meter's name and what it says it is (always 1)",
            labels=[*labels, "name", "unit", "series", "model", "firmware", "program_id"],
        )
        for state in self.bridge.states:
            ids = [state.bus.name, state.meter_id]
            available.add_metric(ids, 1.0 if state.available else 0.0)
            if state.snapshot is not None:
                last_read.add_metric(ids, state.snapshot.time)
            for kind, count in state.failed_polls.items():
                failed.add_metric([*ids, kind], count)
            identity = state.identity
            series = str(state.meter.series) if state.meter is not None else state.config.series
            firmware = ""
            if identity is not None and (identity.hardware_version or identity.software_version):
                firmware = f"{identity.hardware_version or '?'}/{identity.software_version or '?'}"
            info.add_metric(
                [
                    *ids,
                    state.config.name,
                    str(state.config.unit),
                    series,
                    (identity.model if identity else None) or "",
                    firmware,
                    str(identity.program_id)
                    if identity and identity.program_id is not None
                    else "",
                ],
                1.0,
            )
        yield from (available, last_read, failed, info)

    def _buses(self) -> Iterator[Metric]:
        transactions = CounterMetricFamily(
            "leviton_bus_transactions", "Modbus requests sent on the bus", labels=["bus"]
        )
        round_trip = HistogramMetricFamily(
            "leviton_bus_round_trip_seconds",
            "From a request to the last byte of its answer",
            labels=["bus"],
        )
        cycle = GaugeMetricFamily(
            "leviton_bus_cycle_seconds", "How long the last poll cycle took", labels=["bus"]
        )
        interval = GaugeMetricFamily(
            "leviton_bus_poll_interval_seconds", "The configured poll interval", labels=["bus"]
        )
        cycles = CounterMetricFamily("leviton_bus_cycles", "Poll cycles started", labels=["bus"])
        for stats in self.stats:
            name = stats.poller.config.name
            stats.absorb()
            transactions.add_metric([name], stats.trace.requests)
            cumulative, buckets = 0, []
            for bound, count in zip(
                (*ROUND_TRIP_BUCKETS, float("inf")), stats.bucket_counts, strict=True
            ):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            round_trip.add_metric([name], buckets, stats.round_trip_sum)
            if stats.poller.last_cycle is not None:
                cycle.add_metric([name], stats.poller.last_cycle.seconds)
            interval.add_metric([name], stats.poller.config.poll_interval)
            cycles.add_metric([name], stats.poller.cycles)
        yield from (transactions, round_trip, cycle, interval, cycles)

    def _publishers(self) -> Iterator[Metric]:
        mqtt = self.bridge.mqtt
        if self.bridge.config.mqtt is not None:
            connected = GaugeMetricFamily(
                "leviton_mqtt_connected", "1 while connected to the MQTT broker"
            )
            connected.add_metric(
                [], 1.0 if mqtt is not None and mqtt.disconnected_since is None else 0.0
            )
            published = CounterMetricFamily(
                "leviton_mqtt_published_messages", "Messages handed to the broker connection"
            )
            published.add_metric([], mqtt.published if mqtt is not None else 0)
            reconnects = CounterMetricFamily(
                "leviton_mqtt_reconnects", "Connections to the broker after the first"
            )
            reconnects.add_metric([], max(0, mqtt.connections - 1) if mqtt is not None else 0)
            failures = CounterMetricFamily(
                "leviton_mqtt_connect_failures", "Connection attempts that failed"
            )
            failures.add_metric([], mqtt.connect_failures if mqtt is not None else 0)
            yield from (connected, published, reconnects, failures)
        bacnet = self.bridge.bacnet
        if self.bridge.config.bacnet is not None:
            serving = GaugeMetricFamily(
                "leviton_bacnet_serving", "1 while the BACnet/IP device is serving"
            )
            serving.add_metric([], 1.0 if bacnet is not None and bacnet.app is not None else 0.0)
            objects = GaugeMetricFamily("leviton_bacnet_objects", "BACnet objects of the meters")
            objects.add_metric([], len(bacnet.objects) if bacnet is not None else 0)
            yield from (serving, objects)
            yield from _bacnet_counts(bacnet)


def _bacnet_counts(bacnet: object) -> Iterator[Metric]:
    """What the BACnet device counts, where it counts it: its COV service (``cov``, whose
    length is the subscriptions held) and its ingress (``ingress.verdicts``: datagrams by what
    became of them); ``requests_served`` and ``cov_subscriptions`` if it says so directly.
    Read defensively: a figure the device does not keep is left out, not made up."""
    verdicts = getattr(getattr(bacnet, "ingress", None), "verdicts", None)
    served = getattr(bacnet, "requests_served", None)
    if isinstance(verdicts, Mapping):
        datagrams = CounterMetricFamily(
            "leviton_bacnet_datagrams",
            "BACnet/IP datagrams received, by what became of them (fast: answered from the "
            "object cache; passed: handled by the BACnet stack; the rest refused or dropped)",
            labels=["verdict"],
        )
        for verdict, count in sorted(verdicts.items()):
            datagrams.add_metric([str(verdict)], count)
        yield datagrams
        if served is None:
            served = int(verdicts.get("fast", 0)) + int(verdicts.get("passed", 0))
    if isinstance(served, int):
        family = CounterMetricFamily(
            "leviton_bacnet_requests_served", "BACnet requests the device answered or handled"
        )
        family.add_metric([], served)
        yield family
    subscriptions = getattr(bacnet, "cov_subscriptions", None)
    cov = getattr(bacnet, "cov", None)
    if subscriptions is None and cov is not None and hasattr(cov, "__len__"):
        subscriptions = len(cov)
    if isinstance(subscriptions, int):
        gauge = GaugeMetricFamily(
            "leviton_bacnet_cov_subscriptions", "COV subscriptions the device holds"
        )
        gauge.add_metric([], subscriptions)
        yield gauge


def registry(bridge: Bridge, stats: Sequence[BusStats], health: HealthMonitor) -> CollectorRegistry:
    """A registry of this bridge alone (not the process-wide default one)."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(BridgeCollector(bridge, stats, health))
    ProcessCollector(registry=collectors)
    return collectors
