"""Batch references, taking ownership, labels and facets (manual 10.2, 10.5-10.7)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from conftest import TEST_DB
from test_devices import IMPORT, lora

from models import db
from models.audit import AuditEvent
from models.devices import BatchReference, Device, DeviceLabel
from models.outbox import OutboxMessage
from resolvers.batches import TAKE_LIMIT_USER
from tests.migrating import run_on_new_database

CREATE = """mutation($in: CreateBatchReferenceInput!) { createBatchReference(input: $in) {
  batchReference { id reference state deviceCount requiresConfirmation label organisation { name } }
  refused { serialNumber } } }"""
FROM_SELECTION = """mutation($ref: String!, $ids: [ID!]!, $org: ID!) { createBatchFromSelection(reference: $ref,
  deviceIds: $ids, organisationId: $org) { batchReference { reference state deviceCount } } }"""
TAKE = """mutation($ref: String!, $label: String) { takeOwnership(batchReference: $ref, label: $label) {
  deviceCount batchReference { state label } } }"""
LIST = "query($r: String) { batchReferences(reference: $r) { totalCount nodes { reference state deviceCount } } }"
DEVICES = (
    "{ devices { totalCount nodes { serialNumber claimStatus labels owner { name } batchReference { reference } } } }"
)
FACETS = """query($f: DeviceFilter) { deviceFacets(filter: $f) { deviceTypes { value count } claimStatuses { value count }
  labels { value count } batchReferences { value count } } }"""
LABELS = (
    "mutation($ids: [ID!]!, $l: [String!]!) { setDeviceLabels(deviceIds: $ids, labels: $l) { serialNumber labels } }"
)


async def seed(as_user, world, owner="customer_a", serials=("21N001052", "21N001064", "9999990")):
    platform = await as_user("platform_admin")
    rows = [lora(s, f"70B3D5E75E{i:06}") for i, s in enumerate(serials)]
    await platform.ok(IMPORT, {"org": str(world.orgs[owner].id), "rows": rows})


async def test_batch_without_confirmation_moves_devices_at_once_unclaimed_and_labelled(as_user, world):
    # given
    await seed(as_user, world)
    await Device.filter(serial_number="21N001052").update(claim_status="CLAIMED")
    admin_a = await as_user("admin_a")
    # when: serials typed with mixed separators, addressed to a suborganisation
    batch = (
        await admin_a.ok(
            CREATE,
            {
                "in": {
                    "reference": "BR-2026-1",
                    "serialNumbers": ["21N001052, 21N001064;\n9999990"],
                    "organisationId": str(world.orgs["customer_a_sub"].id),
                    "label": "Block 7",
                }
            },
        )
    )["createBatchReference"]
    # then
    assert batch["batchReference"]["state"] == "ACCEPTED" and batch["batchReference"]["deviceCount"] == 3
    sub = await as_user("admin_a_sub")
    nodes = (await sub.ok(DEVICES))["devices"]["nodes"]
    assert {(n["serialNumber"], n["claimStatus"], n["owner"]["name"]) for n in nodes} == {
        ("21N001052", "UNCLAIMED", "Customer A Sub"),
        ("21N001064", "UNCLAIMED", "Customer A Sub"),
        ("9999990", "UNCLAIMED", "Customer A Sub"),
    }
    assert all(n["labels"] == ["Block 7"] and n["batchReference"]["reference"] == "BR-2026-1" for n in nodes)
    assert await AuditEvent.filter(action="batch.created").count() == 1


async def test_unknown_serials_are_listed_and_nothing_happens(as_user, world):
    await seed(as_user, world)
    await seed(as_user, world, owner="customer_b", serials=("B-ONLY",))
    admin_a = await as_user("admin_a")
    error = await admin_a.error(
        CREATE,
        {
            "in": {
                "reference": "BR-X",
                "serialNumbers": ["21N001052 NOPE B-ONLY"],
                "organisationId": str(world.orgs["customer_a_sub"].id),
            }
        },
    )
    assert error["extensions"]["code"] == "DEVICE_NOT_FOUND"
    assert error["extensions"]["serialNumbers"] == ["NOPE", "B-ONLY"]
    assert await BatchReference.all().count() == 0
    assert (await Device.get(serial_number="21N001052")).owner_id == world.orgs["customer_a"].id


async def test_reference_must_be_new_for_the_target_and_target_must_be_addressable(as_user, world):
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    target = str(world.orgs["customer_a_sub"].id)
    await admin_a.ok(CREATE, {"in": {"reference": "BR-1", "serialNumbers": ["21N001052"], "organisationId": target}})
    assert (
        await admin_a.code(
            CREATE, {"in": {"reference": "BR-1", "serialNumbers": ["21N001064"], "organisationId": target}}
        )
        == "BATCH_REFERENCE_TAKEN"
    )
    assert (
        await admin_a.code(
            CREATE,
            {
                "in": {
                    "reference": "BR-2",
                    "serialNumbers": ["21N001064"],
                    "organisationId": str(world.orgs["customer_b"].id),
                }
            },
        )
        == "NOT_FOUND"
    )
    partner = await admin_a.ok(
        CREATE,
        {"in": {"reference": "BR-P", "serialNumbers": ["21N001064"], "organisationId": str(world.orgs["partner"].id)}},
    )
    assert partner["createBatchReference"]["batchReference"]["organisation"]["name"] == "Partner P"
    viewer = await as_user("viewer_a")
    assert (
        await viewer.code(CREATE, {"in": {"reference": "BR-3", "serialNumbers": ["9999990"], "organisationId": target}})
        == "FORBIDDEN"
    )


async def test_batch_with_confirmation_waits_mails_the_admins_and_moves_on_take_ownership(as_user, world):
    # given
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    batch = (
        await admin_a.ok(
            CREATE,
            {
                "in": {
                    "reference": "CLAIM-CODE-77",
                    "serialNumbers": ["21N001052", "21N001064"],
                    "requiresConfirmation": True,
                    "organisationId": str(world.orgs["partner"].id),
                }
            },
        )
    )["createBatchReference"]["batchReference"]
    assert batch["state"] == "PENDING_CONFIRMATION"
    assert (await Device.get(serial_number="21N001052")).owner_id == world.orgs["customer_a"].id
    mail = await OutboxMessage.get(email_type="NEW_BATCH")
    assert mail.to == "partner_admin@example.com" and "CLAIM-CODE-77" in mail.text
    # when: another organisation guesses the reference, then the addressee takes it
    admin_b = await as_user("admin_b")
    assert await admin_b.code(TAKE, {"ref": "CLAIM-CODE-77"}) == "BATCH_NOT_FOUND"
    partner = await as_user("partner_admin")
    assert await partner.code(TAKE, {"ref": "NO-SUCH"}) == "BATCH_NOT_FOUND"
    taken = (await partner.ok(TAKE, {"ref": "CLAIM-CODE-77", "label": "Stock"}))["takeOwnership"]
    # then
    assert taken == {"deviceCount": 2, "batchReference": {"state": "ACCEPTED", "label": "Stock"}}
    nodes = (await partner.ok(DEVICES))["devices"]["nodes"]
    assert {(n["serialNumber"], n["claimStatus"], tuple(n["labels"])) for n in nodes} == {
        ("21N001052", "UNCLAIMED", ("Stock",)),
        ("21N001064", "UNCLAIMED", ("Stock",)),
    }
    assert await partner.code(TAKE, {"ref": "CLAIM-CODE-77"}) == "BATCH_NOT_FOUND"


async def test_take_ownership_attempts_are_rate_limited_and_audited(as_user, world):
    admin_b = await as_user("admin_b")
    for i in range(9):
        assert await admin_b.code(TAKE, {"ref": f"GUESS-{i}"}) == "BATCH_NOT_FOUND"
    assert await admin_b.code(TAKE, {"ref": "2b7e151628aed2a6abf7158809cf4f3c"}) == "BATCH_NOT_FOUND"  # a key, pasted
    for _ in range(3):
        error = await admin_b.error(TAKE, {"ref": "GUESS-X"})
        assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0
    # every guess left a trace in customer B's audit log, the refusals after the limit one, and no key
    events = await AuditEvent.filter(action="batch.take_refused").order_by("seq")
    assert {e.organisation_id for e in events} == {world.orgs["customer_b"].id}
    details = [json.loads(e.details) for e in events]
    assert [d["reason"] for d in details] == ["BATCH_NOT_FOUND"] * 10 + ["RATE_LIMITED"]
    assert details[0]["reference"] == "GUESS-0" and details[9]["reference"] == "(withheld: it looks like a key)"
    assert all("2b7e1516" not in e.details for e in await AuditEvent.all())


async def test_parallel_take_ownership_guesses_cannot_pass_the_limit_together(as_user, world):
    admin_b = await as_user("admin_b")
    codes = await asyncio.gather(*(admin_b.code(TAKE, {"ref": f"GUESS-{i}"}) for i in range(25)))
    assert sorted(set(codes)) == ["BATCH_NOT_FOUND", "RATE_LIMITED"]
    assert codes.count("BATCH_NOT_FOUND") == 10  # TAKE_LIMIT_USER, however many run at once


async def test_a_batch_found_does_not_count_towards_the_limit(as_user, world):
    await seed(as_user, world)
    admin_a, partner = await as_user("admin_a"), await as_user("partner_admin")
    target = {"requiresConfirmation": True, "organisationId": str(world.orgs["partner"].id)}
    for i, serial in enumerate(("21N001052", "21N001064", "9999990")):
        await admin_a.ok(CREATE, {"in": {"reference": f"OK-{i}", "serialNumbers": [serial], **target}})
    for i in range(3):
        assert (await partner.ok(TAKE, {"ref": f"OK-{i}"}))["takeOwnership"]["deviceCount"] == 1
    for i in range(9):  # 9 failed guesses after 3 successes: still under the 10 allowed
        assert await partner.code(TAKE, {"ref": f"NOPE-{i}"}) == "BATCH_NOT_FOUND"


async def test_a_partners_taken_references_cannot_be_probed_faster_than_take_ownership_guesses(as_user, world):
    # given: the platform sent Partner P a batch "P-ORDER-7"; customer A has Partner P as a partner
    await seed(as_user, world, owner="platform", serials=("P-1",))
    await seed(as_user, world, serials=("A-1", "A-2"))
    partner = str(world.orgs["partner"].id)
    platform = await as_user("platform_admin")
    await platform.ok(CREATE, {"in": {"reference": "P-ORDER-7", "serialNumbers": ["P-1"], "organisationId": partner}})
    admin_a = await as_user("admin_a")

    def probe(reference, serial="A-1"):
        return admin_a.code(
            CREATE,
            {
                "in": {
                    "reference": reference,
                    "serialNumbers": [serial],
                    "organisationId": partner,
                    "requiresConfirmation": True,
                }
            },
        )

    # when: customer A tries references that Partner P may hold
    codes = [await probe("P-ORDER-7") for _ in range(TAKE_LIMIT_USER)] + [await probe("P-ORDER-7")]
    # then: each taken reference counts like a wrong take-ownership guess, and past the limit nothing answers
    assert codes == ["BATCH_REFERENCE_TAKEN"] * TAKE_LIMIT_USER + ["RATE_LIMITED"]
    assert await BatchReference.filter(organisation_id=world.orgs["partner"].id).count() == 1
    # a reference within its own subtree is not a guess: customer A sees those batches anyway
    sub = str(world.orgs["customer_a_sub"].id)
    await admin_a.ok(CREATE, {"in": {"reference": "A-OWN", "serialNumbers": ["A-2"], "organisationId": sub}})
    assert await admin_a.code(
        CREATE, {"in": {"reference": "A-OWN", "serialNumbers": ["A-2"], "organisationId": sub}}
    ) == ("BATCH_REFERENCE_TAKEN")


async def test_batches_sent_to_a_partner_do_not_count_as_guesses(as_user, world):
    await seed(as_user, world, serials=tuple(f"A-{i}" for i in range(TAKE_LIMIT_USER + 2)))
    admin_a, partner = await as_user("admin_a"), str(world.orgs["partner"].id)
    for i in range(TAKE_LIMIT_USER + 2):
        batch = {"reference": f"TO-P-{i}", "serialNumbers": [f"A-{i}"], "organisationId": partner}
        assert (await admin_a.ok(CREATE, {"in": batch}))["createBatchReference"]["batchReference"]["deviceCount"] == 1


async def upload(api, filename: str, content: bytes, target: str, csrf: bool = True, **more):
    operations = {
        "query": CREATE,
        "variables": {"in": {"reference": "BR-FILE", "organisationId": target, "file": None, **more}},
    }
    files = {
        "operations": (None, json.dumps(operations)),
        "map": (None, json.dumps({"0": ["variables.in.file"]})),
        "0": (filename, content, "text/csv" if filename.endswith(".csv") else "text/plain"),
    }
    return await api.http.post("/graphql", files=files, headers={"X-KMS-CSRF": "1"} if csrf else {})


async def test_batch_from_an_uploaded_csv_file(as_user, world):
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    target = str(world.orgs["customer_a_sub"].id)
    content = "\ufeffserial_number\n21N001052\n21N001064\n".encode()
    response = await upload(admin_a, "batch.csv", content, target)
    assert response.json()["data"]["createBatchReference"]["batchReference"]["deviceCount"] == 2
    assert (await upload(admin_a, "batch.csv", content, target, csrf=False)).status_code == 403
    bad = await upload(admin_a, "batch.exe", b"MZ", target)
    assert bad.json()["errors"][0]["extensions"]["code"] == "FILE_UNSUPPORTED"
    big = await upload(admin_a, "big.txt", b"1 " * (3 * 1024 * 1024), target)
    assert big.json()["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
    binary = await upload(admin_a, "b.txt", b"\xff\xfe\x00", target)
    assert binary.json()["errors"][0]["extensions"]["code"] == "FILE_UNSUPPORTED"


async def test_an_upload_over_the_limit_is_refused_before_it_is_parsed(as_user, world):
    admin_a = await as_user("admin_a")
    target = str(world.orgs["customer_a_sub"].id)
    # a body that says how long it is: refused on its Content-Length
    big = await upload(admin_a, "big.txt", b"1 " * (3 * 1024 * 1024), target)
    assert big.status_code == 413 and big.json()["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
    # a file of the largest size with as many typed serial numbers as the operation's part may hold (1 MiB)
    # passes, and is refused, as it should be, only for its unknown serials
    typed = [f"{i:064d}" for i in range(14_000)]
    full = await upload(admin_a, "max.txt", b"1 " * (2 * 1024 * 1024), target, serialNumbers=typed)
    assert full.status_code == 200 and full.json()["errors"][0]["extensions"]["code"] == "DEVICE_NOT_FOUND"
    # a body sent in chunks without a length: refused once it has passed the limit
    boundary = "kmsboundary"
    operations = {"query": CREATE, "variables": {"in": {"reference": "BR-X", "organisationId": target, "file": None}}}
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{json.dumps(operations)}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{"0": ["variables.in.file"]}}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    sent = 0

    async def chunks():
        nonlocal sent
        yield head
        for _ in range(64):  # up to 64 MiB, if nobody stops reading
            sent += 1
            yield b"1 " * (512 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"X-KMS-CSRF": "1", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    chunked = await admin_a.http.post("/graphql", content=chunks(), headers=headers)
    assert chunked.status_code == 413 and chunked.json()["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
    assert sent < 64 and not await BatchReference.exists()


async def test_batch_from_an_uploaded_txt_file_and_typed_serials_together(as_user, world):
    # given: a text file without a BOM, its serials separated every way the manual allows, and one more typed
    await seed(as_user, world, serials=("21N001052", "21N001064", "9999990", "9999991"))
    admin_a = await as_user("admin_a")
    target = str(world.orgs["customer_a_sub"].id)
    content = b"21N001052; 21N001064\r\n9999990,\t\n\n"
    # when
    response = await upload(admin_a, "serials.txt", content, target, serialNumbers=["9999991"])
    # then: one batch of all four, moved to the target
    assert "errors" not in response.json(), response.json()
    batch = response.json()["data"]["createBatchReference"]["batchReference"]
    assert batch["deviceCount"] == 4
    moved = await Device.filter(owner_id=world.orgs["customer_a_sub"].id).values_list("serial_number", flat=True)
    assert sorted(moved) == ["21N001052", "21N001064", "9999990", "9999991"]


async def test_the_batch_list_filters_by_reference_state_label_and_addressee(as_user, world):
    # given: customer A sent three batches: to its suborganisation (delivered, labelled), and two to Partner P
    # that wait for confirmation, one of them labelled
    await seed(as_user, world, serials=("S-1", "S-2", "S-3"))
    admin_a = await as_user("admin_a")
    sub, partner = str(world.orgs["customer_a_sub"].id), str(world.orgs["partner"].id)
    for reference, serial, target, more in [
        ("ORDER-1", "S-1", sub, {"label": "Roof north"}),
        ("ORDER-2", "S-2", partner, {"requiresConfirmation": True, "label": "Cellar"}),
        ("SPARE-3", "S-3", partner, {"requiresConfirmation": True}),
    ]:
        await admin_a.ok(
            CREATE, {"in": {"reference": reference, "serialNumbers": [serial], "organisationId": target, **more}}
        )
    listing = """query($r: String, $s: BatchState, $o: ID, $l: String) { batchReferences(reference: $r, state: $s,
      organisationId: $o, label: $l) { totalCount nodes { reference } } }"""

    async def found(api=admin_a, **variables):
        answer = (await api.ok(listing, variables))["batchReferences"]
        assert answer["totalCount"] == len(answer["nodes"])
        return sorted(n["reference"] for n in answer["nodes"])

    # then: each filter alone, and combined
    assert await found() == ["ORDER-1", "ORDER-2", "SPARE-3"]
    assert await found(s="PENDING_CONFIRMATION") == ["ORDER-2", "SPARE-3"]
    assert await found(o=partner) == ["ORDER-2", "SPARE-3"]
    assert await found(l="ROOF") == ["ORDER-1"]
    assert await found(r="order", s="PENDING_CONFIRMATION", o=partner) == ["ORDER-2"]
    assert await found(s="WITHDRAWN") == []
    # another organisation's filter finds nothing of customer A's, whatever it names
    assert await found(await as_user("admin_b"), o=partner) == []
    assert await found(await as_user("admin_b"), s="PENDING_CONFIRMATION") == []
    error = await admin_a.error(listing, {"o": "not-an-id"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "organisationId"}


async def test_batch_from_current_selection_and_the_list(as_user, world):
    await seed(as_user, world)
    ids = [str(d.id) for d in await Device.filter(serial_number__in=["21N001052", "9999990"])]
    admin_a = await as_user("admin_a")
    made = await admin_a.ok(FROM_SELECTION, {"ref": "SEL-1", "ids": ids, "org": str(world.orgs["customer_a_sub"].id)})
    assert made["createBatchFromSelection"]["batchReference"] == {
        "reference": "SEL-1",
        "state": "ACCEPTED",
        "deviceCount": 2,
    }
    assert (await admin_a.ok(LIST, {"r": "sel"}))["batchReferences"]["totalCount"] == 1
    facets = (await admin_a.ok(FACETS))["deviceFacets"]
    assert facets["batchReferences"] == [{"value": "SEL-1", "count": 2}]
    assert (await (await as_user("admin_b")).ok(LIST))["batchReferences"]["totalCount"] == 0
    foreign = await as_user("keys_b")
    assert (
        await foreign.code(FROM_SELECTION, {"ref": "SEL-2", "ids": ids, "org": str(world.orgs["customer_b"].id)})
        == "DEVICE_NOT_FOUND"
    )


async def test_labels_and_facets_under_the_other_filters(as_user, world):
    await seed(as_user, world)
    await Device.filter(serial_number="21N001052").update(claim_status="CLAIMED")
    ids = {d.serial_number: str(d.id) for d in await Device.all()}
    keys_a = await as_user("keys_a")
    labelled = await keys_a.ok(LABELS, {"ids": [ids["21N001052"], ids["21N001064"]], "l": ["North", "2026"]})
    assert [d["labels"] for d in labelled["setDeviceLabels"]] == [["2026", "North"], ["2026", "North"]]
    facets = (await keys_a.ok(FACETS))["deviceFacets"]
    assert facets["claimStatuses"] == [{"value": "CLAIMED", "count": 1}, {"value": "UNCLAIMED", "count": 2}]
    assert facets["labels"] == [{"value": "2026", "count": 2}, {"value": "North", "count": 2}]
    assert facets["deviceTypes"] == [{"value": "topas-sonic-lora-w8", "count": 3}]
    narrowed = (await keys_a.ok(FACETS, {"f": {"claimStatus": "CLAIMED"}}))["deviceFacets"]
    assert narrowed["labels"] == [{"value": "2026", "count": 1}, {"value": "North", "count": 1}]
    assert narrowed["claimStatuses"] == facets["claimStatuses"]  # a facet ignores its own filter
    by_label = (await keys_a.ok(FACETS, {"f": {"labels": ["North"]}}))["deviceFacets"]
    assert by_label["claimStatuses"] == [{"value": "CLAIMED", "count": 1}, {"value": "UNCLAIMED", "count": 1}]
    other = await as_user("keys_b")
    assert (await other.ok(FACETS))["deviceFacets"]["labels"] == []
    assert await other.code(LABELS, {"ids": [ids["21N001052"]], "l": ["x"]}) == "DEVICE_NOT_FOUND"


async def test_a_selection_with_one_foreign_device_changes_none_of_the_callers_own(as_user, world):
    # given: customer A's devices, one of them labelled, and one device of customer B
    await seed(as_user, world)
    await seed(as_user, world, owner="customer_b", serials=("B-ONLY",))
    ids = {d.serial_number: str(d.id) for d in await Device.all()}
    keys_a, admin_a = await as_user("keys_a"), await as_user("admin_a")
    await keys_a.ok(LABELS, {"ids": [ids["21N001052"]], "l": ["Kept"]})
    mixed = [ids["21N001052"], ids["B-ONLY"], ids["21N001064"]]
    # when: labels are set on, and a batch is made from, a selection that slipped in B's device
    label_error = await keys_a.error(LABELS, {"ids": mixed, "l": ["Changed"]})
    batch_error = await admin_a.error(
        FROM_SELECTION, {"ref": "MIXED", "ids": mixed, "org": str(world.orgs["customer_a_sub"].id)}
    )
    # then: both refused, and none of A's devices changed: the labels and the owners are as they were
    assert label_error["extensions"]["code"] == batch_error["extensions"]["code"] == "DEVICE_NOT_FOUND"
    labelled = (await keys_a.ok(DEVICES))["devices"]["nodes"]
    assert {n["serialNumber"]: n["labels"] for n in labelled} == {
        "21N001052": ["Kept"],
        "21N001064": [],
        "9999990": [],
    }
    assert {n["owner"]["name"] for n in labelled} == {world.orgs["customer_a"].name}
    assert await BatchReference.all().count() == 0 and await Device.filter(batch_id__not_isnull=True).count() == 0
    await _counts_equal_a_group_by_over_devices()


async def test_labels_and_batch_references_are_the_same_preloaded_or_loaded_one_by_one(as_user, world):
    """A page preloads labels and batch references (schema/devices.py preload_page); a single device, a
    fragment and a batch's own device list must show exactly the same values."""
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    two = [str(d.id) for d in await Device.filter(serial_number__in=["21N001052", "21N001064"])]
    await admin_a.ok(FROM_SELECTION, {"ref": "PRE-1", "ids": two[:1], "org": str(world.orgs["customer_a"].id)})
    await admin_a.ok(LABELS, {"ids": two, "l": ["Roof", "Cellar"]})
    page = (await admin_a.ok(DEVICES))["devices"]["nodes"]
    with_fragment = await admin_a.ok(
        "{ devices { nodes { serialNumber ...Shown } } } fragment Shown on Device { labels batchReference { reference } }"
    )
    by_serial = {n["serialNumber"]: (n["labels"], n["batchReference"]) for n in page}
    assert by_serial == {
        "21N001052": (["Cellar", "Roof"], {"reference": "PRE-1"}),
        "21N001064": (["Cellar", "Roof"], None),
        "9999990": ([], None),
    }
    assert {
        n["serialNumber"]: (n["labels"], n["batchReference"]) for n in with_fragment["devices"]["nodes"]
    } == by_serial
    for device in await Device.all():
        one = (
            await admin_a.ok(
                "query($id: ID!) { device(id: $id) { serialNumber labels batchReference { reference } } }",
                {"id": str(device.id)},
            )
        )["device"]
        assert (one["labels"], one["batchReference"]) == by_serial[one["serialNumber"]]
    batch = (await admin_a.ok(LIST, {"r": "PRE-1"}))["batchReferences"]["nodes"]
    assert batch[0]["deviceCount"] == 1
    batch_id = str((await BatchReference.get(reference="PRE-1")).id)
    inside = (
        await admin_a.ok(
            "query($id: ID!) { batchReference(id: $id) { devices { nodes { serialNumber labels batchReference { reference } } } } }",
            {"id": batch_id},
        )
    )["batchReference"]["devices"]["nodes"]
    assert inside == [
        {"serialNumber": "21N001052", "labels": ["Cellar", "Roof"], "batchReference": {"reference": "PRE-1"}}
    ]
    # another organisation's admin sees none of it
    assert (await (await as_user("admin_b")).ok(DEVICES))["devices"]["nodes"] == []


