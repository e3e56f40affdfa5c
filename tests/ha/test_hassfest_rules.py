"""hassfest's rules for the manifest, translations, services and icons, applied to the component.

hassfest (``script/hassfest`` of home-assistant/core) is what Home Assistant's CI and the
``home-assistant/actions/hassfest`` GitHub action run on an integration, but it is not shipped
in the homeassistant wheel. The checks it makes on a custom integration are re-created here
from its source (manifest.py, requirements.py, config_flow.py, json.py, translations.py,
services.py, icons.py and dependencies.py of the dev branch, early 2026), built on the installed
release's own validators, so they run on every Home Assistant release the component is tested
on. They run as hassfest runs on a custom integration (``--integration-path``, which the GitHub
action uses): the integration alone, so the dependency rule knows no other integration's files.

hassfest makes a few checks only for core integrations (a name, a description and an icon for
every service action, no translated field that services.yaml does not have); the component is
held to them too, and each says so ("core's bar"). Every rule returns hassfest-style messages,
and the last tests show on bad copies of the component's files that each rule can fail.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, get_args, get_type_hints
from urllib.parse import urlparse

import homeassistant
import homeassistant.helpers.config_validation as cv
import pytest
import voluptuous as vol
from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant.const import CONF_SELECTOR, Platform
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import selector, service
from homeassistant.loader import Manifest
from homeassistant.requirements import DISCOVERY_INTEGRATIONS
from homeassistant.util.yaml import load_yaml_dict
from voluptuous.humanize import humanize_error

COMPONENT = Path(__file__).parents[2] / "custom_components" / "leviton_meters"
CORE_COMPONENTS = Path(homeassistant.__file__).parent / "components"

Files = dict[str, Any]


def _invalid(name: str, data: Any, err: vol.Invalid) -> list[str]:
    """hassfest's message, one per error (hassfest joins them in one)."""
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    return [f"Invalid {name}: {humanize_error(data, error)}" for error in errors]


# --- manifest.json (hassfest manifest.py) -------------------------------------------------------

_CORE_DOCUMENTATION_BASE = "https://www.home-assistant.io/integrations"
# ScaledQualityScaleTiers (bronze..platinum) and NonScaledQualityScaleTiers of hassfest.
SCALED_QUALITY_SCALES = ["bronze", "silver", "gold", "platinum"]
SUPPORTED_QUALITY_SCALES = [*SCALED_QUALITY_SCALES, "custom", "no_score", "internal", "legacy"]
SUPPORTED_IOT_CLASSES = [
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
]
# hassfest's IntegrationType without "virtual"; the loader's Manifest type lists the same.
INTEGRATION_TYPES = [
    kind for kind in get_args(get_type_hints(Manifest)["integration_type"]) if kind != "virtual"
]
# Integrations that must not have an IoT class: the entity platforms and these.
_NO_IOT_CLASS_NAMES = """
    api application_credentials auth automation battery blueprint brands color_extractor
    config configurator counter default_config device_automation device_tracker diagnostics
    door doorbell downloader ffmpeg file_upload frontend garage_door gate hardkernel
    hardware history homeassistant homeassistant_alerts homeassistant_connect_zbt2
    homeassistant_green homeassistant_hardware homeassistant_sky_connect
    homeassistant_yellow humidity illuminance image_upload input_boolean input_button
    input_datetime input_number input_select input_text intent_script intent logbook logger
    lovelace map_tiles media_source moisture motion my occupancy onboarding panel_custom
    plant power profiler proxy python_script raspberry_pi recovery_mode repairs schedule
    script search system_health system_log tag temperature timer trace vibration web_rtc
    webhook websocket_api window zone
"""
NO_IOT_CLASS = {platform.value for platform in Platform} | set(_NO_IOT_CLASS_NAMES.split())
# requirements.py: what a requirement must look like (format-only, as for custom integrations).
PACKAGE_REGEX = re.compile(r"^(?:--.+\s)?([-_,\.\w\d\[\]]+)(==|>=|<=|~=|!=|<|>|===)*(.*)$")


def custom_documentation_url(value: str) -> str:
    """A custom integration documents itself over https, and not on home-assistant.io."""
    if urlparse(value).scheme != "https":
        raise vol.Invalid("Documentation url is not prefixed with https")
    if value.startswith(_CORE_DOCUMENTATION_BASE):
        raise vol.Invalid("Documentation URL should point to the custom integration documentation")
    return value


def verify_lowercase(value: str) -> str:
    """Discovery matchers are compared lowercase."""
    if value.lower() != value:
        raise vol.Invalid("Value needs to be lowercase")
    return value


def verify_uppercase(value: str) -> str:
    """MAC address and USB id matchers are compared uppercase."""
    if value.upper() != value:
        raise vol.Invalid("Value needs to be uppercase")
    return value


def verify_wildcard(value: str) -> str:
    """A MAC address matcher needs a wildcard."""
    if "*" not in value:
        raise vol.Invalid(f"'{value}' needs to contain a wildcard matcher")
    return value


def verify_version(value: str) -> str:
    """The loader blocks a custom integration whose version these strategies cannot read."""
    try:
        AwesomeVersion(
            value,
            ensure_strategy=[
                AwesomeVersionStrategy.CALVER,
                AwesomeVersionStrategy.SEMVER,
                AwesomeVersionStrategy.SIMPLEVER,
                AwesomeVersionStrategy.BUILDVER,
                AwesomeVersionStrategy.PEP440,
            ],
        )
    except AwesomeVersionException as err:
        raise vol.Invalid(f"'{value}' is not a valid version.") from err
    return value


