"""Device import with keys, the basic catalog and claiming."""

from __future__ import annotations

import asyncio
import json

from models.audit import AuditEvent
from models.devices import Device
from models.keys import DeviceKey

IMPORT = """mutation($org: ID!, $rows: [DeviceImportRow!]!) { importDevices(organisationId: $org, rows: $rows) {
  id serialNumber claimStatus deviceType { id radio } owner { name } keys { keyType algorithm checkValue } } }"""
CLAIM = """mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) {
  claimedCount claimed { serialNumber claimStatus } refused { serialNumber reason } } }"""
DEVICES = """query($f: DeviceFilter, $after: String) { devices(filter: $f, first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } nodes { serialNumber claimStatus labels } } }"""
APP_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
OMS_KEY = "bedb81b52c29b5c143388cbb0d15a051"


def lora(serial: str, dev_eui: str, app_key: str | None = APP_KEY) -> dict:
    row = {
        "serialNumber": serial,
        "deviceType": "topas-sonic-lora-w8",
        "attributes": json.dumps({"devEui": dev_eui, "lorawanVersion": "1.0.3"}),
    }
    if app_key:
        row["keys"] = [{"keyType": "AppKey", "value": app_key}]
    return row


def oms(serial: str, mbus_id: str, key: str | None = OMS_KEY) -> dict:
    row = {
        "serialNumber": serial,
        "deviceType": "topas-sonic-wmbus",
        "attributes": json.dumps({"mbusId": mbus_id, "manufacturer": "DME", "version": 1, "medium": "water"}),
    }
    if key:
        row["keys"] = [{"keyType": "OMS", "value": key}]
    return row


async def import_rows(api, org_id, rows):
    return (await api.ok(IMPORT, {"org": str(org_id), "rows": rows}))["importDevices"]


async def test_platform_admin_imports_devices_and_missing_keys_are_generated(as_user, world):
    # given
    admin = await as_user("platform_admin")
    # when
    devices = await import_rows(
        admin,
        world.orgs["platform"].id,
        [lora("21N001052", "70B3D5E75E000001"), oms("Y20TA010056", "20096221", key=None)],
    )
    # then
    assert [d["serialNumber"] for d in devices] == ["21N001052", "Y20TA010056"]
    assert devices[0]["keys"] == [{"keyType": "AppKey", "algorithm": "AES128", "checkValue": "7df76b"}]
    generated = devices[1]["keys"][0]
    assert generated["keyType"] == "OMS" and len(generated["checkValue"]) == 6
    stored = await DeviceKey.filter(device__serial_number="Y20TA010056").first()
    assert stored is not None and bytes.fromhex(OMS_KEY) not in bytes(stored.ciphertext)
    event = await AuditEvent.get(action="devices.imported")
    assert json.loads(event.details)["generatedKeys"] == 1 and APP_KEY not in event.details


async def test_import_is_all_or_nothing_and_reports_every_bad_row(as_user, world):
    admin = await as_user("platform_admin")
    await import_rows(admin, world.orgs["platform"].id, [lora("EXISTS-1", "70B3D5E75E000009")])
    rows = [
        lora("GOOD-1", "70B3D5E75E000002"),
        lora("EXISTS-1", "70B3D5E75E000003"),
        lora("GOOD-1", "70B3D5E75E000004"),
        lora("BAD-KEY", "70B3D5E75E000005", app_key="zz" * 16),
        {"serialNumber": "BAD-TYPE", "deviceType": "no-such-type"},
        lora("BAD-EUI", "123"),
    ]
    error = await admin.error(IMPORT, {"org": str(world.orgs["platform"].id), "rows": rows})
    reported = {(r["row"], r["code"], r["field"]) for r in error["extensions"]["rows"]}
    assert reported == {
        (1, "SERIAL_DUPLICATE", "serialNumber"),
        (2, "SERIAL_DUPLICATE", "serialNumber"),
        (3, "BAD_USER_INPUT", "keys.value"),
        (4, "BAD_USER_INPUT", "deviceType"),
        (5, "BAD_USER_INPUT", "attributes.devEui"),
    }
    assert "zz" * 16 not in json.dumps(error)
    assert await Device.filter(serial_number="GOOD-1").count() == 0


async def test_only_platform_admins_import(as_user, world):
    admin_a = await as_user("admin_a")
    code = await admin_a.code(
        IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": [lora("X1", "70B3D5E75E000001")]}
    )
    assert code == "FORBIDDEN"


