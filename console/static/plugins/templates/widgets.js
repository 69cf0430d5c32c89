// Widgets of the email template screens (also used by the demo mailbox): a keyboard-usable menu
// button (the row's "⋮"), a modal dialog, and the safe view of a rendered email.

import { h, uid } from "../../core/dom.js";
import { t } from "../../core/i18n.js";
import { safeFragment } from "../../core/safehtml.js";

/**
 * A menu button (WAI-ARIA menu button pattern): Enter, Space or ArrowDown opens the menu on its first
 * item, ArrowUp on its last; arrows, Home and End move; Escape closes and returns to the button; Tab
 * closes. items: [{ id, label, onSelect }].
 */
export function menuButton(label, items, { text = "⋮" } = {}) {
  const menuId = uid("menu");
  const trigger = h(
    "button",
    { type: "button", class: "btn btn-secondary tpl-menu-trigger", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": menuId, "aria-label": label, title: label },
    h("span", { "aria-hidden": "true" }, text),
  );
  const entries = items.map((item) =>
    h("button", { type: "button", role: "menuitem", tabindex: "-1", class: "tpl-menu-item", dataset: { action: item.id } }, item.label),
  );
  const list = h("div", { class: "tpl-menu-list", role: "menu", id: menuId, "aria-label": label, hidden: true }, entries);
  const wrap = h("div", { class: "tpl-menu" }, trigger, list);
  const isOpen = () => !list.hidden;
  const onOutside = (event) => {
    if (!wrap.contains(event.target)) close(false);
  };
  function open(index = 0) {
    list.hidden = false;
    trigger.setAttribute("aria-expanded", "true");
    document.addEventListener("pointerdown", onOutside, true);
    entries[(index + entries.length) % entries.length]?.focus();
  }
  function close(focusTrigger = true) {
    if (!isOpen()) return;
    list.hidden = true;
    trigger.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", onOutside, true);
    if (focusTrigger) trigger.focus();
  }
  trigger.addEventListener("click", () => (isOpen() ? close() : open(0)));
  trigger.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      open(0);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      open(-1);
    }
  });
  list.addEventListener("keydown", (event) => {
    const index = entries.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: entries.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      entries[(moves[event.key] + entries.length) % entries.length].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Tab") {
      close(false);
    }
  });
  entries.forEach((entry, i) =>
    entry.addEventListener("click", () => {
      close();
      items[i].onSelect(trigger);
    }),
  );
  return wrap;
}

/**
 * A modal <dialog> (focus stays inside; Escape closes). Returns { dialog, close }. The dialog is
 * removed when closed and the focus goes back to `returnFocus`.
 */
export function openDialog(container, { title, content, actions = [], className, returnFocus }) {
  const titleId = uid("dialog-title");
  const close = () => dialog.close();
  const dialog = h(
    "dialog",
    { class: ["dialog", className], "aria-labelledby": titleId },
    h("header", { class: "dialog-header" }, h("h2", { id: titleId }, title), h("button", { type: "button", class: "link dialog-close", onClick: close }, t("templates.close"))),
    h("div", { class: "dialog-body" }, content),
    actions.length ? h("div", { class: "form-actions dialog-actions" }, actions) : null,
  );
  dialog.addEventListener("close", () => {
    // The close event comes a moment after close(): if the user has moved on to another control by then
    // (the browser already gave the focus back to the opener), it is not taken away again.
    const moved = document.activeElement && document.activeElement !== document.body && !dialog.contains(document.activeElement);
    dialog.remove();
    if (returnFocus?.isConnected && !moved) returnFocus.focus();
  });
  container.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** A rendered email: subject, the HTML part as safe console elements, and the plain-text part. */
export function mailView({ subject, html, text, meta = [] }) {
  return h(
    "div",
    { class: "mail-view" },
    h(
      "dl",
      { class: "facts" },
      meta.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
      h("dt", {}, t("templates.preview.subject")),
      h("dd", { class: "mail-subject" }, subject),
    ),
    h("h3", {}, t("templates.preview.html")),
    h("div", { class: "mail-html", dataset: { part: "html" } }, safeFragment(html)),
    h("h3", {}, t("templates.preview.text")),
    h("pre", { class: "mail-text", dataset: { part: "text" } }, text),
  );
}
