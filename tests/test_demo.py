"""The demo shows the manual's sample catalog and can be seeded twice."""

from __future__ import annotations

import asyncio

import pytest
from conftest import TEST_DB

from models.devices import BatchReference, Device, DeviceLabel
from models.invites import Invite
from models.users import User
from resolvers import demo
from resolvers.keystore import keystore, registry


async def test_demo_seeds_the_manuals_catalog_once(settings):
    # when
    for _ in range(2):
        logins = await demo.seed(settings, keys=keystore(settings), registry=registry(settings.plugins))
    # then
    assert len(logins) == len(demo.DEMO_USERS) and await User.all().count() == len(demo.DEMO_USERS)
    assert await User.filter(must_change_password=True).count() == len(demo.DEMO_USERS)
    catalog = {d.serial_number: d for d in await Device.all().prefetch_related("owner")}
    assert set(catalog) == {
        "21N001052",
        "21N001064",
        "9999990",
        "9999991",
        "9999992",
        "9999993",
        "Y20TA010056",
        "Y20TA010057",
    }
    claimed = {s for s, d in catalog.items() if d.claim_status == "CLAIMED"}
    assert claimed == {"21N001052", "9999990", "9999993"}
    assert {d.owner.name for s, d in catalog.items() if s.startswith("Y20")} == {"IntegraDemo"}
    assert {d.owner.name for s, d in catalog.items() if not s.startswith("Y20")} == {demo.CUSTOMER}
    pending = await BatchReference.get(reference=demo.PENDING_BATCH)
    assert pending.state == "PENDING_CONFIRMATION" and pending.device_count == 2
    # labels for the catalog's filter, and one invite waiting to be sent
    labelled = await DeviceLabel.filter(label="Building A").prefetch_related("device")
    assert sorted(row.device.serial_number for row in labelled) == ["21N001052", "9999990"]
    assert await DeviceLabel.filter(label=demo.DELIVERY_LABEL).count() == 6
    invite = await Invite.get(email=demo.DEMO_INVITE)
    assert invite.state == "PREPARED" and await Invite.all().count() == 1


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite serves one host")
async def test_hosts_seeding_the_demo_at_once_take_turns(settings):
    from models.organisations import Organisation

    # when: two hosts run `kms demo` on one database at the same time
    seeding = [demo.seed(settings, keys=keystore(settings), registry=registry(settings.plugins)) for _ in range(2)]
    await asyncio.gather(*seeding)
    # then: one demo, with each organisation, user and device once
    names = await Organisation.all().values_list("name", flat=True)
    assert sorted(names) == sorted(set(names)) and demo.CUSTOMER in names
    assert await User.all().count() == len(demo.DEMO_USERS)
    assert await Device.all().count() == len(demo.CATALOG) + len(demo.PENDING)
