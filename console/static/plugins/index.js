// The console's plugins, in menu order. A new area is a folder under plugins/ with an index.js that
// exports { id, messages, menu, routes } (see core/registry.js) and one line here.

import auth from "./auth/index.js";
import devices from "./devices/index.js";
import graphiql from "./graphiql/index.js";
import users from "./users/index.js";

export default [auth, devices, users, graphiql];
