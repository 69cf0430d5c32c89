// 10.6 Batch reference visualisation: the batch references the caller may see (addressed to or sent
// by its organisation and those below), filtered by reference, with TOTAL and keyset pages.

import { h } from "../../core/dom.js";
import { formatDateTime, formatNumber } from "../../core/i18n.js";
import { replaceQuery } from "../../core/router.js";
import { button, field, input, messageBox, pagedList, pageHeader, table } from "../../core/ui.js";
import { stateBadge } from "./common.js";

const BATCHES = `query BatchReferences($reference: String, $first: Int, $after: String) {
  batchReferences(reference: $reference, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id reference state label deviceCount createdAt organisation { id name } } } }`;
const PAGE = 50;

export async function renderBatches(main, ctx) {
  const { t, query, session, href } = ctx;
  const reference = input({ type: "search", name: "reference", value: query.get("reference") || "", placeholder: t("common.all") });
  const message = messageBox();

  const columns = [
    { label: t("batches.col.reference"), cell: (b) => h("a", { href: href(`/batches/${b.id}`) }, b.reference) },
    { label: t("batches.col.organisation"), cell: (b) => b.organisation.name },
    { label: t("batches.col.state"), cell: (b) => stateBadge(b.state) },
    { label: t("batches.col.label"), cell: (b) => b.label || t("common.none") },
    { label: t("batches.col.devices"), className: "number", cell: (b) => formatNumber(b.deviceCount) },
    { label: t("batches.col.createdAt"), cell: (b) => formatDateTime(b.createdAt) },
  ];

  const list = pagedList({
    name: "batches",
    totalText: (count) => t("batches.total", { count }),
    message,
    fetch: async (after) => (await ctx.gql(BATCHES, { reference: reference.value.trim() || null, first: PAGE, after })).batchReferences,
    render: (nodes) =>
      table(columns, nodes, {
        caption: t("batches.title"),
        empty: t("batches.empty"),
        rowAttrs: (b) => ({ dataset: { batch: b.reference } }),
      }),
  });
  const filters = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": t("batches.filters"),
      onSubmit: (e) => {
        e.preventDefault();
        replaceQuery("/batches", { reference: reference.value.trim() });
        list.restart();
      },
    },
    field(t("batches.filter.reference"), reference),
    h("div", { class: "form-actions" }, button(t("common.search"), { type: "submit" })),
  );
  const create = session.can("MANAGE_BATCHES")
    ? h("a", { class: "btn btn-primary", href: href("/batches/new"), dataset: { action: "create-batch" } }, t("batches.create.link"))
    : null;
  main.append(
    pageHeader(t("batches.title"), create),
    h("p", { class: "lead" }, t("batches.intro")),
    filters,
    message.element,
    list.rows,
    list.footer,
  );
  await list.load();
}
