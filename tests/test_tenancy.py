"""Cross-organisation denial for every root field of the schema.

DENIALS lists, for each Query and Mutation field, operations by a user of another organisation (or a role lacking
the permission) and the code they must get. A field that is added to the schema without rows here fails
``test_every_root_field_has_denial_tests``: a new feature brings its denial tests with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse
from strawberry.permission import PermissionExtension

from models.audit import AuditEvent
from models.devices import BatchReference, Device, DeviceLabel
from models.email_templates import EmailTemplate
from models.invites import AccountToken, Invite
from models.keys import KeyRelease
from models.organisations import Organisation, Partnership
from models.outbox import OutboxMessage
from models.tokens import ApiToken
from models.users import User
from schema import build_schema
from schema.permissions import Anyone, Authenticated

# Answer data, but none of the other organisation's rows (the `secret`, which the `owner` does see).
HIDDEN = "HIDDEN"
# Open to anonymous callers on purpose.
PUBLIC = {"Query.me", "Mutation.login"}


@dataclass(frozen=True)
class Denial:
    field: str  # "Query.user"
    actor: str | None  # a user of the world, None for an anonymous caller
    operation: str
    variables: dict[str, Any] = field(default_factory=dict)  # "org:x", "user:x", "token:x", "device:x" become ids
    expect: str | dict[str, Any] = "NOT_FOUND"  # an error code, HIDDEN, or the exact data of a refusal
    secret: str = ""
    owner: str = ""

    def __str__(self) -> str:
        expect = self.expect if isinstance(self.expect, str) else "REFUSED"
        return f"{self.field}-{self.actor or 'anonymous'}-{expect}"


USER_OP = "query($id: ID!) { user(id: $id) { id email } }"
USERS_OP = "{ users { totalCount nodes { id email } } }"
ORG_OP = "query($id: ID!) { organisation(id: $id) { id name } }"
ORGS_OP = "{ organisations { totalCount nodes { id name children { id } } } }"
TOKENS_OP = "{ apiTokens { id name } }"
AUDIT_OP = "{ auditEvents { totalCount nodes { target details } } }"
CREATE_USER_OP = """mutation($org: ID!, $roles: [Role!]!) { createUser(input: {name: "Mallory",
  email: "mallory@example.com", organisationId: $org, roles: $roles, password: "Sneaky-Entry-2024#"}) { id } }"""
UPDATE_USER_OP = "mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }"
SET_PASSWORD_OP = 'mutation($id: ID!) { setUserPassword(id: $id, newPassword: "Sneaky-Entry-2024#") { id } }'
CREATE_ORG_OP = 'mutation($parent: ID) { createOrganisation(input: {name: "Rogue", parentId: $parent}) { id } }'
UPDATE_ORG_OP = 'mutation($id: ID!) { updateOrganisation(id: $id, input: {name: "Hijacked"}) { id } }'
ADD_PARTNER_OP = "mutation($id: ID!) { addPartner(organisationId: $id) { id } }"
REMOVE_PARTNER_OP = "mutation($id: ID!) { removePartner(organisationId: $id) }"
ADD_PARTNER_FOR_OP = "mutation($id: ID!, $for: ID) { addPartner(organisationId: $id, forOrganisationId: $for) { id } }"
REMOVE_PARTNER_FOR_OP = "mutation($id: ID!, $for: ID) { removePartner(organisationId: $id, forOrganisationId: $for) }"
CREATE_TOKEN_OP = 'mutation($roles: [Role!]!) { createApiToken(input: {name: "t", roles: $roles}) { token } }'
REVOKE_TOKEN_OP = "mutation($id: ID!) { revokeApiToken(id: $id) { id revoked } }"
DEVICE_OP = "query($id: ID!) { device(id: $id) { id serialNumber } }"
DEVICES_OP = "{ devices { totalCount nodes { id serialNumber } } }"
VERIFY_KEY_OP = 'query($id: ID!) { verifyDeviceKey(deviceId: $id, frame: "00") { ok } }'
IMPORT_OP = """mutation($org: ID!, $rows: [DeviceImportRow!]!) { importDevices(organisationId: $org, rows: $rows) {
  id serialNumber } }"""
CLAIM_OP = "mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { claimed { id } refused { reason } } }"
RELEASE_OP = "mutation($ids: [ID!]!) { releaseKeys(input: {deviceIds: $ids}) { content } }"
RELEASE_FILTER_OP = """mutation($filter: DeviceFilter!) { releaseKeys(input: {filter: $filter}) { content } }"""
FACETS_OP = "{ deviceFacets { deviceTypes { value count } labels { value } batchReferences { value } } }"
BATCH_OP = "query($id: ID!) { batchReference(id: $id) { id reference } }"
BATCHES_OP = "{ batchReferences { totalCount nodes { id } } }"
LABELS_OP = 'mutation($ids: [ID!]!) { setDeviceLabels(deviceIds: $ids, labels: ["pwned"]) { id } }'
CREATE_BATCH_OP = """mutation($org: ID!) { createBatchReference(input: {reference: "STEAL-1", serialNumbers: ["A-CLAIMED"],
  organisationId: $org}) { batchReference { id } } }"""
FROM_SELECTION_OP = """mutation($ids: [ID!]!, $org: ID!) { createBatchFromSelection(reference: "STEAL-2", deviceIds: $ids,
  organisationId: $org) { batchReference { id } } }"""
TAKE_OP = 'mutation { takeOwnership(batchReference: "BR-A-PENDING") { deviceCount } }'
WITHDRAW_OP = "mutation($id: ID!) { withdrawBatchReference(id: $id) { id state } }"


def lora(serial: str, dev_eui: str) -> dict[str, str]:
    return {
        "serialNumber": serial,
        "deviceType": "topas-sonic-lora-w8",
        "attributes": json.dumps({"devEui": dev_eui, "lorawanVersion": "1.0.3"}),
    }


DENIALS = [
    # --- Query ---
    Denial("Query.user", "admin_b", USER_OP, {"id": "user:admin_a"}),
    Denial("Query.user", "admin_a_sub", USER_OP, {"id": "user:keys_a"}),
    Denial("Query.user", "viewer_a", USER_OP, {"id": "user:keys_a"}, "FORBIDDEN"),
    Denial("Query.users", "admin_b", USERS_OP, expect=HIDDEN, secret="user:keys_a", owner="admin_a"),
    Denial("Query.users", "keys_a", USERS_OP, expect="FORBIDDEN"),
    Denial("Query.organisation", "admin_b", ORG_OP, {"id": "org:customer_a"}),
    Denial("Query.organisation", "admin_a_sub", ORG_OP, {"id": "org:partner"}),
    Denial("Query.organisations", "admin_b", ORGS_OP, expect=HIDDEN, secret="org:customer_a_sub", owner="admin_a"),
    Denial("Query.apiTokens", "admin_b", TOKENS_OP, expect=HIDDEN, secret="token:keys_a", owner="admin_a"),
    Denial("Query.apiTokens", "keys_b", TOKENS_OP, expect=HIDDEN, secret="token:keys_a", owner="keys_a"),
    Denial("Query.apiTokens", "viewer_a", TOKENS_OP, expect="FORBIDDEN"),
    Denial("Query.auditEvents", "admin_b", AUDIT_OP, expect=HIDDEN, secret="token:keys_a", owner="admin_a"),
    Denial("Query.auditEvents", "viewer_a", AUDIT_OP, expect="FORBIDDEN"),
    Denial("Query.verifyAuditLog", "admin_a", "{ verifyAuditLog { ok } }", expect="FORBIDDEN"),
    Denial("Query.device", "admin_b", DEVICE_OP, {"id": "device:claimed"}, "DEVICE_NOT_FOUND"),
    Denial("Query.devices", "keys_b", DEVICES_OP, expect=HIDDEN, secret="device:claimed", owner="viewer_a"),
    Denial("Query.deviceTypes", None, "{ deviceTypes { id } }", expect="UNAUTHENTICATED"),  # a global catalogue
    Denial("Query.keyFormats", None, "{ keyFormats { id } }", expect="UNAUTHENTICATED"),  # a global catalogue
    Denial("Query.verifyDeviceKey", "keys_b", VERIFY_KEY_OP, {"id": "device:claimed"}, "DEVICE_NOT_FOUND"),
    Denial("Query.verifyDeviceKey", "viewer_a", VERIFY_KEY_OP, {"id": "device:claimed"}, "FORBIDDEN"),
    # --- Mutation ---
    Denial("Mutation.logout", None, "mutation { logout }", expect="UNAUTHENTICATED"),
    Denial(
        "Mutation.changePassword",
        None,
        'mutation { changePassword(currentPassword: "x", newPassword: "y") { id } }',
        expect="UNAUTHENTICATED",
    ),
    # one's own address only: there is no argument that names another user (tests/test_accounts.py covers the rest)
    Denial(
        "Mutation.changeEmail",
        None,
        'mutation { changeEmail(currentPassword: "x", newEmail: "a@b.example") { id } }',
        expect="UNAUTHENTICATED",
    ),
    # A second factor is one's own (tests/test_auth.py covers the token and password rules); an admin resets
    # another user's only within their organisations and only for roles they may grant.
    Denial(
        "Mutation.startOtpSetup", None, 'mutation { startOtpSetup(password: "x") { uri } }', expect="UNAUTHENTICATED"
    ),
    Denial(
        "Mutation.confirmOtpSetup", None, 'mutation { confirmOtpSetup(code: "1") { id } }', expect="UNAUTHENTICATED"
    ),
    Denial(
        "Mutation.disableOtp",
        None,
        'mutation { disableOtp(password: "x", code: "1") { id } }',
        expect="UNAUTHENTICATED",
    ),
    Denial(
        "Mutation.resetUserOtp", "admin_b", "mutation($id: ID!) { resetUserOtp(id: $id) { id } }", {"id": "user:keys_a"}
    ),
    Denial(
        "Mutation.resetUserOtp",
        "keys_a",
        "mutation($id: ID!) { resetUserOtp(id: $id) { id } }",
        {"id": "user:viewer_a"},
        "FORBIDDEN",
    ),
    Denial("Mutation.createUser", "admin_b", CREATE_USER_OP, {"org": "org:customer_a", "roles": ["VIEWER"]}),
    Denial(
        "Mutation.createUser", "keys_a", CREATE_USER_OP, {"org": "org:customer_a", "roles": ["VIEWER"]}, "FORBIDDEN"
    ),
    Denial(
        "Mutation.createUser",
        "admin_a",
        CREATE_USER_OP,
        {"org": "org:customer_a", "roles": ["PLATFORM_ADMIN"]},
        "FORBIDDEN",
    ),
    Denial("Mutation.updateUser", "admin_b", UPDATE_USER_OP, {"id": "user:keys_a", "input": {"name": "Pwned"}}),
    Denial(
        "Mutation.updateUser",
        "admin_a",
        UPDATE_USER_OP,
        {"id": "user:keys_a", "input": {"organisationId": "org:customer_b"}},
    ),
    Denial(
        "Mutation.updateUser",
        "viewer_a",
        UPDATE_USER_OP,
        {"id": "user:keys_a", "input": {"name": "Pwned"}},
        "FORBIDDEN",
    ),
    Denial(
        "Mutation.updateUser",
        "viewer_a",
        UPDATE_USER_OP,
        {"id": "user:viewer_a", "input": {"roles": ["OTC_ADMIN"]}},
        "FORBIDDEN",
    ),
    Denial("Mutation.setUserPassword", "admin_b", SET_PASSWORD_OP, {"id": "user:keys_a"}),
    Denial("Mutation.setUserPassword", "keys_a", SET_PASSWORD_OP, {"id": "user:viewer_a"}, "FORBIDDEN"),
    Denial("Mutation.createOrganisation", "admin_a", CREATE_ORG_OP, {"parent": "org:customer_b"}),
    Denial("Mutation.createOrganisation", "keys_a", CREATE_ORG_OP, expect="FORBIDDEN"),
    Denial("Mutation.createOrganisation", "admin_b", CREATE_ORG_OP, expect="FORBIDDEN"),  # no canCreateOrganisations
    Denial("Mutation.updateOrganisation", "partner_admin", UPDATE_ORG_OP, {"id": "org:customer_a"}),
    Denial("Mutation.updateOrganisation", "admin_a_sub", UPDATE_ORG_OP, {"id": "org:customer_a"}),  # the parent
    Denial("Mutation.updateOrganisation", "admin_b", UPDATE_ORG_OP, {"id": "org:customer_b"}, "FORBIDDEN"),
    Denial("Mutation.updateOrganisation", "admin_a", UPDATE_ORG_OP, {"id": "org:partner"}),
    Denial("Mutation.updateOrganisation", "keys_a", UPDATE_ORG_OP, {"id": "org:customer_a"}, "FORBIDDEN"),
    Denial("Mutation.addPartner", "keys_a", ADD_PARTNER_OP, {"id": "org:customer_b"}, "FORBIDDEN"),
    Denial("Mutation.removePartner", "partner_admin", REMOVE_PARTNER_OP, {"id": "org:partner"}),
    Denial("Mutation.removePartner", "admin_a_sub", REMOVE_PARTNER_OP, {"id": "org:partner"}),
    Denial("Mutation.removePartner", "keys_a", REMOVE_PARTNER_OP, {"id": "org:partner"}, "FORBIDDEN"),
    # another organisation's partner links, or its parent's
    Denial("Mutation.addPartner", "partner_admin", ADD_PARTNER_FOR_OP, {"id": "org:partner", "for": "org:customer_a"}),
    Denial("Mutation.addPartner", "admin_b", ADD_PARTNER_OP, {"id": "org:partner"}, "FORBIDDEN"),
    Denial("Mutation.addPartner", "admin_a_sub", ADD_PARTNER_FOR_OP, {"id": "org:customer_b", "for": "org:customer_a"}),
    Denial(
        "Mutation.removePartner", "partner_admin", REMOVE_PARTNER_FOR_OP, {"id": "org:partner", "for": "org:customer_a"}
    ),
    Denial(
        "Mutation.removePartner", "admin_a_sub", REMOVE_PARTNER_FOR_OP, {"id": "org:partner", "for": "org:customer_a"}
    ),
    Denial("Mutation.createApiToken", "viewer_a", CREATE_TOKEN_OP, {"roles": ["VIEWER"]}, "FORBIDDEN"),
    Denial("Mutation.createApiToken", "keys_a", CREATE_TOKEN_OP, {"roles": ["OTC_ADMIN"]}, "FORBIDDEN"),
    Denial("Mutation.revokeApiToken", "admin_b", REVOKE_TOKEN_OP, {"id": "token:keys_a"}),
    Denial("Mutation.revokeApiToken", "keys_b", REVOKE_TOKEN_OP, {"id": "token:keys_a"}),
    Denial("Mutation.revokeApiToken", "viewer_a", REVOKE_TOKEN_OP, {"id": "token:keys_a"}, "FORBIDDEN"),
    Denial(
        "Mutation.importDevices",
        "admin_a",
        IMPORT_OP,
        {"org": "org:customer_a", "rows": [lora("ROGUE-1", "70B3D5E75E0000FF")]},
        "FORBIDDEN",
    ),
    Denial(
        "Mutation.claimDevices",
        "keys_b",
        CLAIM_OP,
        {"ids": ["device:unclaimed"]},
        {"claimDevices": {"claimed": [], "refused": [{"reason": "DEVICE_NOT_FOUND"}]}},
    ),
    Denial("Mutation.claimDevices", "viewer_a", CLAIM_OP, {"ids": ["device:unclaimed"]}, "FORBIDDEN"),
    Denial("Mutation.releaseKeys", "keys_b", RELEASE_OP, {"ids": ["device:claimed"]}, "NOTHING_TO_RELEASE"),
    Denial("Mutation.releaseKeys", "viewer_a", RELEASE_OP, {"ids": ["device:claimed"]}, "FORBIDDEN"),
    # by filter: another organisation's devices, named by organisation or by serial number
    Denial(
        "Mutation.releaseKeys",
        "keys_b",
        RELEASE_FILTER_OP,
        {"filter": {"organisationIds": ["org:customer_a"]}},
        "NOTHING_TO_RELEASE",
    ),
    Denial(
        "Mutation.releaseKeys",
        "keys_b",
        RELEASE_FILTER_OP,
        {"filter": {"serialNumbers": ["A-CLAIMED"]}},
        "NOTHING_TO_RELEASE",
    ),
    # issue #5: catalog, labels, batches
    Denial(
        "Query.deviceFacets",
        "keys_b",
        FACETS_OP,
        expect={"deviceFacets": {"deviceTypes": [], "labels": [], "batchReferences": []}},
        owner="keys_a",  # who sees the same query's facets filled
    ),
    Denial("Query.batchReference", "admin_b", BATCH_OP, {"id": "batch:pending"}),
    Denial("Query.batchReferences", "admin_b", BATCHES_OP, expect=HIDDEN, secret="batch:pending", owner="admin_a"),
    Denial("Mutation.setDeviceLabels", "keys_b", LABELS_OP, {"ids": ["device:claimed"]}, "DEVICE_NOT_FOUND"),
    Denial("Mutation.setDeviceLabels", "viewer_a", LABELS_OP, {"ids": ["device:claimed"]}, "FORBIDDEN"),
    Denial("Mutation.createBatchReference", "admin_b", CREATE_BATCH_OP, {"org": "org:customer_b"}, "DEVICE_NOT_FOUND"),
    Denial("Mutation.createBatchReference", "admin_a", CREATE_BATCH_OP, {"org": "org:customer_b"}, "NOT_FOUND"),
    Denial("Mutation.createBatchReference", "viewer_a", CREATE_BATCH_OP, {"org": "org:customer_a"}, "FORBIDDEN"),
    Denial(
        "Mutation.createBatchFromSelection",
        "keys_b",
        FROM_SELECTION_OP,
        {"ids": ["device:claimed"], "org": "org:customer_b"},
        "DEVICE_NOT_FOUND",
    ),
    # its own devices, addressed to an organisation that is neither below it nor a partner
    Denial(
        "Mutation.createBatchFromSelection",
        "admin_a",
        FROM_SELECTION_OP,
        {"ids": ["device:claimed"], "org": "org:customer_b"},
        "NOT_FOUND",
    ),
    Denial("Mutation.takeOwnership", "admin_b", TAKE_OP, expect="BATCH_NOT_FOUND"),
    Denial("Mutation.takeOwnership", "viewer_a", TAKE_OP, expect="FORBIDDEN"),
    Denial("Mutation.withdrawBatchReference", "admin_b", WITHDRAW_OP, {"id": "batch:pending"}),
    # the organisation the batch is addressed to sees it, but only its sender may withdraw it
    Denial("Mutation.withdrawBatchReference", "admin_a_sub", WITHDRAW_OP, {"id": "batch:pending"}, "FORBIDDEN"),
    Denial("Mutation.withdrawBatchReference", "viewer_a", WITHDRAW_OP, {"id": "batch:pending"}, "FORBIDDEN"),
]


def root_fields(settings) -> set[str]:
    schema = build_schema(settings)._schema
    return {f"{t.name}.{name}" for t in (schema.query_type, schema.mutation_type) for name in t.fields}


def fields_called(operation: str) -> set[str]:
    """The root fields an operation selects, as "Query.x" / "Mutation.x"."""
    result = set()
    for definition in parse(operation).definitions:
        assert isinstance(definition, OperationDefinitionNode)
        kind = definition.operation.value.title()
        result |= {f"{kind}.{s.name.value}" for s in definition.selection_set.selections}
    return result


@pytest.fixture
async def ids(world, as_user) -> dict[str, str]:
    """What the placeholders of DENIALS stand for: keys_a owns an API token (and its audit event), customer_a
    a claimed and an unclaimed device. Customer A Sub and Partner P may create organisations here, so that their
    administrators' attempts on other organisations and partner links are refused for scope, not for the right."""
    await Organisation.filter(id__in=[world.orgs["customer_a_sub"].id, world.orgs["partner"].id]).update(
        can_create_organisations=True
    )
    created = await (await as_user("keys_a")).ok(
        'mutation { createApiToken(input: {name: "ci", roles: [KEY_MANAGER]}) { apiToken { id } } }'
    )
    imported = await (await as_user("platform_admin")).ok(
        IMPORT_OP,
        {
            "org": str(world.orgs["customer_a"].id),
            "rows": [lora("A-CLAIMED", "70B3D5E75E000001"), lora("A-NEW", "70B3D5E75E000002")],
        },
    )
    await Device.filter(serial_number="A-CLAIMED").update(claim_status="CLAIMED")
    pending = await (await as_user("admin_a")).ok(
        'mutation($org: ID!) { createBatchReference(input: {reference: "BR-A-PENDING", serialNumbers: ["A-NEW"], '
        "requiresConfirmation: true, organisationId: $org}) { batchReference { id } } }",
        {"org": str(world.orgs["customer_a_sub"].id)},
    )
    devices = {d["serialNumber"]: d["id"] for d in imported["importDevices"]}
    result = {f"org:{k}": str(v.id) for k, v in world.orgs.items()}
    result |= {f"user:{k}": str(v.id) for k, v in world.users.items()}
    result["token:keys_a"] = created["createApiToken"]["apiToken"]["id"]
    result |= {"device:claimed": devices["A-CLAIMED"], "device:unclaimed": devices["A-NEW"]}
    result["batch:pending"] = pending["createBatchReference"]["batchReference"]["id"]
    return result


