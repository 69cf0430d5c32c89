"""The server secret: 32 bytes that key HMACs whose output must be recomputable but unguessable
(invite signup tokens).

It comes from ``KMS_SECRET_KEY`` (64 hex digits or base64 of 32 bytes) or else from the file
``<data_dir>/server-secret``, created with mode 0600 on first use. Several processes may start at once:
the file is written under a temporary name and then hard-linked into place, which fails when the name
exists, so the first process wins and every other one reads what it wrote (never a half-written file).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from crypto.errors import SealedError
from crypto.secret import SecretBytes

__all__ = [
    "FILE_NAME",
    "SECRET_BYTES",
    "create",
    "exists",
    "fingerprint",
    "load_server_secret",
    "mac",
    "parse_secret",
    "path_in",
]

SECRET_BYTES: Final = 32
FILE_NAME: Final = "server-secret"
ENV_NAME: Final = "KMS_SECRET_KEY"


def parse_secret(text: str) -> SecretBytes:
    """Decode a secret written as 64 hex digits or as (URL-safe) base64 of 32 bytes.

    Args:
        text: The encoded secret; surrounding whitespace is ignored.

    Returns:
        The 32 secret bytes.

    Raises:
        ValueError: If the text is not 32 bytes in one of those encodings (the message never shows it).
    """
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 2 * SECRET_BYTES:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != SECRET_BYTES:
        raise ValueError(f"the server secret must be {SECRET_BYTES} bytes, written as 64 hex digits or base64")
    return SecretBytes(raw)


def _read_file(path: Path) -> SecretBytes:
    try:
        return parse_secret(path.read_text(encoding="ascii"))
    except ValueError:
        raise ValueError(f"{path} does not hold a valid server secret") from None


def _create_file(path: Path) -> None:
    """Write a new random secret to ``path`` unless it exists; the first writer wins."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_bytes(SECRET_BYTES).hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic and fails if the name exists: never overwrites another's secret
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def load_server_secret(data_dir: Path, environ: Mapping[str, str] | None = None, *, create: bool = True) -> SecretBytes:
    """Return the server secret from ``KMS_SECRET_KEY`` or the file in ``data_dir``.

    Args:
        data_dir: The service's data directory.
        environ: The environment; defaults to ``os.environ``.
        create: Create the file when it is missing.

    Returns:
        The 32-byte secret.

    Raises:
        ValueError: If ``KMS_SECRET_KEY`` or the file holds something that is not a 32-byte secret.
        SealedError: The file is missing and ``create`` is false.
    """
    env = os.environ if environ is None else environ
    configured = env.get(ENV_NAME, "").strip()
    if configured:
        return parse_secret(configured)
    path = path_in(data_dir)
    if not path.exists():
        if not create:
            raise SealedError(f"The server secret {path} does not exist.")
        _create_file(path)
    return _read_file(path)


def path_in(data_dir: Path) -> Path:
    """Where the server secret file of a data directory lives."""
    return Path(data_dir) / FILE_NAME


def exists(data_dir: Path) -> bool:
    """Whether the data directory holds a server secret file."""
    return path_in(data_dir).exists()


def create(data_dir: Path) -> None:
    """Make the server secret file of a data directory unless it exists (the first of several writers wins)."""
    if not exists(data_dir):
        _create_file(path_in(data_dir))


def mac(secret: SecretBytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under the server secret.

    Callers put a purpose label at the start of ``message`` (``b"invite:" + id``), so a MAC made for one
    purpose is never valid for another.
    """
    return hmac.new(secret.reveal(), message, hashlib.sha256).digest()


def fingerprint(secret: SecretBytes) -> str:
    """A name for the secret that servers can compare without holding it: SHA-256 of its MAC of a label no
    other purpose uses."""
    return hashlib.sha256(mac(secret, b"fingerprint:server-secret:v1")).hexdigest()
