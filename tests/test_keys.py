"""Key release (the only way key material leaves), downloads and key verification."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from conftest import PASSWORD, TEST_DB
from test_audit import audit_inserts_fail
from test_devices import APP_KEY, IMPORT, OMS_KEY, lora, oms

from models.audit import AuditEvent
from models.devices import Device
from models.keys import KeyRelease, KeyReleasePart
from resolvers.errors import KmsError

RELEASE = """mutation($in: ReleaseKeysInput!) { releaseKeys(input: $in) { id filename deviceCount keyCount content
  downloadUrl expiresAt format { id mediaType } refused { serialNumber reason } } }"""
VERIFY = "query($id: ID!, $f: String!) { verifyDeviceKey(deviceId: $id, frame: $f) { ok keyType method detail } }"
VECTORS = json.loads((Path(__file__).resolve().parents[2] / "shared" / "vectors" / "vectors.json").read_text())


async def setup_catalog(as_user, world):
    """customer_a owns A-LORA (claimed), A-OMS (claimed), A-NEW (unclaimed); customer_b owns B-1 (claimed)."""
    platform = await as_user("platform_admin")
    await platform.ok(
        IMPORT,
        {
            "org": str(world.orgs["customer_a"].id),
            "rows": [lora("A-LORA", "70B3D5E75E000001"), oms("A-OMS", "20096221"), lora("A-NEW", "70B3D5E75E000002")],
        },
    )
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_b"].id), "rows": [lora("B-1", "70B3D5E75E0000B1")]})
    await Device.filter(serial_number__in=["A-LORA", "A-OMS", "B-1"]).update(claim_status="CLAIMED")
    return {d.serial_number: str(d.id) for d in await Device.all()}


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


async def test_release_hands_out_claimed_keys_and_explains_every_refusal(as_user, world):
    # given
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    # when
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": list(ids.values())}}))["releaseKeys"]
    # then
    assert release["deviceCount"] == 2 and release["keyCount"] == 2 and release["format"]["id"] == "csv"
    assert {(r["serialNumber"], r["reason"]) for r in release["refused"]} == {
        ("A-NEW", "DEVICE_UNCLAIMED"),
        (ids["B-1"], "DEVICE_NOT_FOUND"),
    }
    rows = rows_of(release["content"])
    assert {(r["serial_number"], r["key"].lower()) for r in rows} >= {("A-LORA", APP_KEY), ("A-OMS", OMS_KEY)}
    assert "A-NEW" not in release["content"] and "B-1" not in release["content"]


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite runs one write transaction at a time")
async def test_a_device_unclaimed_while_its_release_waits_is_not_released(as_user, world, settings):
    import asyncpg

    # given: a release of A-LORA that is held up before it records anything
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    other = await asyncpg.connect(settings.database_url)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("LOCK TABLE key_releases IN SHARE MODE")
        release = asyncio.create_task(keys_a.post(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND $1 = ANY(pg_blocking_pids(pid))"
        while not release.done() and not await other.fetchval(waiting, other.get_server_pid()):
            await asyncio.sleep(0.01)
        # when: the device is unclaimed (a transfer resets its claim) and that commits first
        await other.execute("UPDATE devices SET claim_status = 'UNCLAIMED' WHERE id = $1", UUID(ids["A-LORA"]))
        await transaction.commit()
        response = await asyncio.wait_for(release, timeout=60)
    finally:
        await other.close()
    # then: its key is not released, and nothing is recorded
    [error] = response["errors"]
    assert error["extensions"]["code"] == "NOTHING_TO_RELEASE"
    assert error["extensions"]["refused"] == [{"serialNumber": "A-LORA", "reason": "DEVICE_UNCLAIMED"}]
    assert not (response.get("data") or {}).get("releaseKeys") and await KeyRelease.all().count() == 0


async def test_release_is_audited_with_check_values_and_never_the_keys(as_user, world):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}})
    event = await AuditEvent.get(action="keys.released")
    details = json.loads(event.details)
    assert details["deviceCount"] == 1 and details["checkValues"] == ["7df76b"] and details["format"] == "csv"
    assert event.actor == "user:keys_a@example.com" and APP_KEY not in event.details.lower()


async def test_nothing_to_release_when_every_device_is_refused(as_user, world):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    error = await keys_a.error(RELEASE, {"in": {"deviceIds": [ids["A-NEW"], ids["B-1"]]}})
    assert error["extensions"]["code"] == "NOTHING_TO_RELEASE"
    assert await KeyRelease.all().count() == 0


async def test_download_streams_the_file_once(as_user, world):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"], ids["A-OMS"]]}}))["releaseKeys"]
    path = release["downloadUrl"].split("://", 1)[1].split("/", 1)[1]
    head = await keys_a.http.head("/" + path)  # a link checker looking first does not use the link up
    assert head.status_code == 405 and head.headers["allow"] == "GET" and not head.content
    first = await keys_a.http.get("/" + path)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/csv")
    assert first.text == release["content"]
    second = await keys_a.http.get("/" + path)
    assert second.status_code == 404 and second.json()["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"


async def test_expired_download_link_is_refused(as_user, world):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))["releaseKeys"]
    await KeyRelease.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    response = await keys_a.http.get("/downloads/" + release["downloadUrl"].rsplit("/", 1)[1])
    assert response.status_code == 404


async def test_release_uses_the_users_csv_delimiter_and_a_plugin_format(as_user, world):
    ids = await setup_catalog(as_user, world)
    user = world.users["keys_a"]
    user.csv_delimiter = ","
    await user.save()
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))["releaseKeys"]
    assert next(iter(csv.DictReader(io.StringIO(release["content"]))))["serial_number"] == "A-LORA"
    tts = await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"], ids["A-OMS"]], "format": "tts-json"}})
    refused = tts["releaseKeys"]["refused"]
    assert refused == [{"serialNumber": "A-OMS", "reason": "BAD_USER_INPUT"}]
    assert APP_KEY.upper() in tts["releaseKeys"]["content"].upper()


async def test_release_enveloped_as_cms_opens_with_openssl(as_user, world, tmp_path, monkeypatch):
    import tempfile

    ids = await setup_catalog(as_user, world)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            tmp_path / "key.pem",
            "-out",
            tmp_path / "cert.pem",
            "-subj",
            "/CN=head-end",
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    keys_a = await as_user("keys_a")

    def no_temporary_file(*args, **kwargs):  # the plaintext must not reach the disk on its way into the envelope
        raise AssertionError("a temporary file was made for the key file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_temporary_file)
    release = await keys_a.ok(
        RELEASE, {"in": {"deviceIds": [ids["A-LORA"]], "recipientCertificate": (tmp_path / "cert.pem").read_text()}}
    )
    downloaded = await keys_a.http.get("/downloads/" + release["releaseKeys"]["downloadUrl"].rsplit("/", 1)[1])
    monkeypatch.undo()
    assert downloaded.status_code == 200 and downloaded.text.startswith("-----BEGIN PKCS7-----")
    content = release["releaseKeys"]["content"]
    assert content.startswith("-----BEGIN PKCS7-----") and APP_KEY not in content.lower()
    (tmp_path / "file.p7m").write_text(content)
    opened = subprocess.run(
        ["openssl", "cms", "-decrypt", "-inform", "PEM", "-in", tmp_path / "file.p7m", "-inkey", tmp_path / "key.pem"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert rows_of(opened.stdout)[0]["key"].lower() == APP_KEY
    bad = await keys_a.error(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]], "recipientCertificate": "nope"}})
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "recipientCertificate"}


async def test_no_key_leaves_when_the_audit_cannot_be_written(as_user, world):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    async with audit_inserts_fail():
        error = await keys_a.error(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}})
    assert error["extensions"]["code"] == "INTERNAL"
    assert APP_KEY not in json.dumps(error).lower()
    assert await KeyRelease.all().count() == 0


async def test_viewers_and_other_organisations_get_no_keys(as_user, world):
    ids = await setup_catalog(as_user, world)
    viewer = await as_user("viewer_a")
    assert await viewer.code(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}) == "FORBIDDEN"
    keys_b = await as_user("keys_b")
    error = await keys_b.error(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}})
    assert error["extensions"]["code"] == "NOTHING_TO_RELEASE"
    assert error["extensions"]["refused"] == [{"serialNumber": ids["A-LORA"], "reason": "DEVICE_NOT_FOUND"}]


async def test_release_all_claimed_keys_by_filter(as_user, world):
    await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"filter": {}}}))["releaseKeys"]
    assert release["deviceCount"] == 2
    assert release["refused"] == [{"serialNumber": "A-NEW", "reason": "DEVICE_UNCLAIMED"}]


async def test_a_release_in_parts_lists_every_key_in_order_and_audits_their_digest(as_user, world, monkeypatch):
    """Parts of two devices: five devices (one LoRaWAN 1.1 with AppKey and NwkKey) span three parts. The
    file lists every key by serial number and key slot, and the audit's digest covers exactly those keys."""
    import hashlib

    from crypto.kcv import KeyAlgorithm, key_check_value
    from resolvers.keys import release as use_cases

    monkeypatch.setattr(use_cases, "PART_SIZE", 2)
    platform = await as_user("platform_admin")
    v11 = lora("P-3", "70B3D5E75E000013")
    v11["attributes"] = json.dumps({"devEui": "70B3D5E75E000013", "lorawanVersion": "1.1"})
    v11["keys"] = [{"keyType": "NwkKey", "value": OMS_KEY}, {"keyType": "AppKey", "value": APP_KEY}]
    rows = [lora("P-5", "70B3D5E75E000015"), oms("P-1", "20096201"), v11, lora("P-2", "70B3D5E75E000012")]
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": [*rows, oms("P-4", "20096204")]})
    await Device.all().update(claim_status="CLAIMED")
    keys_a = await as_user("keys_a")
    # when: by filter and by a list of ids
    by_filter = (await keys_a.ok(RELEASE, {"in": {"filter": {}}}))["releaseKeys"]
    ids = [str(d.id) for d in await Device.all()]
    by_ids = (await keys_a.ok(RELEASE, {"in": {"deviceIds": ids}}))["releaseKeys"]
    # then
    for release in (by_filter, by_ids):
        listed = [(r["serial_number"], r["key_type"]) for r in rows_of(release["content"])]
        assert listed == [
            ("P-1", "OMS"),
            ("P-2", "AppKey"),
            ("P-3", "AppKey"),
            ("P-3", "NwkKey"),
            ("P-4", "OMS"),
            ("P-5", "AppKey"),
        ]
        assert release["deviceCount"] == 5 and release["keyCount"] == 6
        download = await keys_a.http.get("/" + release["downloadUrl"].split("://", 1)[1].split("/", 1)[1])
        assert download.text == release["content"]
    assert await KeyReleasePart.filter(release_id=by_filter["id"]).count() == 3
    for release in (by_filter, by_ids):
        details = json.loads((await AuditEvent.get(action="keys.released", target=f"release:{release['id']}")).details)
        check_values = [
            key_check_value(bytes.fromhex(r["key"]), KeyAlgorithm.AES128) for r in rows_of(release["content"])
        ]
        assert details["checkValues"] == check_values and details["keyCount"] == 6
        assert (
            details["checkValuesSha256"] == hashlib.sha256("".join(f"{v}\n" for v in check_values).encode()).hexdigest()
        )


