// 9.2 Profile: the user's own email address. The password is asked again, and the address changes when the
// link mailed to the new one is opened (changeEmail, then confirmEmail on /confirm-email).

import { h } from "../../core/dom.js";
import { actionForm, button, field, input, messageBox } from "../../core/ui.js";

const CHANGE = `mutation ChangeEmail($password: String!, $email: String!) {
  changeEmail(currentPassword: $password, newEmail: $email) { email } }`;

export function emailSection(ctx) {
  const { t } = ctx;
  const email = input({ type: "email", name: "newEmail", autocomplete: "email", required: true });
  const current = input({ type: "password", name: "emailPassword", autocomplete: "current-password", required: true });
  const message = messageBox();
  const submit = button(t("auth.email.submit"), { kind: "primary", type: "submit" });
  const form = actionForm(
    {
      class: "card email-form",
      submit,
      message,
      check: () => {
        for (const [box, missing] of [[email, "auth.email.missing"], [current, "auth.password.currentMissing"]]) {
          if (box.value.trim()) continue;
          message.show(t(missing), "error");
          box.focus();
          return false;
        }
        return true;
      },
      action: async () => {
        const address = email.value.trim();
        await ctx.gql(CHANGE, { password: current.value, email: address });
        current.value = "";
        email.value = "";
        message.show(t("auth.email.sent", { email: address }), "success");
      },
      onError: (error) => (error.code === "INVALID_CREDENTIALS" ? current : email).focus(),
    },
    message.element,
    h("p", { class: "hint" }, t("auth.email.intro")),
    field(t("auth.email.new"), email),
    field(t("field.currentPassword"), current),
    h("div", { class: "form-actions" }, submit),
  );
  return h("section", { class: "profile-email" }, h("h2", {}, t("auth.email.title")), form);
}