async def _counts_equal_a_group_by_over_devices() -> None:
    """device_counts and device_label_counts (kept by triggers) hold exactly what grouping the devices gives."""
    from collections import Counter

    from models.devices import DeviceCount, DeviceLabel, DeviceLabelCount

    dims = {
        d["id"]: (str(d["owner_id"]), d["claim_status"], d["device_type"], str(d["batch_id"]))
        for d in await Device.all().values("id", "owner_id", "claim_status", "device_type", "batch_id")
    }
    expected = Counter(dims.values())
    kept = Counter()
    for c in await DeviceCount.all():
        kept[(str(c.owner_id), c.claim_status, c.device_type, str(c.batch_id))] += c.n  # type: ignore[attr-defined]
    assert +kept == expected and all(n >= 0 for n in kept.values())
    expected_labels = Counter(
        (*dims[device_id], label) for device_id, label in await DeviceLabel.all().values_list("device_id", "label")
    )
    kept_labels = Counter()
    for c in await DeviceLabelCount.all():
        kept_labels[(str(c.owner_id), c.claim_status, c.device_type, str(c.batch_id), c.label)] += c.n  # type: ignore[attr-defined]
    assert +kept_labels == expected_labels and all(n >= 0 for n in kept_labels.values())
    if db.dialect() == "postgres":  # the label names each device row carries for the counting (migration 0013)
        names: dict = {}
        for device_id, label in await DeviceLabel.all().values_list("device_id", "label"):
            names.setdefault(device_id, set()).add(label)
        rows = await db.pg_fetch("SELECT id, label_names FROM devices")
        assert {r[0]: set(r[1] or ()) for r in rows} == {d: names.get(d, set()) for d in dims}
        assert all(r[1] is None or list(r[1]) == sorted(set(r[1])) for r in rows)


