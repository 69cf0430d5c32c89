"""Time-based one-time passwords (RFC 6238, the codes of authenticator apps) for the second login factor.

Codes are 6 digits, HMAC-SHA1 over 30-second steps, accepted one step early or late for clock drift. The
caller keeps the last accepted step so that a code (and every code before it) is good only once.

Secrets are 20 random bytes (RFC 4226's recommended length), shown to the user once as base32 and an
``otpauth://`` URI, and stored sealed: AES-256-GCM under a key derived from the server secret, bound to
the user's id as associated data, so a sealed secret copied to another account does not open.
"""

from __future__ import annotations

import base64
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from crypto import server_secret
from crypto.errors import KeyIntegrityError
from crypto.secret import SecretBytes

DIGITS = 6
STEP_SECONDS = 30
SECRET_BYTES = 20
#: Steps accepted before and after the current one (clock drift between phone and server).
DRIFT_STEPS = 1
_NONCE = 12
_SEAL_LABEL = b"otp-secret-seal:v1"


def new_secret() -> SecretBytes:
    """A fresh secret from the operating system's CSPRNG."""
    return SecretBytes(os.urandom(SECRET_BYTES))


def _totp(secret: SecretBytes, digits: int = DIGITS) -> TOTP:
    # SHA-1 is what RFC 6238 and every authenticator app use; as an HMAC it is not broken (RFC 6151).
    return TOTP(secret.reveal(), digits, SHA1(), STEP_SECONDS, enforce_key_length=False)  # noqa: S303


def to_base32(secret: SecretBytes) -> str:
    """The secret as authenticator apps take it when typed (base32 without padding)."""
    return base64.b32encode(secret.reveal()).decode("ascii").rstrip("=")


def provisioning_uri(secret: SecretBytes, *, account: str, issuer: str) -> str:
    """``otpauth://totp/...`` for a QR code or a link that authenticator apps open."""
    return _totp(secret).get_provisioning_uri(account, issuer)


def step_of(unix_time: float) -> int:
    return int(unix_time) // STEP_SECONDS


def code_at(secret: SecretBytes, unix_time: float, *, digits: int = DIGITS) -> str:
    """The code of the step holding ``unix_time`` (what the user's app shows then)."""
    return _totp(secret, digits).generate(int(unix_time)).decode("ascii")


def accepted_step(secret: SecretBytes, code: str, unix_time: float, *, after_step: int | None) -> int | None:
    """The step ``code`` belongs to if it is valid now (within the drift) and newer than ``after_step``;
    None otherwise. Comparisons are constant-time (pyca's verify)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    now = step_of(unix_time)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        try:
            totp.verify(code.encode("ascii"), step * STEP_SECONDS)
        except InvalidToken:
            continue
        return step
    return None


def _seal_key(server: SecretBytes) -> bytes:
    return server_secret.mac(server, _SEAL_LABEL)


def seal(secret: SecretBytes, *, user_id: UUID, server: SecretBytes) -> bytes:
    """Nonce and AES-256-GCM ciphertext of ``secret``, bound to ``user_id``."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(_seal_key(server)).encrypt(nonce, secret.reveal(), b"otp:" + user_id.bytes)


def open_sealed(sealed: bytes, *, user_id: UUID, server: SecretBytes) -> SecretBytes:
    """The secret sealed for ``user_id``. Raises KeyIntegrityError for another user, another server secret
    or altered bytes; never returns wrong bytes."""
    if len(sealed) <= _NONCE:
        raise KeyIntegrityError("The sealed one-time password secret is too short.")
    try:
        plain = AESGCM(_seal_key(server)).decrypt(sealed[:_NONCE], sealed[_NONCE:], b"otp:" + user_id.bytes)
    except InvalidTag:
        raise KeyIntegrityError("The one-time password secret does not open for this user.") from None
    return SecretBytes(plain)
