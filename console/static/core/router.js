// Hash routes: #/devices?claimStatus=UNCLAIMED. Patterns may hold :params (#/users/:id).

export function currentLocation() {
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(search) };
}

export function match(pattern, path) {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(":")) params[want[i].slice(1)] = decodeURIComponent(got[i]);
    else if (want[i] !== got[i]) return null;
  }
  return params;
}

export function href(path, query = {}) {
  const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

export function navigate(path, query = {}) {
  const target = href(path, query);
  if (window.location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else window.location.hash = target;
}

/** Replace the current history entry (e.g. a redirect to the login) instead of adding one. */
export function redirect(path, query = {}) {
  const url = new URL(window.location.href);
  url.hash = href(path, query);
  window.history.replaceState(null, "", url);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function onRouteChange(listener) {
  window.addEventListener("hashchange", () => listener(currentLocation()));
}

/** Show the current filters in the address (for reload and bookmarks) without re-rendering the screen. */
export function replaceQuery(path, query = {}) {
  const url = new URL(window.location.href);
  url.hash = href(path, query);
  window.history.replaceState(null, "", url);
}
