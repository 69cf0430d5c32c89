// Who is logged in (the `me` query) and what their roles allow. The server decides; the console only
// hides what a role cannot do. The matrix mirrors resolvers/roles.py (design/architecture.md).

import { gql } from "./graphql.js";

export const ROLES = ["PLATFORM_ADMIN", "OTC_ADMIN", "KEY_MANAGER", "VIEWER"];

const KEY_MANAGER = ["READ_CATALOG", "MANAGE_BATCHES", "CLAIM_DEVICES", "RELEASE_KEYS", "MANAGE_API_TOKENS", "READ_AUDIT"];
const OTC_ADMIN = [...KEY_MANAGER, "MANAGE_USERS", "MANAGE_ORGANISATIONS", "MANAGE_TEMPLATES", "INTROSPECT"];

export const ROLE_PERMISSIONS = {
  VIEWER: ["READ_CATALOG"],
  KEY_MANAGER,
  OTC_ADMIN,
  PLATFORM_ADMIN: [...OTC_ADMIN, "IMPORT_DEVICES", "EDIT_SYSTEM_TEMPLATES", "VERIFY_AUDIT", "SEE_ALL_ORGANISATIONS"],
};

export const ME_FIELDS = `id name email roles language csvDelimiter csvThousandsSeparator mustChangePassword otpEnabled
  organisation { id name }`;

let me = null;

export const session = {
  get user() {
    return me;
  },
  get loggedIn() {
    return me !== null;
  },
  async load() {
    me = (await gql(`query Me { me { ${ME_FIELDS} } }`)).me;
    return me;
  },
  set(user) {
    me = user;
  },
  clear() {
    me = null;
  },
  hasRole(role) {
    return Boolean(me && me.roles.includes(role));
  },
  can(permission) {
    return Boolean(me && me.roles.some((role) => (ROLE_PERMISSIONS[role] || []).includes(permission)));
  },
  /** Every permission in the list (an empty list: any logged-in user). */
  canAll(permissions = []) {
    return permissions.every((p) => this.can(p));
  },
  /** Roles this user may hand to others: up to their highest own role (resolvers/roles.py grantable_roles). */
  grantableRoles() {
    if (!me) return [];
    const top = Math.min(...me.roles.map((role) => ROLES.indexOf(role)).filter((i) => i >= 0));
    return ROLES.filter((_, index) => index >= top);
  },
};
