// A batch reference's page (#/batches/:id): its details and its devices, a page at a time. While a
// batch awaits confirmation, its devices stay with the sender: the addressed organisation sees none.

import { h, replace } from "../../core/dom.js";
import { formatDateTime, formatNumber } from "../../core/i18n.js";
import { button, messageBox, pageHeader, table } from "../../core/ui.js";
import { catalogLink, stateBadge } from "./common.js";

const BATCH = `query BatchReference($id: ID!, $first: Int, $after: String) {
  batchReference(id: $id) {
    id reference label state requiresConfirmation deviceCount createdAt organisation { id name }
    devices(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id serialNumber claimStatus labels deviceType { id name } } } } }`;
const PAGE = 50;

export async function renderBatch(main, ctx) {
  const { t, href, session } = ctx;
  const header = pageHeader(t("batches.batch.title"));
  const facts = h("dl", { class: "facts" });
  const message = messageBox();
  const rows = h("div", { class: "table-wrap" });
  const total = h("p", { class: "total", "aria-live": "polite", dataset: { total: "batch-devices" } });
  const pageLabel = h("span", { class: "page-number" });
  const previous = button(t("common.previous"), { disabled: true });
  const next = button(t("common.next"), { disabled: true });
  const links = h("p", { class: "batch-links" });
  let cursors = [null];
  let endCursor = null;

  const columns = [
    { label: t("batches.col.serial"), cell: (d) => d.serialNumber },
    { label: t("batches.col.type"), cell: (d) => d.deviceType.name },
    {
      label: t("batches.col.claimStatus"),
      cell: (d) => h("span", { class: `badge badge-${d.claimStatus.toLowerCase()}`, dataset: { status: d.claimStatus } }, t(`batches.claim.${d.claimStatus}`)),
    },
    { label: t("batches.col.labels"), cell: (d) => (d.labels.length ? d.labels.join(", ") : t("common.none")) },
  ];

  const fact = (name, value) => [h("dt", {}, t(name)), h("dd", {}, value)];
  const showBatch = (b) => {
    replace(header.querySelector("h1"), t("batches.batch.heading", { reference: b.reference }));
    replace(
      facts,
      fact("batches.col.reference", b.reference),
      fact("batches.col.organisation", b.organisation.name),
      fact("batches.col.state", stateBadge(b.state)),
      fact("batches.col.label", b.label || t("common.none")),
      fact("batches.field.confirmation", b.requiresConfirmation ? t("batches.yes") : t("batches.no")),
      fact("batches.col.devices", formatNumber(b.deviceCount)),
      fact("batches.col.createdAt", formatDateTime(b.createdAt)),
    );
    const waitingForUs = b.state === "PENDING_CONFIRMATION" && b.organisation.id === session.user.organisation.id;
    replace(
      links,
      b.state === "ACCEPTED" ? catalogLink(b.reference) : null,
      waitingForUs && session.can("CLAIM_DEVICES")
        ? h("a", { class: "btn btn-primary", href: href("/take-ownership", { reference: b.reference }) }, t("batches.take.menu"))
        : null,
    );
  };

  const load = async () => {
    message.clear();
    previous.disabled = true;
    next.disabled = true;
    try {
      const { batchReference } = await ctx.gql(BATCH, { id: ctx.params.id, first: PAGE, after: cursors[cursors.length - 1] });
      showBatch(batchReference);
      const { devices } = batchReference;
      replace(total, t("batches.batch.total", { count: formatNumber(devices.totalCount) }));
      replace(
        rows,
        table(columns, devices.nodes, {
          caption: t("batches.batch.devices"),
          empty: t(batchReference.state === "PENDING_CONFIRMATION" ? "batches.batch.pendingEmpty" : "batches.batch.empty"),
          rowAttrs: (d) => ({ dataset: { serial: d.serialNumber } }),
        }),
      );
      endCursor = devices.pageInfo.endCursor;
      next.disabled = !devices.pageInfo.hasNextPage;
      replace(pageLabel, t("common.page", { page: formatNumber(cursors.length) }));
    } catch (error) {
      message.showError(error);
    }
    previous.disabled = cursors.length === 1;
  };
  previous.addEventListener("click", () => {
    cursors.pop();
    return load();
  });
  next.addEventListener("click", () => {
    cursors.push(endCursor);
    return load();
  });

  main.append(
    header,
    h("p", {}, h("a", { href: href("/batches") }, t("batches.back"))),
    message.element,
    facts,
    links,
    h("h2", {}, t("batches.batch.devices")),
    rows,
    h("div", { class: "list-footer" }, total, h("nav", { class: "pager", "aria-label": t("common.paging") }, previous, pageLabel, next)),
  );
  await load();
}
