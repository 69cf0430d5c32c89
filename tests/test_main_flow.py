"""The manual's main flow end to end over HTTP (architecture.md "The main flow"): a platform admin imports
devices, addresses a batch with confirmation to a customer, the customer's admin gets the mail (real SMTP)
and takes ownership, a key manager claims and releases keys, and the file holds the imported keys. A second
customer sees none of it at any step."""

from __future__ import annotations

import csv
import io
import json

import pytest
from mailtest import deliver, mails_to, running_smtp, text_of

smtp = pytest.fixture(running_smtp, name="smtp")

KEYS = {
    "21N001052": "00112233445566778899aabbccddeeff",
    "21N001064": "ffeeddccbbaa99887766554433221100",
    "Y20TA010056": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}
ROWS = [
    {
        "serialNumber": "21N001052",
        "deviceType": "topas-sonic-lora-w8",
        "attributes": json.dumps({"devEui": "70B3D5E75E001052", "lorawanVersion": "1.0.3"}),
        "keys": [{"keyType": "AppKey", "value": KEYS["21N001052"]}],
    },
    {
        "serialNumber": "21N001064",
        "deviceType": "topas-sonic-lora-w8",
        "attributes": json.dumps({"devEui": "70B3D5E75E001064", "lorawanVersion": "1.0.3"}),
        "keys": [{"keyType": "AppKey", "value": KEYS["21N001064"]}],
    },
    {
        "serialNumber": "Y20TA010056",
        "deviceType": "topas-sonic-mbus",
        "attributes": json.dumps({"mbusId": "20010056", "manufacturer": "DME", "medium": "water"}),
        "keys": [{"keyType": "OMS", "value": KEYS["Y20TA010056"]}],
    },
]
CATALOG = "{ devices { totalCount nodes { id serialNumber claimStatus } } batchReferences { totalCount } }"


async def sees_nothing(outsider) -> None:
    data = await outsider.ok(CATALOG)
    assert data == {"devices": {"totalCount": 0, "nodes": []}, "batchReferences": {"totalCount": 0}}


async def test_main_flow(as_user, world, smtp):
    outsider = await as_user("admin_b")
    # 1. the platform operator imports devices with their keys
    platform = await as_user("platform_admin")
    imported = await platform.ok(
        "mutation($org: ID!, $rows: [DeviceImportRow!]!) { importDevices(organisationId: $org, rows: $rows) { id } }",
        {"org": str(world.orgs["platform"].id), "rows": ROWS},
    )
    assert len(imported["importDevices"]) == 3
    await sees_nothing(outsider)

    # 2. and addresses them in a batch that needs confirmation to customer A
    batch = await platform.ok(
        """mutation($org: ID!) { createBatchReference(input: {reference: "KMS-2026-0815",
           serialNumbers: ["21N001052 21N001064", "Y20TA010056"], requiresConfirmation: true,
           organisationId: $org}) { batchReference { state deviceCount } } }""",
        {"org": str(world.orgs["customer_a"].id)},
    )
    assert batch["createBatchReference"]["batchReference"] == {"state": "PENDING_CONFIRMATION", "deviceCount": 3}
    await sees_nothing(outsider)

    # 3. customer A's admin gets the New batch mail through the outbox and a real SMTP server
    await deliver(smtp)
    mail = mails_to(smtp, "admin_a@example.com")
    assert len(mail) == 1 and "KMS-2026-0815" in text_of(mail[0])
    assert mails_to(smtp, "admin_b@example.com") == []

    # 4. and takes ownership by typing the reference from the mail
    admin_a = await as_user("admin_a")
    assert await outsider.code('mutation { takeOwnership(batchReference: "KMS-2026-0815") { deviceCount } }') == (
        "BATCH_NOT_FOUND"
    )
    taken = await admin_a.ok(
        'mutation { takeOwnership(batchReference: "KMS-2026-0815", label: "Lot 1") { deviceCount } }'
    )
    assert taken["takeOwnership"]["deviceCount"] == 3

    # 5. a key manager sees the devices UNCLAIMED, claims them and releases the keys
    keys_a = await as_user("keys_a")
    catalog = (await keys_a.ok(CATALOG))["devices"]
    assert {n["claimStatus"] for n in catalog["nodes"]} == {"UNCLAIMED"} and catalog["totalCount"] == 3
    ids = [n["id"] for n in catalog["nodes"]]
    refused = await keys_a.error(
        "mutation($ids: [ID!]!) { releaseKeys(input: {deviceIds: $ids}) { keyCount } }", {"ids": ids}
    )
    assert refused["extensions"]["code"] == "NOTHING_TO_RELEASE"
    claimed = await keys_a.ok(
        "mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { claimed { id } } }", {"ids": ids}
    )
    assert len(claimed["claimDevices"]["claimed"]) == 3
    await sees_nothing(outsider)
    release = (
        await keys_a.ok(
            "mutation($ids: [ID!]!) { releaseKeys(input: {deviceIds: $ids}) { keyCount downloadUrl refused { reason } } }",
            {"ids": ids},
        )
    )["releaseKeys"]
    assert release["keyCount"] == 3 and release["refused"] == []

    # 6. the downloaded file holds exactly the imported keys; the outsider can neither release nor download
    assert (
        await outsider.code(
            "mutation($ids: [ID!]!) { releaseKeys(input: {deviceIds: $ids}) { keyCount } }", {"ids": ids}
        )
        == "NOTHING_TO_RELEASE"
    )
    response = await keys_a.http.get("/downloads/" + release["downloadUrl"].rsplit("/", 1)[1])
    rows = list(csv.DictReader(io.StringIO(response.text), delimiter=";"))
    assert {r["serial_number"]: r["key"].lower() for r in rows} == KEYS
    assert (await outsider.http.get("/downloads/" + release["downloadUrl"].rsplit("/", 1)[1])).status_code == 404
