// Claim devices and Download keys for the selected devices. Refused devices are listed with the
// reason (e.g. UNCLAIMED), never skipped silently.

import { h } from "../../core/dom.js";
import { tn } from "../../core/i18n.js";

const CLAIM = `mutation ClaimDevices($ids: [ID!]!) {
  claimDevices(deviceIds: $ids) { claimedCount refused { serialNumber reason } } }`;
const RELEASE = `mutation ReleaseKeys($input: ReleaseKeysInput!) {
  releaseKeys(input: $input) { filename deviceCount keyCount downloadUrl refused { serialNumber reason } refusedCount } }`;
export const FORMATS = `query KeyFormats { keyFormats { id name fileExtension } }`;

const REFUSED_SHOWN = 100; // a "download all" can refuse thousands: the first ones, then how many more

/** A reason's text: the action's own wording first (`devices.reason.<action>.<code>`), then the general one. */
function reasonText(t, action, code) {
  for (const key of [action && `devices.reason.${action}.${code}`, `devices.reason.${code}`]) {
    if (key && t(key) !== key) return t(key);
  }
  return code;
}

/**
 * "These devices were not included" with one line per device and a translated reason; ``action`` ("claim")
 * picks the action's wording where a code means something particular there (CONFLICT: claimed already).
 */
export function refusedList(t, refused, serialOf, action = "", count = refused?.length ?? 0) {
  if (!refused || !refused.length) return null;
  const shown = refused.slice(0, REFUSED_SHOWN);
  return h(
    "div",
    { class: "refused", dataset: { refused: String(count) } },
    h("p", {}, tn("devices.refused.title", count)),
    h(
      "ul",
      {},
      shown.map((r) => {
        const serial = serialOf(r.serialNumber);
        return h("li", { dataset: { serial, reason: r.reason } }, h("strong", {}, serial), ": ", reasonText(t, action, r.reason));
      }),
    ),
    count > shown.length ? h("p", { class: "refused-more" }, tn("devices.refused.more", count - shown.length)) : null,
  );
}

export async function claim(ctx, ids) {
  const { claimDevices } = await ctx.gql(CLAIM, { ids });
  return claimDevices;
}

/**
 * Create the key release and start the browser's download of its single-use URL. ``which`` is
 * { deviceIds } (the selection) or { filter } ("Download all your keys": every claimed device of the
 * caller's organisation that the catalog's filters match).
 */
export async function downloadKeys(ctx, which, format) {
  const { releaseKeys } = await ctx.gql(RELEASE, { input: { ...which, format } });
  // The file comes from this same service; keep only the path so the cookie-less download stays
  // on the origin the console was loaded from (KMS_PUBLIC_URL may name another address).
  const url = new URL(releaseKeys.downloadUrl, window.location.href);
  const link = h("a", { href: `${url.pathname}${url.search}`, download: releaseKeys.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  return releaseKeys;
}

const SET_LABELS = `mutation SetDeviceLabels($ids: [ID!]!, $labels: [String!]!) {
  setDeviceLabels(deviceIds: $ids, labels: $labels) { id serialNumber labels } }`;
const CREATE_BATCH = `mutation CreateBatchFromSelection($reference: String!, $ids: [ID!]!, $org: ID!, $confirm: Boolean, $label: String) {
  createBatchFromSelection(reference: $reference, deviceIds: $ids, organisationId: $org, requiresConfirmation: $confirm, label: $label) {
    batchReference { id reference state deviceCount organisation { id name } } refused { serialNumber reason } } }`;
// Batch targets: the caller's organisation and those below it (organisations), and its partners.
const TARGETS = `query BatchTargets($me: ID!) {
  organisations(first: 500) { nodes { id name parent { id } } }
  organisation(id: $me) { id name partners { id name } } }`;

/** Replace the labels of devices (setDeviceLabels); "a, b" -> ["a", "b"]. */
export async function setLabels(ctx, ids, text) {
  const labels = [...new Set(text.split(",").map((l) => l.trim()).filter(Boolean))];
  const { setDeviceLabels } = await ctx.gql(SET_LABELS, { ids, labels });
  return setDeviceLabels;
}

export async function createBatch(ctx, ids, { reference, organisationId, requiresConfirmation, label }) {
  const { createBatchFromSelection } = await ctx.gql(CREATE_BATCH, {
    reference, ids, org: organisationId, confirm: requiresConfirmation, label: label || null,
  });
  return createBatchFromSelection;
}

/** Options for the target organisation picker: { own: [..], below: [..], partners: [..] }. */
export async function batchTargets(ctx) {
  const me = ctx.session.user.organisation;
  const { organisations, organisation } = await ctx.gql(TARGETS, { me: me.id });
  const below = organisations.nodes.filter((o) => o.id !== me.id);
  const known = new Set(organisations.nodes.map((o) => o.id));
  return {
    own: [{ id: me.id, name: organisation?.name || me.name }],
    below,
    partners: (organisation?.partners || []).filter((p) => !known.has(p.id)),
  };
}
