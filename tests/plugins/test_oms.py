"""Tests for the OMS plugin: identifiers, frame parsing and security mode 5 / 7 verification."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.primitives import aes_cbc_encrypt, aes_cmac
from crypto.secret import SecretBytes
from plugins.base import DeviceType, InvalidAttributes, KeyAlgorithm, Verification
from plugins.oms import plugin
from plugins.oms.device_types import DEVICE_TYPES
from plugins.oms.frames import crc16_en13757, parse_telegram, strip_link_crcs

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared" / "vectors" / "vectors.json").read_text())
MODE5 = VECTORS["oms_mode5"][0]
WMBUS = next(t for t in DEVICE_TYPES if t.id == "topas-sonic-wmbus")
WIRED = next(t for t in DEVICE_TYPES if t.id == "topas-sonic-mbus")
DES_TYPE = next(t for t in DEVICE_TYPES if t.slot("OMS").algorithm is KeyAlgorithm.DES)
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
OTHER_KEY = bytes(16)
METER_ID = "12345678"
A_FIELD = bytes.fromhex(METER_ID)[::-1] + b"\x01\x07"  # ID as sent (little-endian BCD), version, water.
M_FIELD = bytes.fromhex("2d2c")
PLAINTEXT = b"\x2f\x2f\x04\x13\x39\x30\x00\x00" + b"\x2f" * 24  # 2F2F, a volume record, 2F filler.


def verify(frame: bytes, key: bytes = KEY, mbus_id: str = METER_ID, device_type: DeviceType = WMBUS) -> Verification:
    return plugin.verify(device_type, {"mbusId": mbus_id}, {"OMS": SecretBytes(key)}, frame)


def with_format_a_crcs(frame: bytes) -> bytes:
    out, blocks = b"", [frame[:10]] + [frame[i : i + 16] for i in range(10, len(frame), 16)]
    for block in blocks:
        out += block + crc16_en13757(block).to_bytes(2, "big")
    return out


def with_format_b_crcs(frame: bytes) -> bytes:
    body = bytes([len(frame) + 1]) + frame[1:]  # L counts the CRC in format B.
    return body + crc16_en13757(body).to_bytes(2, "big")


def mode7_frame(key: bytes, *, counter: int = 0x1234, with_mac: bool = True, long_tpl: bool = False) -> bytes:
    """Build a wM-Bus SND_NR telegram with AFL and OMS mode 7 encryption, independently of the plugin."""
    mcr = counter.to_bytes(4, "little")
    tail = mcr + A_FIELD[:4] + b"\x07" * 7
    kenc, kmac = aes_cmac(key, b"\x00" + tail), aes_cmac(key, b"\x01" + tail)
    config = (7 << 8) | (2 << 4)  # Mode 7, two encrypted blocks.
    tpl_ci, tpl_addr = (b"\x72", A_FIELD[:4] + M_FIELD + A_FIELD[4:]) if long_tpl else (b"\x7a", b"")
    tpl = tpl_ci + tpl_addr + b"\x2a\x00" + config.to_bytes(2, "little") + b"\x10"
    tpl += aes_cbc_encrypt(kenc, bytes(16), PLAINTEXT)
    mcl = 0x25 if with_mac else 0x20  # Counter present; AES-CMAC-128 with an 8-byte MAC.
    fcl = 0x2800 | (0x0400 if with_mac else 0)
    afl_fields = fcl.to_bytes(2, "little") + bytes([mcl]) + mcr
    if with_mac:
        afl_fields += aes_cmac(kmac, bytes([mcl]) + mcr + tpl)[:8]
    body = b"\x44" + M_FIELD + A_FIELD + b"\x90" + bytes([len(afl_fields)]) + afl_fields + tpl
    return bytes([len(body)]) + body


def mode5_frame(key: bytes, access: int = 0x42) -> bytes:
    iv = M_FIELD + A_FIELD + bytes([access]) * 8
    tpl = b"\x7a" + bytes([access, 0]) + ((5 << 8) | (2 << 4)).to_bytes(2, "little")
    body = b"\x44" + M_FIELD + A_FIELD + tpl + aes_cbc_encrypt(key, iv, PLAINTEXT) + b"\x02\xfd\x0b\x00\x11"
    return bytes([len(body)]) + body


def test_crc16_en13757_check_value() -> None:
    assert crc16_en13757(b"123456789") == 0xC2B7


def test_mode5_vector_verifies() -> None:
    frame = bytes.fromhex(MODE5["telegram"])
    telegram = parse_telegram(frame)
    assert telegram.meter_id == MODE5["meter_id"]
    assert telegram.security_mode == 5
    result = verify(frame, bytes.fromhex(MODE5["key"]), MODE5["meter_id"])
    assert result.ok, result.detail
    assert (result.key_type, result.method) == ("OMS", "oms-mode-5")


def test_mode5_vector_with_wrong_key_fails() -> None:
    result = verify(bytes.fromhex(MODE5["telegram"]), OTHER_KEY, MODE5["meter_id"])
    assert not result.ok
    assert "2F2F" in result.detail


def test_frame_from_another_meter_is_refused() -> None:
    result = verify(bytes.fromhex(MODE5["telegram"]), bytes.fromhex(MODE5["key"]), "99999999")
    assert not result.ok
    assert "20096221" in result.detail


@pytest.mark.parametrize("crcs", [lambda f: f, with_format_a_crcs, with_format_b_crcs], ids=["none", "A", "B"])
def test_mode5_own_frame_with_and_without_link_crcs(crcs: Callable[[bytes], bytes]) -> None:
    frame = crcs(mode5_frame(KEY))
    assert strip_link_crcs(frame) == mode5_frame(KEY)
    assert verify(frame).ok
    assert not verify(frame, OTHER_KEY).ok


def test_corrupted_format_a_crc_is_reported() -> None:
    frame = bytearray(with_format_a_crcs(mode5_frame(KEY)))
    frame[12] ^= 0xFF
    result = verify(bytes(frame))
    assert not result.ok
    assert "CRC" in result.detail


@pytest.mark.parametrize("long_tpl", [False, True], ids=["short-tpl", "long-tpl"])
def test_mode7_own_frame_verifies(long_tpl: bool) -> None:
    result = verify(mode7_frame(KEY, long_tpl=long_tpl))
    assert result.ok, result.detail
    assert result.method == "oms-mode-7"
    assert "MAC matches" in result.detail


def test_mode7_with_format_b_crcs() -> None:
    assert verify(with_format_b_crcs(mode7_frame(KEY))).ok


def test_mode7_wrong_key_fails_on_mac() -> None:
    result = verify(mode7_frame(OTHER_KEY))
    assert not result.ok
    assert result.detail == "AFL MAC does not match"


def test_mode7_tampered_payload_fails_on_mac() -> None:
    frame = bytearray(mode7_frame(KEY))
    frame[-1] ^= 0x01
    assert verify(bytes(frame)).detail == "AFL MAC does not match"


def test_mode7_counter_is_part_of_key_derivation() -> None:
    frame = bytearray(mode7_frame(KEY, counter=1))
    afl_mcr = 10 + 1 + 1 + 2 + 1  # DLL, CI, AFLL, FCL, MCL.
    frame[afl_mcr] ^= 0x01  # Another counter derives other keys, so the MAC no longer checks.
    assert not verify(bytes(frame)).ok


def test_mode7_without_mac_checks_decryption() -> None:
    assert verify(mode7_frame(KEY, with_mac=False)).ok
    result = verify(mode7_frame(KEY, with_mac=False), OTHER_KEY)
    assert not result.ok
    assert "2F2F" in result.detail


def test_wired_mbus_long_frame_mode5() -> None:
    access = 0x11
    iv = M_FIELD + A_FIELD + bytes([access]) * 8
    tpl = b"\x72" + A_FIELD[:4] + M_FIELD + A_FIELD[4:] + bytes([access, 0])
    tpl += ((5 << 8) | (2 << 4)).to_bytes(2, "little") + aes_cbc_encrypt(KEY, iv, PLAINTEXT)
    body = b"\x08\x01" + tpl  # C = RSP_UD, primary address 1.
    frame = bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
    assert verify(frame, device_type=WIRED).ok
    assert not verify(frame, OTHER_KEY, device_type=WIRED).ok
    broken = frame[:-2] + bytes([(frame[-2] + 1) & 0xFF, 0x16])
    assert "checksum" in verify(broken, device_type=WIRED).detail


def test_unencrypted_and_garbage_frames_are_not_ok() -> None:
    plain = bytearray(mode5_frame(KEY))
    plain[14] = 0  # Config word high byte: security mode 0.
    assert "mode 0" in verify(bytes(plain)).detail
    for junk in (b"", b"\x05\x44", mode5_frame(KEY)[:20], b"\xff" * 40):
        result = verify(junk)
        assert not result.ok
        assert result.key_type in ("OMS", None)


def test_des_device_type_is_not_verified_and_missing_key() -> None:
    result = plugin.verify(DES_TYPE, {"mbusId": METER_ID}, {"OMS": bytes(8)}, mode5_frame(KEY))
    assert (result.ok, result.method) == (False, "unsupported")
    assert not plugin.verify(WMBUS, {"mbusId": METER_ID}, {}, mode5_frame(KEY)).ok


def test_attributes_are_normalised() -> None:
    attrs = plugin.validate(
        WMBUS, {"mbusId": "20096221", "manufacturer": "amt", "version": "2", "medium": "Warm  Water"}
    )
    assert attrs == {"mbusId": "20096221", "manufacturer": "AMT", "version": 2, "medium": "warm water"}
    assert plugin.validate(WMBUS, {"mbusId": 1234}) == {"mbusId": "00001234", "medium": "water"}


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({}, "mbusId"),
        ({"mbusId": "1234567"}, "mbusId"),
        ({"mbusId": "1234567a"}, "mbusId"),
        ({"mbusId": True}, "mbusId"),
        ({"mbusId": "12345678", "manufacturer": "AM1"}, "manufacturer"),
        ({"mbusId": "12345678", "version": 256}, "version"),
        ({"mbusId": "12345678", "version": -1}, "version"),
        ({"mbusId": "12345678", "medium": "oil"}, "medium"),
        ({"mbusId": "12345678", "devEui": "0011223344556677"}, "devEui"),
    ],
)
def test_invalid_attributes_are_refused(attrs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidAttributes) as info:
        plugin.validate(WMBUS, attrs)
    assert info.value.field == field


def test_device_types_cover_the_manual() -> None:
    products = {t.product for t in DEVICE_TYPES}
    assert {"TOPAS SONIC", "RUBIN SONIC", "aquastream", "aquaradio Multicom", "AMTRON SONIC D"} <= products
    assert {"CALEC ST III"} <= products
    names = {t.name for t in DEVICE_TYPES}
    assert {"TOPAS Mbus", "Aquastream WM-Bus", "CalecST III WM-Bus"} <= names
    assert all(t.plugin == "oms" for t in DEVICE_TYPES)


def test_formats_say_which_devices_they_cannot_hold_before_writing():
    from plugins.oms.formats import OMS_KEY_LIST, WMBUSMETERS_LINES, WMBUSMETERS_ZIP

    meter = {"mbusId": "20096221", "manufacturer": "DME"}
    for wmbusmeters in (WMBUSMETERS_LINES, WMBUSMETERS_ZIP):
        assert not wmbusmeters.refuses(meter, ["AES128"])
        assert wmbusmeters.refuses(meter, ["AES128", "DES"])  # wmbusmeters takes AES-128 keys only
        assert wmbusmeters.refuses({"manufacturer": "DME"}, ["AES128"])
    assert not OMS_KEY_LIST.refuses(meter, ["AES256"])
    assert OMS_KEY_LIST.refuses({"mbusId": "20096221"}, ["AES128"])
    assert OMS_KEY_LIST.refuses({"mbusId": "20096221", "manufacturer": ""}, ["AES128"])
