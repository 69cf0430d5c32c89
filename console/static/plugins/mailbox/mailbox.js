// The demo mailbox: the latest mails (time, recipient, subject), and one mail with its text part and
// its HTML part rebuilt from an allowlist (core/safehtml.js), links opening in a new tab.

import { h, replace } from "../../core/dom.js";
import { formatDateTime, formatNumber, tn } from "../../core/i18n.js";
import { busy, button, messageBox, pageHeader, select, field, table } from "../../core/ui.js";
import { mailView } from "../templates/widgets.js";

/** What the server said about mail delivery: "SMTP", "DEMO_MAILBOX" or null (not asked yet). */
export const transport = { value: null, asking: false };

const MAILBOX = `query DemoMailbox($first: Int) { mailTransport demoMailbox(first: $first) { id sentAt to subject } }`;
const MAIL = `query DemoMail($id: ID!) { demoMail(id: $id) { id sentAt to subject text html } }`;
const SIZES = [20, 50, 100];

export async function renderMailbox(main, ctx) {
  const { t, query } = ctx;
  const first = SIZES.includes(Number(query.get("first"))) ? Number(query.get("first")) : SIZES[0];
  const size = select(SIZES.map((n) => ({ value: n, label: formatNumber(n) })), { name: "first", value: first });
  const message = messageBox();
  const rows = h("div", { class: "table-wrap" });
  const count = h("p", { class: "total", "aria-live": "polite", dataset: { total: "mails" } });
  const refresh = button(t("mailbox.refresh"), { dataset: { action: "refresh" } });

  const load = async () => {
    message.clear();
    try {
      const data = await ctx.gql(MAILBOX, { first: Number(size.value) });
      transport.value = data.mailTransport;
      if (data.mailTransport === "SMTP") {
        message.show(t("mailbox.smtp"), "info");
        replace(rows);
        replace(count);
        return;
      }
      replace(count, tn("mailbox.count", data.demoMailbox.length));
      replace(
        rows,
        table(
          [
            { label: t("mailbox.col.time"), cell: (m) => h("time", { datetime: m.sentAt }, formatDateTime(m.sentAt)) },
            { label: t("mailbox.col.to"), cell: (m) => m.to },
            { label: t("mailbox.col.subject"), cell: (m) => h("a", { href: ctx.href(`/mailbox/${encodeURIComponent(m.id)}`) }, m.subject || t("mailbox.noSubject")) },
          ],
          data.demoMailbox,
          { caption: t("mailbox.title"), empty: t("mailbox.empty"), rowAttrs: (m) => ({ dataset: { mail: m.id, to: m.to } }) },
        ),
      );
    } catch (error) {
      message.showError(error);
    }
  };
  size.addEventListener("change", () => {
    ctx.redirect("/mailbox", { first: size.value });
  });
  refresh.addEventListener("click", () => busy(refresh, load));
  main.append(
    pageHeader(t("mailbox.title"), refresh),
    h("p", { class: "lead" }, t("mailbox.lead")),
    h("form", { class: "filters", onSubmit: (e) => e.preventDefault() }, field(t("mailbox.size"), size)),
    message.element,
    rows,
    h("div", { class: "list-footer" }, count),
  );
  await load();
}

export async function renderMail(main, ctx) {
  const { t } = ctx;
  const back = h("a", { class: "btn btn-secondary", href: ctx.href("/mailbox") }, t("mailbox.back"));
  const { demoMail: mail } = await ctx.gql(MAIL, { id: ctx.params.id });
  main.append(
    pageHeader(t("mailbox.mail.title"), back),
    h(
      "article",
      { class: "card mail", dataset: { mail: mail.id } },
      mailView({
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        meta: [
          [t("mailbox.col.time"), h("time", { datetime: mail.sentAt }, formatDateTime(mail.sentAt))],
          [t("mailbox.col.to"), mail.to],
        ],
      }),
    ),
  );
}
