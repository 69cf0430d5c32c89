// 9.4 Add an invite: name, email (optional), organisation (with "Which organisations can I invite users
// to?"), roles up to the admin's own and the language. The invite is PREPARED; the review page sends it.

import { h } from "../../core/dom.js";
import { language } from "../../core/i18n.js";
import { actionForm, button, field, filled, input, messageBox, pageHeader, select } from "../../core/ui.js";
import { languageSelect, roleChoice } from "../../core/userform.js";

const INVITABLE = `query InvitableOrganisations { invitableOrganisations { id name } }`;
const CREATE = `mutation CreateInvite($input: CreateInviteInput!) { createInvite(input: $input) { id } }`;

export async function renderAddInvite(main, ctx) {
  const { t, session } = ctx;
  const { invitableOrganisations: orgs } = await ctx.gql(INVITABLE);
  const name = input({ name: "name", autocomplete: "off", required: true });
  const email = input({ type: "email", name: "email", autocomplete: "off" });
  const own = orgs.some((o) => o.id === session.user.organisation.id) ? session.user.organisation.id : orgs[0]?.id;
  const organisation = select(orgs.map((o) => ({ value: o.id, label: o.name })), { name: "organisationId", value: own });
  const help = h(
    "details",
    { class: "help", dataset: { help: "invitable" } },
    h("summary", {}, t("invites.add.which")),
    h("p", {}, t("invites.add.whichText")),
    h("ul", {}, orgs.map((o) => h("li", {}, o.name))),
  );
  const roles = roleChoice();
  const userLanguage = languageSelect(language());
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });

  const form = actionForm(
    {
      class: "card invite-form",
      submit,
      message,
      check: () => filled(message, [[name, "field.name"]]) && roles.check(message),
      action: async () => {
        const variables = {
          input: {
            name: name.value.trim(),
            email: email.value.trim() || null,
            organisationId: organisation.value,
            roles: roles.chosen(),
            language: userLanguage.value,
          },
        };
        const { createInvite } = await ctx.gql(CREATE, variables);
        ctx.flash(t("invites.add.done"));
        ctx.navigate(`/invites/${createInvite.id}`);
      },
    },
    message.element,
    field(t("field.name"), name),
    field(t("invites.field.emailOptional"), email, { hint: t("invites.add.emailHint") }),
    field(t("field.organisationId"), organisation),
    help,
    roles.element,
    field(t("field.userLanguage"), userLanguage, { hint: t("invites.add.languageHint") }),
    h("p", { class: "message message-info", dataset: { fact: "prepared" } }, t("invites.add.prepared")),
    h("div", { class: "form-actions" }, submit, h("a", { class: "btn btn-secondary", href: ctx.href("/invites") }, t("common.cancel"))),
  );
  main.append(pageHeader(t("invites.add.title")), form);
  name.focus();
}
