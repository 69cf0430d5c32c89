"""Organisations (a tree, scoped to the caller's subtree) and partner links."""

from __future__ import annotations

import uuid

import pytest

from models.audit import AuditEvent
from models.organisations import Organisation, Partnership
from resolvers import organisations
from tests.conftest import TEST_DB, make_org
from tests.migrating import run_on_new_database

ORGS = """query($name: String, $first: Int, $after: String) { organisations(name: $name, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } nodes { id name } } }"""
ORG = """query($id: ID!) { organisation(id: $id) { id name yourReference canCreateOrganisations
  parent { id } children { id } partners { id name yourReference canCreateOrganisations parent { id }
  children { id } partners { id } } } }"""
CREATE = """mutation($input: OrganisationInput!) { createOrganisation(input: $input) {
  id name yourReference canCreateOrganisations parent { id } children { id } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateOrganisationInput!) { updateOrganisation(id: $id, input: $input) {
  id name yourReference canCreateOrganisations } }"""
ADD_PARTNER = "mutation($id: ID!) { addPartner(organisationId: $id) { id name yourReference children { id } } }"
REMOVE_PARTNER = "mutation($id: ID!) { removePartner(organisationId: $id) }"


def oid(world, key):
    return str(world.orgs[key].id)


async def allow_to_create(world, *keys):
    """Let these organisations create organisations (and so edit them and manage partner links)."""
    await Organisation.filter(id__in=[world.orgs[k].id for k in keys]).update(can_create_organisations=True)


async def names(api, **variables):
    connection = (await api.ok(ORGS, variables))["organisations"]
    assert connection["totalCount"] == len(connection["nodes"])
    return {n["name"] for n in connection["nodes"]}


@pytest.fixture
async def secrets(world):
    """Give the partner something to hide: a reference, the right to create, a child and a partner of its own."""
    partner = world.orgs["partner"]
    await Organisation.filter(id=partner.id).update(your_reference="P-SECRET", can_create_organisations=True)
    world.orgs["partner_child"] = await make_org("Partner Child", partner)
    await Partnership.create(organisation=partner, partner=world.orgs["customer_b"])
    await Organisation.filter(id=world.orgs["customer_a"].id).update(your_reference="A-REF")


# --- list ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin_a", {"Customer A", "Customer A Sub"}),
        ("viewer_a", {"Customer A", "Customer A Sub"}),
        ("admin_a_sub", {"Customer A Sub"}),
        ("admin_b", {"Customer B"}),
        ("partner_admin", {"Partner P"}),  # customer_a's link to it does not work backwards
        ("platform_admin", {"IntegraDemo", "Customer A", "Customer A Sub", "Customer B", "Partner P"}),
    ],
)
async def test_organisation_list_holds_the_subtree_only(as_user, who, expected):
    assert await names(await as_user(who)) == expected


@pytest.mark.parametrize(
    ("who", "name", "expected"),
    [
        ("platform_admin", "customer a", {"Customer A", "Customer A Sub"}),
        ("platform_admin", "SUB", {"Customer A Sub"}),
        ("admin_a", "partner", set()),  # a partner is not in the list
        ("admin_b", "Customer A", set()),
    ],
)
async def test_organisation_list_filters_by_name(as_user, who, name, expected):
    assert await names(await as_user(who), name=name) == expected


async def test_organisation_list_pages(as_user):
    api = await as_user("platform_admin")
    first = (await api.ok(ORGS, {"first": 3}))["organisations"]
    rest = (await api.ok(ORGS, {"first": 3, "after": first["pageInfo"]["endCursor"]}))["organisations"]
    assert first["totalCount"] == rest["totalCount"] == 5
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    ids = [n["id"] for n in first["nodes"] + rest["nodes"]]
    assert len(ids) == len(set(ids)) == 5


# --- one organisation ------------------------------------------------------------------------------------------


