// ACME's console module: a device panel for ACME heat meters. It imports the console's own helpers by
// their URLs and registers like a built-in console plugin; no core file knows about it.

import { h } from "/console/static/core/dom.js";

export default {
  id: "acme",
  messages: {
    EN: { "acme.panel.title": "ACME heat meter", "acme.meterCode": "Meter code", "acme.loop": "Heating loop" },
    DE: { "acme.panel.title": "ACME-Wärmezähler", "acme.meterCode": "Zählercode", "acme.loop": "Heizkreis" },
    ES: { "acme.panel.title": "Contador de calor ACME", "acme.meterCode": "Código del contador", "acme.loop": "Circuito de calefacción" },
    SV: { "acme.panel.title": "ACME-värmemätare", "acme.meterCode": "Mätarkod", "acme.loop": "Värmekrets" },
  },
  devicePanels: [
    {
      id: "acme-heat",
      deviceTypes: ["acme-heat-meter"],
      title: "acme.panel.title",
      render(container, device, ctx) {
        const values = Object.fromEntries(device.identifiers.map((i) => [i.name, i.value]));
        container.append(
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, ctx.t("acme.meterCode")),
            h("dd", { dataset: { acme: "meterCode" } }, values.meterCode),
            h("dt", {}, ctx.t("acme.loop")),
            h("dd", { dataset: { acme: "loop" } }, values.loop),
          ),
        );
      },
    },
  ],
};
