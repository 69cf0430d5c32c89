// The catalog's filter bar (manual 10.2): "Device type: All | Claim status: All | …". A filter opens on a
// click into a search bar and its proposals, each with the number of devices it would show under the other
// filters (deviceFacets); ticking proposals filters at once, several of them meaning any of them.

import { h, replace } from "../../core/dom.js";
import { formatNumber } from "../../core/i18n.js";
import { input } from "../../core/ui.js";

/** One proposal: a check box and its text; `onToggle(on)` when it is ticked or unticked. */
export function proposal(value, text, checked, onToggle) {
  return h(
    "label",
    { class: "facet-option" },
    h("input", { type: "checkbox", value, checked, onChange: (e) => onToggle(e.target.checked) }),
    text,
  );
}

/**
 * One filter of the bar. `labelOf(value)` names a value; `onChange()` runs when the ticks change.
 * Returns { element, chosen(), setChosen(values), setOptions([{ value, count }]) }.
 */
export function facetFilter(t, { name, label, labelOf = (v) => v, chosen = [], onChange }) {
  const picked = new Set(chosen);
  let options = [];
  const summary = h("summary", { class: "facet-summary" });
  const search = input({ type: "search", name: `${name}-search`, "aria-label": t("devices.filter.searchIn", { filter: label }), placeholder: t("common.search") });
  const list = h("div", { class: "facet-options" });
  const panel = h("fieldset", { class: "facet-panel", "aria-label": label }, search, list);
  const element = h("details", { class: "facet", dataset: { facet: name } }, summary, panel);

  const caption = () => {
    const values = [...picked];
    if (values.length === 0) return t("common.all");
    if (values.length === 1) return labelOf(values[0]);
    return t("devices.filter.chosen", { count: formatNumber(values.length) });
  };
  const render = () => {
    replace(summary, `${label}: ${caption()}`);
    const needle = search.value.trim().toLowerCase();
    // a ticked value stays in the list when no device has it under the other filters
    const counts = new Map(options.map((o) => [o.value, o.count]));
    for (const value of picked) if (!counts.has(value)) counts.set(value, 0);
    const shown = [...counts].filter(([value]) => !needle || labelOf(value).toLowerCase().includes(needle));
    replace(
      list,
      shown.length
        ? shown.map(([value, count]) =>
            proposal(value, t("devices.facet", { value: labelOf(value), count: formatNumber(count) }), picked.has(value), (on) => {
              if (on) picked.add(value);
              else picked.delete(value);
              replace(summary, `${label}: ${caption()}`);
              onChange();
            }),
          )
        : h("p", { class: "hint" }, t("devices.filter.noProposal")),
    );
  };
  oneOpenAtATime(element);
  search.addEventListener("input", render);
  // Enter in the search bar must not submit the bar's form (which applies the serial number search)
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  render();
  return {
    element,
    chosen: () => [...picked],
    setChosen: (values) => {
      picked.clear();
      values.forEach((v) => picked.add(v));
      render();
    },
    setOptions: (facet) => {
      options = facet;
      render();
    },
  };
}

/** Opening a filter closes the others of its bar, so their panels never cover each other. */
export function oneOpenAtATime(details) {
  details.addEventListener("toggle", () => {
    if (!details.open) return;
    for (const other of details.parentElement?.querySelectorAll("details.facet[open]") || []) {
      if (other !== details) other.open = false;
    }
    details.querySelector("input[type=search], input[name=search]")?.focus();
  });
}

/** Within `container`, a click outside the open filter or Escape closes it. */
export function closeFiltersOutside(container) {
  const closeAll = (except) => {
    for (const open of container.querySelectorAll("details.facet[open]")) if (open !== except) open.open = false;
  };
  container.addEventListener("click", (e) => closeAll(e.target.closest("details.facet")));
  container.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const open = e.target.closest("details.facet[open]");
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
  });
}