async def _facets_equal_grouping_the_devices(actor, flt) -> None:
    """deviceFacets from the count tables equals grouping the visible devices under the other filters."""
    from collections import Counter
    from dataclasses import replace

    from models.devices import DeviceLabel
    from resolvers import devices as use_cases

    got = await use_cases.facets(actor, flt)
    visible = await use_cases.filtered(actor, replace(flt, device_types=None, claim_status=None, batch_references=None))
    names = dict(await BatchReference.all().values_list("id", "reference"))
    labels: dict = {}
    for device_id, label in await DeviceLabel.all().values_list("device_id", "label"):
        labels.setdefault(device_id, []).append(label)

    def matches(d, skip: str) -> bool:
        return (
            (skip == "type" or not flt.device_types or d.device_type in flt.device_types)
            and (skip == "status" or not flt.claim_status or d.claim_status == flt.claim_status)
            and (skip == "batch" or not flt.batch_references or names.get(d.batch_id) in flt.batch_references)
        )

    def facet(values) -> list[tuple[str, int]]:
        return sorted(Counter(values).items())

    assert got.device_types == facet(d.device_type for d in visible if matches(d, "type")), flt
    assert got.claim_statuses == facet(d.claim_status for d in visible if matches(d, "status")), flt
    assert got.batch_references == facet(names[d.batch_id] for d in visible if d.batch_id and matches(d, "batch"))
    assert got.labels == facet(label for d in visible if matches(d, "") for label in labels.get(d.id, [])), flt