async def test_own_organisation_in_full_with_parent_children_and_partners_scoped(as_user, world, secrets):
    org = (await (await as_user("admin_a")).ok(ORG, {"id": oid(world, "customer_a")}))["organisation"]
    assert org == {
        "id": oid(world, "customer_a"),
        "name": "Customer A",
        "yourReference": "A-REF",
        "canCreateOrganisations": True,
        "parent": None,  # the platform lies above the caller's subtree
        "children": [{"id": oid(world, "customer_a_sub")}],
        "partners": [
            {
                "id": oid(world, "partner"),
                "name": "Partner P",
                "yourReference": None,
                "canCreateOrganisations": False,
                "parent": None,
                "children": [],
                "partners": [],
            }
        ],
    }


async def test_platform_admin_sees_parents_and_children(as_user, world):
    api = await as_user("platform_admin")
    org = (await api.ok(ORG, {"id": oid(world, "customer_a")}))["organisation"]
    assert org["parent"] == {"id": oid(world, "platform")}
    platform = (await api.ok(ORG, {"id": oid(world, "platform")}))["organisation"]
    assert {c["id"] for c in platform["children"]} == {oid(world, "customer_a"), oid(world, "customer_b")}


async def test_partner_is_visible_by_name_and_id_only(as_user, world, secrets):
    org = (await (await as_user("admin_a")).ok(ORG, {"id": oid(world, "partner")}))["organisation"]
    assert org == {
        "id": oid(world, "partner"),
        "name": "Partner P",
        "yourReference": None,
        "canCreateOrganisations": False,
        "parent": None,
        "children": [],
        "partners": [],
    }
    # its own administrator sees what was hidden
    own = (await (await as_user("partner_admin")).ok(ORG, {"id": oid(world, "partner")}))["organisation"]
    assert own["yourReference"] == "P-SECRET" and own["children"] == [{"id": oid(world, "partner_child")}]
    assert [p["id"] for p in own["partners"]] == [oid(world, "customer_b")]


async def test_parent_of_a_subtree_root_is_hidden(as_user, world):
    api = await as_user("admin_a_sub")
    org = (await api.ok(ORG, {"id": oid(world, "customer_a_sub")}))["organisation"]
    assert org["parent"] is None and org["partners"] == []
    me = await api.ok("{ me { organisation { id parent { id } } } }")
    assert me["me"]["organisation"] == {"id": oid(world, "customer_a_sub"), "parent": None}


@pytest.mark.parametrize(
    ("who", "target"),
    [
        ("admin_a", "customer_b"),
        ("admin_a", "platform"),
        ("viewer_a", "customer_b"),
        ("admin_a_sub", "customer_a"),  # the parent
        ("admin_a_sub", "partner"),  # a partner of the parent, not of the sub organisation
        ("partner_admin", "customer_a"),  # partner links are one-way
        ("admin_b", "partner"),
        ("admin_a", "partner_child"),  # the partner's child
    ],
)
async def test_organisation_outside_is_not_found(as_user, world, secrets, who, target):
    assert await (await as_user(who)).code(ORG, {"id": oid(world, target)}) == "NOT_FOUND"


@pytest.mark.parametrize("bad_id", ["nope", str(uuid.uuid4())])
async def test_unknown_organisation_is_not_found(as_user, bad_id):
    assert await (await as_user("platform_admin")).code(ORG, {"id": bad_id}) == "NOT_FOUND"


# --- create ----------------------------------------------------------------------------------------------------


async def test_create_organisation_below_the_subtree(as_user, world):
    # given
    api = await as_user("admin_a")
    sub = oid(world, "customer_a_sub")
    # when
    created = await api.ok(CREATE, {"input": {"name": " Depot North ", "yourReference": "D-1", "parentId": sub}})
    # then
    org = created["createOrganisation"]
    assert org | {"id": None} == {
        "id": None,
        "name": "Depot North",
        "yourReference": "D-1",
        "canCreateOrganisations": False,
        "parent": {"id": sub},
        "children": [],
    }
    stored = await Organisation.get(id=org["id"])
    assert stored.path == f"{world.orgs['customer_a_sub'].path}{org['id']}/"
    assert "Depot North" in await names(api)
    parent = (await api.ok(ORG, {"id": sub}))["organisation"]
    assert parent["children"] == [{"id": org["id"]}]
    # the sub organisation's admin sees it too, the sibling customer does not
    assert (await (await as_user("admin_a_sub")).ok(ORG, {"id": org["id"]}))["organisation"]["name"] == "Depot North"
    assert await (await as_user("admin_b")).code(ORG, {"id": org["id"]}) == "NOT_FOUND"


