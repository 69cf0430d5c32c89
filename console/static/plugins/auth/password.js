// 7.3 / 8.2 / 9.3 Change the password: the policy is shown live while the user types.

import { h } from "../../core/dom.js";
import { ME_FIELDS, session } from "../../core/session.js";
import { busy, button, field, input, messageBox, pageHeader, passwordRules } from "../../core/ui.js";

const CHANGE = `mutation ChangePassword($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { ${ME_FIELDS} } }`;

/** The change-password form; `onDone(user)` runs after the server accepted the new password. */
export function passwordForm(ctx, onDone) {
  const { t } = ctx;
  const current = input({ type: "password", name: "currentPassword", autocomplete: "current-password" });
  const next = input({ type: "password", name: "newPassword", autocomplete: "new-password" });
  const confirm = input({ type: "password", name: "confirmPassword", autocomplete: "new-password" });
  const rules = passwordRules(next, { confirm, email: session.user?.email });
  const message = messageBox();
  const submit = button(t("auth.password.submit"), { kind: "primary", type: "submit" });
  return h(
    "form",
    {
      class: "card password-form",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        if (!current.value) {
          message.show(t("auth.password.currentMissing"), "error");
          current.focus();
          return;
        }
        if (!rules.ok()) {
          message.show(t("password.notYet"), "error");
          next.focus();
          return;
        }
        await busy(submit, async () => {
          try {
            const { changePassword } = await ctx.gql(CHANGE, { current: current.value, new: next.value });
            session.set(changePassword);
            for (const el of [current, next, confirm]) el.value = "";
            onDone(changePassword);
          } catch (error) {
            message.showError(error);
            (error.code === "INVALID_CREDENTIALS" ? current : next).focus();
          }
        });
      },
    },
    message.element,
    field(t("field.currentPassword"), current),
    field(t("field.newPassword"), next),
    field(t("auth.password.confirm"), confirm),
    rules.element,
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
