// Admin > Audit log: the hash-chained events the API lets this user read (platform admins: all; OTC
// admins: their subtree; key managers: their own), and "Verify audit log" for platform admins.

import { renderAudit } from "./list.js";
import messages from "./messages.js";

const requires = ["READ_AUDIT"];

export default {
  id: "audit",
  messages,
  menu: [{ id: "audit", section: "admin", label: "audit.menu", route: "/audit", requires, order: 80 }],
  routes: [{ path: "/audit", title: "audit.title", requires, render: renderAudit }],
};
