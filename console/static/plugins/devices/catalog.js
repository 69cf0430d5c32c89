// The device list (manual 10.1-10.4). Filters live in the address
// (#/devices?search=21N&deviceType=...&claimStatus=UNCLAIMED&label=...&batch=...&serials=A,B&first=50; several
// ticked values of a filter are separated by line breaks, which no label or reference holds); each filter of
// the bar (facets.js) proposes its values with counts from deviceFacets under the other active filters. Pages
// follow the API's keyset cursor (`after`), so page 20 000 costs what page 1 costs. Each row has a
// keyboard-usable "⋮" menu; the selection toolbar claims, downloads keys, sets labels and creates a
// batch. A VIEWER sees the list and "Show device" only.

import { h, replace } from "../../core/dom.js";
import { formatNumber, tn } from "../../core/i18n.js";
import { replaceQuery } from "../../core/router.js";
import { busy, button, checkbox, field, input, messageBox, pageHeader, select, table } from "../../core/ui.js";
import { batchTargets, claim, createBatch, downloadKeys, FORMATS, refusedList, setLabels } from "./actions.js";
import { closeFiltersOutside, facetFilter, oneOpenAtATime, proposal } from "./facets.js";
import { rowMenu } from "./menu.js";

const DEVICES = `query Devices($filter: DeviceFilter, $first: Int, $after: String) {
  devices(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id serialNumber claimStatus labels deviceType { id name } batchReference { id reference } } } }`;
const FACETS = `query DeviceFacets($filter: DeviceFilter) { deviceFacets(filter: $filter) {
  deviceTypes { value count } claimStatuses { value count } labels { value count } batchReferences { value count } } }`;
const TYPES = `query DeviceTypeNames { deviceTypes { id name } }`;
// proposals of the serial number filter: the first serial numbers that start with what is typed
const PROPOSALS = `query SerialProposals($filter: DeviceFilter) { devices(filter: $filter, first: 20) { nodes { serialNumber } } }`;
// "Claim all": the ids of the unclaimed devices the filters match, 500 a page, at most what one claim takes
const IDS = `query DeviceIds($filter: DeviceFilter, $after: String) { devices(filter: $filter, first: 500, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { id serialNumber } } }`;
const CLAIM_ALL_LIMIT = 100000;
const STATUSES = ["CLAIMED", "UNCLAIMED"];

/** "A, B\nC;D" -> ["A", "B", "C", "D"] (order kept, duplicates dropped). */
export function parseSerials(text) {
  return [...new Set((text || "").split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean))];
}

/** A filter's ticked values in the address: separated by line breaks. */
const listParam = (query, name) => (query.get(name) || "").split("\n").filter(Boolean);

