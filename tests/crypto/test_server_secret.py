"""The server secret: from KMS_SECRET_KEY or a 0600 file created once, the first of racing processes wins."""

from __future__ import annotations

import base64
import os
import stat
import threading

import pytest

from crypto.server_secret import FILE_NAME, load_server_secret, mac, parse_secret

HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def test_the_file_is_created_once_with_mode_0600(tmp_path):
    first = load_server_secret(tmp_path, {})
    path = tmp_path / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_server_secret(tmp_path, {}) == first
    assert not [p for p in tmp_path.iterdir() if p.name != FILE_NAME]  # no temporary files left


def test_racing_processes_agree_on_one_secret(tmp_path):
    results = []
    barrier = threading.Barrier(16)

    def load():
        barrier.wait()
        results.append(load_server_secret(tmp_path, {}).reveal())

    threads = [threading.Thread(target=load) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and len(set(results)) == 1
    assert bytes.fromhex((tmp_path / FILE_NAME).read_text().strip()) == results[0]


@pytest.mark.parametrize(
    "encoded",
    [
        HEX,
        HEX.upper(),
        base64.b64encode(bytes.fromhex(HEX)).decode(),
        base64.urlsafe_b64encode(bytes.fromhex(HEX)).decode().rstrip("="),
    ],
)
def test_the_environment_wins_in_hex_or_base64(tmp_path, encoded):
    secret = load_server_secret(tmp_path, {"KMS_SECRET_KEY": f" {encoded}\n"})
    assert secret.reveal() == bytes.fromhex(HEX)
    assert not (tmp_path / FILE_NAME).exists()


@pytest.mark.parametrize("encoded", ["short", HEX[:-2], HEX + "00", base64.b64encode(b"x" * 31).decode(), "zz" * 32])
def test_wrong_sizes_and_encodings_are_refused_without_echo(encoded):
    with pytest.raises(ValueError) as info:
        parse_secret(encoded)
    assert encoded not in str(info.value)


def test_a_damaged_file_is_refused(tmp_path):
    (tmp_path / FILE_NAME).write_text("not a secret")
    with pytest.raises(ValueError, match="server secret"):
        load_server_secret(tmp_path, {})


def test_mac_is_keyed_and_the_secret_is_redacted(tmp_path):
    one, other = parse_secret(HEX), parse_secret("ff" * 32)
    assert mac(one, b"invite:x") == mac(one, b"invite:x") != mac(other, b"invite:x")
    assert len(mac(one, b"invite:x")) == 32
    assert HEX not in repr(one) and HEX not in str(one)


def test_the_data_dir_is_created_private(tmp_path):
    target = tmp_path / "new" / "data"
    load_server_secret(target, {})
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
