// The console's plugins, in menu order. A new area is a folder under plugins/ with an index.js that
// exports { id, messages, menu, routes } (see core/registry.js) and one line here.

import audit from "./audit/index.js";
import auth from "./auth/index.js";
import batches from "./batches/index.js";
import devices from "./devices/index.js";
import graphiql from "./graphiql/index.js";
import invites from "./invites/index.js";
import lorawan from "./lorawan/index.js";
import mailbox from "./mailbox/index.js";
import oms from "./oms/index.js";
import organisations from "./organisations/index.js";
import templates from "./templates/index.js";
import users from "./users/index.js";

export default [auth, devices, batches, users, invites, organisations, templates, audit, graphiql, mailbox, oms, lorawan];
