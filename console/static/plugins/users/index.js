// Admin > Users (manual 9.1-9.3): the list with its filters and TOTAL USERS, and adding a user.

import { renderAddUser } from "./add.js";
import { renderUsers } from "./list.js";
import messages from "./messages.js";

const requires = ["MANAGE_USERS"];

export default {
  id: "users",
  messages,
  menu: [{ id: "users", section: "admin", label: "users.menu", route: "/users", requires, order: 10 }],
  routes: [
    { path: "/users", title: "users.title", requires, render: renderUsers },
    { path: "/users/new", title: "users.add.title", requires, render: renderAddUser },
  ],
};
