// The rich-text editor of a template's HTML body: a contenteditable area with a toolbar (bold, italic,
// heading, bulleted and numbered list, link). The content comes in through safeFragment() and goes out
// through serialise(), so nothing outside the email allowlist survives; inline styles of the allowed CSS
// properties (a button's look, a grey footer) are kept, applied through CSSOM under the console's CSP.
// Pasting inserts plain text. Keyboard: Tab reaches the toolbar and the area; Ctrl+B / Ctrl+I work.

import { h, uid } from "../../core/dom.js";
import { t } from "../../core/i18n.js";
import { button, field, input, messageBox } from "../../core/ui.js";
import { safeFragment, safeHref, serialise } from "../../core/safehtml.js";
import { openDialog } from "./widgets.js";

const COMMANDS = [
  { id: "bold", command: "bold", state: () => document.queryCommandState("bold") },
  { id: "italic", command: "italic", state: () => document.queryCommandState("italic") },
  { id: "heading", state: () => document.queryCommandValue("formatBlock").toLowerCase() === "h2" },
  { id: "bullets", command: "insertUnorderedList", state: () => document.queryCommandState("insertUnorderedList") },
  { id: "numbers", command: "insertOrderedList", state: () => document.queryCommandState("insertOrderedList") },
  { id: "link" },
];

/** { element, area, html(), dirty(), setHtml(html), insertText(text) }; `label` names the area. */
export function richTextEditor(label, html) {
  const labelId = uid("rte-label");
  const area = h("div", {
    class: "rte-area",
    contenteditable: "true",
    role: "textbox",
    "aria-multiline": "true",
    "aria-labelledby": labelId,
    spellcheck: "true",
    dataset: { editor: "body" },
  });
  let range = null;
  let changed = false;

  const inside = (node) => node && area.contains(node);
  const remember = () => {
    if (!area.isConnected) {
      document.removeEventListener("selectionchange", remember);
      return;
    }
    const selection = document.getSelection();
    if (selection.rangeCount && inside(selection.anchorNode)) {
      range = selection.getRangeAt(0).cloneRange();
      updateStates();
    }
  };
  const restore = () => {
    area.focus();
    const selection = document.getSelection();
    if (range && inside(range.startContainer)) {
      selection.removeAllRanges();
      selection.addRange(range);
    } else if (!inside(selection.anchorNode)) {
      selection.selectAllChildren(area);
      selection.collapseToEnd();
    }
  };
  const exec = (command, value = null) => {
    restore();
    document.execCommand("styleWithCSS", false, false);
    document.execCommand("defaultParagraphSeparator", false, "p");
    document.execCommand(command, false, value);
    changed = true;
    remember();
  };

  const buttons = COMMANDS.map((c) =>
    h("button", { type: "button", class: "rte-button", dataset: { command: c.id }, "aria-pressed": c.state ? "false" : null, title: t(`templates.editor.${c.id}`) }, t(`templates.editor.${c.id}`)),
  );
  function updateStates() {
    COMMANDS.forEach((c, i) => {
      if (c.state) buttons[i].setAttribute("aria-pressed", String(Boolean(c.state())));
    });
  }
  COMMANDS.forEach((c, i) => {
    const el = buttons[i];
    el.addEventListener("mousedown", (event) => event.preventDefault()); // keep the selection in the area
    el.addEventListener("click", () => {
      if (c.id === "heading") exec("formatBlock", c.state() ? "p" : "h2");
      else if (c.id === "link") askLink(el);
      else exec(c.command);
    });
  });

  function askLink(opener) {
    const saved = range;
    const url = input({ type: "text", name: "url", inputmode: "url", autocomplete: "off" });
    const error = messageBox();
    const ok = button(t("templates.editor.linkApply"), { kind: "primary", type: "submit" });
    const cancel = button(t("common.cancel"));
    const form = h("form", { novalidate: true }, error.element, field(t("templates.editor.linkUrl"), url, { hint: t("templates.editor.linkHint") }), h("div", { class: "form-actions" }, ok, cancel));
    const { close } = openDialog(area.closest("main") || document.body, { title: t("templates.editor.linkTitle"), content: form, returnFocus: opener });
    cancel.addEventListener("click", close);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const href = safeHref(url.value, { template: true });
      if (!href) {
        error.show(t("templates.editor.linkInvalid"), "error");
        url.focus();
        return;
      }
      close();
      range = saved;
      exec("createLink", href);
    });
    url.focus();
  }

  // New lines become <p> (Chromium's default would be <div>).
  area.addEventListener("focus", () => document.execCommand("defaultParagraphSeparator", false, "p"));
  area.addEventListener("input", () => {
    changed = true;
  });
  area.addEventListener("paste", (event) => {
    event.preventDefault();
    const text = event.clipboardData?.getData("text/plain") || "";
    document.execCommand("insertText", false, text);
  });
  area.addEventListener("drop", (event) => event.preventDefault());
  area.addEventListener("keyup", updateStates);
  document.addEventListener("selectionchange", remember);

  function setHtml(value) {
    area.replaceChildren(safeFragment(value, { template: true }));
    changed = false;
    range = null;
  }
  setHtml(html);

  const element = h(
    "div",
    { class: "field rte" },
    h("span", { class: "label", id: labelId }, label),
    h("div", { class: "rte-toolbar", role: "toolbar", "aria-label": t("templates.editor.toolbar") }, buttons),
    area,
  );
  return {
    element,
    area,
    html: () => serialise(area),
    dirty: () => changed,
    setHtml,
    /** Insert text at the last cursor position in the area (the end if there was none). */
    insertText(text) {
      exec("insertText", text);
    },
  };
}
