"""Known-answer tests for crypto.primitives against the shared vectors (RFC 4493, RFC 3394, FIPS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto.errors import KeyIntegrityError
from crypto.primitives import (
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    aes_cmac,
    aes_ecb_encrypt_block,
    aes_key_unwrap,
    aes_key_wrap,
    constant_time_equal,
    tdes_ecb_encrypt_block,
)

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared" / "vectors" / "vectors.json").read_text())


@pytest.mark.parametrize("vector", VECTORS["aes_cmac"], ids=lambda v: f"len{len(v['message']) // 2}")
def test_aes_cmac_rfc4493(vector: dict[str, str]) -> None:
    key, message = bytes.fromhex(vector["key"]), bytes.fromhex(vector["message"])
    assert aes_cmac(key, message).hex() == vector["cmac"]


@pytest.mark.parametrize("vector", VECTORS["aes_key_wrap"], ids=lambda v: v["source"])
def test_aes_key_wrap_known_answers(vector: dict[str, str]) -> None:
    kek, key = bytes.fromhex(vector["kek"]), bytes.fromhex(vector["key"])
    assert aes_key_wrap(kek, key).hex() == vector["wrapped"]
    assert aes_key_unwrap(kek, bytes.fromhex(vector["wrapped"])) == key


def test_aes_key_unwrap_with_wrong_kek_raises() -> None:
    vector = VECTORS["aes_key_wrap"][0]
    with pytest.raises(KeyIntegrityError):
        aes_key_unwrap(bytes(16), bytes.fromhex(vector["wrapped"]))


def test_aes_key_unwrap_bit_flip_raises() -> None:
    vector = VECTORS["aes_key_wrap"][0]
    wrapped = bytearray.fromhex(vector["wrapped"])
    wrapped[-1] ^= 0x01
    with pytest.raises(KeyIntegrityError):
        aes_key_unwrap(bytes.fromhex(vector["kek"]), bytes(wrapped))


def test_aes_ecb_block_fips197() -> None:
    # FIPS-197 appendix C.1.
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert aes_ecb_encrypt_block(key, block).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


def test_des_block_known_answer() -> None:
    # Classic DES example: key 0123456789ABCDEF, plaintext "Now is t".
    assert tdes_ecb_encrypt_block(bytes.fromhex("0123456789abcdef"), b"Now is t").hex() == "3fa40e8a984d4815"


def test_aes_cbc_decrypts_oms_mode5_vector() -> None:
    # The OMS mode 5 telegram: 2 encrypted blocks follow the 15-byte header (L..config word).
    vector = VECTORS["oms_mode5"][0]
    telegram = bytes.fromhex(vector["telegram"])
    plaintext = aes_cbc_decrypt(bytes.fromhex(vector["key"]), bytes.fromhex(vector["iv"]), telegram[15:47])
    assert plaintext.hex().startswith(vector["plaintext_starts"])


def test_aes_cbc_round_trip_and_no_padding() -> None:
    key, iv, data = bytes(range(16)), bytes(16), bytes(range(32))
    ciphertext = aes_cbc_encrypt(key, iv, data)
    assert len(ciphertext) == 32 and ciphertext != data
    assert aes_cbc_decrypt(key, iv, ciphertext) == data
    with pytest.raises(ValueError, match="multiple of 16"):
        aes_cbc_encrypt(key, iv, b"short")


@pytest.mark.parametrize("size", [0, 8, 15, 33])
def test_bad_aes_key_sizes_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="128, 192, or 256 bits"):
        aes_cmac(bytes(size), b"")


def test_constant_time_equal() -> None:
    assert constant_time_equal(b"abc", b"abc")
    assert not constant_time_equal(b"abc", b"abd")
    assert not constant_time_equal(b"abc", b"ab")
