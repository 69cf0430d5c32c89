"""Tests for crypto.passwords: argon2id hashing and the password policy."""

from __future__ import annotations

import asyncio
import threading

import pytest
from passlib.hash import argon2

from crypto import passwords
from crypto.passwords import (
    MAX_PASSWORD_LENGTH,
    RULE_COMMON,
    RULE_CONTAINS_EMAIL,
    RULE_DIGIT,
    RULE_LOWERCASE,
    RULE_SPECIAL,
    RULE_TOO_LONG,
    RULE_TOO_SHORT,
    RULE_UPPERCASE,
    WeakPasswordError,
    check_policy,
    common_passwords,
    hash_password,
    hash_password_sync,
    is_common_password,
    needs_rehash,
    validate_password,
    verify_dummy,
    verify_password,
    verify_password_sync,
)

GOOD = "Vq7#mZ2!rLx9pT"
PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


# ----------------------------------------------------------------------------- hashing


def test_hash_uses_argon2id_owasp_parameters() -> None:
    hashed = hash_password_sync(GOOD)
    assert hashed.startswith(PREFIX)


def test_hash_is_salted() -> None:
    assert hash_password_sync(GOOD) != hash_password_sync(GOOD)


def test_verify_right_and_wrong() -> None:
    hashed = hash_password_sync(GOOD)
    assert verify_password_sync(GOOD, hashed) is True
    assert verify_password_sync(GOOD + "x", hashed) is False
    assert verify_password_sync(GOOD.lower(), hashed) is False
    assert verify_password_sync("", hashed) is False


def test_verify_malformed_hash_fails_closed() -> None:
    for bad in ["", "garbage", "$argon2id$v=19$m=19456,t=2,p=1$xx", "$2b$12$abc"]:
        assert verify_password_sync(GOOD, bad) is False


def test_unicode_is_normalised() -> None:
    composed = "Caf\u00e9-Passw0rd!x"
    decomposed = "Cafe\u0301-Passw0rd!x"
    assert verify_password_sync(decomposed, hash_password_sync(composed)) is True


def test_overlong_password() -> None:
    too_long = "Aa1!" * 300
    with pytest.raises(ValueError):
        hash_password_sync(too_long)
    assert verify_password_sync(too_long, hash_password_sync(GOOD)) is False


def test_needs_rehash() -> None:
    assert needs_rehash(hash_password_sync(GOOD)) is False
    old = argon2.using(type="ID", memory_cost=8192, time_cost=3, parallelism=2).hash(GOOD)
    assert needs_rehash(old) is True
    argon2i = argon2.using(type="I", memory_cost=19456, time_cost=2, parallelism=1).hash(GOOD)
    assert needs_rehash(argon2i) is True
    assert needs_rehash("garbage") is True
    # An old-parameter hash still verifies, so the caller can upgrade it on login.
    assert verify_password_sync(GOOD, old) is True


async def test_async_hash_and_verify() -> None:
    hashed = await hash_password(GOOD)
    assert hashed.startswith(PREFIX)
    assert await verify_password(GOOD, hashed) is True
    assert await verify_password("Wrong-Passw0rd!", hashed) is False


async def test_async_hashing_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real_hash = passwords.hash_password_sync

    def spy(password: str) -> str:
        seen.append(threading.get_ident())
        return real_hash(password)

    monkeypatch.setattr(passwords, "hash_password_sync", spy)
    a, b = await asyncio.gather(hash_password("Aa1!aaaaaaaaaa"), hash_password("Bb2@bbbbbbbbbb"))
    assert a.startswith(PREFIX)
    assert b.startswith(PREFIX)
    assert verify_password_sync("Aa1!aaaaaaaaaa", a)
    assert verify_password_sync("Bb2@bbbbbbbbbb", b)
    assert len(seen) == 2
    assert loop_thread not in seen


async def test_verify_dummy() -> None:
    assert passwords.DUMMY_HASH.startswith(PREFIX)
    assert await verify_dummy(GOOD) is False
    assert await verify_dummy("") is False


def test_dummy_hash_importable() -> None:
    from crypto.passwords import DUMMY_HASH

    assert DUMMY_HASH.startswith(PREFIX)
    with pytest.raises(AttributeError):
        _ = passwords.NO_SUCH_NAME  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ policy


