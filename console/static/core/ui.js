// Shared widgets. Every input has a <label>; hints and errors are tied to it with aria-describedby.

import { h, replace, uid } from "./dom.js";
import { errorMessage } from "./graphql.js";
import { formatNumber, t } from "./i18n.js";

/** A labelled control: field(t("users.name"), input({ name: "name" })). */
export function field(label, control, { hint, className } = {}) {
  control.id ||= uid(control.name || "field");
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) {
    const described = [control.getAttribute("aria-describedby"), hintEl.id].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", described);
  }
  return h("div", { class: ["field", className] }, h("label", { for: control.id }, label), control, hintEl);
}

export function input(attrs = {}) {
  return h("input", { type: "text", ...attrs });
}

/** <select> from [{ value, label }]; `value` preselects. */
export function select(options, { value, ...attrs } = {}) {
  return h(
    "select",
    attrs,
    options.map((o) => h("option", { value: o.value, selected: String(o.value) === String(value ?? "") }, o.label)),
  );
}

/** A checkbox with its label after it. */
export function checkbox(label, attrs = {}) {
  const box = h("input", { type: "checkbox", id: attrs.id || uid("check"), ...attrs });
  return h("div", { class: "check" }, box, h("label", { for: box.id }, label));
}

export function button(label, { kind = "secondary", type = "button", onClick, ...attrs } = {}) {
  return h("button", { type, class: ["btn", `btn-${kind}`], onClick, ...attrs }, label);
}

/** A page heading that receives focus after navigation (tabindex -1). */
export function pageHeader(title, ...actions) {
  return h("header", { class: "page-header" }, h("h1", { tabindex: "-1" }, title), h("div", { class: "actions" }, actions));
}

/** A message area: show(text, "error" | "success" | "info"), showError(apiError), clear(). */
export function messageBox() {
  const el = h("div", { class: "message", hidden: true });
  return {
    element: el,
    show(content, kind = "info") {
      el.className = `message message-${kind}`;
      el.setAttribute("role", kind === "error" ? "alert" : "status");
      replace(el, content);
      el.hidden = false;
    },
    showError(error) {
      this.show(errorMessage(error), "error");
    },
    clear() {
      el.hidden = true;
      replace(el);
    },
  };
}

/**
 * A table. columns: [{ label, cell: (row) => node|string, className }]. `empty` is shown when
 * there are no rows.
 */
export function table(columns, rows, { caption, empty, rowAttrs } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.label))));
  const body = h(
    "tbody",
    {},
    rows.length
      ? rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map((c) => h("td", { class: c.className }, c.cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty || t("common.noResults"))),
  );
  return h("table", { class: "data" }, caption ? h("caption", { class: "sr-only" }, caption) : null, head, body);
}

/**
 * A list that grows by "Show more". `fetch(after)` returns a connection { nodes, pageInfo, totalCount };
 * `render(nodes)` draws every row loaded so far; `totalText(count)` words the formatted total (a
 * `data-total=<name>` element); a failed load is shown in `message`.
 * Returns { rows, footer (total and button, to place below the rows), load(append), redraw() }.
 */
export function moreList({ name, moreLabel, totalText, fetch, render, message, className }) {
  const total = h("p", { class: "total", "aria-live": "polite", dataset: { total: name } });
  const rows = h("div", { class: ["table-wrap", className] });
  const more = button(moreLabel, { hidden: true });
  let nodes = [];
  let cursor = null;
  const redraw = () => replace(rows, render(nodes));
  const load = async (append = false) => {
    message.clear();
    try {
      const page = await fetch(append ? cursor : null);
      nodes = append ? [...nodes, ...page.nodes] : page.nodes;
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      replace(total, totalText(formatNumber(page.totalCount)));
      redraw();
    } catch (error) {
      message.showError(error);
    }
  };
  more.addEventListener("click", () => busy(more, () => load(true)));
  return { rows, footer: h("div", { class: "list-footer" }, total, more), load, redraw };
}

/**
 * A list shown a page at a time with Previous / Next (keyset pages): `fetch(after)`, `render(nodes)`,
 * `totalText(count)`, `name` and `message` as for moreList, but `render` gets one page.
 * Returns { rows, footer (total and pager), load(), restart() (back to the first page) }.
 */