INTEGRATION_MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type", default="hub"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): [
            vol.Any(
                str,
                vol.All(
                    cv.deprecated("macaddress"),
                    cv.deprecated("model"),
                    cv.deprecated("manufacturer"),
                    vol.Schema(
                        {
                            vol.Required("type"): str,
                            vol.Optional("macaddress"): vol.All(
                                str, verify_uppercase, verify_wildcard
                            ),
                            vol.Optional("manufacturer"): vol.All(str, verify_lowercase),
                            vol.Optional("model"): vol.All(str, verify_lowercase),
                            vol.Optional("name"): vol.All(str, verify_lowercase),
                            vol.Optional("properties"): vol.Schema({str: verify_lowercase}),
                        }
                    ),
                ),
            )
        ],
        vol.Optional("ssdp"): vol.Schema(
            vol.All([vol.All(vol.Schema({}, extra=vol.ALLOW_EXTRA), vol.Length(min=1))])
        ),
        vol.Optional("bluetooth"): [
            vol.Schema(
                {
                    vol.Optional("connectable"): bool,
                    vol.Optional("service_uuid"): vol.All(str, verify_lowercase),
                    vol.Optional("service_data_uuid"): vol.All(str, verify_lowercase),
                    vol.Optional("local_name"): vol.All(str),
                    vol.Optional("manufacturer_id"): int,
                    vol.Optional("manufacturer_data_start"): [int],
                }
            )
        ],
        vol.Optional("homekit"): vol.Schema({vol.Optional("models"): [str]}),
        vol.Optional("dhcp"): [
            vol.Schema(
                {
                    vol.Optional("macaddress"): vol.All(str, verify_uppercase, verify_wildcard),
                    vol.Optional("hostname"): vol.All(str, verify_lowercase),
                    vol.Optional("registered_devices"): cv.boolean,
                }
            )
        ],
        vol.Optional("usb"): [
            vol.Schema(
                {
                    vol.Optional("vid"): vol.All(str, verify_uppercase),
                    vol.Optional("pid"): vol.All(str, verify_uppercase),
                    vol.Optional("serial_number"): vol.All(str, verify_lowercase),
                    vol.Optional("manufacturer"): vol.All(str, verify_lowercase),
                    vol.Optional("description"): vol.All(str, verify_lowercase),
                    vol.Optional("known_devices"): [str],
                }
            )
        ],
        vol.Required("documentation"): vol.All(vol.Url(), str),
        vol.Optional("quality_scale"): vol.In(SUPPORTED_QUALITY_SCALES),
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): [str],
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Optional("iot_class"): vol.In(SUPPORTED_IOT_CLASSES),
        vol.Optional("single_config_entry"): bool,
        vol.Optional("preview_features"): vol.Schema(
            {
                cv.slug: vol.Schema(
                    {
                        vol.Optional("feedback_url"): vol.Url(),
                        vol.Optional("learn_more_url"): vol.Url(),
                        vol.Optional("report_issue_url"): vol.Url(),
                    }
                )
            }
        ),
    }
)

CUSTOM_INTEGRATION_MANIFEST_SCHEMA = INTEGRATION_MANIFEST_SCHEMA.extend(
    {
        vol.Required("documentation"): vol.All(vol.Url(), custom_documentation_url),
        vol.Optional("version"): vol.All(str, verify_version),
        vol.Optional("issue_tracker"): vol.Url(),
        vol.Optional("import_executor"): bool,
    }
)


def _sorted_manifest_keys(manifest: dict[str, Any]) -> list[str]:
    """domain, name, then the other keys in alphabetical order."""
    order = {"domain": ".domain", "name": ".name"}
    return sorted(manifest, key=lambda key: order.get(key, key))


def manifest_errors(manifest: dict[str, Any], folder: str) -> list[str]:
    """manifest.py's validate_manifest and sort_manifest, and requirements.py's format check."""
    errors: list[str] = []
    try:
        CUSTOM_INTEGRATION_MANIFEST_SCHEMA(manifest)
    except vol.Invalid as err:
        errors += _invalid("manifest", manifest, err)
    domain = manifest.get("domain")
    if domain != folder:
        errors.append("Domain does not match dir name")
    if domain in NO_IOT_CLASS and "iot_class" in manifest:
        errors.append("Domain should not have an IoT Class")
    if domain not in NO_IOT_CLASS and "iot_class" not in manifest:
        errors.append("Domain is missing an IoT Class")
    quality_scale = manifest.get("quality_scale")
    if (
        quality_scale in SCALED_QUALITY_SCALES
        and SCALED_QUALITY_SCALES.index(quality_scale) >= SCALED_QUALITY_SCALES.index("silver")
        and not manifest.get("codeowners")
    ):
        errors.append(f"{quality_scale} integration does not have a code owner")
    if not manifest.get("version"):
        errors.append("No 'version' key in the manifest file.")
    if not errors and list(manifest) != _sorted_manifest_keys(manifest):
        errors.append(
            "Manifest keys are not sorted correctly: domain, name, then alphabetical order"
        )
    requirements = manifest.get("requirements", [])
    for req in requirements if isinstance(requirements, list) else []:
        if not isinstance(req, str):
            continue
        if " " in req:
            errors.append(f'Requirement "{req}" contains a space')
        elif not PACKAGE_REGEX.match(req):
            errors.append(f'Requirement "{req}" does not match package regex pattern')
    return errors


# --- strings.json and translations/en.json (hassfest translations.py) ---------------------------

UNDEFINED, REQUIRED, REMOVED = 0, 1, 2
RE_TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
RE_COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")
RE_PLACEHOLDER_IN_SINGLE_QUOTES = re.compile(r"'{\w+}'")
REMOVED_TITLE_MSG = (
    "config.title key has been moved out of config and into the root of strings.json. "
    "Starting Home Assistant 0.109 you only need to define this key in the root "
    "if the title needs to be different than the name of your integration in the "
    "manifest."
)


def translation_key_validator(value: str) -> str:
    """Translation keys are lowercase slugs with single hyphens or underscores inside."""
    if RE_TRANSLATION_KEY.match(value) is None:
        raise vol.Invalid(
            f"Invalid translation key '{value}', need to be [a-z0-9-_]+ and"
            " cannot start or end with a hyphen or underscore."
        )
    return value


def translation_value_validator(value: Any) -> str:
    """A translated string: no HTML, no '{placeholder}' in quotes, no combined references, no
    leading or trailing spaces."""
    string_value: str = cv.string_with_no_html(value)
    if RE_PLACEHOLDER_IN_SINGLE_QUOTES.search(string_value):
        raise vol.Invalid("the string should not contain placeholders inside single quotes")
    if RE_COMBINED_REFERENCE.search(string_value):
        raise vol.Invalid("the string should not contain combined translations")
    if string_value != string_value.strip():
        raise vol.Invalid("the string should not contain leading or trailing spaces")
    return string_value