async def test_verify_oms_mode5_telegram_against_the_stored_key(as_user, world):
    vector = VECTORS["oms_mode5"][0]
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    ok = (await keys_a.ok(VERIFY, {"id": ids["A-OMS"], "f": vector["telegram"]}))["verifyDeviceKey"]
    assert ok["ok"] is True and ok["keyType"] == "OMS"
    wrong_device = (await keys_a.ok(VERIFY, {"id": ids["A-LORA"], "f": vector["telegram"]}))["verifyDeviceKey"]
    assert wrong_device["ok"] is False
    event = await AuditEvent.filter(action="key.verified").first()
    assert event is not None and OMS_KEY not in event.details.lower()


async def test_verify_lorawan_join_request_mic(as_user, world):
    vector = VECTORS["lorawan_join_request"][0]
    platform = await as_user("platform_admin")
    row = lora("J-1", "0203040502030405", app_key=vector["app_key"])
    row["attributes"] = json.dumps(
        {"devEui": "0203040502030405", "joinEui": "0102030401020304", "lorawanVersion": "1.0.3"}
    )
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": [row]})
    device = await Device.get(serial_number="J-1")
    keys_a = await as_user("keys_a")
    result = (await keys_a.ok(VERIFY, {"id": str(device.id), "f": vector["phy_payload"]}))["verifyDeviceKey"]
    assert result["ok"] is True and result["keyType"] == "AppKey"
    bad_mic = vector["phy_payload"][:-8] + "00000000"
    assert (await keys_a.ok(VERIFY, {"id": str(device.id), "f": bad_mic}))["verifyDeviceKey"]["ok"] is False
    keys_b = await as_user("keys_b")
    assert await keys_b.code(VERIFY, {"id": str(device.id), "f": bad_mic}) == "DEVICE_NOT_FOUND"