async def test_create_organisation_defaults_to_the_callers_organisation(as_user, world):
    org = await (await as_user("admin_a")).ok(CREATE, {"input": {"name": "Child", "canCreateOrganisations": True}})
    assert org["createOrganisation"]["parent"] == {"id": oid(world, "customer_a")}
    assert org["createOrganisation"]["canCreateOrganisations"] is True


@pytest.mark.parametrize("who", ["admin_b", "admin_a_sub", "keys_a", "viewer_a"])
async def test_create_organisation_needs_the_right_to_create(as_user, who):
    # customer_b and customer_a_sub may not create organisations; key managers and viewers have no such role
    assert await (await as_user(who)).code(CREATE, {"input": {"name": "Nope"}}) == "FORBIDDEN"
    assert not await Organisation.exists(name="Nope")


async def test_platform_admin_creates_anywhere_without_the_flag(as_user, world):
    await Organisation.filter(id=world.orgs["platform"].id).update(can_create_organisations=False)
    created = await (await as_user("platform_admin")).ok(
        CREATE, {"input": {"name": "B Child", "parentId": oid(world, "customer_b")}}
    )
    assert created["createOrganisation"]["parent"] == {"id": oid(world, "customer_b")}


@pytest.mark.parametrize("parent", ["customer_b", "platform", "partner"])
async def test_create_organisation_below_a_foreign_parent_is_not_found(as_user, world, parent):
    code = await (await as_user("admin_a")).code(CREATE, {"input": {"name": "Nope", "parentId": oid(world, parent)}})
    assert code == "NOT_FOUND"
    assert not await Organisation.exists(name="Nope")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_create_organisation_needs_a_name(as_user, name):
    error = await (await as_user("admin_a")).error(CREATE, {"input": {"name": name}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}
    assert await Organisation.all().count() == 5


async def test_your_reference_has_at_most_200_characters(as_user, world):
    api = await as_user("admin_a")
    error = await api.error(CREATE, {"input": {"name": "Long Ref", "yourReference": "r" * 201}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "yourReference"}
    error = await api.error(UPDATE, {"id": oid(world, "customer_a_sub"), "input": {"yourReference": "r" * 201}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "yourReference"}
    assert (await api.ok(CREATE, {"input": {"name": "Ref", "yourReference": " r" * 100}}))["createOrganisation"][
        "yourReference"
    ] == ("r " * 100).strip()
    assert not await Organisation.exists(name="Long Ref")


async def test_two_organisations_under_one_parent_cannot_share_a_name(as_user, world):
    # given: Customer A has a child "Customer A Sub"
    api = await as_user("admin_a")
    # when: another child of Customer A gets that name in other letter case
    error = await api.error(CREATE, {"input": {"name": " customer a SUB "}})
    # then
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}
    assert error["message"] == "Customer A already has an organisation named customer a SUB."
    assert await Organisation.filter(parent_id=world.orgs["customer_a"].id).count() == 1
    # the same name below another parent, or at the top, is fine
    sub = oid(world, "customer_a_sub")
    await api.ok(CREATE, {"input": {"name": "Customer A Sub", "parentId": sub}})
    platform = await as_user("platform_admin")
    await platform.ok(CREATE, {"input": {"name": "Customer A Sub", "parentId": oid(world, "customer_b")}})


async def test_a_rename_cannot_take_a_siblings_name(as_user, world):
    api = await as_user("platform_admin")
    customer_b = oid(world, "customer_b")
    error = await api.error(UPDATE, {"id": customer_b, "input": {"name": "CUSTOMER A", "yourReference": "x"}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}
    assert (await Organisation.get(id=customer_b)).name == "Customer B"
    assert not await AuditEvent.exists(action="organisation.updated")
    # its own name in other letter case is not a sibling's
    renamed = await api.ok(UPDATE, {"id": customer_b, "input": {"name": "CUSTOMER B"}})
    assert renamed["updateOrganisation"]["name"] == "CUSTOMER B"


@pytest.mark.parametrize("change", ["create", "rename"])
async def test_a_sibling_name_taken_concurrently_is_refused_by_the_database(as_user, world, monkeypatch, change):
    # given: the check before the write misses a sibling that a concurrent request has just created
    api = await as_user("admin_a")
    await make_org("Depot", world.orgs["customer_a"])

    async def nothing_yet(*args, **kwargs):
        return None

    monkeypatch.setattr(organisations, "_check_name_free", nothing_yet)
    # when
    if change == "create":
        error = await api.error(CREATE, {"input": {"name": "depot"}})
    else:
        error = await api.error(UPDATE, {"id": oid(world, "customer_a_sub"), "input": {"name": "DEPOT"}})
    # then: the unique index refuses it, and the caller gets the same answer as from the check
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}
    assert error["message"].startswith("Customer A already has an organisation named ")
    assert await Organisation.filter(parent_id=world.orgs["customer_a"].id).count() == 2
    assert not await AuditEvent.exists(action__in=["organisation.created", "organisation.updated"])


# --- edit ------------------------------------------------------------------------------------------------------


async def test_update_organisation(as_user, world):
    api = await as_user("admin_a")
    sub = oid(world, "customer_a_sub")
    changes = {"name": "Renamed", "yourReference": "R-9", "canCreateOrganisations": True}
    assert (await api.ok(UPDATE, {"id": sub, "input": changes}))["updateOrganisation"] == {"id": sub, **changes}
    stored = await Organisation.get(id=sub)
    assert (stored.name, stored.your_reference, stored.can_create_organisations) == ("Renamed", "R-9", True)
    # an empty reference clears it
    cleared = await api.ok(UPDATE, {"id": sub, "input": {"yourReference": " "}})
    assert cleared["updateOrganisation"]["yourReference"] is None


async def test_update_own_organisation_but_not_its_right_to_create_nor_its_name(as_user, world):
    api = await as_user("admin_a")
    own = oid(world, "customer_a")
    changed = await api.ok(UPDATE, {"id": own, "input": {"yourReference": "A-1", "name": " Customer A "}})
    assert changed["updateOrganisation"] | {"id": None} == {
        "id": None,
        "name": "Customer A",
        "yourReference": "A-1",
        "canCreateOrganisations": True,
    }
    assert await api.code(UPDATE, {"id": own, "input": {"canCreateOrganisations": False}}) == "FORBIDDEN"
    assert (await Organisation.get(id=own)).can_create_organisations
    # its name is kept by the organisation above it: a refusal for a sibling's name would tell customer A that
    # the sibling exists, and name the parent it may not see
    for name in ("Customer B", "Customer Z"):
        error = await api.error(UPDATE, {"id": own, "input": {"name": name}})
        assert error["extensions"] == {"code": "FORBIDDEN"}
        assert "IntegraDemo" not in error["message"] and "Customer B" not in error["message"]
    assert (await Organisation.get(id=own)).name == "Customer A"
    platform = await as_user("platform_admin")
    assert (await platform.ok(UPDATE, {"id": own, "input": {"name": "Customer Z"}}))["updateOrganisation"]["name"] == (
        "Customer Z"
    )


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        (UPDATE, {"id": "customer_b", "input": {"yourReference": "B-1"}}),
        (ADD_PARTNER, {"id": "customer_a"}),
        (REMOVE_PARTNER, {"id": "partner"}),
        (CREATE, {"input": {"name": "B Child"}}),
    ],
    ids=["update", "add partner", "remove partner", "create"],
)
async def test_an_organisation_not_allowed_to_create_manages_neither_organisations_nor_partners(
    as_user, world, operation, variables
):
    # given: Customer B may not create organisations (the role matrix: organisations and partners, "if allowed")
    await Partnership.create(organisation=world.orgs["customer_b"], partner=world.orgs["partner"])
    variables = {k: oid(world, v) if k == "id" else v for k, v in variables.items()}
    before = await Organisation.all().order_by("id").values_list("name", "your_reference")
    # when
    error = await (await as_user("admin_b")).error(operation, variables)
    # then
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert error["message"].startswith("Your organisation may not create or change organisations and partners.")
    assert await Organisation.all().order_by("id").values_list("name", "your_reference") == before
    assert await Partnership.exists(organisation_id=world.orgs["customer_b"].id)
    assert not await AuditEvent.filter(action__startswith="organisation.").exists()
    assert not await AuditEvent.filter(action__startswith="partner.").exists()
    # and once the platform operator allows it, the same request goes through
    await allow_to_create(world, "customer_b")
    assert await (await as_user("admin_b")).ok(operation, variables)