def removed_title_validator(value: Any) -> Any:
    """A config.title is only a warning for a custom integration."""
    warnings.warn(REMOVED_TITLE_MSG, stacklevel=2)
    return value


def _keys(validator: Any) -> Callable[[Any], Any]:
    """A dict whose keys are translation keys and whose values pass ``validator``."""
    return cv.schema_with_slug_keys(validator, slug_validator=translation_key_validator)


def gen_data_entry_schema(
    *,
    flow_title: int,
    require_step_title: bool,
    mandatory_description: str | None = None,
    subentry_flow: bool = False,
) -> vol.All:
    """A config, options, subentry or repair flow: steps, errors, aborts, progress."""
    step_title: type[vol.Marker] = vol.Required if require_step_title else vol.Optional
    data = {str: translation_value_validator}
    schema: dict[vol.Marker | str, Any] = {
        vol.Optional("flow_title"): translation_value_validator,
        vol.Required("step"): {
            str: {
                step_title("title"): translation_value_validator,
                vol.Optional("description"): translation_value_validator,
                vol.Optional("data"): data,
                vol.Optional("data_description"): data,
                vol.Optional("menu_options"): data,
                vol.Optional("submit"): translation_value_validator,
                vol.Optional("sections"): {
                    str: {
                        vol.Optional("data"): data,
                        vol.Optional("data_description"): data,
                        vol.Optional("description"): translation_value_validator,
                        vol.Optional("name"): translation_value_validator,
                    }
                },
            }
        },
        vol.Optional("error"): data,
        vol.Optional("abort"): data,
        vol.Optional("progress"): data,
        vol.Optional("create_entry"): data,
    }
    if flow_title == REQUIRED:
        schema[vol.Required("title")] = translation_value_validator
    elif flow_title == REMOVED:
        schema[vol.Optional("title", msg=REMOVED_TITLE_MSG)] = removed_title_validator
    if subentry_flow:
        schema[vol.Required("entry_type")] = translation_value_validator
        schema[vol.Required("initiate_flow")] = {
            vol.Required("user"): translation_value_validator,
            str: translation_value_validator,
        }

    def data_description_validator(value: dict[str, Any]) -> dict[str, Any]:
        """A field's description belongs to a field of the same step."""
        for step_info in value["step"].values():
            for key in step_info.get("data_description", {}):
                if key not in step_info.get("data", {}):
                    raise vol.Invalid(f"data_description key {key} is not in data")
        return value

    validators: list[Any] = [vol.Schema(schema), data_description_validator]
    if mandatory_description is not None:

        def validate_description_set(value: dict[str, Any]) -> dict[str, Any]:
            """A helper's first step explains what the helper does."""
            steps = value["step"]
            if mandatory_description not in steps:
                raise vol.Invalid(f"{mandatory_description} needs to be defined")
            if "description" not in steps[mandatory_description]:
                raise vol.Invalid(f"Step {mandatory_description} needs a description")
            return value

        validators.append(validate_description_set)
    return vol.All(*validators)


def gen_issues_schema() -> dict[Any, Any]:
    """A repair issue has a title and either a description or a fix flow."""
    return {
        str: vol.All(
            cv.has_at_least_one_key("description", "fix_flow"),
            vol.Schema(
                {
                    vol.Required("title"): translation_value_validator,
                    vol.Exclusive("description", "fixable"): translation_value_validator,
                    vol.Exclusive("fix_flow", "fixable"): gen_data_entry_schema(
                        flow_title=UNDEFINED, require_step_title=False
                    ),
                }
            ),
        )
    }


def gen_strings_schema(integration_type: str) -> vol.Schema:
    """translations.py's schema of an integration's strings.json."""
    state_attributes = _keys(
        {
            vol.Optional("name"): translation_value_validator,
            vol.Optional("state"): _keys(translation_value_validator),
        }
    )
    return vol.Schema(
        {
            vol.Optional("title"): translation_value_validator,
            vol.Optional("config"): gen_data_entry_schema(
                flow_title=REMOVED,
                require_step_title=False,
                mandatory_description="user" if integration_type == "helper" else None,
            ),
            vol.Optional("config_subentries"): cv.schema_with_slug_keys(
                gen_data_entry_schema(
                    flow_title=REQUIRED, require_step_title=False, subentry_flow=True
                ),
                slug_validator=vol.Any("_", cv.slug),
            ),
            vol.Optional("options"): gen_data_entry_schema(
                flow_title=UNDEFINED, require_step_title=False
            ),
            vol.Optional("selector"): cv.schema_with_slug_keys(
                {"options": _keys(translation_value_validator)},
                slug_validator=vol.Any("_", cv.slug),
            ),
            vol.Optional("device_automation"): {
                vol.Optional(key): {str: translation_value_validator}
                for key in (
                    "action_type",
                    "condition_type",
                    "trigger_type",
                    "trigger_subtype",
                    "extra_fields",
                    "extra_fields_descriptions",
                )
            },
            vol.Optional("system_health"): {
                vol.Optional("info"): _keys(translation_value_validator)
            },
            vol.Optional("config_panel"): cv.schema_with_slug_keys(
                _keys(translation_value_validator), slug_validator=vol.Any("_", cv.slug)
            ),
            vol.Optional("application_credentials"): {
                vol.Optional("description"): translation_value_validator
            },
            vol.Optional("issues"): gen_issues_schema(),
            vol.Optional("entity_component"): cv.schema_with_slug_keys(
                {
                    vol.Optional("name"): str,
                    vol.Optional("state"): _keys(translation_value_validator),
                    vol.Optional("state_attributes"): state_attributes,
                },
                slug_validator=vol.Any("_", cv.slug),
            ),
            vol.Optional("device"): _keys({vol.Optional("name"): translation_value_validator}),
            vol.Optional("entity"): cv.schema_with_slug_keys(
                _keys(
                    {
                        vol.Optional("name"): translation_value_validator,
                        vol.Optional("state"): _keys(translation_value_validator),
                        vol.Optional("state_attributes"): state_attributes,
                        vol.Optional("unit_of_measurement"): translation_value_validator,
                    }
                ),
                slug_validator=cv.slug,
            ),
            vol.Optional("exceptions"): cv.schema_with_slug_keys(
                {vol.Optional("message"): translation_value_validator}, slug_validator=cv.slug
            ),
            vol.Optional("services"): _keys(
                {
                    vol.Required("name"): translation_value_validator,
                    vol.Required("description"): translation_value_validator,
                    vol.Optional("fields"): _keys(
                        {
                            vol.Required("name"): str,
                            vol.Required("description"): translation_value_validator,
                            vol.Optional("example"): translation_value_validator,
                        }
                    ),
                    vol.Optional("sections"): _keys(
                        {
                            vol.Required("name"): str,
                            vol.Optional("description"): translation_value_validator,
                        }
                    ),
                }
            ),
            vol.Optional("conversation"): {
                vol.Required("agent"): {vol.Required("done"): translation_value_validator}
            },
            vol.Optional("common"): vol.Schema({cv.slug: translation_value_validator}),
        }
    )


