// 9.2 Edit a user and 9.3 change another user's password: the details on the left, the new password (with
// the policy shown live) on the right, like the manual's "Edit user" screen.

import { h } from "../../core/dom.js";
import { formatDateTime } from "../../core/i18n.js";
import { actionForm, busy, button, checkbox, field, filled, input, messageBox, newPassword, pageHeader, select } from "../../core/ui.js";
import { csvFields, languageSelect, roleChoice } from "../../core/userform.js";
import { loadOrganisations } from "./list.js";

const USER_FIELDS = `id name email roles language csvDelimiter csvThousandsSeparator isActive mustChangePassword otpEnabled
  lastLoginAt organisation { id name }`;
const USER = `query User($id: ID!) { user(id: $id) { ${USER_FIELDS} } }`;
const UPDATE = `mutation UpdateUser($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { ${USER_FIELDS} } }`;
const SET_PASSWORD = `mutation SetUserPassword($id: ID!, $password: String!) {
  setUserPassword(id: $id, newPassword: $password) { id mustChangePassword } }`;
const RESET_OTP = `mutation ResetUserOtp($id: ID!) { resetUserOtp(id: $id) { id otpEnabled } }`;

export async function renderEditUser(main, ctx) {
  const { t, session, params } = ctx;
  if (params.id === session.user.id) {
    // Nobody changes their own roles or organisation; the profile has what a user may change.
    ctx.redirect("/profile");
    return;
  }
  const [{ user }, orgs] = await Promise.all([ctx.gql(USER, { id: params.id }), loadOrganisations(ctx)]);
  if (!user) {
    main.append(pageHeader(t("users.edit.title")), h("p", { class: "message message-error", role: "alert" }, t("error.NOT_FOUND")));
    return;
  }
  const grantable = session.grantableRoles();
  const editable = user.roles.every((role) => grantable.includes(role));
  const back = h("a", { class: "btn btn-secondary", href: ctx.href("/users") }, t("users.edit.back"));
  main.append(pageHeader(t("users.edit.title"), back), h("p", { class: "lead", dataset: { fact: "user" } }, `${user.name} · ${user.email}`));
  if (!editable) {
    main.append(h("p", { class: "message message-info", role: "status" }, t("users.edit.higherRole")));
  }
  main.append(
    h(
      "div",
      { class: "columns" },
      detailsForm(ctx, user, orgs, editable),
      h("div", { class: "stack" }, passwordSection(ctx, user, editable), otpSection(ctx, user, editable)),
    ),
  );
  if (editable) main.querySelector("form input")?.focus();
}

