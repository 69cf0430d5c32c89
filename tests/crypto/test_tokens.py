"""Tests for crypto.tokens: opaque secret tokens and their digests."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from crypto.tokens import (
    DISPLAY_PREFIX_LENGTH,
    constant_time_equals,
    display_prefix,
    new_token,
    token_digest,
)

TOKEN_RE = re.compile(r"^kms_pat_[A-Za-z0-9_-]{43}$")


def test_token_format() -> None:
    token, digest = new_token("kms_pat")
    assert TOKEN_RE.match(token)
    assert "=" not in token
    secret = token.removeprefix("kms_pat_")
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_tokens_unique() -> None:
    tokens = [new_token("kms_sess") for _ in range(1000)]
    assert len({t for t, _ in tokens}) == 1000
    assert len({d for _, d in tokens}) == 1000


def test_digest_stable_and_matches_sha256() -> None:
    token, digest = new_token("kms_pat")
    assert token_digest(token) == digest
    assert token_digest(token) == token_digest(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert token_digest(token + "x") != digest


@pytest.mark.parametrize("prefix", ["", "kms pat", "kms-pat", "kms/pat", "kmś"])
def test_invalid_prefix_rejected(prefix: str) -> None:
    with pytest.raises(ValueError):
        new_token(prefix)


def test_constant_time_equals() -> None:
    token, digest = new_token("kms_pat")
    assert constant_time_equals(token, token)
    assert constant_time_equals(digest, token_digest(token))
    assert not constant_time_equals(token, token[:-1])
    assert not constant_time_equals(digest, "0" * 64)
    assert not constant_time_equals("", "a")
    assert constant_time_equals("", "")
    assert constant_time_equals("ünïcode", "ünïcode")


def test_display_prefix() -> None:
    token, _ = new_token("kms_pat")
    shown = display_prefix(token)
    assert len(shown) == DISPLAY_PREFIX_LENGTH == 12
    assert token.startswith(shown)
    assert shown.startswith("kms_pat_")


def test_display_prefix_long_prefix_shows_some_random_chars() -> None:
    token, _ = new_token("kms_download")
    shown = display_prefix(token)
    assert token.startswith(shown)
    assert shown == token[: len("kms_download_") + 4]


def test_display_prefix_non_token_shows_at_most_half() -> None:
    assert display_prefix("abcdef") == "abc"
    assert display_prefix("") == ""