def translation_errors(strings: Any, name: str, integration_type: str) -> list[str]:
    """translations.py's validate_translation_file for one file."""
    try:
        gen_strings_schema(integration_type)(strings)
    except vol.Invalid as err:
        return _invalid(name, strings, err)
    return []


def _translation_keys(strings: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(path, key) of every key that names a translation: selector options, entities and their
    states, exceptions, issues, services with their fields and sections, devices."""
    for sel, info in strings.get("selector", {}).items():
        yield from ((f"selector.{sel}.options", key) for key in info.get("options", {}))
    for platform, entities in strings.get("entity", {}).items():
        yield "entity", platform
        for key, entity in entities.items():
            yield f"entity.{platform}", key
            for state in entity.get("state", {}):
                yield f"entity.{platform}.{key}.state", state
            for attr, info in entity.get("state_attributes", {}).items():
                yield f"entity.{platform}.{key}.state_attributes", attr
                for state in info.get("state", {}):
                    yield f"entity.{platform}.{key}.state_attributes.{attr}.state", state
    for section in ("exceptions", "issues", "device"):
        yield from ((section, key) for key in strings.get(section, {}))
    for name, info in strings.get("services", {}).items():
        yield "services", name
        for part in ("fields", "sections"):
            yield from ((f"services.{name}.{part}", key) for key in info.get(part, {}))


def translation_key_errors(strings: dict[str, Any]) -> list[str]:
    """Every failing translation key at once (the schema stops at the first of a section)."""
    errors = []
    for path, key in _translation_keys(strings):
        try:
            translation_key_validator(key)
        except vol.Invalid as err:
            errors.append(f"{path}.{key}: {err}")
    return errors


# --- services.yaml (hassfest services.py) -------------------------------------------------------


def exists(value: Any) -> Any:
    """An example or default that is given is not null."""
    if value is None:
        raise vol.Invalid("Value cannot be None")
    return value


def unique_field_validator(fields: Any) -> Any:
    """A field name is used once in a service, across its sections."""
    all_fields: set[str] = set()
    for key, value in fields.items():
        names = value["fields"] if value and "fields" in value else [key]
        for name in names:
            if name in all_fields:
                raise vol.Invalid(f"Duplicate use of field {name} in service.")
            all_fields.add(name)
    return fields


CUSTOM_INTEGRATION_EXTRA_SCHEMA_DICT = {
    vol.Optional("description"): str,
    vol.Optional("name"): str,
}
FIELD_FILTER_SCHEMA_DICT = {
    vol.Optional("filter"): {
        vol.Exclusive("attribute", "field_filter"): {
            vol.Required(str): [vol.All(str, service.validate_attribute_option)],
        },
        vol.Exclusive("supported_features", "field_filter"): [
            vol.All(str, service.validate_supported_feature)
        ],
    }
}


def _field_schema(targeted: bool) -> vol.Schema:
    """A field: selector, example, default, required, advanced (filters only with a target)."""
    schema_dict: dict[Any, Any] = {
        vol.Optional("example"): exists,
        vol.Optional("default"): exists,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional(CONF_SELECTOR): selector.validate_selector,
        **CUSTOM_INTEGRATION_EXTRA_SCHEMA_DICT,
    }
    if targeted:
        schema_dict |= FIELD_FILTER_SCHEMA_DICT
    return vol.Schema(schema_dict)


def _section_schema(targeted: bool) -> vol.Schema:
    """A section: fields shown together, maybe collapsed."""
    return vol.Schema(
        {
            vol.Optional("collapsed"): bool,
            vol.Required("fields"): vol.Schema({str: _field_schema(targeted)}),
            **CUSTOM_INTEGRATION_EXTRA_SCHEMA_DICT,
        }
    )


def _service_schema(targeted: bool) -> vol.Schema:
    """A service action, with a target or without one."""
    schema_dict: dict[Any, Any] = {
        vol.Optional("fields"): vol.All(
            vol.Schema({str: vol.Any(_field_schema(targeted), _section_schema(targeted))}),
            unique_field_validator,
        ),
        **CUSTOM_INTEGRATION_EXTRA_SCHEMA_DICT,
    }
    if targeted:
        schema_dict[vol.Required("target")] = selector.TargetSelector.CONFIG_SCHEMA
    return vol.Schema(schema_dict)


CUSTOM_INTEGRATION_SERVICES_SCHEMA = vol.Schema(
    {cv.slug: vol.Any(_service_schema(targeted=True), _service_schema(targeted=False), None)}
)
REGISTERS_SERVICES = re.compile(
    r"(hass\.services\.(register|async_register))"
    r"|async_register_entity_service|async_register_admin_service"
)


def _lookup(strings: dict[str, Any], *path: str) -> bool:
    node: Any = strings
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def services_errors(data: Any, strings: dict[str, Any], icons: dict[str, Any]) -> list[str]:
    """services.py's validate_services, with core's bar for names, descriptions and icons."""
    try:
        services = CUSTOM_INTEGRATION_SERVICES_SCHEMA(data)
    except vol.Invalid as err:
        return _invalid("services.yaml", data, err)
    errors: list[str] = []
    service_icons = icons.get("services", {})
    for name, schema in services.items():
        icon = service_icons.get(name)
        if not (isinstance(icon, str) or (isinstance(icon, dict) and "service" in icon)):
            errors.append(f"Service {name} has no icon in icons.json.")
        if schema is None:
            continue
        for key in ("name", "description"):
            if key not in schema and not _lookup(strings, "services", name, key):
                errors.append(f"Service {name} has no {key} in the translations file")
        fields = schema.get("fields", {})
        in_sections = {
            f for section in fields.values() if "fields" in section for f in section["fields"]
        }
        for field in strings.get("services", {}).get(name, {}).get("fields", {}):
            if field not in fields and field not in in_sections:
                errors.append(
                    f"Service {name} has a field {field} in the translations file that is not in the schema"
                )
        for field, info in fields.items():
            if "fields" in info:  # a section
                if "name" not in info and not _lookup(
                    strings, "services", name, "sections", field, "name"
                ):
                    errors.append(
                        f"Service {name} has a section {field} with no name in the translations file"
                    )
                continue
            for key in ("name", "description"):
                if key not in info and not _lookup(strings, "services", name, "fields", field, key):
                    errors.append(
                        f"Service {name} has a field {field} with no {key} in the translations file"
                    )
            key = info.get("selector", {}).get("select", {}).get("translation_key")
            if key is not None and not _lookup(strings, "selector", key):
                errors.append(
                    f"Service {name} has a field {field} with a selector with a translation key"
                    f" {key} that is not in the translations file"
                )
    return errors


# --- icons.json (hassfest icons.py) -------------------------------------------------------------


def icon_value_validator(value: Any) -> str:
    """An icon is a Material Design Icon."""
    value = cv.string_with_no_html(value)
    if not value.startswith("mdi:"):
        raise vol.Invalid(
            "The icon needs to be a valid icon from Material Design Icons and start with `mdi:`"
        )
    return str(value)


def require_default_icon_validator(value: dict[str, Any]) -> dict[str, Any]:
    """An entity component has a default icon under `_`."""
    if "_" not in value:
        raise vol.Invalid("An entity component needs to have a default icon defined with `_`")
    return value


def ensure_not_same_as_default(value: dict[str, Any]) -> dict[str, Any]:
    """A state icon equal to the default icon is redundant."""
    for translation_key, section in value.items():
        if (default := section.get("default")) and (states := section.get("state")):
            for state, icon in states.items():
                if icon == default:
                    raise vol.Invalid(
                        f"The icon for state `{translation_key}.{state}` is the"
                        " same as the default icon and thus can be removed"
                    )
    return value


DATA_ENTRY_ICONS_SCHEMA = vol.Schema({"step": {str: {"sections": {str: icon_value_validator}}}})
SERVICE_ICONS_SCHEMA = _keys(
    vol.Any(
        icon_value_validator,
        vol.Schema(
            {
                vol.Optional("service"): icon_value_validator,
                vol.Optional("sections"): _keys(icon_value_validator),
            }
        ),
    )
)


def icon_schema(integration_type: str, no_entity_platform: bool) -> vol.Schema:
    """icons.py's schema of an integration's icons.json."""
    state_validator = _keys(icon_value_validator)

    def icon_schema_slug(marker: type[vol.Marker]) -> dict[vol.Marker, Any]:
        return {
            marker("default"): icon_value_validator,
            vol.Optional("state"): state_validator,
            vol.Optional("state_attributes"): vol.All(
                _keys({marker("default"): icon_value_validator, marker("state"): state_validator}),
                ensure_not_same_as_default,
            ),
        }

    schema = vol.Schema(
        {
            vol.Optional("config"): DATA_ENTRY_ICONS_SCHEMA,
            vol.Optional("issues"): vol.Schema({str: {"fix_flow": DATA_ENTRY_ICONS_SCHEMA}}),
            vol.Optional("options"): DATA_ENTRY_ICONS_SCHEMA,
            vol.Optional("services"): SERVICE_ICONS_SCHEMA,
        }
    )
    if integration_type in ("entity", "helper", "system"):
        required = integration_type == "entity" and not no_entity_platform
        field = vol.Required("entity_component") if required else vol.Optional("entity_component")
        schema = schema.extend(
            {
                field: vol.All(
                    cv.schema_with_slug_keys(
                        icon_schema_slug(vol.Required), slug_validator=vol.Any("_", cv.slug)
                    ),
                    require_default_icon_validator,
                    ensure_not_same_as_default,
                )
            }
        )
    if integration_type not in ("entity", "system"):
        schema = schema.extend(
            {
                vol.Optional("entity"): cv.schema_with_slug_keys(
                    vol.All(_keys(icon_schema_slug(vol.Optional)), ensure_not_same_as_default),
                    slug_validator=cv.slug,
                )
            }
        )
    return schema


def icons_errors(icons: Any, integration_type: str, domain: str) -> list[str]:
    """icons.py's validate_icon_file."""
    no_entity_platform = domain in ("notify", "image_processing")
    try:
        icon_schema(integration_type, no_entity_platform)(icons)
    except vol.Invalid as err:
        return _invalid("icons.json", icons, err)
    return []


# --- imports of other integrations (hassfest dependencies.py) ------------------------------------

# Integrations anyone may import without declaring them: the entity platforms and these.
_ALLOWED_USED_NAMES = """
    alert automation conversation default_config device_automation frontend group homeassistant
    input_boolean input_button input_datetime input_number input_select input_text media_source
    onboarding panel_custom persistent_notification person script shopping_list sun
    system_health system_log timer webhook websocket_api zone mjpeg stream
"""
ALLOWED_USED_COMPONENTS = {platform.value for platform in Platform} | set(
    _ALLOWED_USED_NAMES.split()
)


class ImportCollector(ast.NodeVisitor):
    """The integrations a module imports (``homeassistant.components.X``), as hassfest collects
    them: imports inside functions count, imports under ``if TYPE_CHECKING:`` do not."""

    def __init__(self) -> None:
        self.referenced: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module is None:
            return
        if (  # signing a path is allowed without depending on http
            node.module == "homeassistant.components.http.auth"
            and len(node.names) == 1
            and node.names[0].name == "async_sign_path"
        ):
            return
        if node.module.startswith("homeassistant.components."):
            self.referenced.add(node.module.split(".")[2])
        elif node.module == "homeassistant.components":
            self.referenced.update(name.name for name in node.names)

    def visit_Import(self, node: ast.Import) -> None:
        for name in node.names:
            if name.name.startswith("homeassistant.components."):
                self.referenced.add(name.name.split(".")[2])


def _allowed_references(manifest: dict[str, Any]) -> set[str]:
    allowed = (
        ALLOWED_USED_COMPONENTS
        | set(manifest.get("dependencies", []))
        | set(manifest.get("after_dependencies", []))
    )
    if "bluetooth_adapters" in allowed:
        allowed.add("bluetooth")
    for domain, keys in DISCOVERY_INTEGRATIONS.items():  # discovery a manifest declares
        if any(key in manifest for key in keys):
            allowed.add(domain)
    return allowed


def dependency_errors(
    manifest: dict[str, Any], sources: dict[str, str], names: set[str]
) -> list[str]:
    """dependencies.py's import rule, for one integration validated alone: every integration
    a module imports must be in ``dependencies`` or ``after_dependencies``, unless anyone may
    import it or the integration has a platform of that name (``names``: the integration's
    file and folder names, e.g. ``diagnostics`` for diagnostics.py); and no dependency may be
    both."""
    domain = manifest.get("domain")
    allowed = _allowed_references(manifest)
    unexpected: set[str] = set()
    for path, text in sources.items():
        collector = ImportCollector()
        collector.visit(ast.parse(text, path))
        unexpected |= {
            ref
            for ref in collector.referenced
            if ref != domain and ref not in allowed and ref not in names
        }
    errors = [
        f"[DEPENDENCIES] Using component {ref} but it's not in 'dependencies' or "
        "'after_dependencies'"
        for ref in sorted(unexpected)
    ]
    after = manifest.get("after_dependencies", [])
    errors += [
        f"[DEPENDENCIES] Dependency {dep} is both in dependencies and after_dependencies"
        for dep in manifest.get("dependencies", [])
        if dep in after
    ]
    return errors


def _platform_names() -> set[str]:
    """What ``(integration.path / f"{ref}.py").is_file() or (integration.path / ref).is_dir()``
    accepts: the stems of the integration's modules and the names of its folders."""
    return {
        path.stem if path.is_file() else path.name
        for path in COMPONENT.iterdir()
        if (path.is_file() and path.suffix == ".py") or path.is_dir()
    }


# --- the component's files and all rules together -----------------------------------------------


@cache
def _component_text(name: str) -> str:
    return (COMPONENT / name).read_text(encoding="utf-8")


def component_files() -> Files:
    """A fresh copy of the files the rules read, for a test to change at will."""
    try:
        services: Any = load_yaml_dict(str(COMPONENT / "services.yaml"))
    except HomeAssistantError as err:  # the rule below reports it
        services = err
    return {
        "manifest": json.loads(_component_text("manifest.json")),
        "strings": json.loads(_component_text("strings.json")),
        "en": json.loads(_component_text("translations/en.json")),
        "services": services,
        "icons": json.loads(_component_text("icons.json")),
        "sources": {
            str(path.relative_to(COMPONENT)): path.read_text(encoding="utf-8")
            for path in sorted(COMPONENT.glob("**/*.py"))
        },
    }


def all_errors(files: Files, folder: str = COMPONENT.name) -> list[str]:
    """Every message of every rule, for a set of files (the component's or a changed copy)."""
    manifest = files["manifest"]
    integration_type = manifest.get("integration_type", "hub")
    errors = manifest_errors(manifest, folder)
    for name, strings in (
        ("strings.json", files["strings"]),
        ("translations/en.json", files["en"]),
    ):
        errors += translation_errors(strings, name, integration_type)
        errors += [f"{name}: {e}" for e in translation_key_errors(strings)]
    if files["en"] != files["strings"]:
        errors.append("translations/en.json is not the same as strings.json")
    if isinstance(files["services"], HomeAssistantError):
        errors.append("Invalid services.yaml")
    else:
        errors += services_errors(files["services"], files["strings"], files["icons"])
    errors += icons_errors(files["icons"], integration_type, str(manifest.get("domain")))
    errors += dependency_errors(manifest, files["sources"], _platform_names())
    return errors


# --- the rules on the component -----------------------------------------------------------------


def _none(errors: list[str]) -> None:
    """Fail with every message in full, one a line."""
    assert not errors, "\n".join(["", *errors])


def test_manifest() -> None:
    """Schema, domain = folder, IoT class, version, sorted keys, requirement format."""
    _none(manifest_errors(component_files()["manifest"], COMPONENT.name))


def test_config_flow_file() -> None:
    """config_flow.py: a manifest with config_flow has config_flow.py; a discoverable flow sets
    a unique id (a warning for custom integrations, an error here)."""
    manifest = component_files()["manifest"]
    flow_file = COMPONENT / "config_flow.py"
    if not flow_file.is_file():
        assert not manifest.get("config_flow"), (
            "Config flows need to be defined in the file config_flow.py"
        )
        return
    flow = flow_file.read_text(encoding="utf-8")
    discovery = ("discovery", "bluetooth", "dhcp", "hassio", "homekit", "mqtt", "ssdp", "usb")
    discoverable = any(f"async_step_{step}" in flow for step in (*discovery, "zeroconf"))
    assert not discoverable or "self.async_set_unique_id" in flow, (
        "Config flows that are discoverable need to set a unique ID"
    )


def test_domain_does_not_collide_with_core() -> None:
    """A custom integration with a core integration's domain replaces it (a hassfest warning)."""
    domain = component_files()["manifest"]["domain"]
    assert not (CORE_COMPONENTS / domain).exists(), "Domain collides with built-in core integration"


def test_json_files_parse() -> None:
    """json.py: every JSON file of the integration is valid JSON."""
    for path in COMPONENT.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["strings.json", "translations/en.json"])
