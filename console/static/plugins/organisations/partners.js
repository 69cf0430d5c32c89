// 9.8 Add a partner: the partners of the user's own organisation, "Add partner by ID" (the partner's
// users copy their organisation's ID and hand it over) and removing one after a confirmation; both only
// for an organisation that may create organisations. Everyone sees the list and their own ID.

import { h, replace } from "../../core/dom.js";
import { busy, button, confirmInPlace, field, filled, input, messageBox, pageHeader, table } from "../../core/ui.js";
import { copyId } from "./form.js";
import { ownOrganisation } from "./list.js";

const PARTNERS = `query Partners { me { organisation { id name partners { id name } } } }`;
const ADD = `mutation AddPartner($id: ID!) { addPartner(organisationId: $id) { id name } }`;
// What addPartner refuses, in the words of this screen (resolvers/organisations.py add_partner).
const ADD_ERRORS = {
  NOT_FOUND: "organisations.partners.error.notFound",
  CONFLICT: "organisations.partners.error.already",
  organisationId: "organisations.partners.error.own",
};
const REMOVE = `mutation RemovePartner($id: ID!) { removePartner(organisationId: $id) }`;

export async function renderPartners(main, ctx) {
  const { t } = ctx;
  const message = messageBox();
  const rows = h("div", { class: "table-wrap partners-table" });
  const organisationId = input({ name: "partnerId", autocomplete: "off", spellcheck: "false", required: true });
  // 9.8: "Fill in the field. Click on the Save button."
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });
  let own = null;
  // Adding and removing partners is for organisations that may create organisations (the role matrix).
  const mayManage = (await ownOrganisation(ctx)).mayCreate;

  const confirmRemoval = (partner, trigger) =>
    confirmInPlace(trigger, {
      label: t("organisations.partners.remove.title"),
      question: t("organisations.partners.remove.question", { name: partner.name }),
      yes: t("organisations.partners.remove.yes"),
      no: t("common.cancel"),
      yesData: { action: "confirm-remove" },
      noData: { action: "cancel-remove" },
      action: async () => {
        message.clear();
        try {
          await ctx.gql(REMOVE, { id: partner.id });
          await load();
          message.show(t("organisations.partners.remove.done", { name: partner.name }), "success");
        } catch (error) {
          message.showError(error);
        }
      },
    });

  const load = async () => {
    const { me } = await ctx.gql(PARTNERS);
    own = me.organisation;
    replace(
      rows,
      table(
        [
          { label: t("organisations.col.name"), cell: (p) => p.name },
          { label: t("organisations.col.id"), cell: (p) => h("code", {}, p.id) },
          mayManage && {
            label: t("organisations.col.actions"),
            cell: (p) => {
              const remove = button(t("organisations.partners.remove.button"), {
                dataset: { action: "remove-partner" },
                "aria-label": t("organisations.partners.remove.named", { name: p.name }),
              });
              remove.addEventListener("click", () => confirmRemoval(p, remove));
              return remove;
            },
          },
        ].filter(Boolean),
        own.partners,
        { caption: t("organisations.partners.title"), empty: t("organisations.partners.none"), rowAttrs: (p) => ({ dataset: { partner: p.name } }) },
      ),
    );
  };

  const form = h(
    "form",
    {
      class: "card",
      novalidate: true,
      dataset: { form: "add-partner" },
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        if (!filled(message, [[organisationId, "organisations.partners.idField"]])) return;
        const id = organisationId.value.trim();
        await busy(submit, async () => {
          try {
            const { addPartner } = await ctx.gql(ADD, { id });
            organisationId.value = "";
            await load();
            message.show(t("organisations.partners.added", { name: addPartner.name }), "success");
          } catch (error) {
            const known = ADD_ERRORS[error.code === "BAD_USER_INPUT" ? error.extensions?.field : error.code];
            if (known) message.show(t(known), "error");
            else message.showError(error);
            organisationId.focus();
          }
        });
      },
    },
    h("h2", {}, t("organisations.partners.addTitle")),
    h("p", { class: "hint" }, t("organisations.partners.addHint")),
    field(t("organisations.partners.idField"), organisationId),
    h("div", { class: "form-actions" }, submit),
  );
  await load();
  main.append(
    pageHeader(t("organisations.partners.titleOf", { name: own.name }), h("a", { class: "btn btn-secondary", href: ctx.href("/organisations") }, t("organisations.back"))),
    message.element,
    rows,
    mayManage ? form : h("p", { class: "hint", dataset: { notice: "not-allowed" } }, t("organisations.manage.notAllowed")),
    h(
      "section",
      { class: "card", "aria-labelledby": "own-id-heading" },
      h("h2", { id: "own-id-heading" }, t("organisations.partners.ownId")),
      h("p", { class: "hint" }, t("organisations.partners.ownIdHint")),
      copyId(t, own.id, t("organisations.id.label")),
    ),
  );
  if (mayManage && ctx.query.get("add")) organisationId.focus(); // "Add partner" on the organisation list
}