async def test_facet_counts_stay_exact_through_imports_labels_claims_transfers_and_rollbacks(as_user, world):
    """The facets come from counts kept by database triggers; after every kind of change they equal a
    GROUP BY over the devices, and a rolled-back transaction leaves them as they were."""
    from test_devices import CLAIM, oms
    from tortoise.transactions import in_transaction

    from models.devices import DeviceLabel
    from resolvers import devices as use_cases
    from resolvers.auth import actor_for

    platform = await as_user("platform_admin")
    await seed(as_user, world, serials=("F1", "F2", "F3", "F4", "F5", "F6"))
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a_sub"].id), "rows": [oms("F-OMS", "20096221")]})
    await _counts_equal_a_group_by_over_devices()
    ids = {d.serial_number: str(d.id) for d in await Device.all()}
    keys_a, admin_a = await as_user("keys_a"), await as_user("admin_a")
    # labels set, then changed
    await keys_a.ok(LABELS, {"ids": [ids["F1"], ids["F2"], ids["F3"]], "l": ["North", "2026"]})
    await keys_a.ok(LABELS, {"ids": [ids["F2"], ids["F3"]], "l": ["South", "2026"]})
    await _counts_equal_a_group_by_over_devices()
    # a claim, a transfer without confirmation (claimed device reset, label added)
    await keys_a.ok(CLAIM, {"ids": [ids["F1"], ids["F2"], ids["F4"]]})
    await _counts_equal_a_group_by_over_devices()
    batch_in = {
        "reference": "FAC-1",
        "serialNumbers": ["F1", "F5"],
        "organisationId": str(world.orgs["customer_a_sub"].id),
    }
    await admin_a.ok(CREATE, {"in": {**batch_in, "label": "North"}})
    await _counts_equal_a_group_by_over_devices()
    # a batch with confirmation, taken with a label
    pending = {"reference": "FAC-2", "serialNumbers": ["F2", "F3"], "organisationId": str(world.orgs["partner"].id)}
    await admin_a.ok(CREATE, {"in": {**pending, "requiresConfirmation": True}})
    await _counts_equal_a_group_by_over_devices()
    await (await as_user("partner_admin")).ok(TAKE, {"ref": "FAC-2", "label": "Stock"})
    await _counts_equal_a_group_by_over_devices()
    # a rolled-back transaction changes nothing
    before = await use_cases.facets(
        actor_for(world.users["platform_admin"], world.orgs["platform"]), use_cases.DeviceFilter()
    )
    try:
        async with in_transaction():
            await Device.filter(serial_number__in=["F4", "F6"]).update(claim_status="UNCLAIMED", device_type="x")
            await DeviceLabel.create(device_id=ids["F6"], label="Rolled back")
            await Device.filter(serial_number="F5").delete()
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    platform_actor = actor_for(world.users["platform_admin"], world.orgs["platform"])
    assert await use_cases.facets(platform_actor, use_cases.DeviceFilter()) == before
    await _counts_equal_a_group_by_over_devices()
    # deleting devices takes their labels' counts with them (labels removed by the cascade or first)
    await Device.filter(serial_number="F1").delete()
    await DeviceLabel.filter(device_id=ids["F3"]).delete()
    await Device.filter(serial_number="F3").delete()
    await _counts_equal_a_group_by_over_devices()
    # the facets under each kind of filter, for the platform and for an organisation's admin
    sub = str(world.orgs["customer_a_sub"].id)
    for actor in (platform_actor, actor_for(world.users["admin_a"], world.orgs["customer_a"])):
        for flt in (
            use_cases.DeviceFilter(),
            use_cases.DeviceFilter(claim_status="CLAIMED"),
            use_cases.DeviceFilter(claim_status="UNCLAIMED", device_types=["topas-sonic-lora-w8"]),
            use_cases.DeviceFilter(organisation_ids=[sub]),
            use_cases.DeviceFilter(batch_references=["FAC-1"], claim_status="UNCLAIMED"),
            use_cases.DeviceFilter(batch_references=["NONE"]),
        ):
            await _facets_equal_grouping_the_devices(actor, flt)
            assert await use_cases.count_from_totals(actor, flt) == await use_cases.filtered(actor, flt).count(), flt
    assert (
        await use_cases.facets(actor_for(world.users["admin_b"], world.orgs["customer_b"]), use_cases.DeviceFilter())
    ) == use_cases.Facets([], [], [], [])


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite writes one transaction at a time: there is no race")
async def test_a_label_added_while_its_device_moves_is_counted_under_the_new_owner(as_user, world, settings):
    """Two transactions: one moves a device to another organisation, the other labels it meanwhile. The label
    must end up counted under the device's new owner, whichever way the two interleave."""
    # given: a device of customer A, moved to customer B by a transaction that has not committed yet
    await seed(as_user, world, serials=("R1", "R2"))
    device, target = await Device.get(serial_number="R1"), world.orgs["customer_b"]
    mover, labeller = await asyncpg.connect(settings.database_url), await asyncpg.connect(settings.database_url)
    try:
        move, label = mover.transaction(), labeller.transaction()
        await move.start()
        await label.start()
        await mover.execute(
            "UPDATE devices SET owner_id = $1, owner_path = $2 WHERE id = $3", target.id, target.path, device.id
        )
        # when: the other transaction labels it, and the move commits while the label waits for it (or, were the
        # two not ordered by the device's row, after the label was counted under the old owner)
        adding = asyncio.create_task(
            labeller.execute(
                "INSERT INTO device_labels (id, created_at, device_id, label) "
                "VALUES (gen_random_uuid(), now(), $1, 'Race')",
                device.id,
            )
        )
        waits = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity, pg_stat_clear_snapshot() WHERE pid = $1"
        for _ in range(500):
            if adding.done() or await mover.fetchval(waits, labeller.get_server_pid()):
                break
            await asyncio.sleep(0.01)
        await move.commit()
        await adding
        await label.commit()
    finally:
        await mover.close()
        await labeller.close()
    # then: the device is B's, labelled, and every count agrees with the devices
    assert (await Device.get(id=device.id)).owner_id == target.id  # type: ignore[attr-defined]
    await _counts_equal_a_group_by_over_devices()


