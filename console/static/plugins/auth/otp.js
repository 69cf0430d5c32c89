// Profile > Two-factor authentication: set up a TOTP app (password again, the secret shown once, a first
// code to turn it on) and turn it off (password and a current code). The login asks for the code then.

import { h, replace } from "../../core/dom.js";
import { ME_FIELDS, session } from "../../core/session.js";
import { actionForm, button, field, input, messageBox } from "../../core/ui.js";

const START = `mutation StartOtpSetup($password: String!) { startOtpSetup(password: $password) { secret uri } }`;
const CONFIRM = `mutation ConfirmOtpSetup($code: String!) { confirmOtpSetup(code: $code) { ${ME_FIELDS} } }`;
const DISABLE = `mutation DisableOtp($password: String!, $code: String!) {
  disableOtp(password: $password, code: $code) { ${ME_FIELDS} } }`;

const codeInput = () => input({ name: "otpCode", autocomplete: "one-time-code", inputmode: "numeric", maxlength: "7" });
const passwordInput = () => input({ type: "password", name: "otpPassword", autocomplete: "current-password" });

/** The two-factor card of the profile page; redraws itself after each step. */
export function otpSection(ctx) {
  const { t } = ctx;
  const section = h("section", { class: "card otp-section", "aria-labelledby": "otp-title" });
  const message = messageBox();

  const header = () => [
    h("h2", { id: "otp-title" }, t("auth.otp.title")),
    h(
      "p",
      { class: "otp-state", dataset: { otp: session.user.otpEnabled ? "on" : "off" } },
      session.user.otpEnabled ? t("auth.otp.on") : t("auth.otp.off"),
    ),
    message.element,
  ];

  const done = (user, text) => {
    session.set(user);
    draw();
    message.show(text, "success");
  };

  // Step 1: the password again, then the secret for the app.
  const drawStart = () => {
    const password = passwordInput();
    const submit = button(t("auth.otp.setUp"), { kind: "primary", type: "submit" });
    replace(
      section,
      header(),
      h("p", { class: "hint" }, t("auth.otp.explain")),
      actionForm(
        {
          submit,
          message,
          action: async () => {
            const { startOtpSetup } = await ctx.gql(START, { password: password.value });
            drawConfirm(startOtpSetup);
          },
        },
        field(t("auth.otp.password"), password),
        h("div", { class: "form-actions" }, submit),
      ),
    );
  };

  // Step 2: the secret (shown once) and the first code from the app.
  const drawConfirm = (setup) => {
    const code = codeInput();
    const submit = button(t("auth.otp.turnOn"), { kind: "primary", type: "submit" });
    replace(
      section,
      header(),
      h("ol", { class: "otp-steps" },
        h("li", {}, t("auth.otp.step.app")),
        h("li", {}, t("auth.otp.step.secret"), " ",
          h("code", { class: "otp-secret", dataset: { otpSecret: setup.secret } }, setup.secret.replace(/(.{4})/g, "$1 ").trim()),
          " ", h("a", { href: setup.uri, class: "otp-link" }, t("auth.otp.openApp"))),
        h("li", {}, t("auth.otp.step.code"))),
      actionForm(
        {
          submit,
          message,
          action: async () => {
            const { confirmOtpSetup } = await ctx.gql(CONFIRM, { code: code.value.trim() });
            done(confirmOtpSetup, t("auth.otp.enabled"));
          },
          onError: () => code.focus(),
        },
        field(t("auth.otp.code"), code),
        h("div", { class: "form-actions" }, submit, button(t("common.cancel"), { onClick: () => draw() })),
      ),
    );
    code.focus();
  };

  // Turning it off: password and a current code.
  const drawDisable = () => {
    const password = passwordInput();
    const code = codeInput();
    const submit = button(t("auth.otp.turnOff"), { kind: "danger", type: "submit" });
    replace(
      section,
      header(),
      actionForm(
        {
          submit,
          message,
          action: async () => {
            const { disableOtp } = await ctx.gql(DISABLE, { password: password.value, code: code.value.trim() });
            done(disableOtp, t("auth.otp.disabled"));
          },
        },
        field(t("auth.otp.password"), password),
        field(t("auth.otp.code"), code),
        h("div", { class: "form-actions" }, submit),
      ),
    );
  };

  const draw = () => (session.user.otpEnabled ? drawDisable() : drawStart());
  draw();
  return section;
}