async def test_catalog_is_scoped_paged_and_filtered(as_user, world):
    platform = await as_user("platform_admin")
    await import_rows(platform, world.orgs["customer_a"].id, [lora(f"A{i}", f"70B3D5E75E00000{i}") for i in range(5)])
    await import_rows(platform, world.orgs["customer_b"].id, [lora("B1", "70B3D5E75E0000B1")])
    admin_a = await as_user("admin_a")
    first = (await admin_a.ok(DEVICES))["devices"]
    assert first["totalCount"] == 5 and [n["serialNumber"] for n in first["nodes"]] == ["A0", "A1"]
    second = (await admin_a.ok(DEVICES, {"after": first["pageInfo"]["endCursor"]}))["devices"]
    assert [n["serialNumber"] for n in second["nodes"]] == ["A2", "A3"]
    assert (await admin_a.ok(DEVICES, {"f": {"search": "b"}}))["devices"]["totalCount"] == 0
    assert (await admin_a.ok(DEVICES, {"f": {"serialNumbers": ["A4", "B1"]}}))["devices"]["totalCount"] == 1
    foreign = await Device.get(serial_number="B1")
    assert (
        await admin_a.code("query($id: ID!) { device(id: $id) { serialNumber } }", {"id": str(foreign.id)})
        == "DEVICE_NOT_FOUND"
    )


async def test_claim_marks_own_devices_and_refuses_others(as_user, world):
    platform = await as_user("platform_admin")
    await import_rows(platform, world.orgs["customer_a"].id, [lora("A1", "70B3D5E75E0000A1")])
    await import_rows(platform, world.orgs["customer_a_sub"].id, [lora("S1", "70B3D5E75E0000C1")])
    await import_rows(platform, world.orgs["customer_b"].id, [lora("B1", "70B3D5E75E0000B1")])
    ids = {d.serial_number: str(d.id) for d in await Device.all()}
    keys_a = await as_user("keys_a")
    result = (await keys_a.ok(CLAIM, {"ids": [ids["A1"], ids["S1"], ids["B1"]]}))["claimDevices"]
    assert result["claimed"] == [{"serialNumber": "A1", "claimStatus": "CLAIMED"}] and result["claimedCount"] == 1
    assert {(r["serialNumber"], r["reason"]) for r in result["refused"]} == {
        ("S1", "DEVICE_NOT_OWNED"),
        (ids["B1"], "DEVICE_NOT_FOUND"),
    }
    again = (await keys_a.ok(CLAIM, {"ids": [ids["A1"]]}))["claimDevices"]
    assert again["claimed"] == [] and again["claimedCount"] == 0
    assert again["refused"] == [{"serialNumber": "A1", "reason": "CONFLICT"}]
    viewer = await as_user("viewer_a")
    assert await viewer.code(CLAIM, {"ids": [ids["A1"]]}) == "FORBIDDEN"


async def test_concurrent_claims_claim_each_device_once(as_user, world):
    platform = await as_user("platform_admin")
    await import_rows(
        platform, world.orgs["customer_a"].id, [lora(f"C{i:02}", f"70B3D5E75E0000{i:02}") for i in range(20)]
    )
    ids = [str(d.id) for d in await Device.all().order_by("serial_number")]
    one, two = await as_user("keys_a"), await as_user("admin_a")
    first, second = await asyncio.gather(one.ok(CLAIM, {"ids": ids[:15]}), two.ok(CLAIM, {"ids": ids[5:]}))
    claimed = [c["serialNumber"] for r in (first, second) for c in r["claimDevices"]["claimed"]]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20
    assert first["claimDevices"]["claimedCount"] + second["claimDevices"]["claimedCount"] == 20
    for result in (first, second):  # each call lists what it claimed, by serial number
        serials = [c["serialNumber"] for c in result["claimDevices"]["claimed"]]
        assert serials == sorted(serials) and len(serials) == result["claimDevices"]["claimedCount"]
    events = await AuditEvent.filter(action="devices.claimed")
    assert sum(json.loads(e.details)["count"] for e in events) == 20


