"""Parsing of wireless and wired M-Bus telegrams, as far as OMS security modes 5 and 7 need it.

Layers handled: data link layer (L C M A, or the wired long frame 68 L L 68 C A ... CS 16), the short
extended link layer (CI 0x8C), the authentication and fragmentation layer (AFL, CI 0x90) and the transport
layer with short (CI 0x7A) or long (CI 0x72) header. Link-layer CRCs of frame format A or B are checked
and stripped first (EN 13757-4: CRC-16, polynomial 0x3D65, stored most significant byte first).
"""

from __future__ import annotations

from dataclasses import dataclass

CI_ELL_SHORT = 0x8C
CI_AFL = 0x90
CI_TPL_LONG = 0x72
CI_TPL_SHORT = 0x7A
# AFL MCL authentication type -> MAC length in bytes (OMS Vol. 2, AES-CMAC-128 truncations).
AFL_MAC_LENGTHS = {3: 2, 4: 4, 5: 8, 6: 12, 7: 16}


class FrameError(ValueError):
    """The bytes are not a telegram this parser understands."""


def crc16_en13757(data: bytes) -> int:
    """CRC-16/EN-13757 (poly 0x3D65, init 0, no reflection, final XOR 0xFFFF); check("123456789")=0xC2B7."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x3D65) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc ^ 0xFFFF


def _crc_ok(block: bytes, crc: bytes) -> bool:
    return crc16_en13757(block).to_bytes(2, "big") == crc


def _strip_format_a(frame: bytes) -> bytes | None:
    # Format A: a 10-byte first block, then 16-byte blocks (the last shorter), each followed by its CRC.
    out, pos, size, left = bytearray(), 0, 10, frame[0] + 1
    while left > 0:
        take = min(size, left)
        block, crc = frame[pos : pos + take], frame[pos + take : pos + take + 2]
        if len(crc) != 2 or not _crc_ok(block, crc):
            return None
        out += block
        pos, left, size = pos + take + 2, left - take, 16
    return bytes(out) if pos == len(frame) else None


def _strip_format_b(frame: bytes) -> bytes | None:
    # Format B: the L-field counts the CRCs; one CRC ends the first 126 bytes, another the rest.
    if len(frame) <= 128:
        if not _crc_ok(frame[:-2], frame[-2:]):
            return None
        out = bytearray(frame[:-2])
    else:
        if not (_crc_ok(frame[:126], frame[126:128]) and _crc_ok(frame[128:-2], frame[-2:])):
            return None
        out = bytearray(frame[:126] + frame[128:-2])
    out[0] = len(out) - 1
    return bytes(out)


def strip_link_crcs(frame: bytes) -> bytes:
    """Return the wireless M-Bus frame without link-layer CRCs, whatever the frame format.

    Frames without CRCs (as most receivers print them) come back unchanged; a frame whose L-field fits
    it exactly is taken as format B only if its CRCs check.
    """
    if len(frame) < 12:
        raise FrameError("Frame is too short.")
    length = frame[0] + 1
    if len(frame) == length:
        return _strip_format_b(frame) or frame
    if len(frame) > length:
        stripped = _strip_format_a(frame)
        if stripped is None:
            raise FrameError("Frame is longer than its L-field and its format A CRCs do not check.")
        return stripped
    raise FrameError("Frame is shorter than its L-field says.")


@dataclass(frozen=True, slots=True)
class Afl:
    """Authentication and fragmentation layer fields (absent fields are None)."""

    mcl: int | None
    mcr: bytes | None
    mac: bytes | None
    ml: bytes | None


@dataclass(frozen=True, slots=True)
class Telegram:
    """A parsed telegram, CRCs removed.

    Attributes:
        raw: The frame without CRCs.
        m_field: Manufacturer (2 bytes) addressing the encrypting meter.
        a_field: Address (ID 4 bytes, version, device type) of the encrypting meter; the transport
            layer's long header when present, else the link layer's.
        afl: The AFL, if any.
        tpl_start: Index of the transport layer CI-field in ``raw``.
        access_number: Transport layer access number.
        config: Transport layer configuration word.
        payload_start: Index of the first (possibly encrypted) application byte.
    """

    raw: bytes
    m_field: bytes
    a_field: bytes
    afl: Afl | None
    tpl_start: int
    access_number: int
    config: int
    payload_start: int

    @property
    def security_mode(self) -> int:
        """The security mode (bits 8-12 of the configuration word)."""
        return (self.config >> 8) & 0x1F

    @property
    def encrypted_blocks(self) -> int:
        """Number of encrypted 16-byte blocks (bits 4-7 of the configuration word)."""
        return (self.config >> 4) & 0x0F

    @property
    def meter_id(self) -> str:
        """The meter's 8-digit identification number, as printed on it."""
        return self.a_field[3::-1].hex()


