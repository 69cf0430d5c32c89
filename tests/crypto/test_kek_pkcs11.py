"""Tests for crypto.kek_pkcs11 against a real SoftHSM2 token (Debian packages softhsm2 + libsofthsm2).

A throwaway token directory is created for the session; nothing touches the machine's own tokens.
SoftHSM2 missing is a failure, not a skip: `make test` installs it (.ci/system-deps).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11 import exceptions as p11

from crypto.envelope import open_sealed, rewrap, seal
from crypto.errors import KekConfigError, KeyIntegrityError, SealedError
from crypto.kek import AesKek, Kek, KekRing
from crypto.kek_pkcs11 import DEFAULT_MODULE, Pkcs11Kek, Pkcs11KekSet, create_kek, object_label
from resolvers.keystore import KeyStore, Sealed
from settings import Settings

TOKEN = "kms-test"
PIN = "1234"
SO_PIN = "5678"
OTHER_TOKEN = "kms-other"
OTHER_PIN = "8642"
PIN_TOKEN = "kms-pin"  # never logged in to before the wrong-PIN test
DEK = bytes(range(100, 132))


def _module() -> str:
    module = os.environ.get("KMS_PKCS11_MODULE", DEFAULT_MODULE)
    if not Path(module).is_file():
        pytest.fail(
            f"SoftHSM2 PKCS#11 module {module} is missing: install the Debian packages softhsm2 and "
            "libsofthsm2 (apt-get install -y softhsm2; `make test` does this) or set KMS_PKCS11_MODULE.",
            pytrace=False,
        )
    return module


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SoftHSM2 configuration with two fresh tokens in a temporary directory; yields the module path."""
    util = shutil.which("softhsm2-util")
    if util is None:
        pytest.fail(
            "softhsm2-util is missing: install the Debian package softhsm2 (apt-get install -y softhsm2; "
            "`make test` does this). The PKCS#11 KEK tests need a real SoftHSM2 token.",
            pytrace=False,
        )
    module = _module()
    root = tmp_path_factory.mktemp("softhsm")
    tokens = root / "tokens"
    tokens.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    # Read by SoftHSM2 when the module initialises, so it must be set before the first pkcs11.lib().
    os.environ["SOFTHSM2_CONF"] = str(conf)
    # All tokens exist before the module is loaded: SoftHSM2 lists the token directory when it initialises.
    for label, pin in ((TOKEN, PIN), (OTHER_TOKEN, OTHER_PIN), (PIN_TOKEN, "1111")):
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
    try:
        yield module
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture(scope="session")
def kek(softhsm: str) -> Pkcs11Kek:
    return create_kek(softhsm, TOKEN, PIN, "test-kek")


def _public_session(module: str, token_label: str = TOKEN, *, rw: bool = False) -> pkcs11.Session:
    # The process is already logged in through the KEK's session; a PIN-less session shares that login
    # and, unlike a second login, does not log the KEK's session out when closed.
    return pkcs11.lib(module).get_token(token_label=token_label).open(rw=rw)


def test_kek_is_created_non_extractable_and_sensitive(softhsm: str, kek: Pkcs11Kek) -> None:
    assert isinstance(kek, Kek)
    assert (kek.kek_id, kek.version, kek.label) == ("pkcs11:test-kek", 1, "test-kek-v1")
    with _public_session(softhsm) as session:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label="test-kek-v1")
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.VALUE_LEN] == 32
        assert key[Attribute.WRAP] is True and key[Attribute.UNWRAP] is True
        assert key[Attribute.ENCRYPT] is False and key[Attribute.DECRYPT] is False
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]


def test_create_kek_is_idempotent(softhsm: str, kek: Pkcs11Kek) -> None:
    again = create_kek(softhsm, TOKEN, PIN, "test-kek")
    assert again.wrap(DEK) == kek.wrap(DEK)  # RFC 3394 is deterministic: the same key object.
    with _public_session(softhsm) as session:
        found = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: "test-kek-v1"}))
    assert len(found) == 1


def test_wrap_unwrap_round_trip(kek: Pkcs11Kek) -> None:
    wrapped = kek.wrap(DEK)
    assert len(wrapped) == 40
    assert DEK not in wrapped
    assert kek.unwrap(wrapped) == DEK
    other = os.urandom(32)
    assert kek.unwrap(kek.wrap(other)) == other