async def test_only_an_organisation_that_may_create_passes_the_right_on(as_user, world):
    child = await make_org("B Child", world.orgs["customer_b"])
    api = await as_user("admin_b")
    assert await api.code(UPDATE, {"id": str(child.id), "input": {"canCreateOrganisations": True}}) == "FORBIDDEN"
    assert not (await Organisation.get(id=child.id)).can_create_organisations


@pytest.mark.parametrize(
    ("who", "target", "code"),
    [
        ("admin_a", "customer_b", "NOT_FOUND"),
        ("admin_a", "partner", "NOT_FOUND"),
        ("admin_a_sub", "customer_a", "NOT_FOUND"),  # its parent
        ("keys_a", "customer_a", "FORBIDDEN"),
    ],
)
async def test_update_organisation_outside_or_without_the_role(as_user, world, who, target, code):
    await allow_to_create(world, "customer_a_sub")
    assert await (await as_user(who)).code(UPDATE, {"id": oid(world, target), "input": {"name": "Hijacked"}}) == code
    assert not await Organisation.exists(name="Hijacked")


# --- partners --------------------------------------------------------------------------------------------------


async def test_add_partner_by_id(as_user, world, secrets):
    # given
    await allow_to_create(world, "customer_b")
    api = await as_user("admin_b")
    partner = oid(world, "partner")
    assert await api.code(ORG, {"id": partner}) == "NOT_FOUND"
    # when
    added = (await api.ok(ADD_PARTNER, {"id": partner}))["addPartner"]
    # then: visible by name and id only
    assert added == {"id": partner, "name": "Partner P", "yourReference": None, "children": []}
    assert (await api.ok(ORG, {"id": partner}))["organisation"]["name"] == "Partner P"
    own = (await api.ok(ORG, {"id": oid(world, "customer_b")}))["organisation"]
    assert [p["id"] for p in own["partners"]] == [partner]
    # and it is not a member of the list
    assert await names(api) == {"Customer B"}


