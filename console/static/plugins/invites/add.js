// 9.4 Add an invite: name, email (optional), organisation (with "Which organisations can I invite users
// to?"), roles up to the admin's own and the language. The invite is PREPARED; the review page sends it.
// The same form corrects a PREPARED invite ("Review your information and complete as necessary").

import { h } from "../../core/dom.js";
import { language } from "../../core/i18n.js";
import { actionForm, button, field, filled, input, messageBox, pageHeader, select } from "../../core/ui.js";
import { languageSelect, roleChoice } from "../../core/userform.js";

const INVITABLE = `query InvitableOrganisations { invitableOrganisations { id name } }`;
const CREATE = `mutation CreateInvite($input: CreateInviteInput!) { createInvite(input: $input) { id } }`;
const INVITE = `query InviteToEdit($id: ID!) { invite(id: $id) { id name email state roles language organisation { id } } }`;
const UPDATE = `mutation UpdateInvite($id: ID!, $input: UpdateInviteInput!) { updateInvite(id: $id, input: $input) { id } }`;

export async function renderAddInvite(main, ctx) {
  const { t, session, params } = ctx;
  const editing = Boolean(params.id);
  const [{ invitableOrganisations: orgs }, found] = await Promise.all([
    ctx.gql(INVITABLE),
    editing ? ctx.gql(INVITE, { id: params.id }) : Promise.resolve(null),
  ]);
  const invite = found?.invite;
  if (editing && invite?.state !== "PREPARED") {
    main.append(pageHeader(t("invites.edit.title")), h("p", { class: "message message-error", role: "alert" }, t(invite ? "invites.edit.sent" : "error.NOT_FOUND")));
    return;
  }
  const name = input({ name: "name", autocomplete: "off", required: true, value: invite?.name || "" });
  const email = input({ type: "email", name: "email", autocomplete: "off", value: invite?.email || "" });
  const own = orgs.some((o) => o.id === session.user.organisation.id) ? session.user.organisation.id : orgs[0]?.id;
  const organisation = select(orgs.map((o) => ({ value: o.id, label: o.name })), { name: "organisationId", value: invite?.organisation.id || own });
  const help = h(
    "details",
    { class: "help", dataset: { help: "invitable" } },
    h("summary", {}, t("invites.add.which")),
    h("p", {}, t("invites.add.whichText")),
    h("ul", {}, orgs.map((o) => h("li", {}, o.name))),
  );
  const roles = roleChoice(invite?.roles || []);
  const userLanguage = languageSelect(invite?.language || language());
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
        if (editing) {
          // "" removes the address
          await ctx.gql(UPDATE, { id: invite.id, input: { ...variables.input, email: email.value.trim() } });
          ctx.flash(t("invites.edit.done"));
          ctx.navigate(`/invites/${invite.id}`);
          return;
        }
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
    h("div", { class: "form-actions" }, submit, h("a", { class: "btn btn-secondary", href: ctx.href(editing ? `/invites/${invite.id}` : "/invites") }, t("common.cancel"))),
  );
  form.dataset.form = editing ? "edit-invite" : "add-invite";
  main.append(pageHeader(t(editing ? "invites.edit.title" : "invites.add.title")), form);
  name.focus();
}
