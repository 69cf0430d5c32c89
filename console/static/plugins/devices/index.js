// Device catalog > Devices (manual 10.1-10.4): filters, TOTAL DEVICES, keyset paging, and the
// selection actions "Claim devices" and "Download keys". A VIEWER sees the list without actions.

import { renderCatalog } from "./catalog.js";
import messages from "./messages.js";

export default {
  id: "devices",
  messages,
  menu: [{ id: "devices", section: "catalog", label: "devices.menu", route: "/devices", requires: ["READ_CATALOG"], order: 10 }],
  routes: [{ path: "/devices", title: "devices.title", requires: ["READ_CATALOG"], render: renderCatalog }],
};