async def test_add_the_same_partner_twice_is_a_conflict(as_user, world):
    assert await (await as_user("admin_a")).code(ADD_PARTNER, {"id": oid(world, "partner")}) == "CONFLICT"
    assert await Partnership.filter(organisation_id=world.orgs["customer_a"].id).count() == 1


async def test_a_partner_link_added_concurrently_is_a_conflict(as_user, world, monkeypatch):
    # the check before the insert misses a link that a concurrent request has just made
    async def nothing_yet(*args, **kwargs):
        return False

    monkeypatch.setattr(Partnership, "exists", nothing_yet)
    assert await (await as_user("admin_a")).code(ADD_PARTNER, {"id": oid(world, "partner")}) == "CONFLICT"


@pytest.mark.parametrize("bad_id", ["nope", str(uuid.uuid4())])
async def test_add_an_unknown_partner_is_not_found(as_user, bad_id):
    assert await (await as_user("admin_a")).code(ADD_PARTNER, {"id": bad_id}) == "NOT_FOUND"


@pytest.mark.parametrize("target", ["customer_a", "customer_a_sub"])
async def test_own_subtree_cannot_be_a_partner(as_user, world, target):
    error = await (await as_user("admin_a")).error(ADD_PARTNER, {"id": oid(world, target)})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "organisationId"}


async def test_remove_partner(as_user, world):
    api = await as_user("admin_a")
    partner = oid(world, "partner")
    assert (await api.ok(REMOVE_PARTNER, {"id": partner}))["removePartner"] is True
    assert await api.code(ORG, {"id": partner}) == "NOT_FOUND"
    assert (await api.ok(ORG, {"id": oid(world, "customer_a")}))["organisation"]["partners"] == []
    assert await api.code(REMOVE_PARTNER, {"id": partner}) == "NOT_FOUND"


