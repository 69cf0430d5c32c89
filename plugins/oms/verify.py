"""Verify a captured OMS telegram against a device's key (security modes 5 and 7).

A key is confirmed when the decrypted application data starts with the 0x2F2F filler the OMS
specification puts there for exactly this purpose, and, in mode 7, when the AFL MAC also checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto.primitives import aes_cbc_decrypt, aes_cmac, constant_time_equal
from crypto.secret import as_bytes
from plugins.base import DeviceType, KeyAlgorithm, KeyMap, Verification
from plugins.oms.frames import FrameError, Telegram, parse_telegram

FILLER = b"\x2f\x2f"


def mode5_iv(telegram: Telegram) -> bytes:
    """IV of mode 5: M-field (2), A-field (6), then the access number 8 times."""
    return telegram.m_field + telegram.a_field + bytes([telegram.access_number]) * 8


def mode7_keys(key: bytes, counter: bytes, meter_id: bytes) -> tuple[bytes, bytes]:
    """Derive the mode 7 per-message keys (OMS Vol. 2 KDF-A).

    Args:
        key: The meter's AES-128 key.
        counter: AFL message counter, 4 bytes as sent.
        meter_id: The meter ID, 4 bytes as in the A-field.

    Returns:
        (Kenc, Kmac).
    """
    tail = counter + meter_id + b"\x07" * 7
    return aes_cmac(key, b"\x00" + tail), aes_cmac(key, b"\x01" + tail)


def _encrypted_part(telegram: Telegram) -> bytes:
    size = 16 * telegram.encrypted_blocks
    data = telegram.raw[telegram.payload_start : telegram.payload_start + size]
    if size == 0 or len(data) != size:
        raise FrameError("Frame has no complete encrypted blocks.")
    return data


def _verify_mode5(telegram: Telegram, key: bytes, key_type: str) -> Verification:
    plaintext = aes_cbc_decrypt(key, mode5_iv(telegram), _encrypted_part(telegram))
    ok = plaintext.startswith(FILLER)
    detail = "decrypted content starts with 2F2F" if ok else "decrypted content does not start with 2F2F"
    return Verification(ok, key_type, "oms-mode-5", detail)


def _verify_mode7(telegram: Telegram, key: bytes, key_type: str) -> Verification:
    afl = telegram.afl
    if afl is None or afl.mcr is None or afl.mcl is None:
        return Verification(False, key_type, "oms-mode-7", "mode 7 needs an AFL with a message counter")
    kenc, kmac = mode7_keys(key, afl.mcr, telegram.a_field[:4])
    if afl.mac is not None:
        # AFL.MAC = CMAC(Kmac, MCL | MCR | {ML} | transport layer CI ... last byte), truncated.
        message = bytes([afl.mcl]) + afl.mcr + (afl.ml or b"") + telegram.raw[telegram.tpl_start :]
        if not constant_time_equal(aes_cmac(kmac, message)[: len(afl.mac)], afl.mac):
            return Verification(False, key_type, "oms-mode-7", "AFL MAC does not match")
    plaintext = aes_cbc_decrypt(kenc, bytes(16), _encrypted_part(telegram))
    if not plaintext.startswith(FILLER):
        return Verification(False, key_type, "oms-mode-7", "decrypted content does not start with 2F2F")
    checked = "AFL MAC matches and decrypted" if afl.mac is not None else "no AFL MAC; decrypted"
    return Verification(True, key_type, "oms-mode-7", f"{checked} content starts with 2F2F")


def verify_frame(device_type: DeviceType, attrs: Mapping[str, Any], keys: KeyMap, frame: bytes) -> Verification:
    """Check a captured telegram with the device's OMS key.

    Args:
        device_type: The device's type.
        attrs: Its validated identifiers; a telegram from another ``mbusId`` is refused.
        keys: Keys by slot.
        frame: The captured telegram (wireless M-Bus with or without CRCs, or wired long frame).

    Returns:
        The outcome; ``ok`` is False for a wrong key, another meter or an unsupported telegram.
    """
    slot = device_type.key_slots[0]
    if slot.key_type not in keys:
        return Verification(False, None, "oms", f"no {slot.key_type} key to verify with")
    if slot.algorithm is not KeyAlgorithm.AES128:
        return Verification(False, slot.key_type, "unsupported", f"{slot.algorithm.value} keys are not verified")
    try:
        telegram = parse_telegram(frame)
        expected = attrs.get("mbusId")
        if expected and telegram.meter_id != expected:
            detail = f"frame is from meter {telegram.meter_id}, not {expected}"
            return Verification(False, slot.key_type, "oms", detail)
        key = as_bytes(keys[slot.key_type])
        if telegram.security_mode == 5:
            return _verify_mode5(telegram, key, slot.key_type)
        if telegram.security_mode == 7:
            return _verify_mode7(telegram, key, slot.key_type)
    except (FrameError, ValueError) as exc:
        return Verification(False, slot.key_type, "oms", str(exc))
    mode = telegram.security_mode
    return Verification(False, slot.key_type, "oms", f"security mode {mode} is not verified (only 5 and 7)")