export function pagedList({ name, totalText, fetch, render, message }) {
  const total = h("p", { class: "total", "aria-live": "polite", dataset: { total: name } });
  const rows = h("div", { class: "table-wrap" });
  const pageLabel = h("span", { class: "page-number" });
  const previous = button(t("common.previous"), { disabled: true });
  const next = button(t("common.next"), { disabled: true });
  let cursors = [null];
  let endCursor = null;
  let latest = 0; // answers to overlapping loads (filters changed quickly) may arrive in any order: keep the last
  const load = async () => {
    message.clear();
    previous.disabled = true;
    next.disabled = true;
    const request = ++latest;
    try {
      const page = await fetch(cursors[cursors.length - 1]);
      if (request !== latest) return;
      replace(total, totalText(formatNumber(page.totalCount)));
      replace(rows, render(page.nodes));
      endCursor = page.pageInfo.endCursor;
      next.disabled = !page.pageInfo.hasNextPage;
      replace(pageLabel, t("common.page", { page: formatNumber(cursors.length) }));
    } catch (error) {
      if (request !== latest) return;
      message.showError(error);
    }
    previous.disabled = cursors.length === 1;
  };
  previous.addEventListener("click", () => {
    cursors.pop();
    return load();
  });
  next.addEventListener("click", () => {
    cursors.push(endCursor);
    return load();
  });
  const restart = () => {
    cursors = [null];
    return load();
  };
  const pager = h("nav", { class: "pager", "aria-label": t("common.paging") }, previous, pageLabel, next);
  return { rows, footer: h("div", { class: "list-footer" }, total, pager), load, restart };
}

/** Password rules shown live as the user types (crypto/passwords.py check_policy). */
export const PASSWORD_RULES = [
  { id: "length", test: (pw) => [...pw].length >= 12 },
  { id: "upper", test: (pw) => /\p{Lu}/u.test(pw) },
  { id: "lower", test: (pw) => /\p{Ll}/u.test(pw) },
  { id: "digit", test: (pw) => /\p{Nd}/u.test(pw) },
  { id: "special", test: (pw) => /[^\p{L}\p{N}]/u.test(pw) },
];

/**
 * The live checklist for a new password. `confirm` (optional) adds "both entries match"; `email`
 * (a string, or a function when the address is typed in the same form) adds "does not contain the
 * name in the account's email address". Returns { element, ok(), update() }.
 */
export function passwordRules(password, { confirm, email } = {}) {
  const rules = [...PASSWORD_RULES];
  const emailOf = typeof email === "function" ? email : () => email;
  const localPart = () => (emailOf() || "").split("@")[0].toLowerCase();
  if (email) rules.push({ id: "email", test: (pw) => localPart().length < 3 || !pw.toLowerCase().includes(localPart()) });
  if (confirm) rules.push({ id: "match", test: (pw) => pw.length > 0 && pw === confirm.value });
  const items = rules.map((rule) => {
    const state = h("span", { class: "sr-only" });
    const li = h("li", { dataset: { rule: rule.id, ok: "false" } }, h("span", { class: "mark", "aria-hidden": "true" }), t(`password.rule.${rule.id}`), state);
    return { rule, li, state };
  });
  const list = h("ul", { class: "password-rules", "aria-live": "polite", id: uid("rules") });
  const element = h("div", { class: "password-policy" }, h("p", { class: "hint" }, t("password.rules")), list);
  list.append(...items.map((i) => i.li));
  password.setAttribute("aria-describedby", list.id);
  const update = () => {
    for (const { rule, li, state } of items) {
      const ok = rule.test(password.value);
      li.dataset.ok = String(ok);
      state.textContent = ` (${ok ? t("password.met") : t("password.notMet")})`;
    }
  };
  password.addEventListener("input", update);
  confirm?.addEventListener("input", update);
  update();
  return { element, update, ok: () => rules.every((rule) => rule.test(password.value)) };
}

/**
 * The new-password block: the password input (name `name`), a confirmation input unless `confirm` is false,
 * and the live rules. `email` is as for passwordRules, or the form's email <input> (the rules follow it).
 * Returns { input, confirm, elements (to place in the form), check(message), clear() }.
 */
