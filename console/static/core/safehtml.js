// Email HTML shown inside the console without ever handing server HTML to the page as markup:
// DOMParser builds an inert document (no script runs, nothing loads), and only allowed elements and
// attributes are copied into new console elements. Inline styles are kept, but only the CSS properties
// the server keeps: the console's CSP forbids style attributes in markup and through setAttribute, so
// each declaration is applied through CSSOM (el.style.setProperty), which the CSP allows. Links may
// only be http(s) or mailto and open in a new tab without a referrer.
// serialise() turns the rich-text editor's DOM back into HTML with the same allowlist (styles included).

const ALLOWED = new Set(
  ("p br hr div span strong em b i u s small sub sup a ul ol li h1 h2 h3 blockquote code pre " +
    "table thead tbody tfoot tr td th caption").split(" "),
);
const VOID = new Set(["br", "hr"]);
// Dropped with everything inside; any other unknown element is unwrapped (its content stays).
const DROPPED = new Set([
  "script", "style", "head", "title", "template", "noscript", "iframe", "frame", "object", "embed", "svg",
  "math", "form", "input", "button", "select", "textarea", "img", "video", "audio", "canvas", "link", "meta",
]);
// Mirrors _HTML_ATTRIBUTES in resolvers/email_rendering.py ("style" is handled through STYLE_PROPERTIES).
const CELL = ["colspan", "rowspan", "align", "valign", "width"];
const ATTRIBUTES = { a: ["href", "title"], td: CELL, th: CELL, table: ["width", "align", "cellpadding", "cellspacing", "border", "role"] };
const ATTRIBUTE_VALUES = {
  colspan: /^\d{1,3}$/,
  rowspan: /^\d{1,3}$/,
  cellpadding: /^\d{1,3}$/,
  cellspacing: /^\d{1,3}$/,
  border: /^\d{1,2}$/,
  width: /^\d{1,4}%?$/,
  align: /^(left|center|right|justify)$/i,
  valign: /^(top|middle|bottom|baseline)$/i,
  role: /^(presentation|none)$/,
};
// The CSS properties an inline style may set. Mirrors _STYLE_PROPERTIES in resolvers/email_rendering.py:
// keep both lists equal (the server filters again when a body is stored and when a mail is rendered).
export const STYLE_PROPERTIES = Object.freeze(
  ("color background-color font-family font-size font-weight font-style line-height text-align " +
    "text-decoration vertical-align display width max-width margin margin-top margin-bottom padding " +
    "padding-top padding-bottom padding-left padding-right border border-top border-bottom " +
    "border-radius").split(" "),
);
const STYLE_ALLOWED = new Set(STYLE_PROPERTIES);
// When a shorthand serialises to a value, its longhands in the list are already part of it.
const COVERED_BY = {
  margin: ["margin-top", "margin-bottom"],
  padding: ["padding-top", "padding-bottom", "padding-left", "padding-right"],
  border: ["border-top", "border-bottom"],
};
// Where the parser puts a tag's style attribute (see withoutStyles).
const STYLE_DATA = "data-kms-style";
const SCHEMES = ["http:", "https:", "mailto:"];
const PLACEHOLDER_HREF = /^\{\{\s*[a-z_]+\s*\}\}/;
const SCHEME_PREFIX = /^(https?:|mailto:)/i;

