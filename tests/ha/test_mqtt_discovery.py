"""Home Assistant's own MQTT integration, on the same mosquitto, loads the bridge's discovery.

Nothing is mocked: Home Assistant's MQTT client connects to mosquitto, reads the retained
discovery, creates devices and entities, follows state and availability, and its button's
press travels through mosquitto to the bridge and on to the simulated meter. The bridge and
the simulated meters run as processes of the project's environment, as they would on another
machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.components.mqtt.const import (
    CONF_BIRTH_MESSAGE,
    CONF_BROKER,
    CONF_WILL_MESSAGE,
    CONFIG_ENTRY_MINOR_VERSION,
    CONFIG_ENTRY_VERSION,
)
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.leviton_meters.driver.catalogue import (
    READINGS,
    SERIES_1000_READINGS,
    SERIES_8000_METER_READINGS,
    SERIES_8000_POINT_READINGS,
)
from tests.support import until
from tests.support.mosquitto import Broker

from .conftest import StartBridge, StartSim

SPEC_2000 = "1:2000:model=2N208-021:load=12:energy=5000:peak=9.5:resets=3"
SPEC_1000 = "2:1000:load=2:energy=800"
SPEC_8000 = "3:8000-8:load=16:energy=1600"
POINTS = 8
MQTT = "mqtt"


async def _is(value: Awaitable[int], wanted: int) -> bool:
    return await value == wanted


async def _at_least(value: Awaitable[int], wanted: int) -> bool:
    return await value >= wanted


async def _until(hass: HomeAssistant, check: Callable[[], bool], what: str) -> None:
    """Let Home Assistant work until ``check`` holds."""
    await until(check, what, step=hass.async_block_till_done)


async def test_home_assistant_mqtt_discovery(
    hass: HomeAssistant,
    mock_hass_config: None,  # an empty configuration.yaml, which the MQTT setup reads
    mosquitto: Broker,
    start_sim: StartSim,
    start_bridge: StartBridge,
) -> None:
    sim = await start_sim(SPEC_2000, SPEC_1000, SPEC_8000)
    entry = MockConfigEntry(
        domain=MQTT,
        data={CONF_BROKER: mosquitto.host, CONF_PORT: mosquitto.port},
        options={CONF_BIRTH_MESSAGE: {}, CONF_WILL_MESSAGE: {}},
        version=CONFIG_ENTRY_VERSION,
        minor_version=CONFIG_ENTRY_MINOR_VERSION,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    meters = {unit: await sim.meter(unit) for unit in (1, 2, 3)}
    bridge = start_bridge(
        {
            "buses": [
                {
                    "name": "lab",
                    "connect": sim.url,
                    "poll_interval": 0.5,
                    "meters": [
                        {"unit": 1, "name": "Workshop"},
                        {"unit": 2},
                        {"unit": 3, "name": "Panel"},
                    ],
                }
            ],
            "mqtt": {"url": mosquitto.url, "client_id": f"bridge-{mosquitto.port}"},
            "log_level": "debug",
        }
    )
    entities = er.async_get(hass)
    devices = dr.async_get(hass)

    expected: dict[str, tuple[str, str]] = {}  # unique id -> (platform, reading key or button)
    for object_id, readings in (
        ("leviton_lab_u1", SERIES_1000_READINGS),
        ("leviton_lab_u2", SERIES_1000_READINGS),
        ("leviton_lab_u3", SERIES_8000_METER_READINGS),
        *((f"leviton_lab_u3_p{n}", SERIES_8000_POINT_READINGS) for n in range(1, POINTS + 1)),
    ):
        for reading in readings:
            expected[f"{object_id}_{reading.key}"] = ("sensor", reading.key)
    for object_id in ("leviton_lab_u1", "leviton_lab_u2"):
        expected[f"{object_id}_reset_peak_demand"] = ("button", "reset_peak_demand")

    def entity_id(unique_id: str) -> str | None:
        return entities.async_get_entity_id(expected[unique_id][0], MQTT, unique_id)

    def state_of(unique_id: str) -> str | None:
        found = entity_id(unique_id)
        state = hass.states.get(found) if found else None
        return state.state if state else None

    # Diagnostics come disabled, as this component's own are; the others must have a value once
    # their meter's state has arrived (a button and the derived average and net power stay
    # "unknown" until pressed or until two energy steps).
    enabled = [
        u
        for u, (platform, key) in expected.items()
        if platform == "button" or READINGS[key].enabled_by_default
    ]
    valued = [
        u
        for u in enabled
        if expected[u][0] == "sensor" and expected[u][1] not in ("derived_power", "net_power")
    ]
    await _until(
        hass,
        lambda: (
            all(entity_id(u) for u in expected)
            and all(state_of(u) not in (None, STATE_UNAVAILABLE) for u in enabled)
            and all(state_of(u) != STATE_UNKNOWN for u in valued)
        ),
        "every entity created, the enabled ones available and holding their meter's state",
    )
    mqtt_entities = [e for e in entities.entities.values() if e.platform == MQTT]
    # Series 1000/2000: 8 sensors and a button each; the Series 8000: 3 voltages and the program
    # id, and 6 sensors a point.
    assert len(mqtt_entities) == len(expected) == 8 + 1 + 8 + 1 + 4 + 6 * POINTS

    # Registry entries: classes, units and categories from the reading catalogue.
    for unique_id, (platform, key) in expected.items():
        registered = entities.async_get(entity_id(unique_id) or "")
        assert registered is not None
        if platform == "button":
            assert registered.entity_category is EntityCategory.CONFIG
            assert registered.original_name == "Reset peak demand"
            continue
        reading = READINGS[key]
        assert registered.original_name == reading.name
        assert registered.original_device_class == reading.device_class, unique_id
        assert registered.unit_of_measurement == reading.unit, unique_id
        assert (registered.capabilities or {}).get("state_class") == reading.state_class
        category = EntityCategory(reading.entity_category) if reading.entity_category else None
        assert registered.entity_category == category, unique_id
        if not reading.enabled_by_default:
            assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION, unique_id
            continue
        assert registered.disabled_by is None, unique_id
        state = hass.states.get(registered.entity_id)
        assert state is not None
        assert state.attributes.get("unit_of_measurement") == reading.unit
        assert state.attributes.get("device_class") == reading.device_class
    assert entity_id("leviton_lab_u1_energy_delivered") == "sensor.workshop_energy_delivered"

    # Devices: what the meters say about themselves; each point under its meter.
    workshop = devices.async_get_device(identifiers={(MQTT, "leviton_lab_u1")})
    assert workshop is not None
    assert (workshop.manufacturer, workshop.model, workshop.model_id) == (
        "Leviton",
        "Series 2000",
        "2N208-021",
    )
    assert (workshop.hw_version, workshop.sw_version) == ("3.2", "3.2")
    assert workshop.serial_number is None  # the program id is its own diagnostic sensor
    assert state_of("leviton_lab_u1_program_id") is None  # a diagnostic: disabled
    assert workshop.name == "Workshop"
    assert workshop.via_device_id is None
    unit2 = devices.async_get_device(identifiers={(MQTT, "leviton_lab_u2")})
    assert unit2 is not None
    assert (unit2.name, unit2.model, unit2.model_id) == ("lab unit 2", "Series 1000", "1N240-01D")
    panel = devices.async_get_device(identifiers={(MQTT, "leviton_lab_u3")})
    assert panel is not None
    assert (panel.model, panel.model_id) == (
        "Series 8000 (provisional register map)",
        meters[3]["model"],
    )
    for point in range(1, POINTS + 1):
        device = devices.async_get_device(identifiers={(MQTT, f"leviton_lab_u3_p{point}")})
        assert device is not None
        assert device.via_device_id == panel.id
        assert device.name == f"Panel point {point}"
        assert device.manufacturer == "Leviton"
    registered = entities.async_get(entity_id("leviton_lab_u3_p1_power") or "")
    assert registered is not None
    assert (
        registered.device_id
        == devices.async_get_device(identifiers={(MQTT, "leviton_lab_u3_p1")}).id
    )  # type: ignore[union-attr]

    # States as the simulator holds them.
    assert (
        abs(
            float(state_of("leviton_lab_u1_energy_delivered") or "nan")
            - (await sim.meter(1))["energy_delivered"]
        )
        <= 0.11
    )
    assert float(state_of("leviton_lab_u1_peak_demand") or "nan") == 9.5
    assert state_of("leviton_lab_u1_demand_reset_count") is None  # a diagnostic: disabled
    assert state_of("leviton_lab_u1_energy_received") == "0.0"
    assert (
        abs(
            float(state_of("leviton_lab_u2_energy_delivered") or "nan")
            - (await sim.meter(2))["energy_delivered"]
        )
        <= 0.11
    )
    assert state_of("leviton_lab_u3_voltage_a") == "120.1"
    for point in (1, 2, 8):
        power = state_of(f"leviton_lab_u3_p{point}_power")
        assert power == str(round(meters[3]["point_loads"][str(point)] * 1000))
    # Average power needs two readings 0.1 kWh apart: unknown, not an error, until then.
    assert state_of("leviton_lab_u2_derived_power") == STATE_UNKNOWN

    # The button: one press, one reset, and the new peak demand at once.
    button = entity_id("leviton_lab_u1_reset_peak_demand")
    await hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)

    async def reset_count() -> int:
        count: int = (await sim.meter(1))["reset_count"]
        return count

    await until(lambda: _is(reset_count(), 4), "the meter reset", step=hass.async_block_till_done)
    await _until(
        hass, lambda: state_of("leviton_lab_u1_peak_demand") == "0.0", "peak demand 0 shown"
    )
    # Three more polls of the meter later, still one reset for one press.
    polled = await sim.requests(1)
    await until(
        lambda: _at_least(sim.requests(1), polled + 3),
        "three more polls",
        step=hass.async_block_till_done,
    )
    assert await reset_count() == 4, "one press reset the meter more than once"

    # A meter that stops answering: its entities become unavailable, the others stay.
    await sim.silence(2)
    await _until(
        hass,
        lambda: state_of("leviton_lab_u2_energy_delivered") == STATE_UNAVAILABLE,
        "unit 2 unavailable",
    )
    assert state_of("leviton_lab_u2_reset_peak_demand") == STATE_UNAVAILABLE
    assert state_of("leviton_lab_u1_energy_delivered") != STATE_UNAVAILABLE
    await sim.unsilence(2)
    await _until(
        hass,
        lambda: state_of("leviton_lab_u2_energy_delivered") not in (STATE_UNAVAILABLE, None),
        "unit 2 back",
    )

    # The bridge stops: everything it published becomes unavailable.
    assert await bridge.stop() == 0
    await _until(
        hass,
        lambda: all(state_of(u) == STATE_UNAVAILABLE for u in enabled),
        "every entity unavailable after the bridge stopped",
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
