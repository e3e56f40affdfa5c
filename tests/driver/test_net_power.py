"""Net grid power (Series 1000/2000, derived power on): import minus export, in W, from the
steps of energy delivered and energy received, on modbus-connection's mock unit and a clock the
test moves (nothing sleeps, nothing depends on the wall clock)."""

from __future__ import annotations

import pytest

from leviton_driver.catalogue import DERIVED_POWER, NET_POWER, SERIES_1000_READINGS
from leviton_driver.guard import DerivedPower
from leviton_driver.series1000 import Series1000Meter

from .test_register_model import BLOCK, Clock, MeterUnit, identified_1000, series1000_unit

#: Energy totals in the meter's 0.1 kWh units (registers 40001-40004).
DELIVERED_AT_START = 50_000
RECEIVED_AT_START = 2_000


def _set_totals(unit: MeterUnit, delivered: int, received: int) -> None:
    """Registers 40001-40004: both totals, 32 bits each, high word first, kWh/10."""
    unit.set_words(BLOCK, [delivered >> 16, delivered & 0xFFFF, received >> 16, received & 0xFFFF])


class Site:
    """A meter on a service with solar: the test says what flows, polls go every 30 s."""

    POLL = 30.0

    def __init__(self, unit: MeterUnit, meter: Series1000Meter, clock: Clock) -> None:
        self.unit, self.meter, self.clock = unit, meter, clock
        self.delivered, self.received = DELIVERED_AT_START, RECEIVED_AT_START

    async def run(self, seconds: float, *, import_kw: float = 0.0, export_kw: float = 0.0) -> None:
        """Poll for ``seconds`` while ``import_kw`` or ``export_kw`` flows: the totals step by
        0.1 kWh whenever that much has flowed since the last step (the meter's resolution)."""
        flowed_in = flowed_out = 0.0
        for _ in range(round(seconds / self.POLL)):
            self.clock.now += self.POLL
            flowed_in += import_kw * self.POLL / 3600
            flowed_out += export_kw * self.POLL / 3600
            while flowed_in >= 0.1 - 1e-9:
                self.delivered, flowed_in = self.delivered + 1, flowed_in - 0.1
            while flowed_out >= 0.1 - 1e-9:
                self.received, flowed_out = self.received + 1, flowed_out - 0.1
            _set_totals(self.unit, self.delivered, self.received)
            await self.meter.async_read()

    def reading(self, key: str) -> float | int | None:
        assert self.meter.last is not None
        return self.meter.last.readings[key]


async def _site(**kwargs: bool) -> Site:
    clock = Clock()
    unit = series1000_unit()
    _set_totals(unit, DELIVERED_AT_START, RECEIVED_AT_START)
    meter = await identified_1000(unit, clock=clock, **kwargs)
    return Site(unit, meter, clock)


async def test_net_power_is_positive_while_importing() -> None:
    site = await _site()
    assert site.meter.readings().index(NET_POWER) == site.meter.readings().index(DERIVED_POWER) + 1
    await site.run(60)
    assert site.reading(NET_POWER.key) is None  # two steps are needed, as for average power
    await site.run(600, import_kw=6.0)  # a step of 0.1 kWh every 60 s
    assert site.reading(NET_POWER.key) == 6000
    assert site.reading(DERIVED_POWER.key) == pytest.approx(6.0)


async def test_net_power_is_negative_while_exporting() -> None:
    """Solar exports 4 kW: energy received steps, energy delivered stands still. Once the
    import steps have left the 15-minute window, net power is -4000 W, while average power
    (from energy delivered alone) decays towards zero."""
    site = await _site()
    await site.run(600, import_kw=6.0)
    await site.run(1800, export_kw=4.0)  # a step of 0.1 kWh every 90 s
    assert site.reading(NET_POWER.key) == -4000
    average = site.reading(DERIVED_POWER.key)
    assert isinstance(average, float)
    assert 0 <= average <= 0.1 / (1800 / 3600)  # at most 0.1 kWh since the last import step


async def test_net_power_averages_import_and_export_within_its_window() -> None:
    """Clouds: import and export alternate inside the window. Net power is what crossed the
    meter in all, over the time between the first and last step: every 0.1 kWh step of either
    total counts, up for import and down for export."""
    site = await _site()
    await site.run(1200, export_kw=6.0)  # steady export fills the window with export steps
    assert site.reading(NET_POWER.key) == -6000
    await site.run(360, import_kw=2.0)  # a step every 180 s: two import steps
    net = site.reading(NET_POWER.key)
    assert isinstance(net, int)
    assert -6000 < net < 0  # still mostly export over the window, less of it


async def test_net_power_decays_towards_zero_when_nothing_flows() -> None:
    site = await _site()
    await site.run(900, export_kw=3.0)
    assert site.reading(NET_POWER.key) == -3000
    await site.run(1800)  # the sun sets and the house is idle: no step of either total
    net = site.reading(NET_POWER.key)
    assert isinstance(net, int)
    assert -200 <= net <= 0  # at most 0.1 kWh over the half hour since the last step


async def test_no_net_power_without_derived_power() -> None:
    site = await _site(derived_power=False)
    assert NET_POWER not in site.meter.readings()
    assert DERIVED_POWER not in site.meter.readings()
    assert [r for r in SERIES_1000_READINGS if r not in (DERIVED_POWER, NET_POWER)] == list(
        site.meter.readings()
    )
    await site.run(600, import_kw=6.0)
    assert site.meter.last is not None
    assert NET_POWER.key not in site.meter.last.readings


def test_derived_power_of_a_net_total_is_signed_and_bounded() -> None:
    """``DerivedPower`` fed a total that goes down: negative power, whose magnitude the time
    since the last step bounds as it does for a rising total."""
    power = DerivedPower()
    assert power.update(100.0, 0.0) is None
    assert power.update(99.9, 60.0) is None  # one step: not yet known
    assert power.update(99.8, 120.0) == pytest.approx(-6.0)  # 0.1 kWh a minute, falling
    assert power.update(99.8, 720.0) == pytest.approx(-0.6)  # bounded: 0.1 kWh in 10 minutes
    assert power.update(None, 780.0) == pytest.approx(-0.1 / (660 / 3600), abs=1e-3)
