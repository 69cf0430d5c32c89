// A changed email address takes effect with the link mailed to it: /confirm-email?token=… opens
// #/confirm-email?token=…, which confirms at once (confirmEmail) and shows the result.

import { h, replace } from "../../core/dom.js";
import { pageHeader } from "../../core/ui.js";
import { linkError } from "./signup.js";

const CONFIRM = `mutation ConfirmEmail($token: String!) { confirmEmail(token: $token) }`;

export async function renderConfirmEmail(main, ctx) {
  const { t, session } = ctx;
  const token = (ctx.query.get("token") || "").trim();
  const result = h("div", { class: "confirm-result", "aria-live": "polite" }, h("p", { class: "progress" }, t("auth.confirm.working")));
  const next = h("p", {}, h("a", { href: ctx.href(session.loggedIn ? ctx.homePath() : "/login") }, t(session.loggedIn ? "page.home" : "auth.confirm.login")));
  main.append(pageHeader(t("auth.confirm.title")), result, next);
  if (!token) {
    replace(result, h("p", { class: "message message-error", role: "alert" }, t("auth.confirm.tokenInvalid")));
    return;
  }
  try {
    await ctx.gql(CONFIRM, { token });
    if (session.loggedIn) await session.load(); // the address shown in the account may be this one
    replace(result, h("p", { class: "message message-success", role: "status", dataset: { fact: "emailConfirmed" } }, t("auth.confirm.done")));
  } catch (error) {
    replace(result, h("p", { class: "message message-error", role: "alert" }, linkError(ctx, error, "auth.confirm.tokenInvalid")));
  }
}