async def test_devices_waiting_in_a_batch_stay_there_until_taken(as_user, world):
    # given: two devices wait for the partner to take ownership
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    waiting = {
        "reference": "WAIT-1",
        "serialNumbers": ["21N001052", "21N001064"],
        "requiresConfirmation": True,
        "organisationId": str(world.orgs["partner"].id),
    }
    await admin_a.ok(CREATE, {"in": waiting})
    # when: the sender puts one of them in another batch, with or without confirmation, or from the selection
    sub = str(world.orgs["customer_a_sub"].id)
    for confirm in (False, True):
        new = {"reference": f"AGAIN-{confirm}", "serialNumbers": ["9999990", "21N001064"], "organisationId": sub}
        error = await admin_a.error(CREATE, {"in": {**new, "requiresConfirmation": confirm}})
        # then: refused, naming the waiting device, and nothing changed
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["serialNumbers"] == ["21N001064"]
    device = await Device.get(serial_number="21N001064")
    error = await admin_a.error(FROM_SELECTION, {"ref": "AGAIN-SEL", "ids": [str(device.id)], "org": sub})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await BatchReference.all().values_list("reference", flat=True) == ["WAIT-1"]
    assert (await Device.get(serial_number="9999990")).batch_id is None
    # and the partner still takes both
    partner = await as_user("partner_admin")
    assert (await partner.ok(TAKE, {"ref": "WAIT-1"}))["takeOwnership"]["deviceCount"] == 2
    # once taken, the new owner may batch them on
    onward = {"reference": "ONWARD", "serialNumbers": ["21N001064"], "organisationId": str(world.orgs["partner"].id)}
    assert (await partner.ok(CREATE, {"in": onward}))["createBatchReference"]["batchReference"]["deviceCount"] == 1


