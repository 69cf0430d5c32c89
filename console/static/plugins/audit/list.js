// The audit list: newest first, filtered by action (the filter auditEvents offers), keyset paging with
// "Show more", and the chain verification (verifyAuditLog, PLATFORM_ADMIN only).

import { h } from "../../core/dom.js";
import { formatNumber, locale } from "../../core/i18n.js";
import { replaceQuery } from "../../core/router.js";
import { busy, button, field, input, messageBox, moreList, pageHeader, table } from "../../core/ui.js";

const EVENTS = `query AuditEvents($action: String, $first: Int, $after: String) {
  auditEvents(action: $action, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id at actor action target details organisation { id name } } } }`;
const VERIFY = `query VerifyAuditLog { verifyAuditLog { ok eventsChecked firstBrokenEventId } }`;
const PAGE = 50;

/** Actions the service records (resolvers/*.py audit.record), offered as suggestions; any text works. */
export const ACTIONS = [
  "batch.accepted", "batch.created", "batch.take_refused", "batch.withdrawn", "devices.claimed",
  "devices.imported", "devices.labelled", "email_template.activated", "email_template.copied",
  "email_template.deleted", "email_template.test_sent", "email_template.updated", "invite.accepted",
  "invite.cancelled", "invite.created", "invite.sent", "invite.updated", "key.verified", "keys.downloaded", "keys.released",
  "login.failed", "login.succeeded", "logout", "mail.failed", "mail.sent", "organisation.created",
  "organisation.updated", "otp.disabled", "otp.enabled", "otp.reset", "partner.added", "partner.removed",
  "password.changed", "password.reset", "password.reset_requested", "password.set", "token.created",
  "token.revoked", "user.created", "user.email_change_requested", "user.email_confirmed", "user.updated",
];

/** Date and time to the second, in the language's format (audit events are often seconds apart). */
export function formatEventTime(value) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "medium" }).format(new Date(value));
}

export async function renderAudit(main, ctx) {
  const { t, query, session } = ctx;
  const suggestions = h("datalist", { id: "audit-actions" }, ACTIONS.map((a) => h("option", { value: a })));
  const action = input({ type: "search", name: "action", value: query.get("action") || "", placeholder: t("common.all"), list: "audit-actions", autocomplete: "off" });
  const message = messageBox();
  const verification = messageBox();
  let broken = null;

  const list = moreList({
    name: "audit",
    moreLabel: t("audit.more"),
    totalText: (count) => t("audit.total", { count }),
    message,
    className: "audit-table",
    fetch: async (after) => (await ctx.gql(EVENTS, { action: action.value.trim() || null, first: PAGE, after })).auditEvents,
    render: (nodes) =>
      table(
        [
          { label: t("audit.col.time"), cell: (e) => h("time", { datetime: e.at }, formatEventTime(e.at)), className: "nowrap" },
          { label: t("audit.col.actor"), cell: (e) => e.actor, className: "audit-actor" },
          { label: t("audit.col.organisation"), cell: (e) => e.organisation?.name || t("common.none") },
          { label: t("audit.col.action"), cell: (e) => h("code", {}, e.action), className: "nowrap" },
          { label: t("audit.col.target"), cell: (e) => (e.target ? h("code", {}, e.target) : t("common.none")), className: "audit-target" },
          { label: t("audit.col.details"), cell: (e) => (e.details && e.details !== "{}" ? h("code", { class: "audit-details" }, e.details) : t("common.none")) },
        ],
        nodes,
        {
          caption: t("audit.title"),
          empty: t("audit.none"),
          rowAttrs: (e) => ({ dataset: { event: e.id, action: e.action }, class: e.id === broken ? "audit-broken" : null }),
        },
      ),
  });

  const verify = session.can("VERIFY_AUDIT")
    ? button(t("audit.verify.button"), {
        kind: "primary",
        dataset: { action: "verify-audit" },
        onClick: (event) =>
          busy(event.currentTarget, async () => {
            verification.show(t("audit.verify.running"), "info");
            try {
              const { verifyAuditLog: result } = await ctx.gql(VERIFY);
              if (result.ok) {
                broken = null;
                verification.show(t("audit.verify.ok", { count: formatNumber(result.eventsChecked) }), "success");
              } else {
                broken = result.firstBrokenEventId;
                verification.show(
                  t("audit.verify.broken", { position: formatNumber(result.eventsChecked), id: result.firstBrokenEventId }),
                  "error",
                );
              }
              verification.element.dataset.result = result.ok ? "ok" : "broken";
              list.redraw();
            } catch (error) {
              verification.showError(error);
            }
          }),
      })
    : null;

  const filters = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": t("audit.filters"),
      onSubmit: (e) => {
        e.preventDefault();
        replaceQuery("/audit", { action: action.value.trim() });
        list.load(false);
      },
    },
    field(t("audit.filter.action"), action, { hint: t("audit.filter.actionHint") }),
    suggestions,
    h("div", { class: "form-actions" }, button(t("common.search"), { type: "submit" })),
  );
  verification.element.dataset.verification = "audit";
  main.classList.add("main-audit");
  main.append(
    pageHeader(t("audit.title"), verify),
    h("p", { class: "lead" }, t(session.can("SEE_ALL_ORGANISATIONS") ? "audit.scope.all" : session.can("MANAGE_USERS") ? "audit.scope.subtree" : "audit.scope.own")),
    verification.element,
    filters,
    message.element,
    list.rows,
    list.footer,
  );
  await list.load(false);
}
