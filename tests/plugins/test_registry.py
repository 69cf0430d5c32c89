"""Tests for plugins.registry: built-ins, entry points behind an allowlist, lookups."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from plugins.base import InvalidAttributes, Radio
from plugins.registry import (
    ENTRY_POINT_GROUP,
    PluginError,
    PluginRegistry,
    UnknownDeviceType,
    UnknownFormat,
    load_plugins,
)

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared" / "vectors" / "vectors.json").read_text())

ACME_SOURCE = """
from plugins.base import DeviceType, KeyAlgorithm, KeySlot, Plugin, Radio

def validate(device_type, attrs):
    return dict(attrs)

plugin = Plugin(
    name="acme",
    device_types=(DeviceType("acme-meter", "ACME meter", "ACME", Radio.WMBUS,
                             (KeySlot("K", KeyAlgorithm.AES256),), "acme"),),
    validate=validate,
)
clash = Plugin(
    name="clash",
    device_types=(DeviceType("topas-sonic-wmbus", "Impostor", "ACME", Radio.WMBUS, (), "clash"),),
    validate=validate,
)
"""


@pytest.fixture
def acme_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An importable third-party plugin module on sys.path."""
    name = "acme_kms_plugin"
    (tmp_path / f"{name}.py").write_text(ACME_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_default_registry_has_builtins() -> None:
    registry = load_plugins()
    assert [p.name for p in registry.plugins] == ["core", "oms", "lorawan"]
    assert registry.device_type("topas-sonic-lora-w8").name == "TOPAS Lora W8"
    assert registry.device_type("calec-st-iii-wmbus").radio is Radio.WMBUS
    assert {f.id for f in registry.formats()} == {
        "csv",
        "wmbusmeters-zip",
        "wmbusmeters-lines",
        "oms-key-list",
        "tts-json",
        "tts-csv",
        "chirpstack-csv",
    }
    assert {f.id for f in registry.formats(Radio.LORAWAN)} == {
        "csv",
        "tts-json",
        "tts-csv",
        "chirpstack-csv",
    }
    assert registry.format("oms-key-list").media_type == "text/csv"


def test_unknown_ids() -> None:
    registry = load_plugins()
    with pytest.raises(UnknownDeviceType):
        registry.device_type("nope")
    with pytest.raises(UnknownFormat):
        registry.format("nope")


def test_allowlist_disables_builtins() -> None:
    registry = load_plugins(["oms"], available=[])
    assert [p.name for p in registry.plugins] == ["core", "oms"]
    with pytest.raises(UnknownDeviceType):
        registry.device_type("topas-sonic-lora-w8")
    with pytest.raises(UnknownFormat):
        registry.format("tts-json")


def test_unknown_plugin_name_is_an_error() -> None:
    with pytest.raises(PluginError, match="neither built in nor installed"):
        load_plugins(["oms", "ghost"], available=[])


def test_entry_point_plugin_needs_the_allowlist(acme_module: str) -> None:
    points = [EntryPoint(name="acme", value=f"{acme_module}:plugin", group=ENTRY_POINT_GROUP)]
    assert "acme" not in [p.name for p in load_plugins(available=points).plugins]
    registry = load_plugins(["oms", "acme"], available=points)
    assert registry.device_type("acme-meter").plugin == "acme"
    assert registry.validate_attributes("acme-meter", {"x": 1}) == {"x": 1}


def test_entry_point_cannot_shadow_a_builtin(acme_module: str) -> None:
    points = [EntryPoint(name="oms", value=f"{acme_module}:plugin", group=ENTRY_POINT_GROUP)]
    registry = load_plugins(["oms"], available=points)
    assert registry.device_type("topas-sonic-wmbus").plugin == "oms"
    with pytest.raises(UnknownDeviceType):
        registry.device_type("acme-meter")


def test_entry_point_name_must_match_plugin_name(acme_module: str) -> None:
    points = [EntryPoint(name="other", value=f"{acme_module}:plugin", group=ENTRY_POINT_GROUP)]
    with pytest.raises(PluginError, match="calls itself"):
        load_plugins(["other"], available=points)


def test_duplicate_device_type_ids_are_refused(acme_module: str) -> None:
    points = [EntryPoint(name="clash", value=f"{acme_module}:clash", group=ENTRY_POINT_GROUP)]
    with pytest.raises(PluginError, match="declared twice"):
        load_plugins(["oms", "clash"], available=points)


def test_broken_entry_point_is_reported() -> None:
    points = [EntryPoint(name="broken", value="no_such_module_xyz:plugin", group=ENTRY_POINT_GROUP)]
    with pytest.raises(PluginError, match="failed to load"):
        load_plugins(["broken"], available=points)


def test_registry_dispatches_validation_and_verification() -> None:
    registry = load_plugins()
    with pytest.raises(InvalidAttributes):
        registry.validate_attributes("topas-sonic-wmbus", {"mbusId": "12345678", "colour": "red"})
    vector = VECTORS["oms_mode5"][0]
    attrs = registry.validate_attributes("topas-sonic-wmbus", {"mbusId": vector["meter_id"]})
    keys = {"OMS": bytes.fromhex(vector["key"])}
    result = registry.verify_frame("topas-sonic-wmbus", attrs, keys, bytes.fromhex(vector["telegram"]))
    assert result.ok
    assert [s.key_type for s in registry.key_slots_for("topas-sonic-lora-w8", {"lorawanVersion": "1.1"})] == [
        "AppKey",
        "NwkKey",
    ]


def test_identifiers_and_console_modules(tmp_path: Path) -> None:
    from plugins.base import DeviceType, KeyAlgorithm, KeySlot, Plugin

    registry = load_plugins()
    attrs = registry.validate_attributes("topas-sonic-lora-w8", {"devEui": "70b3d5e75e000001"})
    assert registry.identifiers("topas-sonic-lora-w8", attrs) == (
        ("devEui", "70B3D5E75E000001"),
        ("joinEui", "0000000000000000"),
        ("lorawanVersion", "1.0.3"),
    )
    assert registry.identifiers("no-such-type", attrs) == ()
    assert registry.console_modules() == ()  # built-ins ship their panels with the console itself

    (tmp_path / "panel.js").write_text("export default {};")
    (tmp_path / "other.js").write_text("export default {};")
    kind = DeviceType("acme-x", "ACME X", "ACME", Radio.MBUS, (KeySlot("MBUS", KeyAlgorithm.AES128),), "acme")
    acme = Plugin("acme", (kind,), lambda t, a: dict(a), console_dir=str(tmp_path), console_modules=("panel.js",))
    with_acme = PluginRegistry([acme])
    assert with_acme.console_modules() == (("acme", "panel.js"),)
    assert with_acme.console_module("acme", "panel.js") == tmp_path / "panel.js"
    for plugin_name, file_name in (("acme", "other.js"), ("acme", "../panel.js"), ("oms", "panel.js")):
        assert with_acme.console_module(plugin_name, file_name) is None
    for bad in ("../x.js", "x.py", ".hidden.js", "a/b.js"):
        with pytest.raises(ValueError, match=r"plain \.js file name"):
            Plugin("acme", (kind,), lambda t, a: dict(a), console_dir=str(tmp_path), console_modules=(bad,))
    with pytest.raises(ValueError, match="without a console_dir"):
        Plugin("acme", (kind,), lambda t, a: dict(a), console_modules=("panel.js",))
