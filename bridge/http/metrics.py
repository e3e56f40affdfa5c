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
* per face, the figures its ``status()`` keeps, named by the face: MQTT
  (``leviton_mqtt_connected``, ``leviton_mqtt_published_messages_total``, ...), BACnet
  (``leviton_bacnet_serving``, ``leviton_bacnet_objects``,
  ``leviton_bacnet_datagrams_total{verdict}``, ...);
* ``leviton_bridge_healthy`` (liveness), ``leviton_bridge_ready`` (readiness), and the
  process's own (CPU, memory, open files).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
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
    from ..core.bridge import BridgeCore

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

    def __init__(self, core: BridgeCore, stats: Sequence[BusStats]) -> None:
        self.core = core
        self.stats = list(stats)

    def collect(self) -> Iterator[Metric]:
        yield from self._readings()
        yield from self._meters()
        yield from self._buses()
        yield from self._faces()
        health = self.core.health
        healthy = GaugeMetricFamily(
            "leviton_bridge_healthy", "1 while /healthz answers 200 (the core polls), else 0"
        )
        healthy.add_metric([], 1.0 if health.check().ok else 0.0)
        ready = GaugeMetricFamily(
            "leviton_bridge_ready", "1 while /readyz answers 200 (every face up), else 0"
        )
        ready.add_metric([], 1.0 if health.readiness().ok else 0.0)
        yield from (healthy, ready)

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
        for state in self.core.states:
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
        for state in self.core.states:
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

    def _faces(self) -> Iterator[Metric]:
        """The figures each face keeps (``FaceStatus.figures``), named by the face."""
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for status in self.core.statuses():
            for figure in status.figures:
                family = families.get(figure.name)
                if family is None:
                    kind = CounterMetricFamily if figure.counter else GaugeMetricFamily
                    family = families[figure.name] = kind(
                        figure.name, figure.help, labels=sorted(figure.labels)
                    )
                family.add_metric(
                    [figure.labels[label] for label in sorted(figure.labels)], float(figure.value)
                )
        yield from families.values()


def registry(core: BridgeCore, stats: Sequence[BusStats]) -> CollectorRegistry:
    """A registry of this bridge alone (not the process-wide default one)."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(BridgeCollector(core, stats))
    ProcessCollector(registry=collectors)
    return collectors