def test_good_password_passes() -> None:
    assert check_policy(GOOD, "alice@example.com") == []
    assert check_policy(GOOD, None) == []
    validate_password(GOOD, "alice@example.com")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Vq7#mZ2!rLx", RULE_TOO_SHORT),  # 11 characters
        ("vq7#mz2!rlx9pt", RULE_UPPERCASE),
        ("VQ7#MZ2!RLX9PT", RULE_LOWERCASE),
        ("Vqx#mZq!rLxypT", RULE_DIGIT),
        ("Vq7smZ2krLx9pT", RULE_SPECIAL),
    ],
)
def test_each_rule_refused(password: str, rule: str) -> None:
    assert check_policy(password, None) == [rule]
    with pytest.raises(WeakPasswordError) as info:
        validate_password(password)
    assert info.value.violations == [rule]
    assert rule in str(info.value)
    assert isinstance(info.value, ValueError)


def test_minimum_length_boundary() -> None:
    assert check_policy("Vq7#mZ2!rLx9", None) == []  # exactly 12
    assert RULE_TOO_SHORT in check_policy("Vq7#mZ2!rLx", None)


def test_space_counts_as_special() -> None:
    assert check_policy("Vq7 mZ2 rLx9pT", None) == []


def test_several_violations_listed_in_order() -> None:
    violations = check_policy("qwerty", None)
    assert violations == [RULE_TOO_SHORT, RULE_UPPERCASE, RULE_DIGIT, RULE_SPECIAL, RULE_COMMON]
    with pytest.raises(WeakPasswordError) as info:
        validate_password("qwerty")
    message = str(info.value)
    assert message.startswith("Password must be at least 12 characters long;")
    for rule in violations:
        assert rule in message


def test_128_character_password_accepted() -> None:
    password = ("Kx9!mQ2#" * 16)[:128]
    assert len(password) == 128
    assert check_policy(password, "bob@example.com") == []
    assert verify_password_sync(password, hash_password_sync(password))


def test_maximum_length() -> None:
    at_max = ("Kx9!mQ2#" * 200)[:MAX_PASSWORD_LENGTH]
    assert check_policy(at_max, None) == []
    over = at_max + "x"
    assert check_policy(over, None) == [RULE_TOO_LONG]
    with pytest.raises(WeakPasswordError):
        validate_password("a" * 10_000_000)


def test_common_password_list_shipped() -> None:
    common = common_passwords()
    assert len(common) >= 10_000
    for pw in ["password", "123456", "qwerty", "letmein", "iloveyou", "password1"]:
        assert pw in common
    assert all(pw == pw.lower() for pw in common)
    assert not any(pw.startswith("#") for pw in common)
    assert common_passwords() is common  # loaded once


@pytest.mark.parametrize(
    "password",
    ["password", "PASSWORD", "Password123!", "P@ssw0rd", "!!Qwerty2024!!", "Letmein!12345", "Iloveyou#2024"],
)
def test_common_password_variants(password: str) -> None:
    assert is_common_password(password)


def test_common_password_refused_by_policy() -> None:
    assert check_policy("Password1234!", None) == [RULE_COMMON]
    assert check_policy("Qwertyuiop1!", None) == [RULE_COMMON]
    assert not is_common_password(GOOD)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("alice@example.com", "My-alice-Pass7"),
        ("alice@example.com", "My-ALICE-Pass7"),
        ("Alice.Smith@example.com", "x9!alice.smithQ"),
        ("alice+kms@example.com", "My-alice-Pass7"),
    ],
)
def test_email_local_part_refused(email: str, password: str) -> None:
    assert check_policy(password, email) == [RULE_CONTAINS_EMAIL]
    assert check_policy(password, None) == []


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("al@example.com", "My-al-Pass7xyz"),  # local part shorter than 3: not checked
        ("alice@example.com", "Ex4mple.com!zz"),  # domain may appear
        ("alice@example.com", "My-alic3-Pass7"),
        ("", "My-alice-Pass7"),
    ],
)
def test_email_local_part_accepted(email: str, password: str) -> None:
    assert check_policy(password, email) == []
