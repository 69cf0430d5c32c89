// 7.3 / 8.2 / 9.3 Change the password: the policy is shown live while the user types.

import { h } from "../../core/dom.js";
import { ME_FIELDS, session } from "../../core/session.js";
import { actionForm, button, field, input, messageBox, newPassword, pageHeader } from "../../core/ui.js";

const CHANGE = `mutation ChangePassword($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { ${ME_FIELDS} } }`;

/** The change-password form; `onDone(user)` runs after the server accepted the new password. */
export function passwordForm(ctx, onDone) {
  const { t } = ctx;
  const current = input({ type: "password", name: "currentPassword", autocomplete: "current-password" });
  const password = newPassword({ email: session.user?.email });
  const message = messageBox();
  const submit = button(t("auth.password.submit"), { kind: "primary", type: "submit" });
  return actionForm(
    {
      class: "card password-form",
      submit,
      message,
      check: () => {
        if (current.value) return password.check(message);
        message.show(t("auth.password.currentMissing"), "error");
        current.focus();
        return false;
      },
      action: async () => {
        const { changePassword } = await ctx.gql(CHANGE, { current: current.value, new: password.input.value });
        session.set(changePassword);
        current.value = "";
        password.clear();
        onDone(changePassword);
      },
      onError: (error) => (error.code === "INVALID_CREDENTIALS" ? current : password.input).focus(),
    },
    message.element,
    field(t("field.currentPassword"), current),
    password.elements,
    h("div", { class: "form-actions" }, submit),
  );
}

export function renderChangePassword(main, ctx) {
  const { t } = ctx;
  const first = session.user.mustChangePassword;
  main.append(
    pageHeader(t("auth.password.title")),
    h("p", { class: "lead" }, first ? t("auth.password.firstLogin") : t("auth.password.intro")),
    passwordForm(ctx, () => {
      ctx.flash(t("auth.password.changed"));
      ctx.redirect(ctx.homePath());
    }),
  );
  main.querySelector("input")?.focus();
}