def test_translation_schema(name: str) -> None:
    """translations.py validates strings.json, and translations/en.json of a custom integration."""
    strings = json.loads(_component_text(name))
    integration_type = component_files()["manifest"].get("integration_type", "hub")
    _none(translation_errors(strings, name, integration_type))


def test_translation_keys() -> None:
    """Every key that names a translation is a translation key; issue keys are checked too,
    which hassfest leaves as any string."""
    _none(translation_key_errors(component_files()["strings"]))


def test_english_translation_is_strings() -> None:
    """translations/en.json is what Home Assistant loads; it must be strings.json itself."""
    files = component_files()
    assert files["en"] == files["strings"]


def test_services() -> None:
    """services.yaml: schema, targets, selectors; each action named, described and with an
    icon (core's bar)."""
    files = component_files()
    assert not isinstance(files["services"], HomeAssistantError), "Invalid services.yaml"
    _none(services_errors(files["services"], files["strings"], files["icons"]))


def test_services_yaml_exists_when_services_are_registered() -> None:
    """services.py: an integration that registers actions describes them in services.yaml."""
    registers = any(
        REGISTERS_SERVICES.search(path.read_text(encoding="utf-8"))
        for path in COMPONENT.rglob("*.py")
    )
    assert (COMPONENT / "services.yaml").is_file() or not registers, (
        "Registers services but has no services.yaml"
    )