async def test_catalog_totals_stay_exact_through_every_kind_of_change(as_user, world):
    """totalCount of organisation/claim status/type filters comes from device_counts, kept by triggers."""
    from resolvers import devices as use_cases
    from resolvers.auth import actor_for

    platform = await as_user("platform_admin")
    await import_rows(platform, world.orgs["customer_a"].id, [lora(f"T{i}", f"70B3D5E75E0001{i:02}") for i in range(6)])
    await import_rows(platform, world.orgs["customer_a_sub"].id, [oms("T-OMS", "20096221")])
    ids = {d.serial_number: str(d.id) for d in await Device.all()}
    await (await as_user("keys_a")).ok(CLAIM, {"ids": [ids["T0"], ids["T1"]]})
    await Device.filter(serial_number="T2").update(
        owner_id=world.orgs["customer_b"].id, owner_path=world.orgs["customer_b"].path
    )
    await Device.filter(serial_number="T3").delete()
    admin = actor_for(world.users["admin_a"], world.orgs["customer_a"])
    filters = [
        use_cases.DeviceFilter(),
        use_cases.DeviceFilter(claim_status="CLAIMED"),
        use_cases.DeviceFilter(claim_status="UNCLAIMED", device_types=["topas-sonic-lora-w8"]),
        use_cases.DeviceFilter(organisation_ids=[str(world.orgs["customer_a_sub"].id)]),
    ]
    for flt in filters:
        assert await use_cases.count_from_totals(admin, flt) == await use_cases.filtered(admin, flt).count(), flt
    totals = await (await as_user("admin_a")).ok("{ devices(filter: {claimStatus: UNCLAIMED}) { totalCount } }")
    assert totals["devices"]["totalCount"] == 3  # T4, T5 and T-OMS of the sub-organisation


async def test_identifiers_are_listed_as_the_plugin_names_them_and_never_hold_keys(as_user, world):
    platform = await as_user("platform_admin")
    rows = [lora("ID-LORA", "70b3d5e75e000001"), oms("ID-OMS", "20096221")]
    await import_rows(platform, world.orgs["customer_a"].id, rows)
    viewer = await as_user("viewer_a")  # identifiers are catalog data: a VIEWER reads them
    query = "query($f: DeviceFilter) { devices(filter: $f) { nodes { serialNumber identifiers { name value } } } }"
    nodes = (await viewer.ok(query, {"f": {"search": "ID-"}}))["devices"]["nodes"]
    found = {n["serialNumber"]: {i["name"]: i["value"] for i in n["identifiers"]} for n in nodes}
    assert found == {
        "ID-LORA": {"devEui": "70B3D5E75E000001", "joinEui": "0000000000000000", "lorawanVersion": "1.0.3"},
        "ID-OMS": {"manufacturer": "DME", "mbusId": "20096221", "medium": "water", "version": "1"},
    }
    assert APP_KEY not in json.dumps(nodes) and OMS_KEY not in json.dumps(nodes)
    other = await as_user("keys_b")  # another customer sees none of them
    assert (await other.ok(query, {"f": {"search": "ID-"}}))["devices"]["nodes"] == []


async def test_import_rows_read_explicit_nulls_and_left_out_fields_as_their_defaults(as_user, world):
    """Import rows are built by a hook (schema/devices.py) instead of strawberry's generic conversion: a null
    or missing `keys` generates the slot, a missing `attributes` is refused by the plugin like a null one."""
    platform = await as_user("platform_admin")
    org = str(world.orgs["customer_a"].id)
    explicit_null = lora("NULL-KEYS", "70B3D5E75E0000AA", app_key=None) | {"keys": None}
    left_out = lora("NO-KEYS", "70B3D5E75E0000AB", app_key=None)
    imported = (await platform.ok(IMPORT, {"org": org, "rows": [explicit_null, left_out]}))["importDevices"]
    assert [d["serialNumber"] for d in imported] == ["NULL-KEYS", "NO-KEYS"]
    assert all(len(d["keys"]) == 1 and d["keys"][0]["keyType"] == "AppKey" for d in imported)
    bare = {"serialNumber": "NO-ATTRIBUTES", "deviceType": "topas-sonic-lora-w8"}
    assert await platform.code(IMPORT, {"org": org, "rows": [bare]}) == "BAD_USER_INPUT"
    assert await platform.code(IMPORT, {"org": org, "rows": [bare | {"attributes": None}]}) == "BAD_USER_INPUT"
    assert not await Device.filter(serial_number="NO-ATTRIBUTES").exists()
