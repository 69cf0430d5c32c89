// 7.1 The invitation link: /signup?token=… opens #/signup?token=…. The invitee gives the address the
// invitation was sent to, optionally a name, and a password (policy shown live); the account is created with
// the invite's organisation and roles (acceptInvite) and the new user is logged in.

import { h } from "../../core/dom.js";
import { setLanguage } from "../../core/i18n.js";
import { session } from "../../core/session.js";
import { actionForm, button, field, filled, input, messageBox, newPassword, pageHeader } from "../../core/ui.js";
import { LOGIN } from "./login.js";

const ACCEPT = `mutation AcceptInvite($input: AcceptInviteInput!) { acceptInvite(input: $input) { id email } }`;

/** A link error in words for this page (TOKEN_INVALID says which kind of link), else the API's message. */
export function linkError(ctx, error, key) {
  return error.code === "TOKEN_INVALID" ? ctx.t(key) : ctx.showError(error);
}

export function renderSignup(main, ctx) {
  const { t } = ctx;
  const token = (ctx.query.get("token") || "").trim();
  main.append(pageHeader(t("auth.signup.title")));
  if (!token) {
    main.append(h("p", { class: "message message-error", role: "alert" }, t("auth.signup.tokenInvalid")));
    return;
  }
  const name = input({ name: "name", autocomplete: "name" });
  const email = input({ type: "email", name: "email", autocomplete: "username", required: true });
  const password = newPassword({ label: t("field.password"), confirm: t("auth.signup.confirm"), email });
  const message = messageBox();
  const submit = button(t("auth.signup.submit"), { kind: "primary", type: "submit" });
  const form = actionForm(
    {
      class: "card signup-form",
      submit,
      message,
      check: () => filled(message, [[email, "field.email"]]) && password.check(message),
      action: async () => {
        const address = email.value.trim();
        const input = { token, email: address, password: password.input.value, name: name.value.trim() || null };
        await ctx.gql(ACCEPT, { input });
        try {
          const { login } = await ctx.gql(LOGIN, { email: address, password: password.input.value, otp: null });
          session.set(login.user);
          setLanguage(login.user.language); // before the flash: a language change re-renders this page
          ctx.flash(() => t("auth.signup.welcome", { name: login.user.name }));
          ctx.redirect(login.mustChangePassword ? "/change-password" : ctx.homePath());
        } catch {
          // The account exists; the login page explains whatever stops the login now.
          ctx.flash(() => t("auth.signup.created"));
          ctx.redirect("/login");
        }
      },
      errorText: (error) => linkError(ctx, error, "auth.signup.tokenInvalid"),
      onError: (error) => (error.code === "TOKEN_INVALID" ? submit : error.code === "WEAK_PASSWORD" ? password.input : email).focus(),
    },
    message.element,
    field(t("field.email"), email, { hint: t("auth.signup.emailHint") }),
    field(t("auth.signup.name"), name, { hint: t("auth.signup.nameHint") }),
    password.elements,
    h("div", { class: "form-actions" }, submit),
  );
  main.append(h("p", { class: "lead" }, t("auth.signup.intro")), form);
  email.focus();
}
