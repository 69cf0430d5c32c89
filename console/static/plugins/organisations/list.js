// The organisation list: NAME / YOUR REFERENCE / CAN CREATE OTHER ORGANISATIONS, TOTAL ORGANISATIONS,
// a name search and more rows on request. "Add organisation" only for those the API lets create one.

import { h } from "../../core/dom.js";
import { replaceQuery } from "../../core/router.js";
import { button, field, input, messageBox, moreList, pageHeader, table } from "../../core/ui.js";

const ORGANISATIONS = `query Organisations($name: String, $first: Int, $after: String) {
  organisations(name: $name, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id name yourReference canCreateOrganisations } } }`;
const OWN = `query OwnOrganisation { me { organisation { id name canCreateOrganisations } } }`;
const PAGE = 50;

/**
 * The user's organisation and whether they may create, edit and link organisations (the role matrix:
 * "subtree, if allowed"; schema/permissions.py organisation_may_create).
 */
export async function ownOrganisation(ctx) {
  const { me } = await ctx.gql(OWN);
  const own = me.organisation;
  return { ...own, mayCreate: ctx.session.can("SEE_ALL_ORGANISATIONS") || own.canCreateOrganisations };
}

/** A yes/no mark that reads as a word to screen readers. */
export function yesNo(t, value) {
  return h(
    "span",
    { class: value ? "mark-yes" : "mark-no", dataset: { value: String(value) } },
    h("span", { "aria-hidden": "true" }, value ? "✓" : "–"),
    h("span", { class: "sr-only" }, value ? t("organisations.yes") : t("organisations.no")),
  );
}

export async function renderOrganisations(main, ctx) {
  const { t, query } = ctx;
  const own = await ownOrganisation(ctx);
  const name = input({ type: "search", name: "name", value: query.get("name") || "", placeholder: t("common.all") });
  const message = messageBox();
  const list = moreList({
    name: "organisations",
    moreLabel: t("organisations.more"),
    totalText: (count) => t("organisations.total", { count }),
    message,
    fetch: async (after) => (await ctx.gql(ORGANISATIONS, { name: name.value.trim() || null, first: PAGE, after })).organisations,
    render: (nodes) =>
      table(
        [
          {
            label: t("organisations.col.name"),
            cell: (o) => h("a", { href: ctx.href(`/organisations/${o.id}`) }, o.name),
          },
          { label: t("organisations.col.reference"), cell: (o) => o.yourReference || "" },
          { label: t("organisations.col.canCreate"), cell: (o) => yesNo(t, o.canCreateOrganisations), className: "center" },
          // 9.7 "Click on the Edit organisation button": a pencil drawn by CSS, as on the user list
          own.mayCreate && {
            label: h("span", { class: "sr-only" }, t("organisations.col.actions")),
            className: "row-actions",
            cell: (o) =>
              h("a", {
                class: "edit-link",
                href: ctx.href(`/organisations/${o.id}`),
                "aria-label": t("organisations.editNamed", { name: o.name }),
                title: t("organisations.edit.title"),
                dataset: { action: "edit-organisation" },
              }),
          },
        ].filter(Boolean),
        nodes,
        { caption: t("organisations.title"), rowAttrs: (o) => ({ dataset: { organisation: o.name } }) },
      ),
  });

  const filters = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": t("organisations.filters"),
      onSubmit: (e) => {
        e.preventDefault();
        replaceQuery("/organisations", { name: name.value.trim() });
        list.load(false);
      },
    },
    field(t("organisations.filter.name"), name),
    h("div", { class: "form-actions" }, button(t("common.search"), { type: "submit" })),
  );
  const actions = [
    own.mayCreate
      ? h("a", { class: "btn btn-primary", href: ctx.href("/organisations/new"), dataset: { action: "add-organisation" } }, t("organisations.add.button"))
      : null,
    // 9.8 "In the Organisation menu, click on the Add partner menu button"
    own.mayCreate
      ? h("a", { class: "btn btn-secondary", href: ctx.href("/organisations/partners?add=1"), dataset: { action: "add-partner" } }, t("organisations.partners.add"))
      : null,
    h("a", { class: "btn btn-secondary", href: ctx.href("/organisations/partners"), dataset: { action: "partners" } }, t("organisations.partners.button")),
  ];
  main.append(pageHeader(t("organisations.title"), actions), filters, message.element, list.rows, list.footer);
  await list.load(false);
}
