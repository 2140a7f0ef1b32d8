// The admin app's REST client: bearer tokens in sessionStorage (shared with the console), one
// silent refresh on 401, and the API's error model turned into exceptions with `code`, `status`
// and per-field `details`.

const base = "/api/v1";
const tokens = { access: sessionStorage.getItem("access"), refresh: sessionStorage.getItem("refresh") };

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.details = e.details || null;
  }
}

export const signedIn = () => !!tokens.access;

export function saveTokens(t) {
  tokens.access = t.access_token;
  tokens.refresh = t.refresh_token;
  sessionStorage.setItem("access", t.access_token);
  sessionStorage.setItem("refresh", t.refresh_token);
}

async function refresh() {
  if (!tokens.refresh) return false;
  const res = await fetch(base + "/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: tokens.refresh }),
  }).catch(() => null);
  if (!res || !res.ok) return false;
  saveTokens(await res.json());
  return true;
}

/** Calls the API; resolves with the parsed body (null when empty), rejects with an ApiError. */
export async function call(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = { "content-type": "application/json" };
    if (tokens.access) headers.authorization = "Bearer " + tokens.access;
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && attempt === 0 && path !== "/auth/login" && (await refresh())) continue;
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
}

/** A list endpoint's items, whether it answers a page (`{items}`) or an array. */
export async function list(path) {
  const d = await call("GET", path);
  return Array.isArray(d) ? d : (d && d.items) || [];
}

export async function signOut() {
  if (tokens.refresh) await call("POST", "/auth/logout", { refresh_token: tokens.refresh }).catch(() => {});
  sessionStorage.removeItem("access");
  sessionStorage.removeItem("refresh");
  location.reload();
}

/** `el("button", {class: "x", onclick}, "text", child)`: builds DOM without ever parsing HTML. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "style") Object.assign(e.style, v); // CSSOM: allowed by the strict CSP, unlike style attributes
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** A short-lived message at the bottom of the screen. */
export function toast(message, kind = "info") {
  let stack = document.querySelector(".toasts");
  if (!stack) document.body.append((stack = el("div", { class: "toasts" })));
  const t = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  stack.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 6000 : 3000);
}
