// Fields shared by the forms that describe an account (9.1 add user, 9.2 edit user and profile, 9.4 add invite):
// the roles to grant, the language and the CSV separators.

import { h } from "./dom.js";
import { LANGUAGE_NAMES, LANGUAGES, t } from "./i18n.js";
import { session } from "./session.js";
import { checkbox, field, select, separatorSelect } from "./ui.js";

/**
 * Checkboxes for the roles the signed-in user may grant (`checked` are ticked), in a fieldset.
 * Returns { element, boxes, chosen(), check(message) }; check() asks for at least one role.
 */
export function roleChoice(checked = []) {
  const boxes = session.grantableRoles().map((role) =>
    checkbox(t(`role.${role}`), { name: "roles", value: role, checked: checked.includes(role) }).querySelector("input"),
  );
  const element = h(
    "fieldset",
    { class: "field roles" },
    h("legend", {}, t("users.add.roles")),
    h("p", { class: "hint" }, t("users.add.rolesHint")),
    boxes.map((box) => box.parentElement),
  );
  const chosen = () => boxes.filter((box) => box.checked).map((box) => box.value);
  const check = (message) => {
    if (chosen().length) return true;
    message.show(t("users.add.noRole"), "error");
    boxes[0]?.focus();
    return false;
  };
  return { element, boxes, chosen, check };
}

/** The user's language. */
export function languageSelect(value) {
  return select(LANGUAGES.map((l) => ({ value: l, label: LANGUAGE_NAMES[l] })), { name: "language", value });
}

/** The CSV column separator and thousands separator (`hint` below both): { delimiter, thousands, elements }. */
export function csvFields(delimiterValue, thousandsValue, { hint } = {}) {
  const delimiter = separatorSelect("delimiter", delimiterValue, { name: "csvDelimiter" });
  const thousands = separatorSelect("thousands", thousandsValue, { name: "csvThousandsSeparator" });
  return {
    delimiter,
    thousands,
    elements: [field(t("field.csvDelimiter"), delimiter), field(t("field.csvThousandsSeparator"), thousands, { hint })],
  };
}
