// 9.2 Edit a user and 9.3 change another user's password: the details on the left, the new password (with
// the policy shown live) on the right, like the manual's "Edit user" screen.

import { h } from "../../core/dom.js";
import { formatDateTime, LANGUAGE_NAMES, LANGUAGES } from "../../core/i18n.js";
import {
  busy, button, checkbox, field, input, messageBox, pageHeader, passwordRules, select, separatorSelect,
} from "../../core/ui.js";
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
  const { t, session } = ctx;
  let current = user;
  const name = input({ name: "name", autocomplete: "off", value: user.name, required: true });
  const email = input({ type: "email", name: "email", autocomplete: "off", value: user.email, required: true });
  const orgOptions = orgs.map((o) => ({ value: o.id, label: o.name }));
  if (!orgOptions.some((o) => o.value === user.organisation.id)) orgOptions.push({ value: user.organisation.id, label: user.organisation.name });
  const organisation = select(orgOptions, { name: "organisationId", value: user.organisation.id });
  const roleBoxes = session.grantableRoles().map((role) =>
    checkbox(t(`role.${role}`), { name: "roles", value: role, checked: user.roles.includes(role) }),
  );
  const roles = h(
    "fieldset",
    { class: "field roles" },
    h("legend", {}, t("users.add.roles")),
    h("p", { class: "hint" }, t("users.add.rolesHint")),
    roleBoxes,
  );
  const userLanguage = select(LANGUAGES.map((l) => ({ value: l, label: LANGUAGE_NAMES[l] })), { name: "language", value: user.language });
  const delimiter = separatorSelect("delimiter", user.csvDelimiter, { name: "csvDelimiter" });
  const thousands = separatorSelect("thousands", user.csvThousandsSeparator, { name: "csvThousandsSeparator" });
  const active = checkbox(t("users.edit.active"), { name: "isActive", checked: user.isActive });
  const activeBox = active.querySelector("input");
  const message = messageBox();
  const submit = button(t("common.save"), { kind: "primary", type: "submit" });

  const form = h(
    "form",
    {
      class: "card user-form",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        const chosen = roleBoxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
        const missing = [[name, "field.name"], [email, "field.email"]].find(([el]) => !el.value.trim());
        if (missing) {
          message.show(t("error.BAD_USER_INPUT.field", { field: t(missing[1]) }), "error");
          missing[0].focus();
          return;
        }
        if (!chosen.length) {
          message.show(t("users.add.noRole"), "error");
          roleBoxes[0]?.querySelector("input").focus();
          return;
        }
        // Only what changed goes to the API (the audit log lists the changed fields).
        const changes = {};
        if (name.value.trim() !== current.name) changes.name = name.value.trim();
        const newEmail = email.value.trim().toLowerCase();
        if (newEmail !== current.email) changes.email = newEmail;
        if (organisation.value !== current.organisation.id) changes.organisationId = organisation.value;
        if ([...chosen].sort().join() !== [...current.roles].sort().join()) changes.roles = chosen;
        if (userLanguage.value !== current.language) changes.language = userLanguage.value;
        if (delimiter.value !== current.csvDelimiter) changes.csvDelimiter = delimiter.value;
        if (thousands.value !== current.csvThousandsSeparator) changes.csvThousandsSeparator = thousands.value;
        if (activeBox.checked !== current.isActive) changes.isActive = activeBox.checked;
        if (!Object.keys(changes).length) {
          message.show(t("users.edit.unchanged"), "info");
          return;
        }
        await busy(submit, async () => {
          try {
            const { updateUser } = await ctx.gql(UPDATE, { id: user.id, input: changes });
            current = updateUser;
            email.value = updateUser.email;
            const parts = [t("users.edit.saved", { name: updateUser.name })];
            if (changes.email) parts.push(t("users.edit.emailPending", { email: changes.email }));
            message.show(parts.join(" "), "success");
          } catch (error) {
            message.showError(error);
          }
        });
      },
    },
    h("h2", {}, t("users.edit.details")),
    message.element,
    field(t("field.name"), name),
    field(t("field.email"), email, { hint: t("users.edit.emailHint") }),
    field(t("field.organisationId"), organisation),
    roles,
    field(t("field.userLanguage"), userLanguage),
    field(t("field.csvDelimiter"), delimiter),
    field(t("field.csvThousandsSeparator"), thousands),
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
  const next = input({ type: "password", name: "newPassword", autocomplete: "new-password" });
  const confirm = input({ type: "password", name: "confirmPassword", autocomplete: "new-password" });
  const rules = passwordRules(next, { confirm, email: user.email });
  const message = messageBox();
  const submit = button(t("auth.password.submit"), { kind: "primary", type: "submit" });
  const form = h(
    "form",
    {
      class: "card user-password-form",
      novalidate: true,
      onSubmit: async (event) => {
        event.preventDefault();
        message.clear();
        if (!rules.ok()) {
          message.show(t("password.notYet"), "error");
          next.focus();
          return;
        }
        await busy(submit, async () => {
          try {
            await ctx.gql(SET_PASSWORD, { id: user.id, password: next.value });
            next.value = "";
            confirm.value = "";
            rules.update();
            message.show(t("users.password.done", { name: user.name }), "success");
          } catch (error) {
            message.showError(error);
            next.focus();
          }
        });
      },
    },
    h("h2", {}, t("auth.password.title")),
    h("p", { class: "hint" }, t("users.password.hint")),
    message.element,
    field(t("field.newPassword"), next),
    field(t("auth.password.confirm"), confirm),
    rules.element,
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
