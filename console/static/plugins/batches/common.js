// Pieces the batch screens share: the state badge and the link to the catalog filtered by a batch.

import { h } from "../../core/dom.js";
import { t } from "../../core/i18n.js";
import { href } from "../../core/router.js";

/** PENDING_CONFIRMATION reads "Awaiting confirmation", ACCEPTED "Delivered". */
export function stateBadge(state) {
  return h("span", { class: `badge badge-batch-${state.toLowerCase()}`, dataset: { state } }, t(`batches.state.${state}`));
}

/** The device catalog showing only this batch's devices (devices plugin: ?batch=<reference>). */
export function catalogLink(reference, label = t("batches.showInCatalog")) {
  return h("a", { href: href("/devices", { batch: reference }), dataset: { catalog: reference } }, label);
}