async def test_an_administrator_manages_the_partner_links_of_its_subtree(as_user, world):
    add = "mutation($id: ID!, $for: ID) { addPartner(organisationId: $id, forOrganisationId: $for) { id } }"
    remove = "mutation($id: ID!, $for: ID) { removePartner(organisationId: $id, forOrganisationId: $for) }"
    admin_a, sub = await as_user("admin_a"), oid(world, "customer_a_sub")
    # when: customer A's administrator links customer B as a partner of its suborganisation
    await admin_a.ok(add, {"id": oid(world, "customer_b"), "for": sub})
    # then: the suborganisation has the partner, customer A itself does not, and both see the link
    assert await Partnership.filter(organisation_id=world.orgs["customer_a_sub"].id).count() == 1
    linked = (await (await as_user("admin_a_sub")).ok(ORG, {"id": sub}))["organisation"]["partners"]
    assert [p["id"] for p in linked] == [oid(world, "customer_b")]
    event = await AuditEvent.get(action="partner.added")
    assert event.organisation_id == world.orgs["customer_a_sub"].id and event.actor == "user:admin_a@example.com"
    # and it removes the link again; the platform operator could too
    assert (await admin_a.ok(remove, {"id": oid(world, "customer_b"), "for": sub}))["removePartner"] is True
    assert not await Partnership.exists(organisation_id=world.orgs["customer_a_sub"].id)
    platform = await as_user("platform_admin")
    assert (await platform.ok(remove, {"id": oid(world, "partner"), "for": oid(world, "customer_a")}))["removePartner"]


@pytest.mark.parametrize(
    ("who", "code"), [("admin_b", "NOT_FOUND"), ("partner_admin", "NOT_FOUND"), ("keys_a", "FORBIDDEN")]
)
async def test_remove_somebody_elses_partner_link(as_user, world, who, code):
    await allow_to_create(world, "customer_b", "partner")
    assert await (await as_user(who)).code(REMOVE_PARTNER, {"id": oid(world, "partner")}) == code
    assert await Partnership.exists(organisation_id=world.orgs["customer_a"].id, partner_id=world.orgs["partner"].id)


# --- migration 0018 on a database whose siblings share names (tests/migrating.py) ----------------------------

_SIBLINGS_BEFORE_0018 = """
import sys, uuid
from datetime import datetime, timedelta, UTC
from tortoise import Tortoise
from tests.migrating import insert, migrate_to, run

async def main():
    sql = await migrate_to(sys.argv[1], "0017_pending_batch_membership")
    start = datetime.now(UTC)
    root = uuid.uuid4()
    async def org(name, parent, minutes, new=None):
        new = new or uuid.uuid4()
        path = f"/{root}/" if new == root else f"/{root}/{new}/"
        await insert(sql, "organisations", id=new, created_at=start + timedelta(minutes=minutes), name=name,
                     path=path, can_create_organisations=False, parent_id=parent)
    await org("Root", None, 0, root)
    # "Depot (2)" exists already, so the third "Depot" becomes "Depot (3)"; another parent's "Depot" stays
    for minutes, name in [(1, "Depot"), (2, "DEPOT"), (3, "Depot (2)"), (4, "depot"), (5, "y" * 200), (6, "Y" * 200)]:
        await org(name, root, minutes)
    await org("Depot", None, 7)
    # letters whose lower case Python and the database fold differently: the database's index decides
    await org("İzmir Su", root, 8)
    await org("izmir su", root, 9)
    await Tortoise.close_connections()
    sql = await migrate_to(sys.argv[1])
    rows = await sql.execute_query_dict("SELECT name FROM organisations ORDER BY created_at")
    await Tortoise.close_connections()
    print("|".join(row["name"] for row in rows))

run(main)
"""


async def test_migration_0018_renames_siblings_that_share_a_name(tmp_path):
    names = (await run_on_new_database(_SIBLINGS_BEFORE_0018, tmp_path)).strip().split("|")
    assert names[:8] == ["Root", "Depot", "DEPOT (3)", "Depot (2)", "depot (4)", "y" * 200, "Y" * 196 + " (2)", "Depot"]
    # PostgreSQL's lower() makes "İ" an "i", SQLite's folds ASCII letters only (and Python's gives "i̇")
    assert names[8:] == (["İzmir Su", "izmir su (2)"] if TEST_DB == "postgres" else ["İzmir Su", "izmir su"])
