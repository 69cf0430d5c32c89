"""Tests for crypto.kek: file and environment KEK providers and the KekRing resolver."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from crypto.envelope import open_sealed, rewrap, seal
from crypto.errors import KekConfigError, KekNotFoundError, KeyIntegrityError, SealedError
from crypto.kek import AesKek, EnvKek, FileKek, Kek, KekRing
from crypto.primitives import aes_key_unwrap

KEK_BYTES = bytes(range(32))
DEK = bytes(range(100, 132))


def test_file_kek_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kek.json"
    kek = FileKek(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (kek.kek_id, kek.version) == ("local", 1)
    assert isinstance(kek, Kek)
    doc = json.loads(path.read_text())
    assert doc["format"] == "meter-kms-kek-file/1"
    assert len(base64.b64decode(doc["keys"]["1"])) == 32


def test_file_kek_mode_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        FileKek(tmp_path / "kek.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "kek.json").stat().st_mode) == 0o600


def test_file_kek_wraps_with_the_stored_key(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    wrapped = FileKek(path).wrap(DEK)
    stored = base64.b64decode(json.loads(path.read_text())["keys"]["1"])
    assert aes_key_unwrap(stored, wrapped) == DEK
    # Reopening the file reads the same key.
    assert FileKek(path).unwrap(wrapped) == DEK


def test_file_kek_rotation_keeps_old_versions(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    kek = FileKek(path)
    sealed = seal(b"k" * 16, device_id="d", key_type="AppKey", kek=kek)
    new = kek.rotate()
    assert (new.version, kek.version) == (2, 2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reopened = FileKek(path)
    assert [k.version for k in reopened.versions()] == [1, 2]
    ring = reopened.ring()
    assert ring.current.version == 2
    moved = rewrap(sealed, ring, ring.current)
    assert moved.kek_version == 2
    assert open_sealed(moved, device_id="d", key_type="AppKey", kek_resolver=ring).reveal() == b"k" * 16


def test_a_new_key_file_and_its_rotations_are_synced_with_their_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (a rename is durable only once its directory is synced: a crash could otherwise bring back a key file
    # without the version that keys were already rewrapped under)
    synced: list[tuple[bool, int]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((stat.S_ISDIR(info.st_mode), info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = tmp_path / "kek.json"
    for step in (lambda: FileKek(path), lambda: FileKek(path).rotate()):
        synced.clear()
        step()
        assert (True, tmp_path.stat().st_ino) in synced
        assert synced[-1] == (True, tmp_path.stat().st_ino)  # after the file itself was written and renamed


def test_rotations_of_one_file_by_two_processes_keep_both_versions(tmp_path: Path) -> None:
    # given: two processes (`kms rotate-kek` run twice) read the same key file before either rotates
    path = tmp_path / "kek.json"
    FileKek(path)
    first, second = FileKek(path), FileKek(path)
    # when: both rotate, one after the other
    added_first, added_second = first.rotate(), second.rotate()
    # then: the file keeps both new versions; keys wrapped under the first one still open
    reopened = FileKek(path)
    assert [k.version for k in reopened.versions()] == [1, 2, 3]
    assert (added_first.version, added_second.version, reopened.version) == (2, 3, 3)
    assert reopened.resolve("local", 2).unwrap(added_first.wrap(DEK)) == DEK


def test_rotations_running_at_the_same_time_lose_no_version(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "kek.json"
    FileKek(path)
    rotators = [FileKek(path) for _ in range(4)]
    start = threading.Barrier(len(rotators))

    def rotate_ten_times(kek: FileKek) -> None:
        start.wait()
        for _ in range(10):
            kek.rotate()

    threads = [threading.Thread(target=rotate_ten_times, args=(k,)) for k in rotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [k.version for k in FileKek(path).versions()] == list(range(1, 42))


def test_file_kek_refuses_group_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    FileKek(path)
    path.chmod(0o640)
    with pytest.raises(KekConfigError, match="group or others"):
        FileKek(path)


def test_file_kek_missing_without_create_is_sealed(tmp_path: Path) -> None:
    with pytest.raises(SealedError):
        FileKek(tmp_path / "absent.json", create=False)


def test_file_kek_malformed(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    path.write_text('{"format": "meter-kms-kek-file/1", "kek_id": "x", "current": 3, "keys": {}}')
    path.chmod(0o600)
    with pytest.raises(KekConfigError):
        FileKek(path)


@pytest.mark.parametrize("encode", [bytes.hex, lambda b: base64.b64encode(b).decode()], ids=["hex", "base64"])
def test_env_kek_decodes_hex_and_base64(encode: object) -> None:
    assert callable(encode)
    kek = EnvKek("KMS_KEK", version=3, environ={"KMS_KEK": encode(KEK_BYTES)})
    assert (kek.kek_id, kek.version) == ("env", 3)
    assert AesKek("env", 3, KEK_BYTES).unwrap(kek.wrap(DEK)) == DEK


def test_env_kek_missing_is_sealed_and_bad_value_refused() -> None:
    with pytest.raises(SealedError):
        EnvKek("KMS_KEK", environ={})
    with pytest.raises(KekConfigError, match="32 bytes"):
        EnvKek("KMS_KEK", environ={"KMS_KEK": base64.b64encode(bytes(16)).decode()})
    with pytest.raises(KekConfigError, match="neither hex nor base64"):
        EnvKek("KMS_KEK", environ={"KMS_KEK": "not a key!"})


def test_kek_ring_resolves_by_id_and_version() -> None:
    a1, a2, b1 = AesKek("a", 1, bytes(32)), AesKek("a", 2, bytes([1]) * 32), AesKek("b", 1, bytes([2]) * 32)
    ring = KekRing([a1, a2], current=b1)
    assert ring.resolve("a", 2) is a2
    assert ring.current is b1
    assert len(ring) == 3
    with pytest.raises(KekNotFoundError):
        ring.resolve("a", 3)
    with pytest.raises(KeyIntegrityError):
        a2.unwrap(a1.wrap(DEK))


def test_empty_ring_is_sealed() -> None:
    ring = KekRing()
    assert ring.sealed
    with pytest.raises(SealedError):
        _ = ring.current


def test_duplicate_kek_version_refused() -> None:
    with pytest.raises(KekConfigError):
        KekRing([AesKek("a", 1, bytes(32)), AesKek("a", 1, bytes([1]) * 32)])


def test_file_kek_creation_race_loads_the_winners_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kek.json"
    winner = FileKek(path)
    # A second worker that checked for the file just before the winner wrote it.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    loser = FileKek(path)
    monkeypatch.undo()
    assert loser.unwrap(winner.wrap(DEK)) == DEK
    assert [p.name for p in tmp_path.iterdir()] == ["kek.json"]
