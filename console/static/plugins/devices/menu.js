// A row's "⋮" menu: a button (aria-haspopup="menu") opening a list of menu items. Keyboard: Enter,
// Space or ArrowDown open it on the first item, ArrowUp/ArrowDown/Home/End move, Escape closes and
// returns to the button, Tab closes. A click outside closes it too.

import { h } from "../../core/dom.js";

let openMenu = null;

function closeOpen() {
  if (openMenu) openMenu.close(false);
}

document.addEventListener("click", (event) => {
  if (openMenu && !openMenu.element.contains(event.target)) closeOpen();
});

/**
 * rowMenu(label, items): items are { label, onSelect, href, id } (href: a link, e.g. to the device page).
 * Returns the wrapper element.
 */
export function rowMenu(label, items) {
  const list = h("ul", { class: "row-menu-list", role: "menu", "aria-label": label, hidden: true });
  const toggle = h(
    "button",
    { type: "button", class: "row-menu-button", "aria-haspopup": "menu", "aria-expanded": "false", "aria-label": label, title: label },
    h("span", { "aria-hidden": "true" }, "⋮"),
  );
  const wrapper = h("div", { class: "row-menu" }, toggle, list);
  const entries = items.map((item) => {
    const attrs = { role: "menuitem", tabindex: "-1", dataset: { item: item.id } };
    const el = item.href
      ? h("a", { ...attrs, href: item.href }, item.label)
      : h("button", { ...attrs, type: "button", class: "link" }, item.label);
    el.addEventListener("click", () => {
      menu.close(false);
      item.onSelect?.();
    });
    list.append(h("li", { role: "none" }, el));
    return el;
  });
  const focusAt = (index) => entries[(index + entries.length) % entries.length]?.focus();
  const menu = {
    element: wrapper,
    open(index = 0) {
      if (openMenu && openMenu !== menu) closeOpen();
      list.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      // The table scrolls sideways (overflow: auto), which would clip the open menu: let it overflow.
      wrapper.closest(".table-wrap")?.classList.add("menu-open");
      openMenu = menu;
      focusAt(index);
    },
    close(returnFocus = true) {
      list.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      wrapper.closest(".table-wrap")?.classList.remove("menu-open");
      if (openMenu === menu) openMenu = null;
      if (returnFocus) toggle.focus();
    },
  };
  toggle.addEventListener("click", (event) => {
    event.stopPropagation();
    if (list.hidden) menu.open(0);
    else menu.close();
  });
  toggle.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      menu.open(event.key === "ArrowDown" ? 0 : entries.length - 1);
    }
  });
  list.addEventListener("keydown", (event) => {
    const index = entries.indexOf(document.activeElement);
    if (event.key === "ArrowDown") focusAt(index + 1);
    else if (event.key === "ArrowUp") focusAt(index - 1);
    else if (event.key === "Home") focusAt(0);
    else if (event.key === "End") focusAt(entries.length - 1);
    else if (event.key === "Escape") menu.close();
    else if (event.key === "Tab") {
      menu.close(false);
      return;
    } else return;
    event.preventDefault();
  });
  return wrapper;
}