async def test_a_platform_batch_of_another_root_organisations_devices_moves_them_all_when_taken(as_user, world):
    # given: the platform operator sends two devices of the partner (its own root, not below the platform)
    await seed(as_user, world, owner="partner", serials=("P1", "P2"))
    platform = await as_user("platform_admin")
    sent = {"reference": "PLAT-1", "serialNumbers": ["P1", "P2"], "organisationId": str(world.orgs["customer_b"].id)}
    await platform.ok(CREATE, {"in": {**sent, "requiresConfirmation": True}})
    # when: customer B takes ownership
    taken = (await (await as_user("admin_b")).ok(TAKE, {"ref": "PLAT-1"}))["takeOwnership"]
    # then: both devices moved
    assert taken["deviceCount"] == 2
    owners = await Device.filter(serial_number__in=["P1", "P2"]).values_list("owner_id", flat=True)
    assert set(owners) == {world.orgs["customer_b"].id}


@pytest.mark.parametrize("confirm", [False, True])
async def test_a_batch_to_the_organisation_that_owns_the_devices_keeps_their_claims(as_user, world, confirm):
    # given: customer A's claimed and unclaimed devices
    from test_devices import CLAIM

    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    await admin_a.ok(CLAIM, {"ids": [str((await Device.get(serial_number="21N001052")).id)]})
    claimed_at = (await Device.get(serial_number="21N001052")).claimed_at
    serials = ["21N001052", "21N001064"]
    # when: it puts them in a batch to itself
    mine = {"reference": "OWN", "serialNumbers": serials, "organisationId": str(world.orgs["customer_a"].id)}
    await admin_a.ok(CREATE, {"in": {**mine, "requiresConfirmation": confirm}})
    if confirm:
        await admin_a.ok(TAKE, {"ref": "OWN"})
    # then: they are in the batch, and each keeps its claim; a real transfer still resets it
    rows = {d.serial_number: d for d in await Device.filter(serial_number__in=serials)}
    batch = await BatchReference.get(reference="OWN")
    assert {s: (d.claim_status, d.batch_id) for s, d in rows.items()} == {
        "21N001052": ("CLAIMED", batch.id),
        "21N001064": ("UNCLAIMED", batch.id),
    }
    assert claimed_at is not None and rows["21N001052"].claimed_at == claimed_at
    facets = (await admin_a.ok(FACETS))["deviceFacets"]["claimStatuses"]
    assert {f["value"]: f["count"] for f in facets} == {"CLAIMED": 1, "UNCLAIMED": 2}
    away = {"reference": "AWAY", "serialNumbers": ["21N001052"], "organisationId": str(world.orgs["customer_a_sub"].id)}
    await admin_a.ok(CREATE, {"in": away})
    assert (await Device.get(serial_number="21N001052")).claim_status == "UNCLAIMED"


async def test_the_sender_sees_in_its_audit_log_that_its_batch_was_accepted(as_user, world):
    await seed(as_user, world)
    sent = {"reference": "TO-P", "serialNumbers": ["21N001052"], "organisationId": str(world.orgs["partner"].id)}
    await (await as_user("admin_a")).ok(CREATE, {"in": {**sent, "requiresConfirmation": True}})
    await (await as_user("partner_admin")).ok(TAKE, {"ref": "TO-P", "label": "P-stock"})
    events = await AuditEvent.filter(action="batch.accepted")
    assert {e.organisation_id for e in events} == {world.orgs["partner"].id, world.orgs["customer_a"].id}
    assert {e.actor for e in events} == {"user:partner_admin@example.com"}
    assert all(json.loads(e.details)["label"] == "P-stock" for e in events)