/** A link target worth keeping: http(s)/mailto, or (in templates) a single {{ placeholder }}. */
export function safeHref(value, { template = false } = {}) {
  const href = (value || "").trim();
  // In a template, a link may start with a placeholder or carry one; the server checks both.
  if (template && (PLACEHOLDER_HREF.test(href) || (href.includes("{{") && SCHEME_PREFIX.test(href)))) return href;
  try {
    const url = new URL(href);
    return SCHEMES.includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function copyChildren(source, target, options) {
  for (const node of source.childNodes) {
    const copy = copyNode(node, options);
    if (copy) target.append(copy);
  }
  return target;
}

/** A style attribute's declarations: split at ";" outside quotes and brackets. */
function declarations(text) {
  const parts = [];
  let current = "";
  let quote = null;
  let depth = 0;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === "(") {
      depth += 1;
    } else if (ch === ")") {
      depth = Math.max(0, depth - 1);
    } else if (ch === ";" && depth === 0) {
      parts.push(current);
      current = "";
      continue;
    }
    current += ch;
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter(Boolean);
}

// The declarations as written in the source, for elements whose style has not changed since (so an
// edit keeps "#0b5cad" instead of the browser's "rgb(11, 92, 173)").
const SOURCE_STYLE = new WeakMap();

/** Apply the allowed declarations of `text` to `el` through CSSOM, never as a style attribute. */
function applyStyle(el, text) {
  const kept = [];
  for (const declaration of declarations(text)) {
    const colon = declaration.indexOf(":");
    if (colon < 1) continue;
    const name = declaration.slice(0, colon).trim().toLowerCase();
    let value = declaration.slice(colon + 1).trim();
    let priority = "";
    const important = /!\s*important$/i.exec(value);
    if (important) {
      priority = "important";
      value = value.slice(0, important.index).trim();
    }
    // None of the allowed properties takes a URL; refuse them (and escapes) anyway, nothing may load.
    if (!STYLE_ALLOWED.has(name) || !value || /url\(|\\|expression|image-set/i.test(value)) continue;
    if (!CSS.supports(name, value)) continue;
    el.style.setProperty(name, value, priority);
    kept.push(`${name}:${value}${priority ? " !important" : ""}`);
  }
  if (kept.length) SOURCE_STYLE.set(el, { text: kept.join(";"), css: el.style.cssText });
}

/** The allowed declarations of an element's inline style as the text of a style attribute ("" if none). */
function styleText(el) {
  const style = el.style;
  if (!style || !style.length) return "";
  const source = SOURCE_STYLE.get(el);
  if (source && source.css === style.cssText) return source.text;
  const covered = new Set();
  const kept = [];
  for (const name of STYLE_PROPERTIES) {
    if (covered.has(name)) continue;
    const value = style.getPropertyValue(name);
    if (!value || /url\(|\\|expression|image-set/i.test(value)) continue;
    for (const longhand of COVERED_BY[name] || []) covered.add(longhand);
    kept.push(`${name}:${value}${style.getPropertyPriority(name) ? " !important" : ""}`);
  }
  return kept.join(";");
}

function copyNode(node, options) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.data);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const tag = node.localName;
  if (DROPPED.has(tag)) return null;
  if (!ALLOWED.has(tag)) return copyChildren(node, document.createDocumentFragment(), options);
  const el = document.createElement(tag);
  for (const name of ATTRIBUTES[tag] || []) {
    const value = node.getAttribute(name);
    if (value === null) continue;
    if (name === "href") {
      const href = safeHref(value, options);
      if (!href) continue;
      el.setAttribute("href", href);
      if (!options.template) {
        el.setAttribute("target", "_blank");
        el.setAttribute("rel", "noopener noreferrer");
      }
    } else if (ATTRIBUTE_VALUES[name]) {
      if (ATTRIBUTE_VALUES[name].test(value.trim())) el.setAttribute(name, value.trim());
    } else {
      el.setAttribute(name, value);
    }
  }
  const style = node.getAttribute(STYLE_DATA);
  if (style) applyStyle(el, style);
  return VOID.has(tag) ? el : copyChildren(node, el, options);
}

// Parsing would make the browser evaluate style attributes and <style> blocks against the page's CSP
// (and report each as a violation), so <style> blocks are cut out and each tag's style attribute is
// renamed to data-kms-style first; copyNode() applies its allowed declarations through CSSOM. This is
// only about the reports: what is copied is decided by the allowlist walk above, whatever the string holds.
const TAG = /<[a-zA-Z][^\s/>]*(?:\s+[^\s/>"'=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*\/?>/g;
// A quoted value is matched whole (and kept), so only a real attribute name "style" is renamed.
const STYLE_ATTRIBUTE = /("[^"]*"|'[^']*')|(\s)style(\s*=)/gi;
const STYLE_BLOCK = /<style\b[\s\S]*?(?:<\/style\s*>|$)/gi;

function withoutStyles(html) {
  return html.replace(STYLE_BLOCK, "").replace(TAG, (tag) =>
    tag.replace(STYLE_ATTRIBUTE, (match, quoted, space, equals) => quoted || `${space}${STYLE_DATA}${equals}`),
  );
}

/**
 * A DocumentFragment of console elements for an HTML string (a whole document or a fragment).
 * `template: true` keeps {{ placeholder }} links as written and adds no target (the editor).
 */
export function safeFragment(html, { template = false } = {}) {
  const parsed = new DOMParser().parseFromString(withoutStyles(String(html || "")), "text/html");
  return copyChildren(parsed.body, document.createDocumentFragment(), { template });
}

const escapeText = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\u00a0/g, "&nbsp;");
const escapeAttribute = (text) => escapeText(text).replace(/"/g, "&quot;");

function serialiseNode(node) {
  if (node.nodeType === Node.TEXT_NODE) return escapeText(node.data);
  if (node.nodeType !== Node.ELEMENT_NODE) return "";
  const tag = node.localName;
  if (DROPPED.has(tag)) return "";
  const inner = [...node.childNodes].map(serialiseNode).join("");
  if (!ALLOWED.has(tag)) return inner;
  let attributes = "";
  for (const name of ATTRIBUTES[tag] || []) {
    const value = node.getAttribute(name);
    if (value === null) continue;
    const kept = name === "href" ? safeHref(value, { template: true }) : value;
    if (kept) attributes += ` ${name}="${escapeAttribute(kept)}"`;
  }
  const style = styleText(node);
  if (style) attributes += ` style="${escapeAttribute(style)}"`;
  if (VOID.has(tag)) return `<${tag}${attributes}>`;
  // The editor's inline formatting may leave bare <span>s behind; they mean nothing without a style.
  if (tag === "span" && !attributes) return inner;
  return `<${tag}${attributes}>${inner}</${tag}>`;
}

/** The HTML of an element's content, restricted to the allowlist (allowed inline styles, no class, no script). */
export function serialise(root) {
  return [...root.childNodes].map(serialiseNode).join("");
}
