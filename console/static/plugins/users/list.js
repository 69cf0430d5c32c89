// The user list: Name / Email / Organisations / Roles filters, TOTAL USERS, more rows on request; each row
// opens the user's edit screen (the name, or the "Edit user" pencil).

import { h } from "../../core/dom.js";
import { replaceQuery } from "../../core/router.js";
import { ROLES } from "../../core/session.js";
import { button, field, input, messageBox, moreList, pageHeader, select, table } from "../../core/ui.js";

const USERS = `query Users($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id name email roles organisation { id name } } } }`;
const ORGANISATIONS = `query Organisations { organisations(first: 500) { nodes { id name } } }`;
const PAGE = 50;

export async function loadOrganisations(ctx) {
  const { organisations } = await ctx.gql(ORGANISATIONS);
  return organisations.nodes;
}

export async function renderUsers(main, ctx) {
  const { t, query } = ctx;
  const name = input({ type: "search", name: "name", value: query.get("name") || "", placeholder: t("common.all") });
  const email = input({ type: "search", name: "email", value: query.get("email") || "", placeholder: t("common.all") });
  const organisation = select([{ value: "", label: t("common.all") }], { name: "organisation" });
  const role = select(
    [{ value: "", label: t("common.all") }, ...ROLES.map((r) => ({ value: r, label: t(`role.${r}`) }))],
    { name: "role", value: query.get("role") || "" },
  );
  const message = messageBox();

  const filter = () => ({
    name: name.value.trim() || null,
    email: email.value.trim() || null,
    organisationIds: organisation.value ? [organisation.value] : null,
    roles: role.value ? [role.value] : null,
  });

  const list = moreList({
    name: "users",
    moreLabel: t("users.more"),
    totalText: (count) => t("users.total", { count }),
    message,
    fetch: async (after) => (await ctx.gql(USERS, { filter: filter(), first: PAGE, after })).users,
    render: (nodes) =>
      table(
        [
          { label: t("users.col.name"), cell: (u) => h("a", { href: ctx.href(`/users/${u.id}`), dataset: { edit: u.email } }, u.name) },
          { label: t("users.col.email"), cell: (u) => u.email },
          { label: t("users.col.organisation"), cell: (u) => u.organisation.name },
          { label: t("users.col.roles"), cell: (u) => u.roles.map((r) => t(`role.${r}`)).join(", ") },
          {
            label: h("span", { class: "sr-only" }, t("users.col.actions")),
            className: "row-actions",
            // The pencil is drawn by CSS, so the row's text stays the user's data; the name is the label.
            cell: (u) => h("a", { class: "edit-link", href: ctx.href(`/users/${u.id}`), "aria-label": t("users.edit.of", { name: u.name }), title: t("users.edit.title") }),
          },
        ],
        nodes,
        { caption: t("users.title"), rowAttrs: (u) => ({ dataset: { user: u.email } }) },
      ),
  });

  const apply = () => {
    replaceQuery("/users", { name: name.value.trim(), email: email.value.trim(), organisation: organisation.value, role: role.value });
    list.load(false);
  };
  organisation.addEventListener("change", apply);
  role.addEventListener("change", apply);

  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("users.filters"), onSubmit: (e) => { e.preventDefault(); apply(); } },
    field(t("users.filter.name"), name),
    field(t("users.filter.email"), email),
    field(t("users.filter.organisations"), organisation),
    field(t("users.filter.roles"), role),
    h("div", { class: "form-actions" }, button(t("common.search"), { type: "submit" })),
  );
  main.append(
    pageHeader(t("users.title"), h("a", { class: "btn btn-primary", href: ctx.href("/users/new"), dataset: { action: "add-user" } }, t("users.add.button"))),
    filters,
    message.element,
    list.rows,
    list.footer,
  );
  // The organisation filter lists what the admin can see; the list itself does not wait for it.
  loadOrganisations(ctx)
    .then((orgs) => {
      organisation.append(...orgs.map((o) => h("option", { value: o.id, selected: o.id === query.get("organisation") }, o.name)));
      if (query.get("organisation") && organisation.value !== query.get("organisation")) apply();
    })
    .catch((error) => message.showError(error));
  await list.load(false);
}
