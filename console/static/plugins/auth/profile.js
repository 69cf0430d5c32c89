// 9.2 Profile: the user's own name, language and CSV settings, the password change, the email address and
// the second factor.

import { h } from "../../core/dom.js";
import { setLanguage } from "../../core/i18n.js";
import { ME_FIELDS, session } from "../../core/session.js";
import { actionForm, button, field, filled, input, messageBox, pageHeader } from "../../core/ui.js";
import { csvFields, languageSelect } from "../../core/userform.js";
import { emailSection } from "./email.js";
import { otpSection } from "./otp.js";
import { passwordForm } from "./password.js";

const UPDATE = `mutation UpdateProfile($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { ${ME_FIELDS} } }`;

export function renderProfile(main, ctx) {
  const { t } = ctx;
  const me = session.user;
  const name = input({ name: "name", autocomplete: "name", value: me.name, required: true });
  const userLanguage = languageSelect(me.language);
  const csv = csvFields(me.csvDelimiter, me.csvThousandsSeparator, { hint: t("auth.profile.csvHint") });
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });
  const details = actionForm(
    {
      class: "card profile-form",
      submit,
      message,
      check: () => filled(message, [[name, "field.name"]]),
      action: async () => {
        const variables = {
          id: me.id,
          input: {
            name: name.value.trim(),
            language: userLanguage.value,
            csvDelimiter: csv.delimiter.value,
            csvThousandsSeparator: csv.thousands.value,
          },
        };
        const { updateUser } = await ctx.gql(UPDATE, variables);
        session.set(updateUser);
        if (updateUser.language !== me.language) {
          ctx.flash(() => t("auth.profile.saved"));
          setLanguage(updateUser.language); // re-renders the page (and shows the flash) in the new language
        } else {
          message.show(t("auth.profile.saved"), "success");
        }
      },
    },
    h("h2", {}, t("auth.profile.details")),
    message.element,
    field(t("field.name"), name),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("field.email")), h("dd", { dataset: { fact: "email" } }, me.email),
      h("dt", {}, t("field.organisationId")), h("dd", { dataset: { fact: "organisation" } }, me.organisation.name),
      h("dt", {}, t("field.roles")), h("dd", { dataset: { fact: "roles" } }, me.roles.map((r) => t(`role.${r}`)).join(", ")),
    ),
    field(t("field.userLanguage"), userLanguage),
    csv.elements,
    h("div", { class: "form-actions" }, submit),
  );
  const password = h(
    "section",
    { class: "profile-password" },
    h("h2", {}, t("auth.password.title")),
    passwordForm(ctx, () => {
      ctx.flash(t("auth.password.changed"));
      ctx.rerender();
    }),
  );
  main.append(
    pageHeader(t("auth.profile.title")),
    h("div", { class: "columns" }, details, h("div", { class: "stack" }, password, emailSection(ctx), otpSection(ctx))),
  );
}
