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
//
// Device panels add sections to the device page (#/devices/:id), e.g. a device type's identifiers:
//
//     devicePanels: [{ id: "oms-identifiers", radio: ["WMBUS", "MBUS"], title: "oms.panel.title",
//                      order: 10, requires: [], render: (container, device, ctx) => {...} }],
//
// `radio` (a Radio or a list) and `deviceTypes` (device type ids) choose the devices a panel is for;
// without either it shows on every device page; `when(device)`, if given, must also hold. `title` is a message key. `render` gets an empty
// <section>'s body, the device ({ id, serialNumber, deviceType { id name product radio }, identifiers
// [{ name value }], ... }) and the route context (ctx.gql, ctx.t, ctx.session). Plugins of Python
// device-type plugins (Plugin.console_modules) are loaded by main.js after the built-ins and register
// the same way.

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
  for (const panel of plugin.devicePanels || []) {
    if (typeof panel.id !== "string" || typeof panel.render !== "function" || typeof panel.title !== "string") {
      throw new Error(`A device panel of ${plugin.id} needs an id, a title and a render function`);
    }
  }
  plugins.push(plugin);
}

function asList(value) {
  if (value === undefined || value === null) return null;
  return Array.isArray(value) ? value : [value];
}

/** The device panels for a device page, in order, that this session may see. */
export function devicePanelsFor(device, session) {
  const panels = [];
  for (const plugin of plugins) {
    for (const panel of plugin.devicePanels || []) {
      const radios = asList(panel.radio);
      const types = asList(panel.deviceTypes);
      if (radios && !radios.includes(device.deviceType.radio)) continue;
      if (types && !types.includes(device.deviceType.id)) continue;
      if (panel.when && !panel.when(device)) continue;
      if (!permitted(panel, session)) continue;
      panels.push({ ...panel, plugin: plugin.id });
    }
  }
  return panels.sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
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
