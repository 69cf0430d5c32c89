// Password reset by mail: "Forgot password?" on the login screen asks for the address
// (requestPasswordReset, always the same neutral answer); the mailed link /reset-password?token=… opens
// #/reset-password?token=…, where the new password is chosen with the policy shown live (resetPassword).

import { h, replace } from "../../core/dom.js";
import { busy, button, field, input, messageBox, pageHeader, passwordRules } from "../../core/ui.js";
import { linkError } from "./signup.js";

const REQUEST = `mutation RequestPasswordReset($email: String!) { requestPasswordReset(email: $email) }`;
const RESET = `mutation ResetPassword($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }`;

export function renderForgotPassword(main, ctx) {
  const { t } = ctx;
  const email = input({ type: "email", name: "email", autocomplete: "username", required: true });
  const message = messageBox();
  const submit = button(t("auth.forgot.submit"), { kind: "primary", type: "submit" });
  const back = h("p", {}, h("a", { href: ctx.href("/login") }, t("auth.forgot.back")));
  const form = h(
    "form",
    {
      class: "card forgot-form",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        const address = email.value.trim();
        if (!address) {
          message.show(t("error.BAD_USER_INPUT.field", { field: t("field.email") }), "error");
          email.focus();
          return;
        }
        await busy(submit, async () => {
          try {
            await ctx.gql(REQUEST, { email: address });
            // The same answer whether the address belongs to an account or not.
            replace(form, h("p", { class: "message message-success", role: "status", dataset: { fact: "resetRequested" } }, t("auth.forgot.sent", { email: address })));
          } catch (error) {
            message.showError(error);
          }
        });
      },
    },
    message.element,
    field(t("field.email"), email),
    h("div", { class: "form-actions" }, submit),
  );
  main.append(pageHeader(t("auth.forgot.title")), h("p", { class: "lead" }, t("auth.forgot.intro")), form, back);
  email.focus();
}

export function renderResetPassword(main, ctx) {
  const { t } = ctx;
  const token = (ctx.query.get("token") || "").trim();
  main.append(pageHeader(t("auth.reset.title")));
  const again = h("p", {}, h("a", { href: ctx.href("/forgot-password") }, t("auth.reset.again")));
  if (!token) {
    main.append(h("p", { class: "message message-error", role: "alert" }, t("auth.reset.tokenInvalid")), again);
    return;
  }
  const password = input({ type: "password", name: "newPassword", autocomplete: "new-password" });
  const confirm = input({ type: "password", name: "confirmPassword", autocomplete: "new-password" });
  const rules = passwordRules(password, { confirm });
  const message = messageBox();
  const submit = button(t("auth.reset.submit"), { kind: "primary", type: "submit" });
  const form = h(
    "form",
    {
      class: "card reset-form",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        if (!rules.ok()) {
          message.show(t("password.notYet"), "error");
          password.focus();
          return;
        }
        await busy(submit, async () => {
          try {
            await ctx.gql(RESET, { token, password: password.value });
            ctx.flash(() => t("auth.reset.done"));
            ctx.redirect("/login");
          } catch (error) {
            message.show(linkError(ctx, error, "auth.reset.tokenInvalid"), "error");
            if (error.code === "TOKEN_INVALID") again.hidden = false;
            password.focus();
          }
        });
      },
    },
    message.element,
    field(t("field.newPassword"), password),
    field(t("auth.password.confirm"), confirm),
    rules.element,
    h("div", { class: "form-actions" }, submit),
  );
  again.hidden = true;
  main.append(h("p", { class: "lead" }, t("auth.reset.intro")), form, again);
  password.focus();
}