@pytest.mark.parametrize("confirm", [False, True])
async def test_devices_leaving_the_senders_subtree_leave_its_labels_behind(as_user, world, confirm):
    # given: customer A's own notes on two devices
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    ids = [
        str(d.id) for d in await Device.filter(serial_number__in=["21N001052", "21N001064"]).order_by("serial_number")
    ]
    await admin_a.ok(LABELS, {"ids": ids, "l": ["A-internal: customer Meier"]})
    # when: one goes to its partner and one to its own suborganisation, each with the batch's label
    for reference, serial, org in (("TO-P", "21N001052", "partner"), ("TO-SUB", "21N001064", "customer_a_sub")):
        batch = {"reference": reference, "serialNumbers": [serial], "organisationId": str(world.orgs[org].id)}
        await admin_a.ok(CREATE, {"in": {**batch, "requiresConfirmation": confirm, "label": f"from A {reference}"}})
    if confirm:
        await (await as_user("partner_admin")).ok(TAKE, {"ref": "TO-P"})
        await (await as_user("admin_a_sub")).ok(TAKE, {"ref": "TO-SUB"})
    # then: the partner sees only the batch's label; the suborganisation, which A still sees, keeps A's note
    labels: dict[str, list[str]] = {}
    for row in await DeviceLabel.all().prefetch_related("device").order_by("label"):
        labels.setdefault(row.device.serial_number, []).append(row.label)
    assert labels["21N001052"] == ["from A TO-P"]
    assert labels["21N001064"] == ["A-internal: customer Meier", "from A TO-SUB"]
    partner_view = (await (await as_user("partner_admin")).ok(FACETS))["deviceFacets"]["labels"]
    assert partner_view == [{"value": "from A TO-P", "count": 1}]


async def test_a_batch_still_names_its_partner_after_the_link_is_removed(as_user, world):
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    new = {"reference": "TO-PARTNER", "serialNumbers": ["21N001052"], "organisationId": str(world.orgs["partner"].id)}
    await admin_a.ok(CREATE, {"in": new})
    remove = "mutation($id: ID!) { removePartner(organisationId: $id) }"
    assert (await admin_a.ok(remove, {"id": str(world.orgs["partner"].id)}))["removePartner"] is True
    listed = "{ batchReferences { nodes { reference organisation { id name parent { id } } } } }"
    [batch] = (await admin_a.ok(listed))["batchReferences"]["nodes"]
    assert batch["organisation"]["id"] == str(world.orgs["partner"].id)
    assert batch["organisation"]["name"] == world.orgs["partner"].name
    assert batch["organisation"]["parent"] is None  # name and ID only, as for a partner


async def test_a_batch_created_meanwhile_still_keeps_its_waiting_devices(as_user, world, monkeypatch):
    """A look at the devices that is outdated by the time they are assigned (SQLite looks before its transaction;
    PostgreSQL explains afterwards what its guarded statement left out) refuses the batch, never re-batches."""
    from resolvers import batches

    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    partner = str(world.orgs["partner"].id)
    waiting = {
        "reference": "W",
        "serialNumbers": ["21N001064"],
        "requiresConfirmation": True,
        "organisationId": partner,
    }
    await admin_a.ok(CREATE, {"in": waiting})
    looked = batches._devices_for

    async def outdated_look(actor, serials):  # as if the pending batch were created right after the look
        w = await BatchReference.get(reference="W")
        await Device.filter(pending_batch_id=w.id).update(pending_batch_id=None)
        try:
            return await looked(actor, serials)
        finally:
            await Device.filter(serial_number="21N001064").update(pending_batch_id=w.id)

    monkeypatch.setattr(batches, "_devices_for", outdated_look)
    sub = str(world.orgs["customer_a_sub"].id)
    for confirm in (False, True):
        new = {"reference": f"LATE-{confirm}", "serialNumbers": ["9999990", "21N001064"], "organisationId": sub}
        error = await admin_a.error(CREATE, {"in": {**new, "requiresConfirmation": confirm}})
        assert error["extensions"]["code"] == "CONFLICT"
    assert (await Device.get(serial_number="21N001064")).pending_batch_id == (
        await BatchReference.get(reference="W")
    ).id
    assert (await Device.get(serial_number="9999990")).batch_id is None


@pytest.mark.skipif(TEST_DB == "postgres", reason="PostgreSQL finds the devices in the statement that moves them")
async def test_a_device_given_away_after_the_look_is_not_taken_back(as_user, world, monkeypatch):
    """Another batch moves a device to the partner between SQLite's look at the devices and the transaction
    that assigns them."""
    from resolvers import batches

    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    partner = world.orgs["partner"]
    looked = batches._devices_for

    async def outdated_look(actor, serials):
        found = await looked(actor, serials)
        await Device.filter(serial_number="21N001052").update(owner_id=partner.id, owner_path=partner.path)
        return found

    monkeypatch.setattr(batches, "_devices_for", outdated_look)
    sub = str(world.orgs["customer_a_sub"].id)
    for confirm in (False, True):
        new = {"reference": f"LATE-{confirm}", "serialNumbers": ["9999990", "21N001052"], "organisationId": sub}
        error = await admin_a.error(CREATE, {"in": {**new, "requiresConfirmation": confirm}})
        assert error["extensions"]["code"] in ("CONFLICT", "DEVICE_NOT_FOUND")
        await Device.filter(serial_number="21N001052").update(
            owner_id=world.orgs["customer_a"].id, owner_path=world.orgs["customer_a"].path
        )
    # the partner's device was neither taken nor put in a batch, and nothing else changed
    assert {d.serial_number: (d.owner_id, d.batch_id) for d in await Device.all()} == {
        "21N001052": (world.orgs["customer_a"].id, None),
        "21N001064": (world.orgs["customer_a"].id, None),
        "9999990": (world.orgs["customer_a"].id, None),
    }
    assert not await BatchReference.exists()


async def test_a_batch_the_owner_may_not_see_is_not_named_to_it(as_user, world):
    """customer_a sends a device of its child customer_a_sub to its partner, with confirmation: the child
    still owns the device but may not see the batch, so neither the facets nor the filter name it."""
    await seed(as_user, world, owner="customer_a_sub", serials=("SUB-1",))
    admin_a, sub = await as_user("admin_a"), await as_user("admin_a_sub")
    sent = {"reference": "CONFIDENTIAL", "serialNumbers": ["SUB-1"], "organisationId": str(world.orgs["partner"].id)}
    await admin_a.ok(CREATE, {"in": {**sent, "requiresConfirmation": True}})
    devices = "query($f: DeviceFilter) { devices(filter: $f) { totalCount nodes { batchReference { reference } } } }"
    assert (await sub.ok(devices))["devices"] == {"totalCount": 1, "nodes": [{"batchReference": None}]}
    for flt in (None, {"claimStatus": "UNCLAIMED"}, {"search": "SUB"}):  # counted and grouped facets
        facets = (await sub.ok(FACETS, {"f": flt}))["deviceFacets"]
        assert facets["batchReferences"] == [] and facets["deviceTypes"][0]["count"] == 1
    for flt in ({"batchReferences": ["CONFIDENTIAL"]}, {"batchReferences": ["CONFIDENTIAL"], "search": "SUB"}):
        assert (await sub.ok(devices, {"f": flt}))["devices"]["totalCount"] == 0
    # the sender finds the waiting device on its batch's page (it is not the device's batch reference yet)
    batch = (await admin_a.ok(LIST, {"r": "CONFIDENTIAL"}))["batchReferences"]["nodes"]
    assert batch == [{"reference": "CONFIDENTIAL", "state": "PENDING_CONFIRMATION", "deviceCount": 1}]
    assert (await admin_a.ok(FACETS))["deviceFacets"]["batchReferences"] == []


