// Password reset by mail: "Forgot password?" on the login screen asks for the address
// (requestPasswordReset, always the same neutral answer); the mailed link /reset-password?token=… opens
// #/reset-password?token=…, where the new password is chosen with the policy shown live (resetPassword).

import { h, replace } from "../../core/dom.js";
import { actionForm, button, field, filled, input, messageBox, newPassword, pageHeader } from "../../core/ui.js";
import { linkError } from "./signup.js";

const REQUEST = `mutation RequestPasswordReset($email: String!) { requestPasswordReset(email: $email) }`;
const RESET = `mutation ResetPassword($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }`;

export function renderForgotPassword(main, ctx) {
  const { t } = ctx;
  const email = input({ type: "email", name: "email", autocomplete: "username", required: true });
  const message = messageBox();
  const submit = button(t("auth.forgot.submit"), { kind: "primary", type: "submit" });
  const back = h("p", {}, h("a", { href: ctx.href("/login") }, t("auth.forgot.back")));
  const form = actionForm(
    {
      class: "card forgot-form",
      submit,
      message,
      check: () => filled(message, [[email, "field.email"]]),
      action: async () => {
        const address = email.value.trim();
        await ctx.gql(REQUEST, { email: address });
        // The same answer whether the address belongs to an account or not.
        replace(form, h("p", { class: "message message-success", role: "status", dataset: { fact: "resetRequested" } }, t("auth.forgot.sent", { email: address })));
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
  const password = newPassword();
  const message = messageBox();
  const submit = button(t("auth.reset.submit"), { kind: "primary", type: "submit" });
  const form = actionForm(
    {
      class: "card reset-form",
      submit,
      message,
      check: () => password.check(message),
      action: async () => {
        await ctx.gql(RESET, { token, password: password.input.value });
        ctx.flash(() => t("auth.reset.done"));
        ctx.redirect("/login");
      },
      errorText: (error) => linkError(ctx, error, "auth.reset.tokenInvalid"),
      onError: (error) => {
        if (error.code === "TOKEN_INVALID") again.hidden = false;
        password.input.focus();
      },
    },
    message.element,
    password.elements,
    h("div", { class: "form-actions" }, submit),
  );
  again.hidden = true;
  main.append(h("p", { class: "lead" }, t("auth.reset.intro")), form, again);
  password.input.focus();
}