def _parse_afl(raw: bytes, pos: int) -> tuple[Afl, int]:
    end = pos + 2 + raw[pos + 1]
    if end > len(raw):
        raise FrameError("AFL is longer than the frame.")
    fcl = int.from_bytes(raw[pos + 2 : pos + 4], "little")
    cur = pos + 4
    mcl = mcr = mac = ml = None
    if fcl & 0x2000:
        mcl, cur = raw[cur], cur + 1
    if fcl & 0x0200:
        cur += 2  # Key information: not needed to verify.
    if fcl & 0x0800:
        mcr, cur = raw[cur : cur + 4], cur + 4
    if fcl & 0x0400:
        size = AFL_MAC_LENGTHS.get((mcl or 0) & 0x0F)
        if size is None:
            raise FrameError("AFL MAC present with an unsupported authentication type.")
        mac, cur = raw[cur : cur + size], cur + size
    if fcl & 0x1000:
        ml, cur = raw[cur : cur + 2], cur + 2
    if cur != end:
        raise FrameError("AFL length does not match its fields.")
    return Afl(mcl, mcr, mac, ml), end


def _parse_tpl(raw: bytes, pos: int, m_field: bytes, a_field: bytes, afl: Afl | None) -> Telegram:
    ci = raw[pos]
    cur = pos + 1
    if ci == CI_TPL_LONG:
        if len(raw) < cur + 8:
            raise FrameError("Long transport header is truncated.")
        # Long header order: ID(4) MAN(2) VER TYPE; rebuild the link-layer M and A order from it.
        a_field = raw[cur : cur + 4] + raw[cur + 6 : cur + 8]
        m_field = raw[cur + 4 : cur + 6]
        cur += 8
    elif ci != CI_TPL_SHORT:
        raise FrameError(f"Unsupported CI-field {ci:02X}; expected an OMS transport layer (72 or 7A).")
    if len(raw) < cur + 4:
        raise FrameError("Transport header is truncated.")
    access, config = raw[cur], int.from_bytes(raw[cur + 2 : cur + 4], "little")
    cur += 4
    telegram = Telegram(raw, m_field, a_field, afl, pos, access, config, cur)
    if telegram.security_mode == 7:
        cur += 1  # Mode 7 appends a configuration field extension (key derivation selection).
        telegram = Telegram(raw, m_field, a_field, afl, pos, access, config, cur)
    return telegram


def _parse_wired(frame: bytes) -> Telegram:
    # Wired M-Bus long frame: 68 L L 68 C A CI ... CS 16, checksum = sum of C..data mod 256.
    length = frame[1]
    if frame[2] != length or len(frame) != length + 6 or frame[-1] != 0x16:
        raise FrameError("Malformed wired M-Bus long frame.")
    body = frame[4:-2]
    if sum(body) & 0xFF != frame[-2]:
        raise FrameError("Wired M-Bus checksum does not match.")
    if body[2] != CI_TPL_LONG:
        raise FrameError("Wired M-Bus frame needs a long transport header (CI 72) to be verified.")
    return _parse_tpl(body, 2, b"", b"", None)


def parse_telegram(frame: bytes) -> Telegram:
    """Parse a captured telegram (wireless with or without CRCs, or a wired long frame).

    Args:
        frame: The telegram bytes.

    Returns:
        The parsed telegram.

    Raises:
        FrameError: The bytes are not a supported telegram.
    """
    try:
        if len(frame) > 6 and frame[0] == 0x68 and frame[3] == 0x68:
            return _parse_wired(frame)
        return _parse_wireless(strip_link_crcs(frame))
    except IndexError:
        raise FrameError("Frame ends inside a header.") from None


def _parse_wireless(raw: bytes) -> Telegram:
    m_field, a_field = raw[2:4], raw[4:10]
    pos = 10
    if raw[pos] == CI_ELL_SHORT:
        pos += 3  # CI, communication control, access number.
    afl = None
    if len(raw) > pos and raw[pos] == CI_AFL:
        afl, pos = _parse_afl(raw, pos)
    if len(raw) <= pos:
        raise FrameError("Frame ends before its transport layer.")
    return _parse_tpl(raw, pos, m_field, a_field, afl)