async def test_kek_rotation_rewraps_every_key_and_releases_stay_identical(as_user, world, settings):
    from models.keys import DeviceKey
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: keys sealed under the current KEK version
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    before = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"], ids["A-OMS"]]}}))["releaseKeys"]
    old_versions = set(await DeviceKey.all().values_list("kek_version", flat=True))
    # when
    new, count = await rotate_kek(KeyStore(settings))
    # then: every data key is wrapped by the new version and the keys themselves did not change
    assert count == await DeviceKey.all().count() and new.version not in old_versions
    assert set(await DeviceKey.all().values_list("kek_version", flat=True)) == {new.version}
    after = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"], ids["A-OMS"]]}}))["releaseKeys"]
    assert rows_of(after["content"]) == rows_of(before["content"])


async def test_a_download_that_started_before_a_kek_rotation_streams_every_key(as_user, world, settings):
    from resolvers import keys
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore, keystore, registry

    # given: a release, and the server's side of its download started: its key ring was taken
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"], ids["A-OMS"]]}}))["releaseKeys"]
    ring = keystore(settings).resolver()
    # when: `kms rotate-kek` in another process adds a version and rewraps the keys before they are read
    await rotate_kek(KeyStore(settings))
    plugins = registry(settings.plugins)
    claimed = await keys.claim_download(release["downloadUrl"].rsplit("/", 1)[1], plugins)
    body = b"".join([chunk async for chunk in keys.stream_file(claimed, plugins.format("csv"), plugins, ring)])
    # then: the file holds every key, as the release's inline copy does
    assert rows_of(body.decode()) == rows_of(release["content"]) and len(rows_of(release["content"])) == 2


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite serves one host; its key file's lock orders rotations")
async def test_a_second_kek_rotation_is_refused_while_one_runs(as_user, world, settings):
    import asyncpg

    from crypto.kek import FileKek
    from models.db import AdvisoryLock
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: a rotation runs on another host (it holds the rotation lock)
    await setup_catalog(as_user, world)
    versions = [k.version for k in FileKek(settings.kek_path, create=False).versions()]
    other = await asyncpg.connect(settings.database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", AdvisoryLock.KEK_ROTATION)
        # when: a second one starts
        with pytest.raises(KmsError) as refused:
            await rotate_kek(KeyStore(settings))
    finally:
        await other.close()
    # then: refused as a conflict, before adding a version; once the first is done, a rotation runs
    assert refused.value.code == "CONFLICT"
    assert [k.version for k in FileKek(settings.kek_path, create=False).versions()] == versions
    new, _count = await rotate_kek(KeyStore(settings))
    assert new.version == versions[-1] + 1


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite: registering a version waits for the single write lock")
@pytest.mark.parametrize(
    "held_at",
    ["before its first write", "after storing its keys"],
)
async def test_keys_imported_while_a_kek_rotation_runs_are_stored_under_the_new_version(
    as_user, world, settings, held_at
):
    import asyncpg

    from crypto.envelope import SealedKey, open_sealed
    from models.db import AdvisoryLock
    from models.keys import DeviceKey
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore, keystore

    await setup_catalog(as_user, world)
    platform = await as_user("platform_admin")
    other = await asyncpg.connect(settings.database_url)
    waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND $1 = ANY(pg_blocking_pids(pid))"
    rotation_waits = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1"
    try:
        # given: an import that sealed its keys under the current KEK version is held up in its transaction,
        # before it writes anything or after it stored its keys (at its audit record)
        transaction = other.transaction()
        await transaction.start()
        if held_at == "before its first write":
            await other.execute("LOCK TABLE devices IN SHARE MODE")
        else:
            await other.execute("SELECT pg_advisory_xact_lock($1)", AdvisoryLock.AUDIT_CHAIN)
        row = lora("R-1", "70B3D5E75E0000C1")
        importing = asyncio.create_task(platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": [row]}))
        while not importing.done() and not await other.fetchval(waiting, other.get_server_pid()):
            await asyncio.sleep(0.01)
        # when: another server rotates the KEK: it adds a version and rewraps every key it can see
        rotation = asyncio.create_task(rotate_kek(KeyStore(settings)))
        while not rotation.done() and not await other.fetchval(rotation_waits, AdvisoryLock.KEY_WRITE):
            await asyncio.sleep(0.01)
        await transaction.commit()
        new, _count = await asyncio.wait_for(rotation, timeout=60)
        await asyncio.wait_for(importing, timeout=60)
    finally:
        await other.close()
    # then: no key is left under the old version, and the imported key opens to what was imported
    assert set(await DeviceKey.all().values_list("kek_version", flat=True)) == {new.version}
    key = await DeviceKey.get(device__serial_number="R-1")
    sealed = SealedKey(bytes(key.ciphertext), bytes(key.nonce), bytes(key.wrapped_dek), key.kek_id, key.kek_version)
    opened = open_sealed(
        sealed, device_id=str(key.device_id), key_type=key.key_type, kek_resolver=keystore(settings).resolver()
    )
    assert opened.reveal().hex() == APP_KEY


@pytest.mark.skipif(TEST_DB == "postgres", reason="PostgreSQL: the advisory lock (the test before)")
async def test_a_second_kek_rotation_on_one_host_is_refused_while_one_runs(as_user, world, settings):
    import fcntl

    from crypto.kek import FileKek
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: a rotation runs in another process on this host (it holds the rotation lock file)
    await setup_catalog(as_user, world)
    store = KeyStore(settings)
    versions = [k.version for k in FileKek(settings.kek_path, create=False).versions()]
    with open(store.rotation_lock_path(), "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # when: a second one starts
        with pytest.raises(KmsError) as refused:
            await rotate_kek(store)
    # then: refused before adding a version; once the first is done, a rotation runs
    assert refused.value.code == "CONFLICT"
    assert [k.version for k in FileKek(settings.kek_path, create=False).versions()] == versions
    new, _count = await rotate_kek(KeyStore(settings))
    assert new.version == versions[-1] + 1


async def test_a_server_that_lacks_a_version_another_server_added_does_not_rotate(as_user, world, settings, tmp_path):
    import shutil
    from dataclasses import replace

    from crypto.kek import FileKek
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: a second host with a copy of the key file, and a rotation on the first host afterwards
    await setup_catalog(as_user, world)
    second = replace(settings, data_dir=tmp_path)
    shutil.copy(settings.kek_path, second.kek_path)
    new, _count = await rotate_kek(KeyStore(settings))
    copied = [k.version for k in FileKek(second.kek_path, create=False).versions()]
    # when: the second host rotates before it has the new key file
    with pytest.raises(KmsError) as refused:
        await rotate_kek(KeyStore(second))
    # then: refused, naming the version it lacks, and its key file has no version of its own under that number
    assert refused.value.code == "CONFLICT" and f"local version {new.version}" in refused.value.message
    assert [k.version for k in FileKek(second.kek_path, create=False).versions()] == copied


async def test_a_server_that_lacks_the_newest_kek_version_imports_nothing(as_user, world, settings, tmp_path):
    import shutil
    from dataclasses import replace

    from resolvers import devices
    from resolvers.auth import actor_for
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore, registry

    # given: a second host with a copy of the key file, and a rotation on the first host afterwards
    await setup_catalog(as_user, world)
    second = replace(settings, data_dir=tmp_path)
    shutil.copy(settings.kek_path, second.kek_path)
    new, _count = await rotate_kek(KeyStore(settings))
    before = await Device.all().count()
    # when: the second host imports before it has the new key file
    admin = world.users["platform_admin"]
    rows = [devices.ImportRow("R-2", "topas-sonic-lora-w8", (), json.dumps({"devEui": "70B3D5E75E0000C2"}))]
    with pytest.raises(KmsError) as refused:
        await devices.import_devices(
            actor_for(admin, world.orgs["platform"]),
            str(world.orgs["customer_a"].id),
            rows,
            keys=KeyStore(second),
            registry=registry(settings.plugins),
        )
    # then: refused, naming the version it lacks, and nothing was stored under the old one
    assert refused.value.code == "CONFLICT" and f"version {new.version}" in refused.value.message
    assert await Device.all().count() == before


async def test_no_key_is_stored_under_a_kek_version_the_servers_have_not_registered(as_user, world, settings):
    from crypto.kek import FileKek
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: a rotation here wrote its new version to the key file, then failed before registering it
    await setup_catalog(as_user, world)
    FileKek(settings.kek_path, create=False).rotate()
    platform = await as_user("platform_admin")
    rows = {"org": str(world.orgs["customer_a"].id), "rows": [lora("R-3", "70B3D5E75E0000C3")]}
    # when: an import comes
    error = await platform.error(IMPORT, rows)
    # then: refused (another server could still register another key under that number)
    assert error["extensions"]["code"] == "CONFLICT" and "not registered" in error["message"]
    assert not await Device.exists(serial_number="R-3")
    # and once the rotation is run again, keys are stored
    await rotate_kek(KeyStore(settings))
    await platform.ok(IMPORT, rows)


async def test_a_server_holding_another_key_under_a_registered_version_is_sealed(as_user, world, settings, tmp_path):
    import shutil
    from dataclasses import replace

    from crypto.kek import FileKek
    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: a second host rotated and registered version 2; this host's unfinished rotation made its own
    ids = await setup_catalog(as_user, world)
    second = replace(settings, data_dir=tmp_path)
    shutil.copy(settings.kek_path, second.kek_path)
    await rotate_kek(KeyStore(second))
    FileKek(settings.kek_path, create=False).rotate()
    platform, keys_a = await as_user("platform_admin"), await as_user("keys_a")
    # when: this host is asked to store and to release keys
    stored = await platform.error(
        IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": [lora("R-4", "70B3D5E75E0000C4")]}
    )
    released = await keys_a.error(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}})
    # then: both refused as sealed, before anything is written
    for error in (stored, released):
        assert error["extensions"] == {"code": "FORBIDDEN", "reason": "SEALED"}
    assert not await Device.exists(serial_number="R-4") and await KeyRelease.all().count() == 0


def test_a_key_ring_read_while_the_key_file_is_rotated_is_read_again(settings, monkeypatch):
    from crypto.kek import FileKek
    from resolvers.keystore import KeyStore

    # given: a process reads the key file, and `kms rotate-kek` replaces it right after the read
    store, read = KeyStore(settings), FileKek.ring

    def read_then_rotated(self):
        ring = read(self)
        monkeypatch.setattr(FileKek, "ring", read)
        FileKek(settings.kek_path, create=False).rotate()
        return ring

    monkeypatch.setattr(FileKek, "ring", read_then_rotated)
    before = store.ring()
    # when: the process reads its ring again
    after = store.ring()
    # then: it has the new version, made current
    assert after.current.version == before.current.version + 1


async def test_key_material_never_reaches_the_logs(as_user, world, caplog):
    import logging

    caplog.set_level(logging.DEBUG)  # every logger, SQL statements and their values included
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"], ids["A-OMS"]]}}))["releaseKeys"]
    await keys_a.http.get("/downloads/" + release["downloadUrl"].rsplit("/", 1)[1])
    await keys_a.error(RELEASE, {"in": {"deviceIds": [ids["A-NEW"]]}})
    logged = caplog.text.lower()
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for key in (APP_KEY, OMS_KEY):
        assert key not in logged
        assert bytes.fromhex(key).decode("latin-1").lower() not in logged


async def test_a_sealed_key_store_does_not_use_up_a_download_link(as_user, world, settings):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))["releaseKeys"]
    path = "/downloads/" + release["downloadUrl"].rsplit("/", 1)[1]
    kek, aside = Path(settings.kek_path), Path(f"{settings.kek_path}.aside")
    kek.rename(aside)  # no key-encryption key: the store is sealed
    try:
        sealed = await keys_a.http.get(path)
    finally:
        aside.rename(kek)
    assert sealed.status_code == 503 and sealed.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    opened = await keys_a.http.get(path)
    assert opened.status_code == 200 and opened.text == release["content"]


