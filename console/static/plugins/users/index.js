// Admin > Users (manual 9.1-9.3): the list with its filters and TOTAL USERS, adding a user, editing a user and
// setting another user's password.

import { renderAddUser } from "./add.js";
import { renderEditUser } from "./edit.js";
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
    { path: "/users/:id", title: "users.edit.title", requires, render: renderEditUser },
  ],
};