def resolve(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: resolve(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ids) for v in value]
    if isinstance(value, str) and re.fullmatch(r"(org|user|token|device|batch):\w+", value):
        return ids[value]
    return value


async def snapshot() -> list[Any]:
    """The state a denied mutation must leave alone."""
    return [
        await User.all()
        .order_by("id")
        .values_list(
            "id", "name", "email", "roles", "organisation_id", "is_active", "password_hash", "must_change_password"
        ),
        await Organisation.all().order_by("id").values_list("id", "name", "your_reference", "can_create_organisations"),
        await Partnership.all().order_by("id").values_list("organisation_id", "partner_id"),
        await ApiToken.all().order_by("id").values_list("id", "revoked_at"),
        await Device.all().order_by("id").values_list("id", "serial_number", "owner_id", "claim_status"),
        await KeyRelease.all().count(),
        await BatchReference.all().order_by("id").values_list("id", "state", "organisation_id"),
        await DeviceLabel.all().order_by("id").values_list("device_id", "label"),
        await Invite.all().order_by("id").values_list("id", "name", "email", "roles", "state", "expires_at", "sent_at"),
        await EmailTemplate.all()
        .order_by("id")
        .values_list("id", "name", "subject", "body", "active", "organisation_id", "updated_at"),
        await AccountToken.all().order_by("id").values_list("id", "used_at", "expires_at"),
        await OutboxMessage.all().count(),
        # (a refused take-ownership is audited on purpose: guessed references leave a trace)
        await AuditEvent.exclude(action="batch.take_refused").count(),
    ]


