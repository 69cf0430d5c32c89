// 9.1 Add a user: name, email, organisation, roles, language, CSV settings and a first password.

import { h } from "../../core/dom.js";
import { language } from "../../core/i18n.js";
import { actionForm, button, field, filled, input, messageBox, newPassword, pageHeader, select } from "../../core/ui.js";
import { csvFields, languageSelect, roleChoice } from "../../core/userform.js";
import { loadOrganisations } from "./list.js";

const CREATE = `mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { id name email } }`;

export async function renderAddUser(main, ctx) {
  const { t, session } = ctx;
  const orgs = await loadOrganisations(ctx);
  const name = input({ name: "name", autocomplete: "off", required: true });
  const email = input({ type: "email", name: "email", autocomplete: "off", required: true });
  const organisation = select(orgs.map((o) => ({ value: o.id, label: o.name })), {
    name: "organisationId",
    value: session.user.organisation.id,
  });
  const roles = roleChoice();
  const userLanguage = languageSelect(language());
  const csv = csvFields(";", "");
  const password = newPassword({
    label: t("field.password"),
    confirm: false,
    name: "password",
    email,
    hint: t("users.add.passwordHint"),
  });
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });

  const form = actionForm(
    {
      class: "card",
      submit,
      message,
      check: () => filled(message, [[name, "field.name"], [email, "field.email"]]) && roles.check(message) && password.check(message),
      action: async () => {
        const variables = {
          input: {
            name: name.value.trim(),
            email: email.value.trim(),
            organisationId: organisation.value,
            roles: roles.chosen(),
            password: password.input.value,
            language: userLanguage.value,
            csvDelimiter: csv.delimiter.value,
            csvThousandsSeparator: csv.thousands.value,
          },
        };
        const { createUser } = await ctx.gql(CREATE, variables);
        ctx.flash(t("users.add.done", { name: createUser.name }));
        ctx.navigate("/users");
      },
    },
    message.element,
    field(t("field.name"), name),
    field(t("field.email"), email),
    field(t("field.organisationId"), organisation),
    roles.element,
    field(t("field.userLanguage"), userLanguage),
    csv.elements,
    password.elements,
    h("div", { class: "form-actions" }, submit, h("a", { class: "btn btn-secondary", href: ctx.href("/users") }, t("common.cancel"))),
  );
  main.append(pageHeader(t("users.add.title")), form);
  name.focus();
}