async def test_a_device_keeps_the_batch_it_arrived_in_while_it_waits_in_another_and_after_a_withdrawal(as_user, world):
    # given: devices that arrived at customer A in a batch
    await seed(as_user, world, owner="platform", serials=("21N001052", "21N001064"))
    platform, admin_a = await as_user("platform_admin"), await as_user("admin_a")
    arrived = {"reference": "ARRIVED", "serialNumbers": ["21N001052", "21N001064"]}
    await platform.ok(CREATE, {"in": {**arrived, "organisationId": str(world.orgs["customer_a"].id)}})
    catalog = "{ devices { nodes { serialNumber batchReference { reference } } } }"
    before = (await admin_a.ok(catalog))["devices"]["nodes"]
    assert {d["batchReference"]["reference"] for d in before} == {"ARRIVED"}
    # when: customer A sends one of them on to its partner, with confirmation
    onward = {"reference": "ONWARD", "serialNumbers": ["21N001052"], "requiresConfirmation": True}
    sent = await admin_a.ok(CREATE, {"in": {**onward, "organisationId": str(world.orgs["partner"].id)}})
    batch_id = sent["createBatchReference"]["batchReference"]["id"]
    # then: while it waits, the catalog still names the batch it arrived in, and the waiting batch lists it
    assert (await admin_a.ok(catalog))["devices"]["nodes"] == before
    members = "query($id: ID!) { batchReference(id: $id) { devices { nodes { serialNumber } } } }"
    waiting = (await admin_a.ok(members, {"id": batch_id}))["batchReference"]["devices"]["nodes"]
    assert waiting == [{"serialNumber": "21N001052"}]
    assert (await admin_a.ok(FACETS))["deviceFacets"]["batchReferences"] == [{"value": "ARRIVED", "count": 2}]
    # and after a withdrawal it is free again, still in the batch it arrived in
    await admin_a.ok("mutation($id: ID!) { withdrawBatchReference(id: $id) { state } }", {"id": batch_id})
    assert (await admin_a.ok(catalog))["devices"]["nodes"] == before
    assert (await admin_a.ok(members, {"id": batch_id}))["batchReference"]["devices"]["nodes"] == []


async def test_the_sender_withdraws_a_batch_that_waits_and_its_devices_are_free_again(as_user, world):
    # given: a batch sent to the wrong organisation, waiting for it
    await seed(as_user, world)
    admin_a = await as_user("admin_a")
    partner = str(world.orgs["partner"].id)
    wrong = {"reference": "OOPS", "serialNumbers": ["21N001052", "21N001064"], "requiresConfirmation": True}
    sent = (await admin_a.ok(CREATE, {"in": {**wrong, "organisationId": partner}}))["createBatchReference"]
    batch_id = sent["batchReference"]["id"]
    can = "query($id: ID!) { batchReference(id: $id) { state canWithdraw } }"
    assert (await admin_a.ok(can, {"id": batch_id}))["batchReference"] == {
        "state": "PENDING_CONFIRMATION",
        "canWithdraw": True,
    }
    partner_admin = await as_user("partner_admin")
    assert (await partner_admin.ok(can, {"id": batch_id}))["batchReference"]["canWithdraw"] is False
    # when: its sender withdraws it
    withdraw = "mutation($id: ID!) { withdrawBatchReference(id: $id) { reference state deviceCount canWithdraw } }"
    withdrawn = (await admin_a.ok(withdraw, {"id": batch_id}))["withdrawBatchReference"]
    # then: withdrawn once, not to be taken, and its devices may go in another batch
    assert withdrawn == {"reference": "OOPS", "state": "WITHDRAWN", "deviceCount": 2, "canWithdraw": False}
    assert await admin_a.code(withdraw, {"id": batch_id}) == "CONFLICT"
    assert await partner_admin.code(TAKE, {"ref": "OOPS"}) == "BATCH_NOT_FOUND"
    assert await Device.filter(serial_number__in=["21N001052", "21N001064"], batch_id=None).count() == 2
    right = {
        "reference": "RIGHT",
        "serialNumbers": ["21N001052"],
        "organisationId": str(world.orgs["customer_a_sub"].id),
    }
    assert (await admin_a.ok(CREATE, {"in": right}))["createBatchReference"]["batchReference"]["deviceCount"] == 1
    event = await AuditEvent.get(action="batch.withdrawn")
    assert json.loads(event.details) == {"reference": "OOPS", "deviceCount": 2}
    # and an accepted batch cannot be withdrawn
    taken = {"reference": "TAKEN", "serialNumbers": ["21N001064"], "requiresConfirmation": True}
    taken_id = (await admin_a.ok(CREATE, {"in": {**taken, "organisationId": partner}}))["createBatchReference"][
        "batchReference"
    ]["id"]
    await partner_admin.ok(TAKE, {"ref": "TAKEN"})
    assert await admin_a.code(withdraw, {"id": taken_id}) == "CONFLICT"


# Migration 0017 on a database that has devices waiting (tests/migrating.py).
_WAITING_BEFORE_0017 = """
import sys, uuid
from datetime import datetime, UTC
from tortoise import Tortoise
from tests.migrating import insert, migrate_to, run

async def main():
    sql = await migrate_to(sys.argv[1], "0016_password_reset_requests")
    now = datetime.now(UTC)
    org, batch, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await insert(sql, "organisations", id=org, created_at=now, name="O", path=f"/{org}/", can_create_organisations=False)
    await insert(sql, "batch_references", id=batch, created_at=now, reference="W", organisation_id=org, sender_id=org,
                 requires_confirmation=True, state="PENDING_CONFIRMATION", device_count=1)
    await insert(sql, "devices", id=device, created_at=now, serial_number="S1", device_type="t", owner_id=org,
                 owner_path=f"/{org}/", claim_status="UNCLAIMED", attributes="{}", batch_id=batch)
    await Tortoise.close_connections()
    sql = await migrate_to(sys.argv[1])
    rows = await sql.execute_query_dict("SELECT batch_id, pending_batch_id FROM devices")
    await Tortoise.close_connections()
    print(rows[0]["batch_id"], rows[0]["pending_batch_id"], batch)

run(main)
"""


async def test_migration_0017_moves_a_waiting_device_to_its_pending_batch(tmp_path):
    out = await run_on_new_database(_WAITING_BEFORE_0017, tmp_path)
    batch_id, pending_batch_id, batch = out.split()
    assert (batch_id, pending_batch_id) == ("None", batch)