@pytest.mark.parametrize("denial", DENIALS, ids=str)
async def test_denial(client, as_user, ids, denial):
    # given
    api = await as_user(denial.actor) if denial.actor else client()
    before = await snapshot()
    # when
    body = await api.post(denial.operation, resolve(denial.variables, ids))
    after = await snapshot()  # (before the owner's own look below logs the owner in, which is audited)
    # then
    if isinstance(denial.expect, dict):
        assert body == {"data": denial.expect}, body
        if denial.owner:
            owner_view = await (await as_user(denial.owner)).ok(denial.operation, resolve(denial.variables, ids))
            assert owner_view != denial.expect, "the owner must see what the refusal hides, or the test proves nothing"
    elif denial.expect == HIDDEN:
        assert not body.get("errors"), body
        secret = ids[denial.secret]
        assert secret not in json.dumps(body["data"])
        owner_view = await (await as_user(denial.owner)).ok(denial.operation, resolve(denial.variables, ids))
        assert secret in json.dumps(owner_view), "the row must exist for its owner, or the test proves nothing"
    else:
        assert body.get("errors"), body
        assert [e["extensions"]["code"] for e in body["errors"]] == [denial.expect]
        assert not any((body.get("data") or {}).values()), body
    assert after == before


NON_PUBLIC = sorted({d.field for d in DENIALS})


