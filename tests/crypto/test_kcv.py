"""Tests for crypto.kcv: key check values and key generation."""

from __future__ import annotations

import pytest

from crypto.kcv import KeyAlgorithm, generate_key, key_check_value
from crypto.secret import SecretBytes


def test_aes_kcv_of_zero_key() -> None:
    # AES-128(0^128, 0^128) = 66e94bd4ef8a2c3b884cfa59ca342b2e (FIPS-197 / NIST KAT).
    assert key_check_value(bytes(16)) == "66e94b"


def test_aes_kcv_fips197_key_accepts_secret_bytes() -> None:
    key = SecretBytes(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    # AES-128 of the zero block under the RFC 4493 key is its CMAC subkey L, 7df76b0c1ab899b33e42f047b91b546f.
    assert key_check_value(key, KeyAlgorithm.AES128) == "7df76b"


def test_des_kcv() -> None:
    assert key_check_value(bytes.fromhex("0123456789abcdef")) == "d5d44f"


def test_two_key_3des_kcv_needs_des_algorithm() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert key_check_value(key, KeyAlgorithm.DES) == "08d7b4"
    # Without the algorithm a 16-byte key is AES, which gives a different value.
    assert key_check_value(key) != "08d7b4"


def test_kcv_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="AES256 key must be 32 bytes"):
        key_check_value(bytes(16), KeyAlgorithm.AES256)


@pytest.mark.parametrize(
    ("algorithm", "length"),
    [(KeyAlgorithm.DES, 8), (KeyAlgorithm.AES128, 16), (KeyAlgorithm.AES192, 24), (KeyAlgorithm.AES256, 32)],
)
def test_generate_key_lengths_and_randomness(algorithm: KeyAlgorithm, length: int) -> None:
    first, second = generate_key(algorithm), generate_key(algorithm)
    assert isinstance(first, SecretBytes)
    assert len(first) == length
    assert first != second
    assert len(key_check_value(first, algorithm)) == 6


def test_generated_des_keys_have_odd_parity() -> None:
    for _ in range(20):
        key = generate_key(KeyAlgorithm.DES).reveal()
        assert all(bin(b).count("1") % 2 == 1 for b in key)