export function newPassword({ label = t("field.newPassword"), confirm = t("auth.password.confirm"), name = "newPassword", email, hint } = {}) {
  const password = input({ type: "password", name, autocomplete: "new-password" });
  const again = confirm ? input({ type: "password", name: "confirmPassword", autocomplete: "new-password" }) : null;
  const emailInput = email instanceof HTMLElement ? email : null;
  const rules = passwordRules(password, { confirm: again, email: emailInput ? () => emailInput.value : email });
  emailInput?.addEventListener("input", rules.update);
  return {
    input: password,
    confirm: again,
    elements: [field(label, password, { hint }), again && field(confirm, again), rules.element],
    /** False (with the reason shown in `message` and the focus on the password) until every rule is met. */
    check(message) {
      if (rules.ok()) return true;
      message.show(t("password.notYet"), "error");
      password.focus();
      return false;
    },
    clear() {
      password.value = "";
      if (again) again.value = "";
      rules.update();
    },
  };
}

/**
 * The first empty input of [[input, labelKey], ...] is named in `message` and focused; true when all are filled.
 */
export function filled(message, inputs) {
  const missing = inputs.find(([el]) => !el.value.trim());
  if (!missing) return true;
  message.show(t("error.BAD_USER_INPUT.field", { field: t(missing[1]) }), "error");
  missing[0].focus();
  return false;
}

/**
 * A form that runs `action` on submit: the message is cleared, `check()` (optional) may stop it, then
 * `action()` runs with the submit button disabled (busy); an error it throws is shown in `message` (in
 * the words of `errorText(error)` if given) and handed to `onError` (e.g. to move the focus). Other
 * attributes go to the <form>.
 */
export function actionForm({ submit, message, check, action, onError, errorText, ...attrs }, ...children) {
  const onSubmit = async (event) => {
    event.preventDefault();
    message.clear();
    if (check && !check()) return;
    await busy(submit, async () => {
      try {
        await action();
      } catch (error) {
        message.show(errorText ? errorText(error) : errorMessage(error), "error");
        onError?.(error);
      }
    });
  };
  return h("form", { novalidate: true, ...attrs, onSubmit }, ...children);
}

/** Disable a button while `work` runs, with aria-busy on the form; re-enables afterwards. */
export async function busy(buttonEl, work) {
  const form = buttonEl.form || buttonEl.closest("section, form");
  buttonEl.disabled = true;
  form?.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    buttonEl.disabled = false;
    form?.removeAttribute("aria-busy");
  }
}

/** CSV separator choices; a value set elsewhere (the API allows any single sign) stays as an extra option. */
export function separatorSelect(kind, value, attrs = {}) {
  const options =
    kind === "delimiter"
      ? [[";", "semicolon"], [",", "comma"], ["\t", "tab"], ["|", "bar"]]
      : [["", "none"], [".", "period"], [",", "comma"], [" ", "space"]];
  const list = options.map(([v, name]) => ({ value: v, label: t(`separator.${name}`) }));
  if (!list.some((o) => o.value === value)) list.push({ value, label: `“${value}”` });
  return select(list, { value, ...attrs });
}

/**
 * Ask once more in place before something that cannot be undone: `trigger` (a button) hides and, after
 * `placeAfter` (default: the trigger), a group with `question` and the buttons `yes` and `no` appears, "yes"
 * focused. "No" takes the question away and gives the focus back to the trigger; "yes" runs `action` (busy).
 * `yesData` and `noData` are the buttons' data attributes.
 */
export function confirmInPlace(trigger, { label, question, yes, no, yesData = {}, noData = {}, placeAfter = trigger, action }) {
  const yesButton = button(yes, { kind: "primary", dataset: yesData });
  const noButton = button(no, { dataset: noData });
  const prompt = h("div", { class: "confirm", role: "group", "aria-label": label }, h("p", {}, question), h("div", { class: "form-actions" }, yesButton, noButton));
  trigger.hidden = true;
  placeAfter.after(prompt);
  noButton.addEventListener("click", () => {
    prompt.remove();
    trigger.hidden = false;
    trigger.focus();
  });
  yesButton.addEventListener("click", () => busy(yesButton, action));
  yesButton.focus();
  return prompt;
}