async def test_a_server_that_lacks_the_newest_kek_version_releases_nothing_until_it_has_it(
    as_user, world, settings, tmp_path
):
    import shutil
    from dataclasses import replace

    from resolvers.keys import rotate_kek
    from resolvers.keystore import KeyStore

    # given: a release, then a rotation on a second host whose new key file has not reached this one
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))["releaseKeys"]
    path = "/downloads/" + release["downloadUrl"].rsplit("/", 1)[1]
    second = replace(settings, data_dir=tmp_path)
    shutil.copy(settings.kek_path, second.kek_path)
    new, _count = await rotate_kek(KeyStore(second))
    # when: this server is asked for keys
    refused = await keys_a.post(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}})
    verify = await keys_a.post(VERIFY, {"id": ids["A-LORA"], "f": "00"})
    download = await keys_a.http.get(path)
    # then: each refuses before anything is recorded or the link is used, naming the version it lacks
    for error in (refused["errors"][0], verify["errors"][0], download.json()["errors"][0]):
        assert error["extensions"]["code"] == "CONFLICT" and f"local version {new.version}" in error["message"]
    assert download.status_code == 503 and await KeyRelease.all().count() == 1
    # and once the key file arrives, the link gives the file
    shutil.copy(second.kek_path, settings.kek_path)
    opened = await keys_a.http.get(path)
    assert opened.status_code == 200 and opened.text == release["content"]


