// The console's only back end: JSON POSTs to /graphql with the session cookie (same origin).
// Errors carry the API's extensions.code (shared/api/errors.md), which maps to a translated message.

import { formatNumber, t } from "./i18n.js";

const endpoint = () => document.getElementById("app")?.dataset.graphqlUrl || "/graphql";
const listeners = new Set();

export class ApiError extends Error {
  constructor(code, message, extensions = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.extensions = extensions;
  }
}

/** Called with every ApiError before it is thrown (the app sends UNAUTHENTICATED to the login). */
export function onApiError(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Run a query or mutation; resolves to `data`, rejects with an ApiError. */
export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch(endpoint(), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  } catch (cause) {
    throw raise(new ApiError("NETWORK", String(cause)));
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw raise(new ApiError("INTERNAL", `HTTP ${response.status}`));
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const extensions = first.extensions || {};
    throw raise(new ApiError(extensions.code || "INTERNAL", first.message, extensions));
  }
  return body.data;
}

function raise(error) {
  listeners.forEach((listener) => listener(error));
  return error;
}

/** A sentence for a person, in the user's language. */
export function errorMessage(error) {
  if (!(error instanceof ApiError)) return t("error.INTERNAL", { requestId: "–" });
  const ext = error.extensions || {};
  const params = {
    field: ext.field ? t(`field.${ext.field}`) : "",
    requestId: ext.requestId || "–",
    minutes: formatNumber(Math.max(1, Math.ceil((ext.retryAfter || 60) / 60))),
  };
  const key = `error.${error.code}`;
  const reasonKey = `error.reason.${ext.reason}`;
  if (ext.reason && t(reasonKey, params) !== reasonKey) return t(reasonKey, params);
  if (error.code === "BAD_USER_INPUT" && ext.field) return t("error.BAD_USER_INPUT.field", params);
  const text = t(key, params);
  return text === key ? t("error.INTERNAL", params) : text;
}

/**
 * Run a mutation with files, as a GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec).
 * `files` maps a variable path to a File: { "input.file": file } (that variable is sent as null and
 * replaced by the server). The header X-KMS-CSRF: 1 is required for multipart requests (app.py).
 * XMLHttpRequest, not fetch, so `onProgress(loaded, total)` can show the upload's progress.
 * Resolves to `data`, rejects with an ApiError, like gql().
 */
export function gqlUpload(query, variables, files, { onProgress } = {}) {
  const operations = { query, variables: structuredClone(variables) };
  const map = {};
  const form = new FormData();
  Object.keys(files).forEach((path, index) => {
    const keys = path.split(".");
    const last = keys.pop();
    keys.reduce((object, key) => object[key], operations.variables)[last] = null;
    map[String(index)] = [`variables.${path}`];
  });
  form.append("operations", JSON.stringify(operations));
  form.append("map", JSON.stringify(map));
  Object.values(files).forEach((file, index) => form.append(String(index), file, file.name));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", endpoint());
    xhr.withCredentials = false; // same origin: the session cookie goes along anyway
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-KMS-CSRF", "1");
    if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0));
    xhr.addEventListener("error", () => reject(raise(new ApiError("NETWORK", "upload failed"))));
    xhr.addEventListener("load", () => {
      let body;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        reject(raise(new ApiError("INTERNAL", `HTTP ${xhr.status}`)));
        return;
      }
      if (body.errors && body.errors.length) {
        const extensions = body.errors[0].extensions || {};
        reject(raise(new ApiError(extensions.code || "INTERNAL", body.errors[0].message, extensions)));
      } else {
        resolve(body.data);
      }
    });
    xhr.send(form);
  });
}