def test_icons() -> None:
    """icons.json: entity icons by platform and translation key, service icons, mdi: only."""
    files = component_files()
    manifest = files["manifest"]
    _none(icons_errors(files["icons"], manifest.get("integration_type", "hub"), manifest["domain"]))


def test_dependencies() -> None:
    """dependencies.py: link.py imports the core modbus integration (its shared connections on
    2026.9 and later), so the manifest declares it in after_dependencies: Home Assistant sets
    modbus up first when it is configured, and installs its requirements with ours."""
    files = component_files()
    _none(dependency_errors(files["manifest"], files["sources"], _platform_names()))
    imported = set()
    for path, text in files["sources"].items():
        collector = ImportCollector()
        collector.visit(ast.parse(text, path))
        imported |= collector.referenced
    assert "modbus" in imported  # the rule sees the import it is here for
    assert files["manifest"]["after_dependencies"] == ["modbus"]
    for dependency in files["manifest"]["after_dependencies"]:
        assert (CORE_COMPONENTS / dependency / "manifest.json").is_file(), dependency


# --- the rules have teeth: bad copies fail, good variants pass ----------------------------------


def _set(section: str, *path: str, value: Any) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        node = files[section]
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return change


def _delete(section: str, *path: str) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        node = files[section]
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _both(change: Callable[[Files], None]) -> Callable[[Files], None]:
    """The same change to strings.json and translations/en.json."""

    def both(files: Files) -> None:
        change(files)
        files["en"] = copy.deepcopy(files["strings"])

    return both