async def test_a_download_is_audited_and_a_disabled_format_does_not_use_up_the_link(as_user, world):
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    release = (await keys_a.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))["releaseKeys"]
    path = "/downloads/" + release["downloadUrl"].rsplit("/", 1)[1]
    # given: the release's format is not enabled on this server (any more)
    await KeyRelease.filter(id=release["id"]).update(format="no-such-format")
    refused = await keys_a.http.get(path)
    assert refused.status_code == 503 and refused.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert not await AuditEvent.exists(action="keys.downloaded")
    # when: it is back, the link works once, and the download is audited for the organisation
    await KeyRelease.filter(id=release["id"]).update(format="csv")
    assert (await keys_a.http.get(path)).status_code == 200
    assert (await keys_a.http.get(path)).status_code == 404
    [event] = await AuditEvent.filter(action="keys.downloaded")
    assert event.organisation_id == world.orgs["customer_a"].id and event.target == f"release:{release['id']}"
    details = json.loads(event.details)
    assert details["keyCount"] == 1 and "clientAddress" in details and APP_KEY not in event.details.lower()


async def test_a_lost_key_file_leaves_the_store_sealed_instead_of_making_a_new_kek(
    as_user, world, settings, tmp_path, caplog
):
    from dataclasses import replace

    from resolvers.keystore import Sealed, keystore, open_key_store

    # given: keys stored under the servers' KEK (a first KEK on an empty database: the test after the next)
    await setup_catalog(as_user, world)
    # when: a server starts with its key file missing
    lost = replace(settings, data_dir=tmp_path / "lost")
    with caplog.at_level("ERROR", logger="kms.keys"):
        await open_key_store(lost)
    # then: no new KEK, sealed, and the log says why
    assert not Path(lost.kek_path).exists()
    with pytest.raises(Sealed):
        keystore(lost).ring()
    assert "stays sealed" in caplog.text


