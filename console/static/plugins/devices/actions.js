// Claim devices and Download keys for the selected devices. Refused devices are listed with the
// reason (e.g. UNCLAIMED), never skipped silently.

import { h } from "../../core/dom.js";
import { tn } from "../../core/i18n.js";

const CLAIM = `mutation ClaimDevices($ids: [ID!]!) {
  claimDevices(deviceIds: $ids) { claimed { id serialNumber } refused { serialNumber reason } } }`;
const RELEASE = `mutation ReleaseKeys($input: ReleaseKeysInput!) {
  releaseKeys(input: $input) { filename deviceCount keyCount downloadUrl refused { serialNumber reason } } }`;
export const FORMATS = `query KeyFormats { keyFormats { id name fileExtension } }`;

/** "These devices were not included" with one line per device and a translated reason. */
export function refusedList(t, refused, serialOf) {
  if (!refused || !refused.length) return null;
  return h(
    "div",
    { class: "refused", dataset: { refused: String(refused.length) } },
    h("p", {}, tn("devices.refused.title", refused.length)),
    h(
      "ul",
      {},
      refused.map((r) => {
        const serial = serialOf(r.serialNumber);
        const reason = t(`devices.reason.${r.reason}`);
        return h("li", { dataset: { serial, reason: r.reason } }, h("strong", {}, serial), ": ", reason.startsWith("devices.reason.") ? r.reason : reason);
      }),
    ),
  );
}

export async function claim(ctx, ids) {
  const { claimDevices } = await ctx.gql(CLAIM, { ids });
  return claimDevices;
}

/** Create the key release and start the browser's download of its single-use URL. */
export async function downloadKeys(ctx, ids, format) {
  const { releaseKeys } = await ctx.gql(RELEASE, { input: { deviceIds: ids, format } });
  // The file comes from this same service; keep only the path so the cookie-less download stays
  // on the origin the console was loaded from (KMS_PUBLIC_URL may name another address).
  const url = new URL(releaseKeys.downloadUrl, window.location.href);
  const link = h("a", { href: `${url.pathname}${url.search}`, download: releaseKeys.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  return releaseKeys;
}
