// 9.6 Add an organisation and 9.7 Edit an organisation: name, your reference, whether it may create
// other organisations, its parent (when adding), and its ID with "Copy ID" (when editing). Both are
// "advanced functions": for an organisation that may not create organisations the page only shows.

import { h } from "../../core/dom.js";
import { actionForm, button, checkbox, field, filled, input, messageBox, pageHeader, select } from "../../core/ui.js";
import { ownOrganisation } from "./list.js";

const ORGANISATION = `query Organisation($id: ID!) {
  organisation(id: $id) { id name yourReference canCreateOrganisations parent { id name } } }`;
const PARENTS = `query Parents { organisations(first: 500) { nodes { id name } } }`;
const CREATE = `mutation CreateOrganisation($input: OrganisationInput!) { createOrganisation(input: $input) { id name } }`;
const UPDATE = `mutation UpdateOrganisation($id: ID!, $input: UpdateOrganisationInput!) {
  updateOrganisation(id: $id, input: $input) { id name } }`;

/**
 * An organisation's ID, read-only and selectable, with "Copy ID": the clipboard when the browser
 * allows it, else the text is selected for Ctrl+C. The outcome is announced.
 */
export function copyId(t, id, label) {
  const value = input({ name: "organisationId", value: id, readOnly: true, class: "id-value", spellcheck: "false" });
  const status = h("p", { class: "copy-status", role: "status", "aria-live": "polite" });
  const selectText = () => {
    value.focus();
    value.select();
    status.textContent = t("organisations.copy.select");
  };
  const copy = button(t("organisations.copy.button"), {
    dataset: { action: "copy-id" },
    onClick: async () => {
      status.textContent = "";
      if (!navigator.clipboard?.writeText) {
        selectText();
        return;
      }
      try {
        await navigator.clipboard.writeText(id);
        status.textContent = t("organisations.copy.done");
      } catch {
        selectText();
      }
    },
  });
  return h("div", { class: "copy-id" }, field(label, value), copy, status);
}

/** The ID section of an organisation's page: "Copy ID" and, for one's own, the way to its partners. */
function idSection(t, ctx, org, own) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "organisation-id-heading" },
    h("h2", { id: "organisation-id-heading" }, t("organisations.id.heading")),
    h("p", { class: "hint" }, t("organisations.id.hint")),
    copyId(t, org.id, t("organisations.id.label")),
    org.id === own.id ? h("p", {}, h("a", { href: ctx.href("/organisations/partners") }, t("organisations.partners.manage"))) : null,
  );
}

/**
 * An organisation whose administrators may not change organisations (the role matrix: "subtree, if allowed")
 * sees the details and the ID to hand to a partner, without a form.
 */
function renderReadOnly(main, ctx, org, own) {
  const { t } = ctx;
  const details = h(
    "dl",
    { class: "card facts", dataset: { view: "organisation" } },
    h("dt", {}, t("field.name")),
    h("dd", {}, org.name),
    h("dt", {}, t("organisations.field.reference")),
    h("dd", {}, org.yourReference || "–"),
    h("dt", {}, t("organisations.field.canCreate")),
    h("dd", {}, org.canCreateOrganisations ? t("organisations.yes") : t("organisations.no")),
    org.parent ? h("dt", {}, t("organisations.field.parent")) : null,
    org.parent ? h("dd", {}, org.parent.name) : null,
  );
  main.append(
    pageHeader(t("organisations.show.title"), h("a", { class: "btn btn-secondary", href: ctx.href("/organisations") }, t("organisations.back"))),
    h("p", { class: "hint", dataset: { notice: "not-allowed" } }, t("organisations.manage.notAllowed")),
    details,
    idSection(t, ctx, org, own),
  );
}

export async function renderOrganisationForm(main, ctx) {
  const { t, params, session } = ctx;
  const editing = Boolean(params.id);
  const own = await ownOrganisation(ctx);
  if (!editing && !own.mayCreate) {
    main.append(pageHeader(t("page.forbidden.title")), h("p", {}, t("organisations.add.notAllowed")));
    return;
  }
  const org = editing ? (await ctx.gql(ORGANISATION, { id: params.id })).organisation : null;
  if (editing && !org) {
    main.append(pageHeader(t("page.notFound.title")), h("p", {}, t("organisations.notFound")));
    return;
  }
  if (!own.mayCreate) {
    renderReadOnly(main, ctx, org, own);
    return;
  }
  // An organisation's own name is changed by the organisation above it (its siblings are not the admin's to see).
  const nameKept = editing && org.id === own.id && !session.can("SEE_ALL_ORGANISATIONS");
  const name = input({ name: "name", autocomplete: "off", required: true, value: org?.name || "", readOnly: nameKept });
  const reference = input({ name: "yourReference", autocomplete: "off", value: org?.yourReference || "" });
  // Who may hand on the right to create organisations (resolvers/organisations.py): a platform admin
  // anywhere; an admin whose organisation has it, below its own organisation only.
  const mayGrant = session.can("SEE_ALL_ORGANISATIONS") || (own.canCreateOrganisations && (!editing || org.id !== own.id));
  const canCreate = mayGrant
    ? checkbox(t("organisations.field.canCreate"), { name: "canCreateOrganisations", checked: Boolean(org?.canCreateOrganisations) })
    : null;
  let parent = null;
  if (!editing) {
    const { organisations } = await ctx.gql(PARENTS);
    parent = select(organisations.nodes.map((o) => ({ value: o.id, label: o.name })), { name: "parentId", value: own.id });
  }
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });

  const save = async () => {
    const values = { name: name.value.trim(), yourReference: reference.value.trim() };
    if (canCreate) values.canCreateOrganisations = canCreate.querySelector("input").checked;
    if (editing) {
      const { updateOrganisation } = await ctx.gql(UPDATE, { id: org.id, input: values });
      return t("organisations.edit.done", { name: updateOrganisation.name });
    }
    const { createOrganisation } = await ctx.gql(CREATE, { input: { ...values, parentId: parent.value } });
    return t("organisations.add.done", { name: createOrganisation.name });
  };

  const form = actionForm(
    {
      class: "card",
      dataset: { form: editing ? "edit-organisation" : "add-organisation" },
      submit,
      message,
      check: () => filled(message, [[name, "field.name"]]),
      action: async () => {
        ctx.flash(await save());
        ctx.navigate("/organisations");
      },
    },
    message.element,
    field(t("field.name"), name, nameKept ? { hint: t("organisations.field.nameKept") } : {}),
    field(t("organisations.field.reference"), reference, { hint: t("organisations.field.referenceHint") }),
    parent ? field(t("organisations.field.parent"), parent) : null,
    editing && org.parent ? h("p", { class: "hint" }, t("organisations.parentIs", { name: org.parent.name })) : null,
    canCreate,
    h("div", { class: "form-actions" }, submit, h("a", { class: "btn btn-secondary", href: ctx.href("/organisations") }, t("common.cancel"))),
  );
  const parts = [pageHeader(editing ? t("organisations.edit.title") : t("organisations.add.title")), form];
  if (editing) parts.push(idSection(t, ctx, org, own));
  main.append(...parts);
  name.focus();
}