async def test_a_server_whose_kek_is_not_the_one_the_others_share_stays_sealed(
    as_user, world, settings, tmp_path, caplog
):
    import shutil
    from dataclasses import replace

    from crypto.envelope import SealedKey, open_sealed
    from crypto.kek import FileKek
    from models.keys import DeviceKey
    from resolvers.keystore import Sealed, keystore, open_key_store

    # given: a server has started on this database (registering its KEK) and stored keys under it
    await open_key_store(settings)
    await setup_catalog(as_user, world)
    key = await DeviceKey.filter(key_type="AppKey").first()
    assert key is not None
    sealed = SealedKey(bytes(key.ciphertext), bytes(key.nonce), bytes(key.wrapped_dek), key.kek_id, key.kek_version)
    # when: a second server starts with no key file, and a third with a key file of its own
    second, third = replace(settings, data_dir=tmp_path / "second"), replace(settings, data_dir=tmp_path / "third")
    FileKek(third.kek_path)  # made by hand: the same id and version as the first server's, another key
    with caplog.at_level("ERROR", logger="kms.keys"):
        await open_key_store(second)
        await open_key_store(third)
    # then: neither makes or uses a KEK of its own; both stay sealed and say why
    assert not Path(second.kek_path).exists()
    for other in (second, third):
        with pytest.raises(Sealed):
            keystore(other).ring()
    assert "stays sealed on this server until it has their key file" in caplog.text
    assert "is not the one the other servers share" in caplog.text
    # and once the second has the first's key file, it opens the keys the first stored
    shutil.copy(settings.kek_path, second.kek_path)
    opened = open_sealed(
        sealed, device_id=str(key.device_id), key_type="AppKey", kek_resolver=keystore(second).resolver()
    )
    assert opened.reveal() == bytes.fromhex(APP_KEY)


