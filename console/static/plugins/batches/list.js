// 10.6 Batch reference visualisation: the batch references the caller may see (addressed to or sent
// by its organisation and those below), with filters (reference, state, organisation addressed, label),
// TOTAL and keyset pages.

import { h } from "../../core/dom.js";
import { formatDateTime, formatNumber } from "../../core/i18n.js";
import { replaceQuery } from "../../core/router.js";
import { button, field, input, messageBox, pagedList, pageHeader, select, table } from "../../core/ui.js";
import { stateBadge } from "./common.js";

const BATCHES = `query BatchReferences($reference: String, $state: BatchState, $organisationId: ID, $label: String,
  $first: Int, $after: String) {
  batchReferences(reference: $reference, state: $state, organisationId: $organisationId, label: $label, first: $first,
    after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id reference state label deviceCount createdAt organisation { id name } } } }`;
const PAGE = 50;
// What a batch can be addressed to: the caller's organisations and its partners.
const ADDRESSEES = `query BatchAddressees { organisations(first: 500) { nodes { id name } } me { organisation { partners { id name } } } }`;
const STATES = ["PENDING_CONFIRMATION", "ACCEPTED", "WITHDRAWN"];

export async function renderBatches(main, ctx) {
  const { t, query, session, href } = ctx;
  const reference = input({ type: "search", name: "reference", value: query.get("reference") || "", placeholder: t("common.all") });
  const label = input({ type: "search", name: "label", value: query.get("label") || "", placeholder: t("common.all") });
  const state = select([{ value: "", label: t("common.all") }, ...STATES.map((s) => ({ value: s, label: t(`batches.state.${s}`) }))], {
    name: "state",
    value: STATES.includes(query.get("state")) ? query.get("state") : "",
  });
  const organisation = select([{ value: "", label: t("common.all") }], { name: "organisation" });
  // the address's organisation, until its option has loaded (the list does not wait for the options)
  let wantedOrganisation = query.get("organisation") || "";
  const variables = () => ({
    reference: reference.value.trim() || null,
    state: state.value || null,
    organisationId: organisation.value || wantedOrganisation || null,
    label: label.value.trim() || null,
  });
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
    fetch: async (after) => (await ctx.gql(BATCHES, { ...variables(), first: PAGE, after })).batchReferences,
    render: (nodes) =>
      table(columns, nodes, {
        caption: t("batches.title"),
        empty: t("batches.empty"),
        rowAttrs: (b) => ({ dataset: { batch: b.reference } }),
      }),
  });
  const apply = () => {
    const organisationId = organisation.value || wantedOrganisation; // (its option may not have loaded yet)
    replaceQuery("/batches", { reference: reference.value.trim(), state: state.value, organisation: organisationId, label: label.value.trim() });
    list.restart();
  };
  state.addEventListener("change", apply);
  organisation.addEventListener("change", () => {
    wantedOrganisation = organisation.value;
    apply();
  });
  const filters = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": t("batches.filters"),
      onSubmit: (e) => {
        e.preventDefault();
        apply();
      },
    },
    field(t("batches.filter.reference"), reference),
    field(t("batches.col.state"), state),
    field(t("batches.col.organisation"), organisation),
    field(t("batches.col.label"), label),
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
  // The organisation filter lists where batches can go; the list itself does not wait for it.
  ctx
    .gql(ADDRESSEES)
    .then(({ organisations, me }) => {
      const seen = new Set();
      const choices = [...organisations.nodes, ...me.organisation.partners].filter((o) => !seen.has(o.id) && seen.add(o.id));
      choices.sort((a, b) => a.name.localeCompare(b.name));
      organisation.append(...choices.map((o) => h("option", { value: o.id, selected: o.id === query.get("organisation") }, o.name)));
    })
    .catch((error) => message.showError(error));
  await list.load();
}