def _strings(*path: str, value: Any) -> Callable[[Files], None]:
    return _both(_set("strings", *path, value=value))


def _manifest_key(key: str, value: Any) -> Callable[[Files], None]:
    """Add a manifest key where it sorts."""

    def change(files: Files) -> None:
        manifest = {**files["manifest"], key: value}
        files["manifest"] = {k: manifest[k] for k in _sorted_manifest_keys(manifest)}

    return change


def _reorder_version_first(files: Files) -> None:
    files["manifest"] = {"version": files["manifest"].pop("version"), **files["manifest"]}


def _source(module: str, template: str) -> Callable[[Files], None]:
    """A new module of the component whose code is ``template`` with ``module`` in it."""

    def change(files: Files) -> None:
        files["sources"]["added.py"] = template.format(module)

    return change


def _both_changes(*changes: Callable[[Files], None]) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        for one in changes:
            one(files)

    return change


def _second_service(files: Files) -> None:
    files["services"]["read_now"] = {"fields": {"unit": {"selector": {"text": None}}}}


def _select_field(files: Files) -> None:
    select = {"options": ["now", "later"], "translation_key": "when"}
    files["services"]["reset_peak_demand"]["fields"] = {"when": {"selector": {"select": select}}}
    strings = files["strings"]
    strings["services"]["reset_peak_demand"]["fields"] = {
        "when": {"name": "When", "description": "When to reset."}
    }
    strings["selector"]["when"] = {"options": {"now": "Now", "later": "Later"}}