def test_no_session_objects_left_behind(softhsm: str, kek: Pkcs11Kek) -> None:
    kek.unwrap(kek.wrap(DEK))
    with _public_session(softhsm) as session:
        labels = [o[Attribute.LABEL] for o in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})]
        generic = list(
            session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.GENERIC_SECRET})
        )
    assert "test-kek-v1" in labels
    assert generic == []


def test_envelope_seal_and_open(kek: Pkcs11Kek) -> None:
    device_key = os.urandom(16)
    sealed = seal(device_key, device_id="dev-1", key_type="AppKey", kek=kek)
    assert (sealed.kek_id, sealed.kek_version) == ("pkcs11:test-kek", 1)
    ring = KekRing([kek])
    assert open_sealed(sealed, device_id="dev-1", key_type="AppKey", kek_resolver=ring).reveal() == device_key
    with pytest.raises(KeyIntegrityError):
        open_sealed(sealed, device_id="dev-2", key_type="AppKey", kek_resolver=ring)


def test_altered_wrapped_key_fails_loudly(kek: Pkcs11Kek) -> None:
    wrapped = bytearray(kek.wrap(DEK))
    wrapped[5] ^= 0x01
    with pytest.raises(KeyIntegrityError):
        kek.unwrap(bytes(wrapped))
    for bad in (b"", bytes(16), bytes(39), kek.wrap(DEK)[:32]):
        with pytest.raises(KeyIntegrityError):
            kek.unwrap(bad)


def test_other_token_key_does_not_unwrap(softhsm: str, kek: Pkcs11Kek) -> None:
    wrapped = kek.wrap(DEK)
    other_label = create_kek(softhsm, TOKEN, PIN, "other-kek")
    with pytest.raises(KeyIntegrityError):
        other_label.unwrap(wrapped)
    # Same label, same version, another token: different key material, so it must fail too.
    twin = create_kek(softhsm, OTHER_TOKEN, OTHER_PIN, "test-kek")
    assert (twin.kek_id, twin.version) == (kek.kek_id, kek.version)
    with pytest.raises(KeyIntegrityError):
        twin.unwrap(wrapped)
    # And a software KEK with the same id does not open it either.
    with pytest.raises(KeyIntegrityError):
        AesKek(kek.kek_id, 1, os.urandom(32)).unwrap(wrapped)


def test_sealed_under_wrong_kek_fails_through_envelope(softhsm: str, kek: Pkcs11Kek) -> None:
    sealed = seal(b"k" * 16, device_id="d", key_type="AppKey", kek=kek)
    twin = create_kek(softhsm, OTHER_TOKEN, OTHER_PIN, "test-kek")
    with pytest.raises(KeyIntegrityError):
        open_sealed(sealed, device_id="d", key_type="AppKey", kek_resolver=KekRing([twin]))


def test_rotation_keeps_old_version_readable_and_rewrap_moves_to_new(softhsm: str) -> None:
    keks = Pkcs11KekSet(softhsm, TOKEN, PIN, "rot-kek")
    v1 = create_kek(softhsm, TOKEN, PIN, "rot-kek")
    assert keks.version_numbers() == (1,)
    sealed = seal(b"\x11" * 16, device_id="dev-9", key_type="AES128", kek=v1)

    v2 = keks.rotate()
    assert (v2.version, v2.label) == (2, "rot-kek-v2")
    assert keks.version_numbers() == (1, 2)
    ring = keks.ring()
    assert len(ring) == 2
    assert ring.current.version == 2
    assert open_sealed(sealed, device_id="dev-9", key_type="AES128", kek_resolver=ring).reveal() == b"\x11" * 16

    moved = rewrap(sealed, ring, ring.current)
    assert (moved.kek_id, moved.kek_version) == ("pkcs11:rot-kek", 2)
    assert moved.ciphertext == sealed.ciphertext
    assert moved.wrapped_dek != sealed.wrapped_dek
    only_v2 = KekRing([v2])
    assert open_sealed(moved, device_id="dev-9", key_type="AES128", kek_resolver=only_v2).reveal() == b"\x11" * 16
    with pytest.raises(KeyIntegrityError):
        v1.unwrap(moved.wrapped_dek)

    v3 = keks.rotate()
    assert v3.version == 3
    assert [k.version for k in keks.versions()] == [1, 2, 3]