export async function renderCatalog(main, ctx) {
  const { t, query, session } = ctx;
  const canClaim = session.can("CLAIM_DEVICES");
  const canRelease = session.can("RELEASE_KEYS");
  const canBatch = session.can("MANAGE_BATCHES");
  const selectable = canClaim || canRelease || canBatch;
  const pageSize = Math.min(500, Math.max(1, Number.parseInt(query.get("first") || "50", 10) || 50));

  // --- filters ----------------------------------------------------------------------------------
  const search = input({ type: "search", name: "search", value: query.get("search") || "", placeholder: t("common.all") });
  const serialList = h("textarea", { name: "serials", rows: 4, class: "serial-list", value: parseSerials(query.get("serials")).join("\n") });
  const serialCount = h("span", { class: "serial-count", "aria-live": "polite" });
  const listBox = h(
    "details",
    { class: "serial-paste", open: Boolean(query.get("serials")) },
    h("summary", {}, t("devices.filter.serialList"), " ", serialCount),
    field(t("devices.filter.serialListField"), serialList, { hint: t("devices.filter.serialListHint") }),
  );
  let typeNames = {};
  const apply = () => applyFilters(); // (defined below, with everything it refreshes)
  const types = facetFilter(t, {
    name: "deviceType",
    label: t("devices.filter.type"),
    labelOf: (v) => typeNames[v] || v,
    chosen: listParam(query, "deviceType"),
    onChange: apply,
  });
  const statuses = facetFilter(t, {
    name: "claimStatus",
    label: t("devices.filter.status"),
    labelOf: (v) => t(`devices.status.${v}`),
    chosen: listParam(query, "claimStatus").filter((v) => STATUSES.includes(v)),
    onChange: apply,
  });
  const labels = facetFilter(t, { name: "label", label: t("devices.filter.labels"), chosen: listParam(query, "label"), onChange: apply });
  const batches = facetFilter(t, { name: "batch", label: t("devices.filter.batch"), chosen: listParam(query, "batch"), onChange: apply });

  // The serial number filter: a search bar (serial numbers starting with it), the first matching serial
  // numbers as proposals to tick, and a pasted list of exact serial numbers; ticked proposals join that list.
  const serialSummary = h("summary", { class: "facet-summary" });
  const proposals = h("div", { class: "facet-options", "aria-live": "polite" });
  const serialChip = h(
    "details",
    { class: "facet facet-serial", dataset: { facet: "serial" } },
    serialSummary,
    h(
      "fieldset",
      { class: "facet-panel" },
      field(t("devices.filter.serial"), search),
      proposals,
      listBox,
      // the search bar and the pasted list apply with it (or Enter); ticks apply at once
      h("div", { class: "form-actions" }, button(t("common.search"), { type: "submit" })),
    ),
  );
  const total = h("p", { class: "total", "aria-live": "polite", dataset: { total: "devices" } });
  const rows = h("div", { class: "table-wrap" });
  const message = messageBox();
  const details = h("div", { class: "action-details" });
  const panel = h("div", { class: "action-panel-slot" });
  const pageLabel = h("span", { class: "page-number" });
  const previous = button(t("common.previous"), { disabled: true });
  const next = button(t("common.next"), { disabled: true });
  const selection = new Map(); // device id -> serial number, kept across pages
  const serials = new Map(); // every id seen, for explaining refusals by serial number
  let cursors = [null];
  let nodes = [];

  const filter = () => {
    const list = parseSerials(serialList.value);
    return {
      search: search.value.trim() || null,
      serialNumbers: list.length ? list : null,
      deviceTypes: types.chosen().length ? types.chosen() : null,
      claimStatus: statuses.chosen().length === 1 ? statuses.chosen()[0] : null, // both ticked: all
      labels: labels.chosen().length ? labels.chosen() : null,
      batchReferences: batches.chosen().length ? batches.chosen() : null,
    };
  };
  const updateSerialSummary = () => {
    const list = parseSerials(serialList.value);
    const typed = search.value.trim();
    let caption = t("common.all");
    if (list.length === 1 && !typed) caption = list[0];
    else if (list.length) caption = t("devices.filter.chosen", { count: formatNumber(list.length) });
    else if (typed) caption = t("devices.filter.startsWith", { text: typed });
    replace(serialSummary, `${t("devices.filter.serial")}: ${caption}`);
  };
  let proposalsRequest = 0;
  const loadProposals = async () => {
    const request = ++proposalsRequest;
    const typed = search.value.trim();
    if (!typed) {
      replace(proposals);
      return;
    }
    try {
      const { devices } = await ctx.gql(PROPOSALS, { filter: { ...filter(), search: typed, serialNumbers: null } });
      if (request !== proposalsRequest) return;
      const listed = new Set(parseSerials(serialList.value));
      replace(
        proposals,
        devices.nodes.length
          ? devices.nodes.map(({ serialNumber }) =>
              proposal(serialNumber, serialNumber, listed.has(serialNumber), (on) => {
                const list = parseSerials(serialList.value).filter((s) => s !== serialNumber);
                if (on) list.push(serialNumber);
                serialList.value = list.join("\n");
                updateSerialCount();
                apply();
              }),
            )
          : h("p", { class: "hint" }, t("devices.filter.noProposal")),
      );
    } catch (error) {
      if (request === proposalsRequest) message.showError(error);
    }
  };
  let proposalsTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(proposalsTimer);
    proposalsTimer = setTimeout(loadProposals, 200);
  });
  const updateSerialCount = () => {
    const n = parseSerials(serialList.value).length;
    replace(serialCount, n ? t("devices.filter.serialCount", { count: formatNumber(n) }) : "");
  };
  serialList.addEventListener("input", updateSerialCount);
  updateSerialCount();

  // --- the selection toolbar (hidden for a VIEWER) --------------------------------------------
  const selectedCount = h("span", { class: "selected-count", "aria-live": "polite" });
  const claimButton = canClaim ? button(t("devices.claim"), { kind: "primary", dataset: { action: "claim" } }) : null;
  const claimAllButton = canClaim
    ? button(t("devices.claimAll"), { dataset: { action: "claim-all" }, title: t("devices.claimAll.hint") })
    : null;
  const formatSelect = canRelease ? select([], { name: "format" }) : null;
  const downloadButton = canRelease ? button(t("devices.download"), { kind: "primary", dataset: { action: "download" } }) : null;
  // "Download all your keys" (manual 10.4.2): what the filters match, whatever is selected
  const downloadAllButton = canRelease
    ? button(t("devices.downloadAll"), { dataset: { action: "download-all" }, title: t("devices.downloadAll.hint") })
    : null;
  const labelsButton = canBatch ? button(t("devices.setLabels"), { dataset: { action: "labels" } }) : null;
  const batchButton = canBatch ? button(t("devices.createBatch"), { dataset: { action: "batch" } }) : null;
  const clearButton = button(t("devices.selection.clear"));
  const toolbar = selectable
    ? h(
        "div",
        { class: "toolbar", role: "group", "aria-label": t("devices.selection.label") },
        selectedCount,
        clearButton,
        claimButton,
        claimAllButton,
        canRelease ? field(t("field.format"), formatSelect, { className: "inline" }) : null,
        downloadButton,
        downloadAllButton,
        labelsButton,
        batchButton,
      )
    : null;

  const updateSelection = () => {
    if (!selectable) return;
    replace(selectedCount, t("devices.selection.count", { count: formatNumber(selection.size) }));
    for (const b of [claimButton, downloadButton, clearButton, labelsButton, batchButton]) if (b) b.disabled = selection.size === 0;
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

  // --- actions ------------------------------------------------------------------------------------
  const refresh = () => Promise.all([load(), loadFacets()]);

  const runClaim = async (ids) => {
    message.clear();
    replace(details);
    try {
      const result = await claim(ctx, ids);
      await refresh(); // show the new claim status before the outcome
      message.show(tn("devices.claimed", result.claimedCount), "success");
      replace(details, refusedList(t, result.refused, (s) => serials.get(s) || s, "claim"));
    } catch (error) {
      message.showError(error);
    }
  };

  /** "Claim all": every unclaimed device the filters match (up to one claim's limit; the rest on a next click). */
  const runClaimAll = async () => {
    const current = filter();
    message.clear();
    if (current.claimStatus === "CLAIMED") {
      message.show(t("devices.claimAll.none"), "info");
      return;
    }
    replace(details, h("p", { class: "progress", role: "status" }, t("devices.claimAll.collecting")));
    const ids = [];
    try {
      let after = null;
      do {
        const { devices } = await ctx.gql(IDS, { filter: { ...current, claimStatus: "UNCLAIMED" }, after });
        for (const d of devices.nodes) {
          ids.push(d.id);
          serials.set(d.id, d.serialNumber);
        }
        after = devices.pageInfo.hasNextPage ? devices.pageInfo.endCursor : null;
      } while (after && ids.length < CLAIM_ALL_LIMIT);
    } catch (error) {
      replace(details);
      message.showError(error);
      return;
    }
    replace(details);
    if (!ids.length) {
      message.show(t("devices.claimAll.none"), "info");
      return;
    }
    await runClaim(ids.slice(0, CLAIM_ALL_LIMIT));
  };

  const runDownload = async (which) => {
    message.clear();
    replace(details, h("p", { class: "progress", role: "status" }, t("devices.preparing")));
    try {
      const release = await downloadKeys(ctx, which, formatSelect?.value || "csv");
      message.show(
        t("devices.downloading", { filename: release.filename, keys: formatNumber(release.keyCount), devices: formatNumber(release.deviceCount) }),
        "success",
      );
      replace(details, refusedList(t, release.refused, (s) => serials.get(s) || s, "", release.refusedCount));
    } catch (error) {
      message.showError(error);
      const refused = error.extensions?.refused;
      replace(details, refusedList(t, refused, (s) => serials.get(s) || s, "", error.extensions?.refusedCount ?? refused?.length));
    }
  };

  const closePanel = (focus) => {
    replace(panel);
    focus?.focus();
  };

  /** The "Labels" form, for one device (its labels preset) or for the selection. */
  const openLabels = (ids, current, opener) => {
    const text = input({ name: "labels", value: current.join(", ") });
    const save = button(t("common.save"), { kind: "primary", type: "submit" });
    const form = h(
      "form",
      {
        class: "card action-panel labels-form",
        "aria-label": t("devices.labels.title"),
        onSubmit: (e) => {
          e.preventDefault();
          busy(save, async () => {
            message.clear();
            try {
              const changed = await setLabels(ctx, ids, text.value);
              await refresh();
              message.show(tn("devices.labels.saved", changed.length), "success");
              closePanel(opener);
            } catch (error) {
              message.showError(error);
            }
          });
        },
      },
      h("h2", {}, tn("devices.labels.heading", ids.length)),
      field(t("devices.labels.field"), text, { hint: t("devices.labels.hint") }),
      h("div", { class: "form-actions" }, save, button(t("common.cancel"), { onClick: () => closePanel(opener) })),
    );
    replace(panel, form);
    text.focus();
  };

  /** "+ Create batch from current selection": reference, label, target organisation, confirmation. */
  const openBatch = async (opener) => {
    const ids = [...selection.keys()];
    const reference = input({ name: "reference", required: true, maxlength: 100 });
    const label = input({ name: "batchLabel", maxlength: 100 });
    const target = h("select", { name: "organisation", required: true });
    const confirm = checkbox(t("devices.batch.confirm"), { name: "requiresConfirmation" });
    const save = button(t("devices.batch.create"), { kind: "primary", type: "submit" });
    const outcome = h("div", { class: "batch-outcome" });
    const form = h(
      "form",
      {
        class: "card action-panel batch-form",
        "aria-label": t("devices.createBatch"),
        onSubmit: (e) => {
          e.preventDefault();
          busy(save, async () => {
            message.clear();
            replace(outcome);
            try {
              const result = await createBatch(ctx, ids, {
                reference: reference.value.trim(),
                organisationId: target.value,
                requiresConfirmation: confirm.querySelector("input").checked,
                label: label.value.trim(),
              });
              const batch = result.batchReference;
              selection.clear();
              await refresh();
              closePanel(batchButton);
              message.show(
                t(batch.state === "PENDING_CONFIRMATION" ? "devices.batch.pending" : "devices.batch.created", {
                  reference: batch.reference,
                  count: formatNumber(batch.deviceCount),
                  organisation: batch.organisation.name,
                }),
                "success",
              );
              replace(details, refusedList(t, result.refused, (s) => serials.get(s) || s));
            } catch (error) {
              message.showError(error);
              const unknown = error.extensions?.serialNumbers || [];
              const reason = error.extensions?.reason || error.code;
              replace(outcome, refusedList(t, unknown.map((s) => ({ serialNumber: s, reason })), (s) => s));
            }
          });
        },
      },
      h("h2", {}, tn("devices.batch.heading", ids.length)),
      h("p", { class: "hint" }, [...selection.values()].slice(0, 20).join(", "), ids.length > 20 ? " …" : ""),
      field(t("devices.batch.reference"), reference),
      field(t("devices.batch.label"), label),
      field(t("devices.batch.organisation"), target, { hint: t("devices.batch.organisationHint") }),
      confirm,
      outcome,
      h("div", { class: "form-actions" }, save, button(t("common.cancel"), { onClick: () => closePanel(opener) })),
    );
    replace(panel, form);
    reference.focus();
    try {
      const groups = await batchTargets(ctx);
      const group = (key, list) =>
        list.length ? h("optgroup", { label: t(`devices.batch.group.${key}`) }, list.map((o) => h("option", { value: o.id }, o.name))) : null;
      replace(target, group("own", groups.own), group("below", groups.below), group("partners", groups.partners));
    } catch (error) {
      message.showError(error);
    }
  };

  // --- the table ------------------------------------------------------------------------------------
  const menuFor = (d) => {
    const items = [{ id: "show", label: t("devices.menu.show"), href: ctx.href(`/devices/${d.id}`) }];
    if (canClaim && d.claimStatus === "UNCLAIMED") items.push({ id: "claim", label: t("devices.menu.claim"), onSelect: () => runClaim([d.id]) });
    // keys of an UNCLAIMED device are never released (manual 10.4): claim it first
    if (canRelease && d.claimStatus === "CLAIMED") items.push({ id: "download", label: t("devices.menu.download"), onSelect: () => runDownload({ deviceIds: [d.id] }) });
    if (canBatch) {
      items.push({
        id: "labels",
        label: t("devices.menu.labels"),
        onSelect: () => openLabels([d.id], d.labels, rows.querySelector(`tr[data-serial="${CSS.escape(d.serialNumber)}"] .row-menu-button`)),
      });
    }
    return rowMenu(t("devices.menu.label", { serial: d.serialNumber }), items);
  };

  /**
   * The "⋮" in the table's header (manual 10.4.2 "Download all your keys": click on the three dots and
   * choose "Download keys"): the toolbar's actions on the selection, or, with nothing selected, on every
   * device the filters show (claim all, download all).
   */
  function tableMenu() {
    const selected = () => selection.size > 0;
    const items = [];
    if (canClaim) items.push({ id: "claim", label: t("devices.claim"), onSelect: () => (selected() ? claimButton : claimAllButton).click() });
    if (canRelease) items.push({ id: "download", label: t("devices.download"), onSelect: () => (selected() ? downloadButton : downloadAllButton).click() });
    if (canBatch) {
      items.push({
        id: "batch",
        label: t("devices.createBatch"),
        onSelect: () => (selected() ? batchButton.click() : message.show(t("devices.batch.selectFirst"), "info")),
      });
    }
    return items.length ? rowMenu(t("devices.menu.all"), items) : h("span", { class: "sr-only" }, t("devices.col.actions"));
  }

  const columns = [
    ...(selectable
      ? [
          {
            label: h("input", {
              type: "checkbox",
              dataset: { selectAll: "" },
              "aria-label": t("devices.selection.page"),
              onChange: (e) => {
                // read once: updating the selection sets this box again (ticked, half or not)
                const on = e.target.checked;
                nodes.forEach((d) => (on ? selection.set(d.id, d.serialNumber) : selection.delete(d.id)));
                rows.querySelectorAll("input[data-device]").forEach((box) => { box.checked = on; });
                updateSelection();
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
    { label: t("devices.col.serial"), cell: (d) => h("a", { href: ctx.href(`/devices/${d.id}`), dataset: { device: d.id } }, d.serialNumber) },
    { label: t("devices.col.type"), cell: (d) => d.deviceType.name },
    {
      label: t("devices.col.status"),
      cell: (d) => h("span", { class: `badge badge-${d.claimStatus.toLowerCase()}`, dataset: { status: d.claimStatus } }, t(`devices.status.${d.claimStatus}`)),
    },
    { label: t("devices.col.labels"), className: "labels", cell: (d) => (d.labels.length ? d.labels.join(", ") : t("common.none")) },
    { label: t("devices.col.batch"), className: "batch", cell: (d) => d.batchReference?.reference || t("common.none") },
    { label: selectable ? tableMenu() : h("span", { class: "sr-only" }, t("devices.col.actions")), className: "menu", cell: menuFor },
  ];

  // Filters changed in quick succession send overlapping requests whose answers may arrive in any order:
  // only the latest request's answer is shown (an older one would put back the previous filter's list).
  let loadRequest = 0;
  let facetsRequest = 0;

  const load = async () => {
    message.clear();
    const request = ++loadRequest;
    try {
      const variables = { filter: filter(), first: pageSize, after: cursors[cursors.length - 1] };
      const { devices } = await ctx.gql(DEVICES, variables);
      if (request !== loadRequest) return;
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
      if (request !== loadRequest) return;
      previous.disabled = cursors.length === 1;
      message.showError(error);
    }
  };

  const loadFacets = async () => {
    const request = ++facetsRequest;
    try {
      const { deviceFacets } = await ctx.gql(FACETS, { filter: filter() });
      if (request !== facetsRequest) return;
      const counts = Object.fromEntries(deviceFacets.claimStatuses.map((f) => [f.value, f.count]));
      statuses.setOptions(STATUSES.map((value) => ({ value, count: counts[value] || 0 })));
      types.setOptions(deviceFacets.deviceTypes);
      labels.setOptions(deviceFacets.labels);
      batches.setOptions(deviceFacets.batchReferences);
    } catch (error) {
      if (request === facetsRequest) message.showError(error);
    }
  };

  const applyFilters = () => {
    cursors = [null];
    updateSerialSummary();
    replaceQuery("/devices", {
      search: search.value.trim(),
      serials: parseSerials(serialList.value).join(","),
      deviceType: types.chosen().join("\n"),
      claimStatus: statuses.chosen().join("\n"),
      label: labels.chosen().join("\n"),
      batch: batches.chosen().join("\n"),
      first: query.get("first") || "",
    });
    return refresh();
  };

  const reset = () => {
    search.value = "";
    serialList.value = "";
    listBox.open = false;
    replace(proposals);
    updateSerialCount();
    for (const facet of [types, statuses, labels, batches]) facet.setChosen([]);
    return applyFilters();
  };

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
    closePanel();
    updateSelection();
  });
  claimButton?.addEventListener("click", () => busy(claimButton, () => runClaim([...selection.keys()])));
  claimAllButton?.addEventListener("click", () => busy(claimAllButton, runClaimAll));
  downloadButton?.addEventListener("click", () => busy(downloadButton, () => runDownload({ deviceIds: [...selection.keys()] })));
  downloadAllButton?.addEventListener("click", () => busy(downloadAllButton, () => runDownload({ filter: filter() })));
  labelsButton?.addEventListener("click", () => openLabels([...selection.keys()], [], labelsButton));
  batchButton?.addEventListener("click", () => openBatch(batchButton));

  const closeFilters = () => filters.querySelectorAll("details.facet[open]").forEach((d) => { d.open = false; });
  const resetButton = button(t("common.reset"), { dataset: { action: "reset" }, onClick: reset });
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("devices.filters"), onSubmit: (e) => { e.preventDefault(); closeFilters(); applyFilters(); } },
    serialChip,
    types.element,
    statuses.element,
    labels.element,
    batches.element,
    h("div", { class: "form-actions" }, resetButton),
  );
  main.append(
    pageHeader(t("devices.title")),
    filters,
    toolbar,
    message.element,
    details,
    panel,
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
  try {
    typeNames = Object.fromEntries((await ctx.gql(TYPES)).deviceTypes.map((d) => [d.id, d.name]));
    types.setChosen(types.chosen()); // the names arrived: show them
  } catch (error) {
    message.showError(error);
  }
  oneOpenAtATime(serialChip);
  closeFiltersOutside(main);
  updateSerialSummary();
  await Promise.all([loadFacets(), load()]);
}
