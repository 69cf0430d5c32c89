"""Tests for crypto.envelope: sealing, binding to device and slot, tamper detection, rewrap."""

from __future__ import annotations

import dataclasses
import os

import pytest

from crypto.envelope import NONCE_BYTES, SealedKey, open_sealed, rewrap, seal
from crypto.errors import KekNotFoundError, KeyIntegrityError, SealedError
from crypto.kek import AesKek, KekRing
from crypto.secret import SecretBytes

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


@pytest.fixture
def kek() -> AesKek:
    """A random in-memory KEK, version 1."""
    return AesKek("test", 1, os.urandom(32))


def _flip(value: bytes, index: int) -> bytes:
    data = bytearray(value)
    data[index] ^= 0x01
    return bytes(data)


def test_seal_open_round_trip(kek: AesKek) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    opened = open_sealed(sealed, device_id="dev-1", key_type="AppKey", kek_resolver=KekRing([kek]))
    assert isinstance(opened, SecretBytes)
    assert opened.reveal() == KEY


def test_sealed_fields_are_column_values_without_plaintext(kek: AesKek) -> None:
    sealed = seal(SecretBytes(KEY), device_id="dev-1", key_type="AppKey", kek=kek)
    assert len(sealed.nonce) == NONCE_BYTES
    assert len(sealed.wrapped_dek) == 40  # 32-byte DEK + 8 bytes of RFC 3394 integrity.
    assert len(sealed.ciphertext) == len(KEY) + 16
    assert (sealed.kek_id, sealed.kek_version) == ("test", 1)
    assert KEY not in sealed.ciphertext
    with pytest.raises(dataclasses.FrozenInstanceError):
        sealed.kek_id = "other"  # type: ignore[misc]


def test_each_seal_uses_fresh_dek_and_nonce(kek: AesKek) -> None:
    a = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    b = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    assert a.nonce != b.nonce
    assert a.wrapped_dek != b.wrapped_dek
    assert a.ciphertext != b.ciphertext


@pytest.mark.parametrize(
    ("device_id", "key_type"),
    [("dev-2", "AppKey"), ("dev-1", "NwkKey"), ("dev-1App", "Key")],
    ids=["other-device", "other-slot", "shifted-boundary"],
)
def test_moved_ciphertext_does_not_open(kek: AesKek, device_id: str, key_type: str) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    with pytest.raises(KeyIntegrityError):
        open_sealed(sealed, device_id=device_id, key_type=key_type, kek_resolver=KekRing([kek]))


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "wrapped_dek"])
@pytest.mark.parametrize("index", [0, -1])
def test_bit_flip_anywhere_fails(kek: AesKek, field: str, index: int) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    tampered = dataclasses.replace(sealed, **{field: _flip(getattr(sealed, field), index)})
    with pytest.raises(KeyIntegrityError):
        open_sealed(tampered, device_id="dev-1", key_type="AppKey", kek_resolver=KekRing([kek]))


def test_wrong_kek_with_same_id_fails(kek: AesKek) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    impostor = AesKek("test", 1, os.urandom(32))
    with pytest.raises(KeyIntegrityError):
        open_sealed(sealed, device_id="dev-1", key_type="AppKey", kek_resolver=KekRing([impostor]))


def test_unknown_kek_version_and_sealed_ring(kek: AesKek) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    with pytest.raises(KekNotFoundError):
        open_sealed(sealed, device_id="dev-1", key_type="AppKey", kek_resolver=KekRing([AesKek("test", 2, bytes(32))]))
    with pytest.raises(SealedError):
        open_sealed(sealed, device_id="dev-1", key_type="AppKey", kek_resolver=KekRing())


def test_rewrap_changes_only_the_wrapped_dek(kek: AesKek) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    new = AesKek("test", 2, os.urandom(32))
    rewrapped = rewrap(sealed, KekRing([kek]), new)
    assert (rewrapped.ciphertext, rewrapped.nonce) == (sealed.ciphertext, sealed.nonce)
    assert rewrapped.wrapped_dek != sealed.wrapped_dek
    assert (rewrapped.kek_id, rewrapped.kek_version) == ("test", 2)
    ring = KekRing([kek, new])
    assert open_sealed(rewrapped, device_id="dev-1", key_type="AppKey", kek_resolver=ring).reveal() == KEY
    # The new wrap is really under the new KEK: the old one alone cannot open it.
    with pytest.raises(KekNotFoundError):
        open_sealed(rewrapped, device_id="dev-1", key_type="AppKey", kek_resolver=KekRing([kek]))


def test_rewrap_with_wrong_old_kek_fails(kek: AesKek) -> None:
    sealed = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    with pytest.raises(KeyIntegrityError):
        rewrap(sealed, AesKek("test", 1, os.urandom(32)), AesKek("test", 2, os.urandom(32)))


def test_seal_validates_inputs(kek: AesKek) -> None:
    with pytest.raises(ValueError, match="1 to 64 bytes"):
        seal(b"", device_id="dev-1", key_type="AppKey", kek=kek)
    with pytest.raises(ValueError, match="must not be empty"):
        seal(KEY, device_id="", key_type="AppKey", kek=kek)


def test_secret_bytes_never_prints_the_key() -> None:
    secret = SecretBytes(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert KEY.hex() not in text.lower()
        assert str(KEY) not in text
        assert "redacted" in text
    with pytest.raises(TypeError):
        hash(secret)
    assert secret == SecretBytes(KEY)
    assert secret != SecretBytes(bytes(16))


def test_sealed_key_repr_has_no_plaintext(kek: AesKek) -> None:
    sealed: SealedKey = seal(KEY, device_id="dev-1", key_type="AppKey", kek=kek)
    assert KEY.hex() not in repr(sealed)
    assert "redacted" in repr(kek)