async def test_servers_starting_together_on_an_empty_database_make_one_kek(settings, tmp_path):
    from dataclasses import replace

    from models.keys import KekVersion
    from resolvers.keystore import Sealed, keystore, open_key_store

    # given: an empty database (no key, no registered KEK) and three servers with empty data directories
    await KekVersion.all().delete()
    servers = [replace(settings, data_dir=tmp_path / f"server-{i}") for i in range(3)]
    # when: they start at the same time
    await asyncio.gather(*(open_key_store(server) for server in servers))
    # then: one made the first KEK and registered it; the others wait, sealed, for its key file
    made = [server for server in servers if Path(server.kek_path).exists()]
    assert len(made) == 1 and await KekVersion.all().count() == 1
    for server in servers:
        if server is not made[0]:
            with pytest.raises(Sealed):
                keystore(server).ring()
    assert keystore(made[0]).ring().current.version == 1


async def test_devices_a_format_cannot_hold_are_refused_before_anything_is_released(as_user, world):
    # given: a claimed OMS meter without its manufacturer code, which an OMS key list needs
    ids = await setup_catalog(as_user, world)
    bare = oms("A-BARE", "20096222")
    bare["attributes"] = json.dumps({"mbusId": "20096222"})
    platform = await as_user("platform_admin")
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": [bare]})
    await Device.filter(serial_number="A-BARE").update(claim_status="CLAIMED")
    bare_id = str((await Device.get(serial_number="A-BARE")).id)
    keys_a = await as_user("keys_a")
    # when: listed alone, then beside a meter that has it, then by filter
    alone = await keys_a.error(RELEASE, {"in": {"deviceIds": [bare_id], "format": "oms-key-list"}})
    both = await keys_a.ok(RELEASE, {"in": {"deviceIds": [bare_id, ids["A-OMS"]], "format": "oms-key-list"}})
    by_filter = {"filter": {"deviceTypes": ["topas-sonic-wmbus"]}, "format": "oms-key-list"}
    filtered = (await keys_a.ok(RELEASE, {"in": by_filter}))["releaseKeys"]
    # then: refused with a reason, and what is released is written whole
    assert alone["extensions"]["code"] == "NOTHING_TO_RELEASE"
    assert alone["extensions"]["refused"] == [{"serialNumber": "A-BARE", "reason": "BAD_USER_INPUT"}]
    for release in (both["releaseKeys"], filtered):
        assert release["deviceCount"] == 1 and release["refused"] == [
            {"serialNumber": "A-BARE", "reason": "BAD_USER_INPUT"}
        ]
        assert release["content"] == f"MFR;SERIAL;KEY\r\nDME;20096221;{OMS_KEY.upper()}\r\n"
        download = await keys_a.http.get("/downloads/" + release["downloadUrl"].rsplit("/", 1)[1])
        assert download.status_code == 200 and download.text == release["content"]
    assert await KeyRelease.all().count() == 2 == await AuditEvent.filter(action="keys.released").count()


