"""Tests for the LoRaWAN plugin: identifiers, key slots and join-request MIC verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto.primitives import aes_cmac
from crypto.secret import SecretBytes
from plugins.base import InvalidAttributes
from plugins.lorawan import plugin
from plugins.lorawan.device_types import DEVICE_TYPES
from plugins.lorawan.verify import join_request_mic

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared" / "vectors" / "vectors.json").read_text())
JOIN = VECTORS["lorawan_join_request"][0]
TOPAS = next(t for t in DEVICE_TYPES if t.id == "topas-sonic-lora-w8")
# The vector's EUIs, as written (big-endian) rather than as sent.
VECTOR_ATTRS = {"devEui": "0203040502030405", "joinEui": "0102030401020304", "lorawanVersion": "1.0.2"}
KEY = bytes(range(16))
OTHER_KEY = bytes(16)


def join_request(key: bytes, dev_eui: str, join_eui: str, dev_nonce: bytes = b"\x01\x00") -> bytes:
    """Build a join-request PHYPayload, EUIs little-endian on the air."""
    body = b"\x00" + bytes.fromhex(join_eui)[::-1] + bytes.fromhex(dev_eui)[::-1] + dev_nonce
    return body + aes_cmac(key, body)[:4]


def test_vector_mic_is_computed() -> None:
    frame = bytes.fromhex(JOIN["phy_payload"])
    assert join_request_mic(bytes.fromhex(JOIN["app_key"]), frame).hex() == JOIN["mic"]


def test_vector_join_request_verifies() -> None:
    frame = bytes.fromhex(JOIN["phy_payload"])
    result = plugin.verify(TOPAS, VECTOR_ATTRS, {"AppKey": SecretBytes(bytes.fromhex(JOIN["app_key"]))}, frame)
    assert result.ok, result.detail
    assert (result.key_type, result.method) == ("AppKey", "lorawan-join-mic")


def test_vector_with_wrong_key_or_bit_flip_fails() -> None:
    frame = bytes.fromhex(JOIN["phy_payload"])
    assert not plugin.verify(TOPAS, VECTOR_ATTRS, {"AppKey": OTHER_KEY}, frame).ok
    flipped = bytearray(frame)
    flipped[17] ^= 0x01  # DevNonce.
    result = plugin.verify(TOPAS, VECTOR_ATTRS, {"AppKey": bytes.fromhex(JOIN["app_key"])}, bytes(flipped))
    assert (result.ok, result.detail) == (False, "MIC does not match")


def test_join_request_from_another_device_is_refused() -> None:
    attrs = {**VECTOR_ATTRS, "devEui": "0000000000000001"}
    result = plugin.verify(TOPAS, attrs, {"AppKey": bytes.fromhex(JOIN["app_key"])}, bytes.fromhex(JOIN["phy_payload"]))
    assert not result.ok
    assert "0203040502030405" in result.detail


def test_lorawan_1_1_uses_nwk_key() -> None:
    attrs = plugin.validate(TOPAS, {"devEui": "70b3d5e75e000001", "lorawanVersion": "1.1"})
    frame = join_request(KEY, attrs["devEui"], attrs["joinEui"])
    assert plugin.verify(TOPAS, attrs, {"AppKey": OTHER_KEY, "NwkKey": KEY}, frame).ok
    assert not plugin.verify(TOPAS, attrs, {"AppKey": KEY, "NwkKey": OTHER_KEY}, frame).ok
    # The same frame for a 1.0.3 device is checked with its AppKey.
    attrs_10 = {**attrs, "lorawanVersion": "1.0.3"}
    result = plugin.verify(TOPAS, attrs_10, {"AppKey": KEY}, frame)
    assert result.ok and result.key_type == "AppKey"


def test_not_a_join_request_and_missing_key() -> None:
    frame = join_request(KEY, "0011223344556677", "0000000000000000")
    attrs = plugin.validate(TOPAS, {"devEui": "0011223344556677"})
    assert not plugin.verify(TOPAS, attrs, {"AppKey": KEY}, b"\x40" + frame[1:]).ok  # Unconfirmed data up.
    assert not plugin.verify(TOPAS, attrs, {"AppKey": KEY}, frame[:-1]).ok
    assert plugin.verify(TOPAS, attrs, {}, frame).key_type is None


def test_attributes_defaults_and_normalisation() -> None:
    assert plugin.validate(TOPAS, {"devEui": "70b3d5e75e000001"}) == {
        "devEui": "70B3D5E75E000001",
        "joinEui": "0000000000000000",
        "lorawanVersion": "1.0.3",
    }


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({}, "devEui"),
        ({"devEui": "70b3d5e75e00001"}, "devEui"),
        ({"devEui": "70b3d5e75e00000g"}, "devEui"),
        ({"devEui": "70b3d5e75e000001", "joinEui": "12"}, "joinEui"),
        ({"devEui": "70b3d5e75e000001", "lorawanVersion": "1.0.1"}, "lorawanVersion"),
        ({"devEui": "70b3d5e75e000001", "mbusId": "12345678"}, "mbusId"),
    ],
)
def test_invalid_attributes_are_refused(attrs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidAttributes) as info:
        plugin.validate(TOPAS, attrs)
    assert info.value.field == field


def test_key_slots_depend_on_version() -> None:
    assert [s.key_type for s in TOPAS.key_slots] == ["AppKey", "NwkKey"]
    assert [s.key_type for s in plugin.key_slots(TOPAS, {"lorawanVersion": "1.0.4"})] == ["AppKey"]
    assert [s.key_type for s in plugin.key_slots(TOPAS, {"lorawanVersion": "1.1"})] == ["AppKey", "NwkKey"]


def test_device_types() -> None:
    assert {t.name for t in DEVICE_TYPES} == {"TOPAS Lora W8", "Aquastream LoRa", "CalecST III LoRa Module"}
    assert {t.product for t in DEVICE_TYPES} == {"TOPAS SONIC", "aquastream", "CALEC ST III"}
