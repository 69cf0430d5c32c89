// The rendered invitation email inside the console: the HTML is rebuilt from an allowlist by
// core/safehtml.js (no innerHTML; inline styles through CSSOM, which the CSP allows; safe links only).

import { h } from "../../core/dom.js";
import { safeFragment } from "../../core/safehtml.js";

/** The body of an HTML email as console DOM nodes. */
export function emailBody(html) {
  return h("div", { class: "email-body" }, safeFragment(html));
}
