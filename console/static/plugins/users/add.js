// 9.1 Add a user: name, email, organisation, roles, language, CSV settings and a first password.

import { h } from "../../core/dom.js";
import { LANGUAGE_NAMES, LANGUAGES, language } from "../../core/i18n.js";
import {
  busy, button, checkbox, field, input, messageBox, pageHeader, passwordRules, select, separatorSelect,
} from "../../core/ui.js";
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
  const roleBoxes = session.grantableRoles().map((role) => checkbox(t(`role.${role}`), { name: "roles", value: role }));
  const roles = h(
    "fieldset",
    { class: "field roles" },
    h("legend", {}, t("users.add.roles")),
    h("p", { class: "hint" }, t("users.add.rolesHint")),
    roleBoxes,
  );
  const userLanguage = select(LANGUAGES.map((l) => ({ value: l, label: LANGUAGE_NAMES[l] })), { name: "language", value: language() });
  const delimiter = separatorSelect("delimiter", ";", { name: "csvDelimiter" });
  const thousands = separatorSelect("thousands", "", { name: "csvThousandsSeparator" });
  const password = input({ type: "password", name: "password", autocomplete: "new-password" });
  const rules = passwordRules(password, { email: () => email.value });
  email.addEventListener("input", rules.update);
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });

  const form = h(
    "form",
    {
      class: "card",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        const chosen = roleBoxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
        const missing = [[name, "field.name"], [email, "field.email"]].find(([el]) => !el.value.trim());
        if (missing) {
          message.show(t("error.BAD_USER_INPUT.field", { field: t(missing[1]) }), "error");
          missing[0].focus();
          return;
        }
        if (!chosen.length) {
          message.show(t("users.add.noRole"), "error");
          roleBoxes[0]?.querySelector("input").focus();
          return;
        }
        if (!rules.ok()) {
          message.show(t("password.notYet"), "error");
          password.focus();
          return;
        }
        await busy(submit, async () => {
          try {
            const variables = {
              input: {
                name: name.value.trim(),
                email: email.value.trim(),
                organisationId: organisation.value,
                roles: chosen,
                password: password.value,
                language: userLanguage.value,
                csvDelimiter: delimiter.value,
                csvThousandsSeparator: thousands.value,
              },
            };
            const { createUser } = await ctx.gql(CREATE, variables);
            ctx.flash(t("users.add.done", { name: createUser.name }));
            ctx.navigate("/users");
          } catch (error) {
            message.showError(error);
          }
        });
      },
    },
    message.element,
    field(t("field.name"), name),
    field(t("field.email"), email),
    field(t("field.organisationId"), organisation),
    roles,
    field(t("field.userLanguage"), userLanguage),
    field(t("field.csvDelimiter"), delimiter),
    field(t("field.csvThousandsSeparator"), thousands),
    field(t("field.password"), password, { hint: t("users.add.passwordHint") }),
    rules.element,
    h("div", { class: "form-actions" }, submit, h("a", { class: "btn btn-secondary", href: ctx.href("/users") }, t("common.cancel"))),
  );
  main.append(pageHeader(t("users.add.title")), form);
  name.focus();
}