BAD_COPIES: dict[str, tuple[Callable[[Files], None], str]] = {
    "uppercase selector option key": (
        _strings("selector", value={"rate": {"options": {"fast": "Fast", "N": "None"}}}),
        "Invalid strings.json: Invalid translation key 'N'",
    ),
    "manifest without version": (
        _delete("manifest", "version"),
        "No 'version' key in the manifest file.",
    ),
    "unreadable version": (
        _set("manifest", "version", value="latest"),
        "'latest' is not a valid version.",
    ),
    "unknown manifest key": (
        _set("manifest", "homepage", value="https://x.y"),
        "extra keys not allowed",
    ),
    "domain is not the folder": (
        _set("manifest", "domain", value="leviton"),
        "Domain does not match dir name",
    ),
    "integration type": (
        _set("manifest", "integration_type", value="bridge"),
        "value must be one of",
    ),
    "iot class": (_set("manifest", "iot_class", value="local_pull"), "value must be one of"),
    "no iot class": (_delete("manifest", "iot_class"), "Domain is missing an IoT Class"),
    "config_flow not a bool": (_set("manifest", "config_flow", value="yes"), "expected bool"),
    "requirements not a list": (
        _set("manifest", "requirements", value="pymodbus"),
        "expected a list",
    ),
    "requirement with a space": (
        _set("manifest", "requirements", value=["pymodbus >=3"]),
        'Requirement "pymodbus >=3" contains a space',
    ),
    "codeowners missing": (_delete("manifest", "codeowners"), "required key not provided"),
    "loggers not strings": (_set("manifest", "loggers", value=[1]), "expected str"),
    "documentation on home-assistant.io": (
        _set("manifest", "documentation", value="https://www.home-assistant.io/integrations/x"),
        "Documentation URL should point to the custom integration documentation",
    ),
    "documentation over http": (
        _set("manifest", "documentation", value="http://example.com/docs"),
        "Documentation url is not prefixed with https",
    ),
    "issue tracker not a url": (
        _set("manifest", "issue_tracker", value="the issues page"),
        "expected a URL",
    ),
    "quality scale unknown": (
        _set("manifest", "quality_scale", value="diamond"),
        "value must be one of",
    ),
    "manifest keys unsorted": (_reorder_version_first, "Manifest keys are not sorted correctly"),
    "uppercase entity key": (
        _strings("entity", "sensor", "Power", value={"name": "Power"}),
        "Invalid translation key 'Power'",
    ),
    "uppercase exception key": (
        _strings("exceptions", "Timeout", value={"message": "Timed out"}),
        "invalid slug Timeout",
    ),
    "uppercase issue key": (
        _strings("issues", "Stale", value={"title": "Stale", "description": "Old"}),
        "issues.Stale: Invalid translation key 'Stale'",
    ),
    "uppercase service key": (
        _strings("services", "Read", value={"name": "Read", "description": "Reads."}),
        "Invalid translation key 'Read'",
    ),
    "issue with description and fix flow": (
        _strings("issues", "unreachable", "fix_flow", value={"step": {}}),
        "two or more values in the same group of exclusion 'fixable'",
    ),
    "html in a string": (
        _strings("config", "step", "tcp", "title", value="<b>Modbus</b> TCP"),
        "the string should not contain HTML",
    ),
    "quoted placeholder": (
        _strings("config", "error", "bad_range", value="Bad '{first}'"),
        "placeholders inside single quotes",
    ),
    "trailing space": (
        _strings("config", "abort", "wrong_meter", value="Another meter. "),
        "leading or trailing spaces",
    ),
    "description of a field the step lacks": (
        _strings("config", "step", "tcp", "data_description", "timeout", value="Seconds."),
        "data_description key timeout is not in data",
    ),
    "unknown strings section": (_strings("sensors", value={}), "extra keys not allowed"),
    "service without a description": (
        _strings("services", "reset_peak_demand", value={"name": "Reset"}),
        "required key not provided",
    ),
    "en.json differs": (
        _set("en", "title", value="Leviton"),
        "translations/en.json is not the same as strings.json",
    ),
    "service without a name": (_second_service, "Service read_now has no name"),
    "service field without strings": (
        _second_service,
        "Service read_now has a field unit with no description",
    ),
    "service without an icon": (_delete("icons", "services", "reset_peak_demand"), "has no icon"),
    "service with an unknown key": (
        _set("services", "reset_peak_demand", "colour", value="red"),
        "extra keys not allowed",
    ),
    "service with an unknown selector": (
        _set("services", "reset_peak_demand", "fields", value={"n": {"selector": {"dial": {}}}}),
        "Unknown selector type dial found",
    ),
    "service target of an unknown kind": (
        _set("services", "reset_peak_demand", "target", value={"meter": {}}),
        "extra keys not allowed",
    ),
    "icon that is not mdi": (
        _set("icons", "entity", "sensor", "uptime", "default", value="timer"),
        "start with `mdi:`",
    ),
    "state icon same as default": (
        _set("icons", "entity", "sensor", "uptime", "state", value={"up": "mdi:timer-outline"}),
        "same as the default icon",
    ),
    "uppercase icon key": (
        _set("icons", "entity", "sensor", "Uptime", value={"default": "mdi:timer"}),
        "Invalid translation key 'Uptime'",
    ),
    "icons for entity components": (
        _set("icons", "entity_component", value={"_": {"default": "mdi:flash"}}),
        "extra keys not allowed",
    ),
    "core modbus imported but not declared": (
        _delete("manifest", "after_dependencies"),
        "[DEPENDENCIES] Using component modbus but it's not in 'dependencies' or "
        "'after_dependencies'",
    ),
    "an import of another integration in a function": (
        _source("homeassistant.components.mqtt", "def publish() -> None:\n    from {} import x\n"),
        "[DEPENDENCIES] Using component mqtt but it's not in",
    ),
    "an integration imported from homeassistant.components": (
        _source("homeassistant.components", "from {} import recorder\n"),
        "[DEPENDENCIES] Using component recorder but it's not in",
    ),
    "a dependency that is also an after-dependency": (
        _manifest_key("dependencies", ["modbus"]),
        "Dependency modbus is both in dependencies and after_dependencies",
    ),
}

GOOD_VARIANTS: dict[str, Callable[[Files], None]] = {
    "lowercase selector option keys": _strings(
        "selector", "parity", value={"options": {"n": "None", "e": "Even", "o": "Odd"}}
    ),
    "calendar version": _set("manifest", "version", value="2026.2.0"),
    "quality scale key": _manifest_key("quality_scale", "silver"),
    "service icon as a string (older form)": _set(
        "icons", "services", "reset_peak_demand", value="mdi:restart"
    ),
    "service with a described select field": _both(_select_field),
    "an integration imported for typing only": _source(
        "homeassistant.components.mqtt",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from {} import x\n",
    ),
    "a platform's own base integration": _source(
        "homeassistant.components.sensor", "from {} import SensorEntity\n"
    ),
    "an integration the component has a platform for": _source(
        "homeassistant.components.diagnostics", "from {} import async_redact_data\n"
    ),
    "an integration declared as a dependency": _both_changes(
        _manifest_key("dependencies", ["mqtt"]),
        _source("homeassistant.components.mqtt", "import {}\n"),
    ),
}


def _new_errors(change: Callable[[Files], None]) -> list[str]:
    """The messages a change adds to those of the component as it is."""
    files = component_files()
    before = set(all_errors(files))
    change(files)
    return [error for error in all_errors(files) if error not in before]


@pytest.mark.parametrize("case", BAD_COPIES)
def test_rules_reject_a_bad_copy(case: str) -> None:
    """Each rule fails on a copy of the component's files broken the way it forbids."""
    change, message = BAD_COPIES[case]
    new = _new_errors(change)
    assert any(message in error for error in new), new


@pytest.mark.parametrize("case", GOOD_VARIANTS)
def test_rules_accept_a_good_variant(case: str) -> None:
    """A valid change adds no message: the rules are not stricter than hassfest."""
    assert _new_errors(GOOD_VARIANTS[case]) == []