@pytest.mark.parametrize("field_name", NON_PUBLIC)
async def test_anonymous_callers_are_refused(client, ids, field_name):
    denial = next(d for d in DENIALS if d.field == field_name)
    assert await client().code(denial.operation, resolve(denial.variables, ids)) == "UNAUTHENTICATED"


def test_denial_rows_call_the_field_they_claim():
    for denial in DENIALS:
        assert fields_called(denial.operation) == {denial.field}, denial
        assert isinstance(denial.expect, dict) or denial.expect in {
            HIDDEN,
            "NOT_FOUND",
            "FORBIDDEN",
            "UNAUTHENTICATED",
            "DEVICE_NOT_FOUND",
            "BATCH_NOT_FOUND",
            "NOTHING_TO_RELEASE",
        }, denial
        assert (denial.expect == HIDDEN) == bool(denial.secret and denial.owner), denial


async def test_every_root_field_has_denial_tests(settings):
    covered = {d.field for d in DENIALS}
    assert not covered & PUBLIC, "a public field needs no denial row"
    missing = root_fields(settings) - covered - PUBLIC
    assert not missing, f"add cross-organisation denial rows to DENIALS for: {sorted(missing)}"
    stale = (covered | PUBLIC) - root_fields(settings)
    assert not stale, f"DENIALS lists fields the schema no longer has: {sorted(stale)}"