async def test_a_long_refusal_list_is_cut_but_every_refused_device_is_counted(as_user, world, monkeypatch):
    from resolvers.keys import release as release_module

    monkeypatch.setattr(release_module, "MAX_REFUSED_LISTED", 1)
    ids = await setup_catalog(as_user, world)
    keys_a = await as_user("keys_a")
    counted = (
        "mutation($in: ReleaseKeysInput!) { releaseKeys(input: $in) { deviceCount refused { reason } refusedCount } }"
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    listed = [ids["A-LORA"], ids["A-NEW"], ids["B-1"], unknown]
    release = (await keys_a.ok(counted, {"in": {"deviceIds": listed}}))["releaseKeys"]
    assert release["deviceCount"] == 1 and len(release["refused"]) == 1 and release["refusedCount"] == 3
    error = await keys_a.error(counted, {"in": {"deviceIds": listed[1:]}})
    assert error["extensions"]["code"] == "NOTHING_TO_RELEASE"
    assert len(error["extensions"]["refused"]) == 1 and error["extensions"]["refusedCount"] == 3


async def test_a_key_store_that_cannot_open_lets_the_service_start_sealed(world, settings, tmp_path, caplog):
    from dataclasses import replace

    from models.keys import KekVersion
    from resolvers.keystore import Sealed, keystore, open_key_store

    await KekVersion.all().delete()  # a first start: it would make the first KEK if it could open the token
    no_token = replace(settings, data_dir=tmp_path, kek_provider="pkcs11", pkcs11_token_label="", pkcs11_pin="")
    with caplog.at_level("ERROR", logger="kms.keys"):
        await open_key_store(no_token)  # does not raise: the server starts
    with pytest.raises(Sealed):
        keystore(no_token).ring()
    assert "runs sealed" in caplog.text


async def test_a_lost_server_secret_is_not_replaced_while_second_factors_are_sealed_under_it(
    world, settings, tmp_path, caplog
):
    from dataclasses import replace

    from crypto import server_secret as server_secrets
    from models.users import User
    from resolvers import auth
    from resolvers.errors import KmsError
    from resolvers.keystore import Sealed, open_key_store, server_secret, server_secret_or_none

    # given: a user whose second factor is sealed under the server secret, and a start without the secret
    await User.filter(id=world.users["keys_a"].id).update(otp_secret=b"sealed", otp_enabled_at=datetime.now(UTC))
    lost = replace(settings, data_dir=tmp_path / "lost")
    with caplog.at_level("ERROR", logger="kms.keys"):
        await open_key_store(lost)
    # then: no new secret; invites and second factors are refused, plain logins still work
    assert not server_secrets.exists(tmp_path / "lost") and "second-factor secrets" in caplog.text
    with pytest.raises(Sealed):
        server_secret(lost)
    policy = auth.policy_from(settings)
    with pytest.raises(KmsError) as refused:
        await auth.login("keys_a@example.com", PASSWORD, policy, None, otp="123456", server=server_secret_or_none(lost))
    assert refused.value.code == "FORBIDDEN"
    user, _cookie = await auth.login("admin_a@example.com", PASSWORD, policy, None, server=server_secret_or_none(lost))
    assert user.email == "admin_a@example.com"


async def test_a_server_whose_secret_is_not_the_one_the_others_share_refuses_it(settings, tmp_path, caplog):
    from dataclasses import replace

    from crypto import server_secret as server_secrets
    from models.keys import SharedServerSecret
    from resolvers.keystore import Sealed, open_key_store, server_secret

    # given: three servers on one empty database; the first starts with KMS_SECRET_KEY, the second with a copy
    # of it, the third with a data directory of its own (where it makes a secret of its own)
    configured = "ab" * server_secrets.SECRET_BYTES
    first, same = (replace(settings, data_dir=tmp_path / n, secret_key=configured) for n in ("first", "same"))
    third = replace(settings, data_dir=tmp_path / "third", secret_key="")
    # when
    with caplog.at_level("ERROR", logger="kms.keys"):
        for server in (first, same, third):
            await open_key_store(server)
    # then: the first registered its secret, the second uses the same, the third refuses its own and says so
    [shared] = await SharedServerSecret.all()
    assert (
        shared.fingerprint == server_secrets.fingerprint(server_secret(first)) and configured not in shared.fingerprint
    )
    assert server_secret(same).reveal() == server_secret(first).reveal()
    assert server_secrets.exists(tmp_path / "third")
    with pytest.raises(Sealed):
        server_secret(third)
    assert "is not the one the other servers share" in caplog.text and configured not in caplog.text
    # and once it has theirs (here: KMS_SECRET_KEY) and starts again, it uses it
    fixed = replace(third, secret_key=configured)
    await open_key_store(fixed)
    assert server_secret(fixed).reveal() == server_secret(first).reveal()


# --- the schema -----------------------------------------------------------------------------------------------

# Where key material may appear in an answer: the release's inlined file (its download URL fetches the same).
KEY_MATERIAL = {("KeyRelease", "content"), ("KeyRelease", "downloadUrl")}


def _paths_to_key_material(schema) -> list[tuple[str, bool]]:
    """Every path from a root field to a field of KEY_MATERIAL, and whether a list lies on the way."""
    from graphql import get_named_type, is_list_type, is_object_type, is_wrapping_type

    def lists(type_) -> bool:
        while is_wrapping_type(type_):
            if is_list_type(type_):
                return True
            type_ = type_.of_type
        return False

    found: list[tuple[str, bool]] = []

    def walk(type_, path: str, listed: bool, seen: frozenset[str]) -> None:
        for name, field in type_.fields.items():
            here, in_list = f"{path}.{name}", listed or lists(field.type)
            if (type_.name, name) in KEY_MATERIAL:
                found.append((here, in_list))
            target = get_named_type(field.type)
            if is_object_type(target) and target.name not in seen:
                walk(target, here, in_list, seen | {target.name})

    for root in (schema.query_type, schema.mutation_type):
        walk(root, root.name, False, frozenset({root.name}))
    return found


def test_key_material_is_reached_only_through_release_keys_and_never_in_a_list(settings):
    from schema import build_schema

    # when: every path of the schema the service serves is followed
    paths = _paths_to_key_material(build_schema(settings)._schema)
    # then: the release's own answer is the only way to its key material, and no list field leads there
    assert sorted(paths) == [
        ("Mutation.releaseKeys.content", False),
        ("Mutation.releaseKeys.downloadUrl", False),
    ]
    # and a device's key metadata holds no field but these (a new one must be reviewed here first)
    device_key = build_schema(settings)._schema.get_type("DeviceKey")
    assert set(device_key.fields) == {"keyType", "algorithm", "checkValue", "createdAt"}
