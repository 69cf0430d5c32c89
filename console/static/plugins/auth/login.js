// 7.2 / 8.1 Connecting: email and password (and a one-time code when the account has one).

import { h } from "../../core/dom.js";
import { LANGUAGE_NAMES, LANGUAGES, language, setLanguage } from "../../core/i18n.js";
import { session, ME_FIELDS } from "../../core/session.js";
import { busy, button, field, input, messageBox, pageHeader, select } from "../../core/ui.js";

export const LOGIN = `mutation Login($email: String!, $password: String!, $otp: String) {
  login(email: $email, password: $password, otp: $otp) { mustChangePassword user { ${ME_FIELDS} } } }`;

export function renderLogin(main, ctx) {
  const { t } = ctx;
  const email = input({ type: "email", name: "email", autocomplete: "username", required: true });
  const password = input({ type: "password", name: "password", autocomplete: "current-password", required: true });
  const otp = input({ name: "otp", autocomplete: "one-time-code", inputmode: "numeric" });
  const otpField = field(t("auth.login.otp"), otp);
  otpField.hidden = true;
  const message = messageBox();
  const submit = button(t("auth.login.submit"), { kind: "primary", type: "submit" });
  const languagePicker = select(
    LANGUAGES.map((lang) => ({ value: lang, label: LANGUAGE_NAMES[lang] })),
    { value: language(), name: "language", onChange: (event) => setLanguage(event.target.value) },
  );

  const form = h(
    "form",
    {
      class: "card login",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        if (!email.value.trim() || !password.value) {
          message.show(t("auth.login.missing"), "error");
          (email.value.trim() ? password : email).focus();
          return;
        }
        await busy(submit, async () => {
          try {
            const variables = { email: email.value.trim(), password: password.value, otp: otp.value.trim() || null };
            const { login } = await ctx.gql(LOGIN, variables);
            session.set(login.user);
            const next = ctx.query.get("next");
            const target = login.mustChangePassword ? "/change-password" : next && next.startsWith("/") ? next : ctx.homePath();
            setLanguage(login.user.language);
            ctx.redirect(target);
          } catch (error) {
            if (error.code === "OTP_REQUIRED" || error.code === "OTP_INVALID") {
              otpField.hidden = false;
              otp.focus();
            } else {
              password.value = "";
              password.focus();
            }
            message.showError(error);
          }
        });
      },
    },
    message.element,
    field(t("field.email"), email),
    field(t("field.password"), password),
    otpField,
    h("div", { class: "form-actions" }, submit),
    h("p", { class: "forgot" }, h("a", { href: ctx.href("/forgot-password"), dataset: { action: "forgot-password" } }, t("auth.login.forgot"))),
  );
  main.append(
    pageHeader(t("auth.login.title")),
    h("p", { class: "lead" }, t("auth.login.intro")),
    form,
    h("div", { class: "language-picker" }, field(t("common.language"), languagePicker)),
  );
  email.focus();
}