def test_ring_of_empty_label_is_sealed_unless_created(softhsm: str) -> None:
    keks = Pkcs11KekSet(softhsm, TOKEN, PIN, "fresh-kek")
    with pytest.raises(SealedError):
        keks.ring()
    ring = keks.ring(create=True)
    assert (ring.current.kek_id, ring.current.version) == ("pkcs11:fresh-kek", 1)


def test_missing_key_wrong_pin_and_missing_token_are_config_errors(softhsm: str, kek: Pkcs11Kek) -> None:
    with pytest.raises(KekConfigError, match="no AES key"):
        Pkcs11Kek(softhsm, TOKEN, PIN, "test-kek", version=7)
    with pytest.raises(KekConfigError):
        Pkcs11Kek(softhsm, "no-such-token", PIN, "test-kek")
    with pytest.raises(KekConfigError):
        Pkcs11Kek(softhsm, TOKEN, "0000", "test-kek")  # another PIN for a token this process is logged in to
    with pytest.raises(KekConfigError):
        Pkcs11Kek("/nonexistent/libpkcs11.so", TOKEN, PIN, "test-kek")
    with pytest.raises(SealedError):
        Pkcs11Kek(softhsm, TOKEN, "", "test-kek")


def test_wrong_pin_against_the_token(softhsm: str) -> None:
    # A token this process has not logged in to yet: the HSM itself refuses the PIN.
    with pytest.raises(KekConfigError, match="PinIncorrect"):
        Pkcs11Kek(softhsm, PIN_TOKEN, "2222", "any-kek")


def test_extractable_key_under_the_label_is_refused(softhsm: str, kek: Pkcs11Kek) -> None:
    with _public_session(softhsm, rw=True) as session:
        session.generate_key(
            KeyType.AES,
            256,
            label=object_label("weak-kek", 1),
            store=True,
            template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
        )
    with pytest.raises(KekConfigError, match="non-extractable"):
        Pkcs11Kek(softhsm, TOKEN, PIN, "weak-kek")


def test_repr_hides_the_pin(softhsm: str, kek: Pkcs11Kek) -> None:
    keks = Pkcs11KekSet(softhsm, OTHER_TOKEN, OTHER_PIN, "test-kek")
    twin = keks.get(1)
    for text in (repr(kek), repr(twin), repr(keks), str(twin)):
        assert "<redacted>" in text
        assert OTHER_PIN not in text
    assert OTHER_PIN not in repr(Settings(pkcs11_pin=OTHER_PIN))


def test_concurrent_wraps_from_threads(kek: Pkcs11Kek) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                dek = os.urandom(32)
                assert kek.unwrap(kek.wrap(dek)) == dek
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_keystore_pkcs11_provider(softhsm: str) -> None:
    settings = Settings(
        kek_provider="pkcs11",
        pkcs11_module=softhsm,
        pkcs11_token_label=TOKEN,
        pkcs11_pin=PIN,
        pkcs11_key_label="store-kek",
    )
    store = KeyStore(settings)
    with pytest.raises(Sealed):  # an empty token: sealed until the first start makes version 1
        store.ring()
    store.create_first()
    ring = store.ring()
    assert (store.current().kek_id, store.current().version) == ("pkcs11:store-kek", 1)
    sealed = seal(b"\x22" * 16, device_id="d", key_type="AppKey", kek=store.current())
    assert store.ring() is ring  # nothing changed in the token: the ring is reused
    assert store.rotate().version == 2
    assert store.current().version == 2
    # Another process's rotation is seen on the next operation, without a restart.
    Pkcs11KekSet(softhsm, TOKEN, PIN, "store-kek").rotate()
    assert store.current().version == 3
    assert open_sealed(sealed, device_id="d", key_type="AppKey", kek_resolver=store.ring()).reveal() == b"\x22" * 16


def test_keystore_pkcs11_without_pin_is_sealed(softhsm: str) -> None:
    settings = Settings(kek_provider="pkcs11", pkcs11_module=softhsm, pkcs11_token_label=TOKEN, pkcs11_pin="")
    with pytest.raises(Sealed):
        KeyStore(settings).ring()
    with pytest.raises(Sealed):
        KeyStore(
            Settings(kek_provider="pkcs11", pkcs11_module=softhsm, pkcs11_token_label="", pkcs11_pin=PIN)
        ).current()
