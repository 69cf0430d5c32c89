// Small DOM helpers. Text always goes in as text nodes (never innerHTML), and no element gets a
// style attribute: the page runs under a CSP without 'unsafe-inline'.

let counter = 0;

/** A fresh id for label/input pairs. */
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "selected", "multiple", "required", "readOnly"]);

/**
 * Create an element: h("button", { type: "button", onClick: fn }, "Save").
 * Attributes named on<Event> with a function become listeners; class, dataset and a few
 * properties (value, checked, disabled, ...) are set directly; false/null/undefined are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "style") throw new Error("Inline styles are not allowed under the console's CSP; use a class.");
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (PROPERTIES.has(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children: strings and numbers become text, arrays are flattened, null/false are skipped. */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace everything inside an element. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}
