"""Device import with keys, the basic catalog and claiming."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import db
from models.audit import AuditEvent
from models.auth import Session
from models.devices import BatchReference, Device, DeviceLabel
from models.keys import DeviceKey
from models.organisations import Organisation
from resolvers import batches as batch_use_cases
from resolvers import devices as use_cases
from resolvers.auth import actor_for
from resolvers.errors import BadInput
from resolvers.pagination import encode_cursor
from tests.conftest import make_org

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
    # the imported key is stored sealed: its bytes are nowhere in the row
    stored = await DeviceKey.filter(device__serial_number="21N001052").first()
    assert stored is not None
    assert all(bytes.fromhex(APP_KEY) not in bytes(v) for v in (stored.ciphertext, stored.nonce, stored.wrapped_dek))
    event = await AuditEvent.get(action="devices.imported")
    assert json.loads(event.details)["generatedKeys"] == 1 and APP_KEY not in event.details.lower()


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
        {**lora("DEEP", "70B3D5E75E000006"), "attributes": "[" * 2000 + "]" * 2000},  # nested past the parser
        {**lora("LONG", "70B3D5E75E000007"), "attributes": json.dumps({"devEui": "70B3D5E75E000007", "x": "y" * 5000})},
    ]
    error = await admin.error(IMPORT, {"org": str(world.orgs["platform"].id), "rows": rows})
    reported = {(r["row"], r["code"], r["field"]) for r in error["extensions"]["rows"]}
    assert reported == {
        (1, "SERIAL_DUPLICATE", "serialNumber"),
        (2, "SERIAL_DUPLICATE", "serialNumber"),
        (3, "BAD_USER_INPUT", "keys.value"),
        (4, "BAD_USER_INPUT", "deviceType"),
        (5, "BAD_USER_INPUT", "attributes.devEui"),
        (6, "BAD_USER_INPUT", "attributes"),
        (7, "BAD_USER_INPUT", "attributes"),
    }
    assert "zz" * 16 not in json.dumps(error) and APP_KEY not in json.dumps(error).lower()
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


async def test_claim_takes_every_spelling_of_an_id_once_and_refuses_malformed_ones(as_user, world):
    platform = await as_user("platform_admin")
    await import_rows(
        platform, world.orgs["customer_a"].id, [lora("U1", "70B3D5E75E0000D1"), lora("U2", "70B3D5E75E0000D2")]
    )
    one, two = (str(d.id) for d in await Device.filter(serial_number__in=["U1", "U2"]).order_by("serial_number"))
    keys_a = await as_user("keys_a")
    spelled = [one.upper(), "{" + one + "}", one.replace("-", ""), one, two]
    result = (await keys_a.ok(CLAIM, {"ids": spelled}))["claimDevices"]
    assert result["claimedCount"] == 2 and result["refused"] == []
    assert [c["serialNumber"] for c in result["claimed"]] == ["U1", "U2"]
    assert await Device.filter(claim_status="CLAIMED").count() == 2
    error = await keys_a.error(CLAIM, {"ids": [two, "not-an-id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "deviceIds"
    again = (await keys_a.ok(CLAIM, {"ids": [two.upper()]}))["claimDevices"]
    assert again["refused"] == [{"serialNumber": "U2", "reason": "CONFLICT"}]


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


async def test_a_device_names_an_owner_and_a_batch_that_exist_and_keeps_them(world):
    """The database refuses a device whose owner or batch does not exist, and the deletion of an organisation
    or batch that holds devices. PostgreSQL checks both through device_counts (migration 0011), whose rows of
    devices are kept in turn."""
    org = await make_org("Owner O", world.orgs["platform"])
    device = await Device.create(serial_number="REF-1", device_type="topas-sonic-wmbus", owner=org, owner_path=org.path)
    # the batch is addressed and sent elsewhere: only the device keeps its owner from being deleted
    batch = await BatchReference.create(
        reference="R-1", organisation=world.orgs["customer_b"], sender=world.orgs["platform"]
    )
    await Device.filter(id=device.id).update(batch_id=batch.id)
    missing = uuid.uuid4()

    def sql(statement: str) -> Any:
        return lambda: connections.get("default").execute_script(statement)

    refused = [
        lambda: Device.filter(id=device.id).update(owner_id=missing),
        lambda: Device.filter(id=device.id).update(batch_id=missing),
        lambda: Device.create(serial_number="REF-2", device_type="topas-sonic-wmbus", owner_id=missing, owner_path="/"),
        lambda: Organisation.filter(id=org.id).delete(),
    ]
    if db.dialect() == "postgres":  # SQLite's per-device key sets the devices' batch to none instead
        refused += [
            lambda: BatchReference.filter(id=batch.id).delete(),
            sql("DELETE FROM device_counts"),
            sql("TRUNCATE device_counts"),
            sql("TRUNCATE organisations CASCADE"),
        ]
    for statement in refused:
        with pytest.raises(IntegrityError):
            async with in_transaction():
                await statement()
    assert await Device.filter(owner_id=org.id, batch_id=batch.id).count() == 1
    assert not await Device.filter(serial_number="REF-2").exists()


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
    assert APP_KEY not in json.dumps(nodes).lower() and OMS_KEY not in json.dumps(nodes).lower()
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


# --- the catalog's hand-written statements ---------------------------------------------------------
# The catalog's hand-written statements (PostgreSQL) against the ORM's query: every filter combination, keyset
# paging across pages, totals and other organisations' devices. On SQLite both sides are the ORM.

PAGE = """query($f: DeviceFilter, $first: Int, $after: String) { devices(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  nodes { id serialNumber claimStatus deviceType { id name } labels batchReference { reference } } } }"""
TYPES = ("topas-sonic-lora-w8", "topas-sonic-wmbus")
# Serial numbers with LIKE wildcards and mixed case: search must match them literally and case-insensitively.
SERIALS = ("ab_1", "AB%2", "abx3", "Ab_4", "C-5", "c-6", "D.7", "ab\\8")


async def _catalog(world: Any) -> dict[str, list[str]]:
    """Devices in customer_a, customer_a_sub and customer_b with types, statuses, labels and batches."""
    orgs = world.orgs
    lots = {
        "a": await BatchReference.create(reference="LOT-1", organisation=orgs["customer_a"], sender=orgs["platform"]),
        "b": await BatchReference.create(reference="LOT-1", organisation=orgs["customer_b"], sender=orgs["platform"]),
        "sub": await BatchReference.create(
            reference="LOT-2", organisation=orgs["customer_a_sub"], sender=orgs["customer_a"]
        ),
    }
    owners = ("customer_a", "customer_a_sub", "customer_b")
    created: dict[str, list[str]] = {o: [] for o in owners}
    for n, (owner, serial) in enumerate(itertools.product(owners, SERIALS)):
        org = orgs[owner]
        batch = {"customer_a": lots["a"], "customer_b": lots["b"], "customer_a_sub": lots["sub"]}[owner]
        device = await Device.create(
            serial_number=f"{serial}-{owner}",
            device_type=TYPES[n % 2],
            owner=org,
            owner_path=org.path,
            claim_status="CLAIMED" if n % 3 == 0 else "UNCLAIMED",
            batch=batch if n % 4 < 2 else None,
        )
        created[owner].append(device.serial_number)
        if n % 2 == 0:
            await DeviceLabel.create(device=device, label="Floor 1")
        if n % 5 == 0:
            await DeviceLabel.create(device=device, label="Spare")
    return created


def _filters(world: Any) -> list[use_cases.DeviceFilter]:
    """Every combination of the seven filters, each with values that match some devices and not others."""
    values: dict[str, Any] = {
        "serial_numbers": [f"{s}-customer_a" for s in SERIALS[:5]] + ["AB%2-customer_b"],
        "search": "ab_",
        "device_types": [TYPES[0]],
        "claim_status": "UNCLAIMED",
        "labels": ["Floor 1"],
        "batch_references": ["LOT-1"],
        "organisation_ids": [str(world.orgs["customer_a"].id), str(world.orgs["customer_b"].id)],
    }
    combinations = []
    for size in range(len(values) + 1):
        for names in itertools.combinations(values, size):
            combinations.append(use_cases.DeviceFilter(**{name: values[name] for name in names}))
    return combinations


async def _all_pages(actor: Any, flt: use_cases.DeviceFilter, first: int) -> list[str]:
    serials: list[str] = []
    after = None
    for _ in range(100):
        page = await use_cases.list_devices(actor, flt, first=first, after=after)
        serials += [d.serial_number for d in page.nodes]
        assert len(page.nodes) <= first
        if not page.has_next_page:
            return serials
        assert page.end_cursor is not None and len(page.nodes) == first
        after = page.end_cursor
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("who", ["platform_admin", "admin_a", "admin_a_sub", "admin_b"])
async def test_every_filter_combination_pages_and_counts_as_the_orm(world, who):
    # given
    await _catalog(world)
    user = world.users[who]
    actor = actor_for(user, await user.organisation)
    # when / then
    for flt in _filters(world):
        expected = [d.serial_number for d in await use_cases.filtered(actor, flt).order_by("serial_number")]
        assert await _all_pages(actor, flt, 3) == expected, flt
        page = await use_cases.list_devices(actor, flt, first=1, after=None)
        assert await page.total_count() == len(expected), flt


async def test_a_catalog_page_carries_its_labels_batches_and_total(world):
    # given
    await _catalog(world)
    actor = actor_for(world.users["admin_a"], world.orgs["customer_a"])
    flt = use_cases.DeviceFilter(organisation_ids=[str(world.orgs["customer_a"].id)])
    expected = [d.serial_number for d in await use_cases.filtered(actor, flt).order_by("serial_number")]
    # when
    pages = []
    after = None
    while True:
        found = await use_cases.catalog_page(actor, flt, first=3, after=after, labels=True, batches=True)
        pages.append(found)
        if not found.page.has_next_page:
            break
        after = found.page.end_cursor
    # then
    devices = [d for p in pages for d in p.page.nodes]
    assert [d.serial_number for d in devices] == expected
    for found in pages:
        ids = [d.id for d in found.page.nodes]
        assert found.labels == await use_cases.labels_of(ids)
        batch_ids = list(dict.fromkeys(d.batch_id for d in found.page.nodes if d.batch_id is not None))
        visible = await batch_use_cases.visible_batches(actor, batch_ids)
        assert found.batches is not None
        assert {i: (b.reference, b.organisation_id) for i, b in found.batches.items()} == {  # type: ignore[attr-defined]
            b.id: (b.reference, b.organisation_id)  # type: ignore[attr-defined]
            for b in visible
            if b is not None
        }
        assert await found.page.total_count() == len(expected)  # counted after the page's connection went back
    counted = await use_cases.catalog_page(actor, flt, first=1, after=None, total=True)
    assert counted.labels is None and counted.batches is None
    assert await counted.page.total_count() == len(expected)


async def test_the_catalog_answers_the_same_through_graphql_page_by_page(as_user, world):
    # given
    created = await _catalog(world)
    admin_a = await as_user("admin_a")
    flt = {"organisationIds": [str(world.orgs["customer_a"].id)], "claimStatus": "UNCLAIMED"}
    # when
    pages, after = [], None
    while True:
        page = (await admin_a.ok(PAGE, {"f": flt, "first": 2, "after": after}))["devices"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    nodes = [n for p in pages for n in p["nodes"]]
    expected = await Device.filter(serial_number__in=created["customer_a"], claim_status="UNCLAIMED").order_by(
        "serial_number"
    )
    assert [n["serialNumber"] for n in nodes] == [d.serial_number for d in expected]
    assert {p["totalCount"] for p in pages} == {len(expected)}
    for node, device in zip(nodes, expected, strict=True):
        labels = sorted([label.label for label in await DeviceLabel.filter(device_id=device.id)])
        batch = await device.batch
        assert node["id"] == str(device.id) and node["claimStatus"] == "UNCLAIMED"
        assert node["deviceType"]["id"] == device.device_type and node["labels"] == labels
        assert node["batchReference"] == ({"reference": batch.reference} if batch else None)


def _count_acquisitions(monkeypatch) -> list[int]:
    """How many pooled connections are acquired (PostgreSQL's pool; SQLite has one connection)."""
    acquired = [0]
    client_class = type(connections.get("default"))
    original = client_class.acquire_connection

    def acquire(self):
        acquired[0] += 1
        return original(self)

    monkeypatch.setattr(client_class, "acquire_connection", acquire)
    return acquired


async def test_a_catalog_page_takes_one_pooled_connection_with_the_session(as_user, world, monkeypatch):
    # given a logged-in admin and a catalog
    await _catalog(world)
    admin_a = await as_user("admin_a")
    flt = {"organisationIds": [str(world.orgs["customer_a"].id)]}
    acquired = _count_acquisitions(monkeypatch)
    # when a page with its total, labels and batches is asked for alone, and then beside another field
    page = (await admin_a.ok(PAGE, {"f": flt, "first": 2, "after": None}))["devices"]
    alone = acquired[0]
    both = await admin_a.ok("query($f: DeviceFilter) { me { email } devices(filter: $f) { totalCount } }", {"f": flt})
    # then the session lookup's connection served the page alone (PostgreSQL), and both answers are whole
    assert page["totalCount"] == both["devices"]["totalCount"] > 0 and both["me"]["email"]
    if db.dialect() == "postgres":  # SQLite's one connection is "acquired" by every ORM query
        assert alone == 1
        assert acquired[0] - alone == 3  # session, me, page: beside another field the lease went back first


async def test_requests_never_starve_the_pool_while_sessions_hold_connections(as_user, world):
    # given more concurrent clients than the pool has connections, with catalog pages, other queries beside
    # them and sessions due for their "last seen" touch
    await _catalog(world)
    apis = [await as_user(key) for key in ("admin_a", "keys_a", "viewer_a", "admin_b")]
    await Session.all().update(last_seen_at=datetime.now(UTC) - timedelta(minutes=5))
    queries = [
        (PAGE, {"f": None, "first": 2, "after": None}),
        ("{ me { email } devices { totalCount } }", {}),
        ("{ me { email organisation { name } } }", {}),
        ("query($f: DeviceFilter) { devices(filter: $f, first: 1) { nodes { serialNumber } } }", {"f": None}),
    ]
    # when 48 requests run at once
    calls = [apis[i % len(apis)].ok(*queries[i % len(queries)]) for i in range(48)]
    answers = await asyncio.wait_for(asyncio.gather(*calls), timeout=60)
    # then all of them are answered
    assert len(answers) == 48 and all("devices" in a or "me" in a for a in answers)


async def test_other_organisations_devices_and_batches_stay_hidden(as_user, world):
    # given
    await _catalog(world)
    admin_b = await as_user("admin_b")
    # when: customer_b's admin asks for customer_a's devices, by organisation, serial number and label
    asked = [
        {"organisationIds": [str(world.orgs["customer_a"].id)]},
        {"serialNumbers": [f"{s}-customer_a" for s in SERIALS]},
        {"organisationIds": [str(world.orgs["customer_a_sub"].id)], "labels": ["Floor 1"]},
    ]
    answers = [(await admin_b.ok(PAGE, {"f": f, "first": 50}))["devices"] for f in asked]
    # then
    assert all(a["nodes"] == [] and a["totalCount"] == 0 for a in answers)
    own = (await admin_b.ok(PAGE, {"f": {}, "first": 50}))["devices"]["nodes"]
    assert own and all(n["serialNumber"].endswith("-customer_b") for n in own)
    lot_a = await BatchReference.get(reference="LOT-1", organisation_id=world.orgs["customer_a"].id)
    lot_b = await BatchReference.get(reference="LOT-1", organisation_id=world.orgs["customer_b"].id)
    sub = await BatchReference.get(reference="LOT-2")
    admin_b_actor = actor_for(world.users["admin_b"], world.orgs["customer_b"])
    found = await batch_use_cases.visible_batches(admin_b_actor, [lot_a.id, lot_b.id, sub.id])
    assert [b.id if b else None for b in found] == [None, lot_b.id, None]
    admin_a_actor = actor_for(world.users["admin_a"], world.orgs["customer_a"])
    found = await batch_use_cases.visible_batches(admin_a_actor, [lot_a.id, lot_b.id, sub.id])
    assert [b.id if b else None for b in found] == [lot_a.id, None, sub.id]  # sub: sent by customer_a
    first = found[0]
    assert first is not None and first.reference == "LOT-1" and first.created_at == lot_a.created_at


async def test_bad_cursors_and_page_sizes_are_refused(world):
    actor = actor_for(world.users["admin_a"], world.orgs["customer_a"])
    flt = use_cases.DeviceFilter()
    bad = ["not a cursor", encode_cursor(["a", "b"])]
    if db.dialect() == "postgres":  # the ORM's query (SQLite) compares a number as text
        bad.append(encode_cursor([1]))
    for after in bad:
        with pytest.raises(BadInput):
            await use_cases.list_devices(actor, flt, first=2, after=after)
    for first in (-1, 501):
        with pytest.raises(BadInput):
            await use_cases.list_devices(actor, flt, first=first, after=None)
    with pytest.raises(BadInput):
        await use_cases.list_devices(actor, replace(flt, organisation_ids=["not-an-id"]), first=2, after=None)
    empty = await use_cases.list_devices(actor, flt, first=0, after=None)
    assert empty.nodes == [] and empty.end_cursor is None


async def test_every_filter_field_arrives_from_graphql_as_given(as_user, world):
    # given
    await _catalog(world)
    platform = await as_user("platform_admin")
    actor = actor_for(world.users["platform_admin"], world.orgs["platform"])
    variables = [
        {
            "serialNumbers": [f"{s}-customer_a" for s in SERIALS],
            "search": "c",
            "deviceTypes": list(TYPES),
            "claimStatus": "UNCLAIMED",
            "labels": ["Floor 1", "Spare"],
            "batchReferences": ["LOT-1", "LOT-2"],
            "organisationIds": [str(world.orgs["customer_a"].id)],
        },
        {"claimStatus": "CLAIMED", "search": None, "labels": None},
        {},
    ]
    for given in variables:
        # when
        nodes = (await platform.ok(PAGE, {"f": given, "first": 100}))["devices"]["nodes"]
        # then
        flt = use_cases.DeviceFilter(
            serial_numbers=given.get("serialNumbers"),
            search=given.get("search"),
            device_types=given.get("deviceTypes"),
            claim_status=given.get("claimStatus"),
            labels=given.get("labels"),
            batch_references=given.get("batchReferences"),
            organisation_ids=given.get("organisationIds"),
        )
        expected = [d.serial_number for d in await use_cases.filtered(actor, flt).order_by("serial_number")]
        assert [n["serialNumber"] for n in nodes] == expected and expected, given
