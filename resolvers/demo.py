"""The demo: organisations, users and the manual's sample device catalog (chapter 10), created through the
same use cases as the API. Running it again changes nothing."""

from __future__ import annotations

import json
import uuid

from tortoise.transactions import in_transaction

from crypto import passwords
from models import db
from models.devices import Device
from models.organisations import Organisation, Partnership
from models.users import User
from plugins.registry import PluginRegistry
from resolvers import audit, batches, devices, invites
from resolvers.auth import actor_for
from resolvers.keystore import KeyStore
from settings import Settings

DEMO_PASSWORD = "Meter-Demo-2026!"  # every demo user must change it at the first login
CUSTOMER = "Stadtwerke Musterstadt"
DEMO_USERS = [
    ("Platform Admin", "platform@integra-metering.example", "IntegraDemo", "PLATFORM_ADMIN"),
    ("Demo Integra", "demo@integra-metering.example", CUSTOMER, "OTC_ADMIN"),
    ("Kim Keymanager", "keys@stadtwerke-musterstadt.example", CUSTOMER, "KEY_MANAGER"),
    ("Vera Viewer", "viewer@stadtwerke-musterstadt.example", CUSTOMER, "VIEWER"),
    ("Nils Partner", "admin@nordic-heat.example", "Nordic Heat AB", "OTC_ADMIN"),
]
# The manual's sample catalog: serial, device type, identifiers, claimed by the customer?
CATALOG = [
    ("21N001052", "topas-sonic-lora-w8", {"devEui": "70B3D5E75E021052", "lorawanVersion": "1.0.3"}, True),
    ("21N001064", "topas-sonic-lora-w8", {"devEui": "70B3D5E75E021064", "lorawanVersion": "1.0.3"}, False),
    ("9999990", "calec-st-iii-lora", {"devEui": "70B3D5E75E999990", "lorawanVersion": "1.0.4"}, True),
    ("9999991", "calec-st-iii-wmbus", {"mbusId": "09999991", "manufacturer": "IMA", "medium": "heat"}, False),
    ("9999992", "aquastream-lora", {"devEui": "70B3D5E75E999992", "lorawanVersion": "1.1"}, False),
    ("9999993", "aquastream-wmbus", {"mbusId": "09999993", "manufacturer": "IMA", "medium": "water"}, True),
]
# Waiting in a batch that needs confirmation: the customer takes ownership with the reference.
PENDING = [
    ("Y20TA010056", "topas-sonic-mbus", {"mbusId": "20010056", "manufacturer": "IMA", "medium": "water"}),
    ("Y20TA010057", "topas-sonic-mbus", {"mbusId": "20010057", "manufacturer": "IMA", "medium": "water"}),
]
DELIVERED_BATCH, PENDING_BATCH = "DEMO-2026-0001", "DEMO-2026-0002"
DELIVERY_LABEL = "Delivery 1"  # the delivered batch's label
DEMO_LABELS = {"Building A": ["21N001052", "9999990"], "Route 7": ["9999991"]}
DEMO_INVITE = "lena@stadtwerke-musterstadt.example"


async def _organisation(
    name: str, *, parent: Organisation | None = None, can_create: bool = False, reference: str | None = None
) -> Organisation:
    existing = await Organisation.get_or_none(name=name, parent_id=parent.id if parent else None)
    if existing:
        return existing
    new_id = uuid.uuid4()
    path = f"{parent.path if parent else '/'}{new_id}/"
    return await Organisation.create(
        id=new_id, name=name, parent=parent, path=path, can_create_organisations=can_create, your_reference=reference
    )


async def create_user(
    name: str, email: str, organisation: Organisation, roles: list[str], password: str, *, must_change: bool
) -> User:
    """A user created from the command line (the demo or `kms create-admin`), audited as "cli"."""
    password_hash = await passwords.hash_password(password)
    async with in_transaction():
        user = await User.create(
            name=name,
            email=email.lower(),
            organisation=organisation,
            roles=User.encode_roles(roles),
            password_hash=password_hash,
            must_change_password=must_change,
        )
        await audit.record(
            "user.created",
            None,
            actor_label="cli",
            organisation_id=organisation.id,
            organisation_path=organisation.path,
            target=f"user:{user.id}",
            details={"email": user.email, "roles": roles},
        )
    return user


async def create_platform(name: str) -> Organisation:
    return await _organisation(name, can_create=True)


async def seed(settings: Settings, *, keys: KeyStore, registry: PluginRegistry) -> list[tuple[str, str, str]]:
    """Create what is missing; returns the demo logins as (email, role, organisation). Hosts seeding one
    database at once take turns: the first creates, the others find it there."""
    async with db.held(db.AdvisoryLock.DEMO):
        return await _seed(settings, keys=keys, registry=registry)


async def _seed(settings: Settings, *, keys: KeyStore, registry: PluginRegistry) -> list[tuple[str, str, str]]:
    platform = await _organisation("IntegraDemo", can_create=True)
    customer = await _organisation(CUSTOMER, parent=platform, reference="SWM-4711")
    partner = await _organisation("Nordic Heat AB")
    await Partnership.get_or_create(organisation=platform, partner=partner)
    orgs = {o.name: o for o in (platform, customer, partner)}
    users: dict[str, User] = {}
    for name, email, org_name, role in DEMO_USERS:
        user = await User.get_or_none(email=email) or await create_user(
            name, email, orgs[org_name], [role], DEMO_PASSWORD, must_change=True
        )
        users[role if org_name != "Nordic Heat AB" else "PARTNER"] = user
    if not await Device.exists(serial_number=CATALOG[0][0]):
        await _catalog(settings, platform, customer, users, keys=keys, registry=registry)
    return [(email, role, org) for _, email, org, role in DEMO_USERS]


async def _catalog(
    settings: Settings,
    platform: Organisation,
    customer: Organisation,
    users: dict[str, User],
    *,
    keys: KeyStore,
    registry: PluginRegistry,
) -> None:
    operator = actor_for(users["PLATFORM_ADMIN"], platform)
    rows = [devices.ImportRow(s, t, (), json.dumps(a)) for s, t, a, _ in CATALOG]
    rows += [devices.ImportRow(s, t, (), json.dumps(a)) for s, t, a in PENDING]
    await devices.import_devices(operator, str(platform.id), rows, keys=keys, registry=registry)  # keys generated
    await batches.create_batch(
        operator,
        batches.NewBatch(DELIVERED_BATCH, [s for s, *_ in CATALOG], str(customer.id), label=DELIVERY_LABEL),
        settings,
    )
    await batches.create_batch(
        operator,
        batches.NewBatch(PENDING_BATCH, [s for s, *_ in PENDING], str(customer.id), requires_confirmation=True),
        settings,
    )
    key_manager = actor_for(users["KEY_MANAGER"], customer)
    claimed = await Device.filter(serial_number__in=[s for s, *_, c in CATALOG if c]).values_list("id", flat=True)
    await devices.claim_devices(key_manager, [str(i) for i in claimed])
    # Labels for the catalog's label filter, and an invite waiting to be sent for the Invites screen.
    customer_admin = actor_for(users["OTC_ADMIN"], customer)
    for label, serials in DEMO_LABELS.items():
        ids = await Device.filter(serial_number__in=serials).values_list("id", flat=True)
        await devices.set_labels(customer_admin, [str(i) for i in ids], [DELIVERY_LABEL, label])
    await invites.create_invite(
        customer_admin,
        settings,
        name="Lena Installateur",
        email=DEMO_INVITE,
        organisation_id=str(customer.id),
        roles=["VIEWER"],
        language="DE",
    )