function detailsForm(ctx, user, orgs, editable) {
  const { t } = ctx;
  let current = user;
  const name = input({ name: "name", autocomplete: "off", value: user.name, required: true });
  const email = input({ type: "email", name: "email", autocomplete: "off", value: user.email, required: true });
  const orgOptions = orgs.map((o) => ({ value: o.id, label: o.name }));
  if (!orgOptions.some((o) => o.value === user.organisation.id)) orgOptions.push({ value: user.organisation.id, label: user.organisation.name });
  const organisation = select(orgOptions, { name: "organisationId", value: user.organisation.id });
  const roles = roleChoice(user.roles);
  const userLanguage = languageSelect(user.language);
  const csv = csvFields(user.csvDelimiter, user.csvThousandsSeparator);
  const active = checkbox(t("users.edit.active"), { name: "isActive", checked: user.isActive });
  const activeBox = active.querySelector("input");
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });

  // Only what changed goes to the API (the audit log lists the changed fields).
  const changes = () => {
    const chosen = roles.chosen();
    const result = {};
    if (name.value.trim() !== current.name) result.name = name.value.trim();
    const newEmail = email.value.trim().toLowerCase();
    if (newEmail !== current.email) result.email = newEmail;
    if (organisation.value !== current.organisation.id) result.organisationId = organisation.value;
    if ([...chosen].sort().join() !== [...current.roles].sort().join()) result.roles = chosen;
    if (userLanguage.value !== current.language) result.language = userLanguage.value;
    if (csv.delimiter.value !== current.csvDelimiter) result.csvDelimiter = csv.delimiter.value;
    if (csv.thousands.value !== current.csvThousandsSeparator) result.csvThousandsSeparator = csv.thousands.value;
    if (activeBox.checked !== current.isActive) result.isActive = activeBox.checked;
    return result;
  };

  const form = actionForm(
    {
      class: "card user-form",
      submit,
      message,
      check: () => {
        if (!filled(message, [[name, "field.name"], [email, "field.email"]]) || !roles.check(message)) return false;
        if (Object.keys(changes()).length) return true;
        message.show(t("users.edit.unchanged"), "info");
        return false;
      },
      action: async () => {
        const updates = changes();
        const { updateUser } = await ctx.gql(UPDATE, { id: user.id, input: updates });
        current = updateUser;
        email.value = updateUser.email;
        const parts = [t("users.edit.saved", { name: updateUser.name })];
        if (updates.email) parts.push(t("users.edit.emailPending", { email: updates.email }));
        message.show(parts.join(" "), "success");
      },
    },
    h("h2", {}, t("users.edit.details")),
    message.element,
    field(t("field.name"), name),
    field(t("field.email"), email, { hint: t("users.edit.emailHint") }),
    field(t("field.organisationId"), organisation),
    roles.element,
    field(t("field.userLanguage"), userLanguage),
    csv.elements,
    active,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("users.edit.lastLogin")),
      h("dd", { dataset: { fact: "lastLogin" } }, user.lastLoginAt ? formatDateTime(user.lastLoginAt) : t("users.edit.never")),
    ),
    h("div", { class: "form-actions" }, submit),
  );
  if (!editable) for (const el of form.querySelectorAll("input, select, button")) el.disabled = true;
  return form;
}

function passwordSection(ctx, user, editable) {
  const { t } = ctx;
  const password = newPassword({ email: user.email });
  const message = messageBox();
  const submit = button(t("auth.password.submit"), { kind: "primary", type: "submit" });
  const form = actionForm(
    {
      class: "card user-password-form",
      submit,
      message,
      check: () => password.check(message),
      action: async () => {
        await ctx.gql(SET_PASSWORD, { id: user.id, password: password.input.value });
        password.clear();
        message.show(t("users.password.done", { name: user.name }), "success");
      },
      onError: () => password.input.focus(),
    },
    h("h2", {}, t("auth.password.title")),
    h("p", { class: "hint" }, t("users.password.hint")),
    message.element,
    password.elements,
    h("div", { class: "form-actions" }, submit),
  );
  if (!editable) for (const el of form.querySelectorAll("input, button")) el.disabled = true;
  return form;
}

/** Two-factor state; an admin removes a lost factor (the user sets it up again in the profile). */
function otpSection(ctx, user, editable) {
  const { t } = ctx;
  const message = messageBox();
  const state = h("p", { class: "otp-state", dataset: { otp: user.otpEnabled ? "on" : "off" } });
  const reset = button(t("users.otp.reset"), { kind: "danger", dataset: { action: "reset-otp" } });
  const show = (enabled) => {
    state.dataset.otp = enabled ? "on" : "off";
    state.textContent = enabled ? t("users.otp.on") : t("users.otp.off");
    reset.hidden = !enabled || !editable;
  };
  reset.addEventListener("click", () =>
    busy(reset, async () => {
      message.clear();
      try {
        const { resetUserOtp } = await ctx.gql(RESET_OTP, { id: user.id });
        show(resetUserOtp.otpEnabled);
        message.show(t("users.otp.done", { name: user.name }), "success");
      } catch (error) {
        message.showError(error);
      }
    }),
  );
  show(user.otpEnabled);
  return h("section", { class: "card user-otp" }, h("h2", {}, t("auth.otp.title")), message.element, state, reset);
}