async def test_every_root_field_declares_its_permission(settings):
    schema = build_schema(settings)
    for type_name in ("Query", "Mutation"):
        definition = schema.get_type_by_name(type_name)
        assert definition is not None
        for strawberry_field in definition.fields:
            name = f"{type_name}.{schema.config.name_converter.get_graphql_name(strawberry_field)}"
            checks = [
                p for e in strawberry_field.extensions if isinstance(e, PermissionExtension) for p in e.permissions
            ]
            assert checks, f"{name} has no PermissionExtension"
            if name in PUBLIC:
                assert all(isinstance(p, Anyone) for p in checks), name
            else:
                assert checks and all(isinstance(p, Authenticated) for p in checks), (
                    f"{name} is open to anonymous callers; list it in PUBLIC if that is intended"
                )


# --- invites, email templates, accounts by mail (issue #3) ----------------------------------------------------
# Appended in place so the lists above stay as they are. Denials that need an invite or a template copy of
# another organisation (NOT_FOUND for invite, sendInvite, cancelInvite, updateInvite, emailTemplate, copy/activate/update/
# delete/sendTestEmail) live in tests/test_invites.py and tests/test_email_templates.py, which create those rows.
PUBLIC.update(
    {"Mutation.acceptInvite", "Mutation.requestPasswordReset", "Mutation.resetPassword", "Mutation.confirmEmail"}
)
_ANY_ID = {"id": "user:keys_a"}  # the role check comes first: any id will do
DENIALS.extend(
    [
        Denial("Query.invite", "keys_a", "query($id: ID!) { invite(id: $id) { id } }", _ANY_ID, "FORBIDDEN"),
        Denial("Query.invites", "keys_a", "{ invites { totalCount } }", expect="FORBIDDEN"),
        Denial(
            "Query.invitableOrganisations",
            "admin_b",
            "{ invitableOrganisations { id name } }",
            expect=HIDDEN,
            secret="org:customer_a_sub",
            owner="admin_a",
        ),
        Denial("Query.invitableOrganisations", "keys_a", "{ invitableOrganisations { id } }", expect="FORBIDDEN"),
        Denial(
            "Query.emailTemplate", "keys_a", "query($id: ID!) { emailTemplate(id: $id) { id } }", _ANY_ID, "FORBIDDEN"
        ),
        Denial("Query.emailTemplates", "keys_a", "{ emailTemplates { totalCount } }", expect="FORBIDDEN"),
        Denial(
            "Mutation.createInvite",
            "admin_b",
            'mutation($org: ID!) { createInvite(input: {name: "M", organisationId: $org, roles: [VIEWER]}) { id } }',
            {"org": "org:customer_a"},
        ),
        Denial(
            "Mutation.createInvite",
            "admin_a",
            'mutation($org: ID!) { createInvite(input: {name: "M", organisationId: $org, roles: [VIEWER]}) { id } }',
            {"org": "org:partner"},
        ),
        Denial(
            "Mutation.createInvite",
            "keys_a",
            'mutation($org: ID!) { createInvite(input: {name: "M", organisationId: $org, roles: [VIEWER]}) { id } }',
            {"org": "org:customer_a"},
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.sendInvite", "keys_a", "mutation($id: ID!) { sendInvite(id: $id) { id } }", _ANY_ID, "FORBIDDEN"
        ),
        Denial(
            "Mutation.cancelInvite",
            "keys_a",
            "mutation($id: ID!) { cancelInvite(id: $id) { id } }",
            _ANY_ID,
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.updateInvite",
            "keys_a",
            'mutation($id: ID!) { updateInvite(id: $id, input: {name: "M"}) { id } }',
            _ANY_ID,
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.sendTestEmail",
            "keys_a",
            'mutation($id: ID!) { sendTestEmail(templateId: $id, to: "x@example.com") }',
            _ANY_ID,
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.copyEmailTemplate",
            "keys_a",
            "mutation($id: ID!) { copyEmailTemplate(id: $id) { id } }",
            _ANY_ID,
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.activateEmailTemplate",
            "keys_a",
            "mutation($id: ID!) { activateEmailTemplate(id: $id) { id } }",
            _ANY_ID,
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.updateEmailTemplate",
            "keys_a",
            'mutation($id: ID!) { updateEmailTemplate(id: $id, input: {name: "x"}) { id } }',
            _ANY_ID,
            "FORBIDDEN",
        ),
        Denial(
            "Mutation.deleteEmailTemplate",
            "keys_a",
            "mutation($id: ID!) { deleteEmailTemplate(id: $id) }",
            _ANY_ID,
            "FORBIDDEN",
        ),
        # the demo mailbox holds mails of every organisation: platform administrators only
        Denial("Query.mailTransport", "admin_a", "{ mailTransport }", expect="FORBIDDEN"),
        Denial("Query.demoMailbox", "admin_a", "{ demoMailbox { id subject } }", expect="FORBIDDEN"),
        Denial("Query.demoMailbox", None, "{ demoMailbox { id } }", expect="UNAUTHENTICATED"),
        Denial("Query.demoMail", "admin_a", 'query { demoMail(id: "x") { id } }', expect="FORBIDDEN"),
    ]
)
NON_PUBLIC[:] = sorted({d.field for d in DENIALS})


async def test_paths_compare_byte_by_byte_so_subtree_ranges_hold():
    """_scope filters a subtree with a range on the materialised path; that needs byte order ("C") on
    PostgreSQL (SQLite compares bytes anyway)."""
    from tortoise import connections

    from models import db

    if db.dialect() == "postgres":
        rows = await connections.get("default").execute_query_dict(
            "SELECT table_name, collation_name FROM information_schema.columns "
            "WHERE (table_name, column_name) IN (('devices', 'owner_path'), ('organisations', 'path'), "
            "('audit_events', 'organisation_path'))"
        )
        assert {r["table_name"]: r["collation_name"] for r in rows} == {
            "devices": "C",
            "organisations": "C",
            "audit_events": "C",
        }
