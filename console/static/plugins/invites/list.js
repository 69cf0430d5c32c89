// The invite list: state, name, email, organisation, roles and expiry, newest first, more rows on request.
// The API lists invites without filters (Query.invites has only paging).

import { h } from "../../core/dom.js";
import { formatDateTime } from "../../core/i18n.js";
import { messageBox, moreList, pageHeader, table } from "../../core/ui.js";

const INVITES = `query Invites($first: Int, $after: String) {
  invites(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id name email state roles expiresAt organisation { id name } } } }`;
const PAGE = 50;

/** The state as a badge: PREPARED, SENT, ACCEPTED, CANCELLED or EXPIRED, in words. */
export function stateBadge(t, state) {
  return h("span", { class: ["badge", `badge-invite-${state.toLowerCase()}`], dataset: { state } }, t(`invites.state.${state}`));
}

export async function renderInvites(main, ctx) {
  const { t } = ctx;
  const message = messageBox();
  const list = moreList({
    name: "invites",
    moreLabel: t("invites.more"),
    totalText: (count) => t("invites.total", { count }),
    message,
    fetch: async (after) => (await ctx.gql(INVITES, { first: PAGE, after })).invites,
    render: (nodes) =>
      table(
        [
          { label: t("invites.col.state"), cell: (i) => stateBadge(t, i.state) },
          { label: t("invites.col.name"), cell: (i) => h("a", { href: ctx.href(`/invites/${i.id}`) }, i.name) },
          { label: t("invites.col.email"), cell: (i) => i.email || t("common.none") },
          { label: t("invites.col.organisation"), cell: (i) => i.organisation.name },
          { label: t("invites.col.roles"), cell: (i) => i.roles.map((r) => t(`role.${r}`)).join(", ") },
          { label: t("invites.col.expires"), cell: (i) => formatDateTime(i.expiresAt) },
        ],
        nodes,
        { caption: t("invites.title"), empty: t("invites.empty"), rowAttrs: (i) => ({ dataset: { invite: i.name } }) },
      ),
  });

  main.append(
    pageHeader(t("invites.title"), h("a", { class: "btn btn-primary", href: ctx.href("/invites/new"), dataset: { action: "add-invite" } }, t("invites.add.button"))),
    h("p", { class: "lead" }, t("invites.intro")),
    message.element,
    list.rows,
    list.footer,
  );
  await list.load(false);
}
