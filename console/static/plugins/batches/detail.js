// A batch reference's page (#/batches/:id): its details and its devices, a page at a time. While a
// batch awaits confirmation, its devices stay with the sender: the addressed organisation sees none.

import { h, replace } from "../../core/dom.js";
import { formatDateTime, formatNumber } from "../../core/i18n.js";
import { busy, button, messageBox, pagedList, pageHeader, table } from "../../core/ui.js";
import { catalogLink, stateBadge } from "./common.js";

const BATCH = `query BatchReference($id: ID!, $first: Int, $after: String) {
  batchReference(id: $id) {
    id reference label state requiresConfirmation deviceCount createdAt canWithdraw organisation { id name }
    devices(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id serialNumber claimStatus labels deviceType { id name } } } } }`;
const WITHDRAW = `mutation WithdrawBatchReference($id: ID!) { withdrawBatchReference(id: $id) { id state } }`;
const PAGE = 50;

export async function renderBatch(main, ctx) {
  const { t, href, session } = ctx;
  const header = pageHeader(t("batches.batch.title"));
  const facts = h("dl", { class: "facts" });
  const message = messageBox();
  const links = h("p", { class: "batch-links" });
  const confirmArea = h("div", { class: "withdraw-slot" });

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
      b.canWithdraw ? button(t("batches.withdraw"), { dataset: { action: "withdraw" }, onClick: (e) => askWithdraw(b, e.currentTarget) }) : null,
    );
  };

  /** "Withdraw batch": asked once more in place, then the batch is WITHDRAWN and its devices free again. */
  const askWithdraw = (b, opener) => {
    const confirm = button(t("batches.withdraw.confirm"), { kind: "danger" });
    const cancel = button(t("common.cancel"), {
      onClick: () => {
        replace(confirmArea);
        opener.focus();
      },
    });
    confirm.addEventListener("click", () =>
      busy(confirm, async () => {
        message.clear();
        try {
          await ctx.gql(WITHDRAW, { id: b.id });
          replace(confirmArea);
          await list.load(); // (clears the message box: the outcome goes in after it)
          message.show(t("batches.withdrawn", { reference: b.reference }), "success");
        } catch (error) {
          message.showError(error);
        }
      }),
    );
    replace(
      confirmArea,
      h(
        "div",
        { class: "card action-panel", role: "group", "aria-label": t("batches.withdraw") },
        h("p", {}, t("batches.withdraw.text", { reference: b.reference, organisation: b.organisation.name, count: formatNumber(b.deviceCount) })),
        h("div", { class: "form-actions" }, confirm, cancel),
      ),
    );
    cancel.focus();
  };

  let batch = null;
  const list = pagedList({
    name: "batch-devices",
    totalText: (count) => t("batches.batch.total", { count }),
    message,
    fetch: async (after) => {
      const { batchReference } = await ctx.gql(BATCH, { id: ctx.params.id, first: PAGE, after });
      batch = batchReference;
      showBatch(batch);
      return batch.devices;
    },
    render: (nodes) =>
      table(columns, nodes, {
        caption: t("batches.batch.devices"),
        empty: t(batch.state === "PENDING_CONFIRMATION" ? "batches.batch.pendingEmpty" : "batches.batch.empty"),
        rowAttrs: (d) => ({ dataset: { serial: d.serialNumber } }),
      }),
  });

  main.append(
    header,
    h("p", {}, h("a", { href: href("/batches") }, t("batches.back"))),
    message.element,
    facts,
    links,
    confirmArea,
    h("h2", {}, t("batches.batch.devices")),
    list.rows,
    list.footer,
  );
  await list.load();
}
