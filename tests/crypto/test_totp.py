"""One-time passwords: RFC 6238's published vectors, the drift window, single use, and sealing."""

from __future__ import annotations

import uuid

import pytest

from crypto import totp
from crypto.errors import KeyIntegrityError
from crypto.secret import SecretBytes

# RFC 6238 Appendix B, HMAC-SHA1 rows: the ASCII seed "12345678901234567890", 8 digits.
RFC_SEED = SecretBytes(b"12345678901234567890")
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
SERVER = SecretBytes(bytes(range(32)))


@pytest.mark.parametrize(("unix_time", "code"), RFC_VECTORS)
def test_codes_match_rfc_6238_appendix_b(unix_time, code):
    assert totp.code_at(RFC_SEED, unix_time, digits=8) == code
    # the 6-digit code an app shows is the last six digits of the same value (RFC 4226 truncation)
    assert totp.code_at(RFC_SEED, unix_time) == code[-6:]


def test_a_code_is_accepted_within_one_step_of_drift_and_not_beyond():
    secret = totp.new_secret()
    now = 1_800_000_015.0
    step = totp.step_of(now)
    for offset in (-1, 0, 1):
        code = totp.code_at(secret, now + offset * totp.STEP_SECONDS)
        assert totp.accepted_step(secret, code, now, after_step=None) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at(secret, now + offset * totp.STEP_SECONDS)
        assert totp.accepted_step(secret, code, now, after_step=None) is None


def test_a_code_is_good_once_and_older_codes_die_with_it():
    secret = totp.new_secret()
    now = 1_800_000_015.0
    current = totp.code_at(secret, now)
    previous = totp.code_at(secret, now - totp.STEP_SECONDS)
    used = totp.accepted_step(secret, current, now, after_step=None)
    assert used is not None
    assert totp.accepted_step(secret, current, now, after_step=used) is None
    assert totp.accepted_step(secret, previous, now, after_step=used) is None
    later = now + totp.STEP_SECONDS
    assert totp.accepted_step(secret, totp.code_at(secret, later), later, after_step=used) == used + 1


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "12a456", "\uff11\uff12\uff13\uff14\uff15\uff16", "-12345"]
)  # full-width digits too
def test_malformed_codes_are_refused(code):
    assert totp.accepted_step(totp.new_secret(), code, 1_800_000_000, after_step=None) is None


def test_spaces_typed_in_the_code_are_ignored():
    secret = totp.new_secret()
    code = totp.code_at(secret, 1_800_000_000)
    assert totp.accepted_step(secret, f" {code[:3]} {code[3:]} ", 1_800_000_000, after_step=None) is not None


def test_provisioning_uri_and_base32_carry_the_secret_for_authenticator_apps():
    secret = SecretBytes(b"12345678901234567890")
    assert totp.to_base32(secret) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    uri = totp.provisioning_uri(secret, account="anna@example.com", issuer="Meter KMS")
    assert uri.startswith("otpauth://totp/Meter%20KMS:anna%40example.com?")
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" in uri and "issuer=Meter+KMS" in uri
    assert len(totp.new_secret()) == totp.SECRET_BYTES
    assert totp.new_secret() != totp.new_secret()


def test_a_sealed_secret_opens_only_for_its_user_and_server_secret():
    secret, user, other = totp.new_secret(), uuid.uuid4(), uuid.uuid4()
    sealed = totp.seal(secret, user_id=user, server=SERVER)
    assert secret.reveal() not in sealed
    assert totp.open_sealed(sealed, user_id=user, server=SERVER) == secret
    with pytest.raises(KeyIntegrityError):
        totp.open_sealed(sealed, user_id=other, server=SERVER)
    with pytest.raises(KeyIntegrityError):
        totp.open_sealed(sealed, user_id=user, server=SecretBytes(bytes(32)))
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(KeyIntegrityError):
        totp.open_sealed(bytes(flipped), user_id=user, server=SERVER)
    with pytest.raises(KeyIntegrityError):
        totp.open_sealed(sealed[:12], user_id=user, server=SERVER)
