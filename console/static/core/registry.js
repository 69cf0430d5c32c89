// Console plugins. A plugin is a plain object:
//
//   export default {
//     id: "users",
//     messages: { EN: {...}, DE: {...}, ES: {...}, SV: {...} },
//     menu: [{ section: "admin", label: "users.menu", route: "/users", requires: ["MANAGE_USERS"], order: 10 }],
//     routes: [{ path: "/users", title: "users.title", requires: ["MANAGE_USERS"], render: (main, ctx) => {...} }],
//   };
//
// Menu entries have a `route` (a hash route), an `href` (a page outside the console) or an
// `action` (a function of the context). `requires` lists permissions (core/session.js) and
// `roles`, if given, the roles of which the user needs one. Routes may be `public` (shown
// without a session, e.g. the login) and `allowPending` (shown while a password change is due).

import { addMessages } from "./i18n.js";

const plugins = [];

/** Menu sections in display order; plugins pick one by name. */
export const SECTIONS = ["catalog", "admin", "developer", "account"];

export function registerPlugin(plugin) {
  if (!plugin || typeof plugin.id !== "string") throw new Error("A console plugin needs an id");
  if (plugins.some((p) => p.id === plugin.id)) throw new Error(`Console plugin ${plugin.id} is registered twice`);
  if (plugin.messages) addMessages(plugin.messages);
  for (const entry of plugin.menu || []) {
    if (!SECTIONS.includes(entry.section)) throw new Error(`Unknown menu section ${entry.section} in ${plugin.id}`);
  }
  plugins.push(plugin);
}

export function registeredPlugins() {
  return plugins.map((p) => p.id);
}

export function allRoutes() {
  return plugins.flatMap((plugin) => (plugin.routes || []).map((route) => ({ ...route, plugin: plugin.id })));
}

/** Whether the session may see an entry or route. */
export function permitted(item, session) {
  if (!session.canAll(item.requires || [])) return false;
  if (item.roles && !item.roles.some((role) => session.hasRole(role))) return false;
  return true;
}

/** The menu for this user: { section: [entries sorted by order] }, empty sections left out. */
export function menuFor(session) {
  const menu = {};
  for (const plugin of plugins) {
    for (const entry of plugin.menu || []) {
      if (!permitted(entry, session)) continue;
      (menu[entry.section] ||= []).push({ ...entry, plugin: plugin.id });
    }
  }
  for (const entries of Object.values(menu)) entries.sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
  return menu;
}
