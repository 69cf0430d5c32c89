// The device list. Filters live in the address (#/devices?search=...&claimStatus=UNCLAIMED&first=50);
// pages follow the API's keyset cursor (`after`), so page 20 000 costs what page 1 costs.

import { h, replace } from "../../core/dom.js";
import { formatNumber, tn } from "../../core/i18n.js";
import { replaceQuery } from "../../core/router.js";
import { busy, button, field, input, messageBox, pageHeader, select, table } from "../../core/ui.js";
import { claim, downloadKeys, FORMATS, refusedList } from "./actions.js";

const DEVICES = `query Devices($filter: DeviceFilter, $first: Int, $after: String) {
  devices(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id serialNumber claimStatus labels deviceType { id name } } } }`;
const FACETS = `query DeviceFacets($filter: DeviceFilter) { deviceFacets(filter: $filter) { claimStatuses { value count } } }`;
const STATUSES = ["CLAIMED", "UNCLAIMED"];

export async function renderCatalog(main, ctx) {
  const { t, query, session } = ctx;
  const canClaim = session.can("CLAIM_DEVICES");
  const canRelease = session.can("RELEASE_KEYS");
  const selectable = canClaim || canRelease;
  const pageSize = Math.min(500, Math.max(1, Number.parseInt(query.get("first") || "50", 10) || 50));

  const search = input({ type: "search", name: "search", value: query.get("search") || "", placeholder: t("common.all") });
  const status = select(
    [{ value: "", label: t("common.all") }, ...STATUSES.map((s) => ({ value: s, label: t(`devices.status.${s}`) }))],
    { name: "claimStatus", value: query.get("claimStatus") || "" },
  );
  const total = h("p", { class: "total", "aria-live": "polite", dataset: { total: "devices" } });
  const rows = h("div", { class: "table-wrap" });
  const message = messageBox();
  const details = h("div", { class: "action-details" });
  const pageLabel = h("span", { class: "page-number" });
  const previous = button(t("common.previous"), { disabled: true });
  const next = button(t("common.next"), { disabled: true });
  const selection = new Map(); // device id -> serial number, kept across pages
  const serials = new Map(); // every id seen, for explaining refusals by serial number
  let cursors = [null];
  let nodes = [];

  const filter = () => ({ search: search.value.trim() || null, claimStatus: status.value || null });

  // --- the selection toolbar (hidden for a VIEWER) --------------------------------------------
  const selectedCount = h("span", { class: "selected-count", "aria-live": "polite" });
  const claimButton = canClaim ? button(t("devices.claim"), { kind: "primary", dataset: { action: "claim" } }) : null;
  const formatSelect = canRelease ? select([], { name: "format" }) : null;
  const downloadButton = canRelease ? button(t("devices.download"), { kind: "primary", dataset: { action: "download" } }) : null;
  const clearButton = button(t("devices.selection.clear"));
  const toolbar = selectable
    ? h(
        "div",
        { class: "toolbar", role: "group", "aria-label": t("devices.selection.label") },
        selectedCount,
        clearButton,
        claimButton,
        canRelease ? field(t("field.format"), formatSelect, { className: "inline" }) : null,
        downloadButton,
      )
    : null;

  const updateSelection = () => {
    if (!selectable) return;
    replace(selectedCount, t("devices.selection.count", { count: formatNumber(selection.size) }));
    for (const b of [claimButton, downloadButton, clearButton]) if (b) b.disabled = selection.size === 0;
    const all = rows.querySelector("input[data-select-all]");
    if (all) {
      const onPage = nodes.filter((d) => selection.has(d.id)).length;
      all.checked = nodes.length > 0 && onPage === nodes.length;
      all.indeterminate = onPage > 0 && onPage < nodes.length;
    }
  };

  const toggle = (device, on) => {
    if (on) selection.set(device.id, device.serialNumber);
    else selection.delete(device.id);
    updateSelection();
  };

  const columns = [
    ...(selectable
      ? [
          {
            label: h("input", {
              type: "checkbox",
              dataset: { selectAll: "" },
              "aria-label": t("devices.selection.page"),
              onChange: (e) => {
                nodes.forEach((d) => toggle(d, e.target.checked));
                rows.querySelectorAll("input[data-device]").forEach((box) => { box.checked = e.target.checked; });
              },
            }),
            className: "select",
            cell: (d) =>
              h("input", {
                type: "checkbox",
                checked: selection.has(d.id),
                dataset: { device: d.serialNumber },
                "aria-label": t("devices.selection.one", { serial: d.serialNumber }),
                onChange: (e) => toggle(d, e.target.checked),
              }),
          },
        ]
      : []),
    { label: t("devices.col.serial"), cell: (d) => d.serialNumber },
    { label: t("devices.col.type"), cell: (d) => d.deviceType.name },
    {
      label: t("devices.col.status"),
      cell: (d) => h("span", { class: `badge badge-${d.claimStatus.toLowerCase()}`, dataset: { status: d.claimStatus } }, t(`devices.status.${d.claimStatus}`)),
    },
    { label: t("devices.col.labels"), cell: (d) => (d.labels.length ? d.labels.join(", ") : t("common.none")) },
  ];

  const load = async () => {
    message.clear();
    try {
      const variables = { filter: filter(), first: pageSize, after: cursors[cursors.length - 1] };
      const { devices } = await ctx.gql(DEVICES, variables);
      nodes = devices.nodes;
      nodes.forEach((d) => serials.set(d.id, d.serialNumber));
      replace(total, t("devices.total", { count: formatNumber(devices.totalCount) }));
      replace(rows, table(columns, nodes, { caption: t("devices.title"), rowAttrs: (d) => ({ dataset: { serial: d.serialNumber } }) }));
      previous.disabled = cursors.length === 1;
      next.disabled = !devices.pageInfo.hasNextPage;
      next.dataset.cursor = devices.pageInfo.endCursor || "";
      replace(pageLabel, t("common.page", { page: formatNumber(cursors.length) }));
      updateSelection();
    } catch (error) {
      previous.disabled = cursors.length === 1;
      message.showError(error);
    }
  };

  const loadFacets = async () => {
    try {
      const { deviceFacets } = await ctx.gql(FACETS, { filter: { search: filter().search } });
      const counts = Object.fromEntries(deviceFacets.claimStatuses.map((f) => [f.value, f.count]));
      for (const option of status.options) {
        if (!option.value) continue;
        const label = t(`devices.status.${option.value}`);
        option.textContent = t("devices.status.withCount", { status: label, count: formatNumber(counts[option.value] || 0) });
      }
    } catch (error) {
      message.showError(error);
    }
  };

  const apply = () => {
    cursors = [null];
    replaceQuery("/devices", { search: search.value.trim(), claimStatus: status.value, first: query.get("first") || "" });
    loadFacets();
    return load();
  };

  status.addEventListener("change", apply);
  // load() decides whether each pager button is enabled afterwards.
  const turn = async (change) => {
    previous.disabled = true;
    next.disabled = true;
    change();
    await load();
  };
  previous.addEventListener("click", () => turn(() => cursors.pop()));
  next.addEventListener("click", () => turn(() => cursors.push(next.dataset.cursor)));
  clearButton.addEventListener("click", () => {
    selection.clear();
    rows.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = false; });
    replace(details);
    updateSelection();
  });

  claimButton?.addEventListener("click", () =>
    busy(claimButton, async () => {
      message.clear();
      replace(details);
      try {
        const result = await claim(ctx, [...selection.keys()]);
        await Promise.all([load(), loadFacets()]); // show the new claim status before the outcome
        message.show(tn("devices.claimed", result.claimed.length), "success");
        replace(details, refusedList(t, result.refused, (s) => serials.get(s) || s));
      } catch (error) {
        message.showError(error);
      }
    }),
  );

  downloadButton?.addEventListener("click", () =>
    busy(downloadButton, async () => {
      message.clear();
      replace(details, h("p", { class: "progress", role: "status" }, t("devices.preparing")));
      try {
        const release = await downloadKeys(ctx, [...selection.keys()], formatSelect.value);
        message.show(
          t("devices.downloading", { filename: release.filename, keys: formatNumber(release.keyCount), devices: formatNumber(release.deviceCount) }),
          "success",
        );
        replace(details, refusedList(t, release.refused, (s) => serials.get(s) || s));
      } catch (error) {
        message.showError(error);
        replace(details, refusedList(t, error.extensions?.refused, (s) => serials.get(s) || s));
      }
    }),
  );

  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("devices.filters"), onSubmit: (e) => { e.preventDefault(); apply(); } },
    field(t("devices.filter.serial"), search),
    field(t("devices.filter.status"), status),
    h("div", { class: "form-actions" }, button(t("common.search"), { type: "submit" })),
  );
  main.append(
    pageHeader(t("devices.title")),
    filters,
    toolbar,
    message.element,
    details,
    rows,
    h("div", { class: "list-footer" }, total, h("nav", { class: "pager", "aria-label": t("common.paging") }, previous, pageLabel, next)),
  );
  if (canRelease) {
    ctx.gql(FORMATS)
      .then(({ keyFormats }) => {
        replace(formatSelect, keyFormats.map((f) => h("option", { value: f.id, selected: f.id === "csv" }, `${f.name} (.${f.fileExtension})`)));
      })
      .catch((error) => message.showError(error));
  }
  await Promise.all([loadFacets(), load()]);
}
