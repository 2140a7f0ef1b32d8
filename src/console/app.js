// The PyTake agent console: REST for history and actions, one WebSocket for live events and
// commands (protocol in docs/CONSOLE.md). No framework; user data only ever goes in via textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const api = "/api/v1";
const state = {
  access: sessionStorage.getItem("access"),
  refresh: sessionStorage.getItem("refresh"),
  me: null,
  tab: "mine",
  conversations: new Map(),
  current: null,
  messages: new Map(),
  socket: null,
  lastSeq: null,
  retry: 0,
  commandId: 0,
  pending: new Map(),
  departments: [],
};

// ---- REST ----------------------------------------------------------------------------------

async function call(method, path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await fetch(api + path, {
      method,
      headers: Object.assign({ "content-type": "application/json" }, state.access ? { authorization: "Bearer " + state.access } : {}),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && attempt === 0 && state.refresh && path !== "/auth/refresh") {
      if (await refreshTokens()) continue;
      signOut();
    }
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || res.statusText);
      err.code = data && data.error && data.error.code;
      err.status = res.status;
      throw err;
    }
    return data;
  }
}

async function refreshTokens() {
  try {
    const res = await fetch(api + "/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: state.refresh }),
    });
    if (!res.ok) return false;
    saveTokens(await res.json());
    return true;
  } catch (_) {
    return false;
  }
}

function saveTokens(t) {
  state.access = t.access_token;
  state.refresh = t.refresh_token;
  sessionStorage.setItem("access", t.access_token);
  sessionStorage.setItem("refresh", t.refresh_token);
}

function signOut() {
  if (state.refresh) call("POST", "/auth/logout", { refresh_token: state.refresh }).catch(() => {});
  sessionStorage.clear();
  state.access = state.refresh = null;
  if (state.socket) state.socket.close();
  location.reload();
}

// ---- The socket ----------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + api + "/ws");
  state.socket = ws;
  ws.onopen = () => {
    const auth = { type: "auth", token: state.access };
    if (state.lastSeq !== null) auth.last_seq = state.lastSeq;
    ws.send(JSON.stringify(auth));
  };
  ws.onmessage = (e) => onFrame(JSON.parse(e.data));
  ws.onclose = async (e) => {
    setConnection(false, e.code === 4008 ? "Too slow, reconnecting…" : "Reconnecting…");
    for (const [, p] of state.pending) p.reject(new Error("disconnected"));
    state.pending.clear();
    if (e.code === 4001) {
      if (!(await refreshTokens())) return signOut();
    }
    const delay = Math.min(30000, 500 * 2 ** state.retry++) * (0.75 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

function command(type, fields) {
  const id = "c-" + ++state.commandId;
  return new Promise((resolve, reject) => {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return reject(new Error("not connected"));
    state.pending.set(id, { resolve, reject });
    state.socket.send(JSON.stringify(Object.assign({ type, id }, fields)));
  });
}

function onFrame(f) {
  if (typeof f.seq === "number") state.lastSeq = f.seq;
  switch (f.type) {
    case "ready":
      state.retry = 0;
      setConnection(true, "Live");
      $("presence").value = f.data.status === "offline" ? "available" : f.data.status;
      return;
    case "resync":
      return loadConversations().then(() => state.current && openConversation(state.current));
    case "ack":
    case "error": {
      const p = state.pending.get(f.id);
      if (!p) return;
      state.pending.delete(f.id);
      if (f.type === "ack") p.resolve(f.data);
      else p.reject(Object.assign(new Error(f.message), { code: f.code }));
      return;
    }
    case "conversation.created":
    case "conversation.updated":
      upsertConversation(f.data);
      if (state.current === f.data.id) renderHead();
      return;
    case "message.created":
      return onMessage(f.data);
    case "message.status":
      return onStatus(f.data);
    case "typing":
      if (f.data.conversation_id === state.current && f.data.user_id !== state.me.id) {
        $("typing").textContent = "Someone is typing…";
        setTimeout(() => ($("typing").textContent = ""), 3000);
      }
      return;
  }
}

function setConnection(online, text) {
  $("connection").className = "dot " + (online ? "online" : "offline");
  $("connection-text").textContent = text;
}

// ---- Conversations -------------------------------------------------------------------------

async function loadConversations() {
  const lists = await Promise.all([
    call("GET", "/conversations?status=assigned&mine=true&limit=100"),
    call("GET", "/conversations?status=queued&limit=100"),
    state.me.role === "agent" ? { items: [] } : call("GET", "/conversations?status=open&limit=100"),
  ]);
  state.conversations.clear();
  for (const l of lists) for (const c of l.items) state.conversations.set(c.id, c);
  renderList();
}

function upsertConversation(c) {
  state.conversations.set(c.id, Object.assign(state.conversations.get(c.id) || {}, c));
  renderList();
}

function inTab(c) {
  if (state.tab === "mine") return c.assigned_agent_id === state.me.id && c.status === "assigned";
  if (state.tab === "queue") return c.status === "queued";
  return c.status !== "closed";
}

function renderList() {
  const ul = $("conversations");
  ul.replaceChildren();
  const items = [...state.conversations.values()].filter(inTab)
    .sort((a, b) => (b.last_message_at || "").localeCompare(a.last_message_at || ""));
  for (const c of items) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    if (c.id === state.current) li.className = "selected";
    const name = document.createElement("span");
    name.textContent = c.contact.name || "+" + c.contact.wa_id;
    const unread = document.createElement("span");
    if (c.unread_count > 0) { unread.className = "unread"; unread.textContent = c.unread_count; }
    const when = document.createElement("span");
    when.className = "muted";
    when.textContent = c.last_message_at ? new Date(c.last_message_at).toLocaleTimeString() : "";
    li.append(name, unread, when);
    li.onclick = () => openConversation(c.id);
    ul.append(li);
  }
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = state.tab === "queue" ? "Nobody is waiting." : "No conversations.";
    ul.append(li);
  }
}

async function openConversation(id) {
  state.current = id;
  $("empty").hidden = true;
  $("thread").hidden = false;
  if (!state.conversations.has(id)) state.conversations.set(id, await call("GET", "/conversations/" + id));
  renderList();
  renderHead();
  const page = await call("GET", "/conversations/" + id + "/messages?limit=200");
  state.messages = new Map(page.items.map((m) => [m.id, m]));
  renderMessages();
  const c = state.conversations.get(id);
  if (c.unread_count > 0 && c.status !== "closed") command("mark_read", { conversation_id: id }).catch(() => {});
}

function windowOpen(c) {
  return c.window_expires_at && new Date(c.window_expires_at) > new Date();
}

function renderHead() {
  const c = state.conversations.get(state.current);
  if (!c) return;
  $("contact-name").textContent = c.contact.name || "";
  $("contact-number").textContent = "+" + c.contact.wa_id;
  $("conversation-status").textContent = c.status;
  const closed = c.status === "closed";
  $("assign-me").hidden = closed || c.assigned_agent_id === state.me.id;
  $("close").hidden = closed;
  $("reopen").hidden = !closed;
  $("transfer").hidden = closed;
  const readOnly = state.me.role === "viewer";
  for (const b of ["assign-me", "close", "reopen", "transfer", "send", "note"]) $(b).disabled = readOnly;
  const open = windowOpen(c);
  $("template").hidden = open;
  $("text").placeholder = open ? "Write a reply…" : "Optional note text";
  renderWindow();
}

function renderWindow() {
  const c = state.current && state.conversations.get(state.current);
  if (!c) return;
  if (!windowOpen(c)) { $("window").textContent = "Window closed"; return; }
  const left = Math.max(0, new Date(c.window_expires_at) - new Date());
  const h = Math.floor(left / 3600000), m = Math.floor((left % 3600000) / 60000);
  $("window").textContent = "Window " + h + "h " + String(m).padStart(2, "0") + "m";
}

function tick(m) {
  if (m.direction !== "outbound" || m.is_internal_note) return null;
  const span = document.createElement("span");
  span.className = "tick " + m.status;
  span.dataset.status = m.status;
  span.textContent = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "✗", played: "✓✓" }[m.status] || "";
  if (m.status === "failed" && m.error) span.title = (m.error.code || "") + " " + (m.error.title || "");
  return span;
}

function messageNode(m) {
  const li = document.createElement("li");
  li.dataset.id = m.id;
  li.className = "msg " + (m.is_internal_note ? "note" : m.direction);
  const body = document.createElement("span");
  if (m.text) body.textContent = m.text;
  else {
    body.className = "media";
    const caption = m.content && (m.content.caption || (m.content[m.type] && m.content[m.type].caption));
    body.textContent = "[" + m.type + "]" + (caption ? " " + caption : "");
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = new Date(m.created_at).toLocaleTimeString() + " ";
  const t = tick(m);
  if (t) meta.append(t);
  li.append(body, meta);
  return li;
}

function renderMessages() {
  const ol = $("messages");
  ol.replaceChildren(...[...state.messages.values()].map(messageNode));
  ol.scrollTop = ol.scrollHeight;
}

function onMessage(m) {
  const c = state.conversations.get(m.conversation_id);
  if (c) {
    c.last_message_at = m.created_at;
    if (m.direction === "inbound" && m.conversation_id !== state.current) c.unread_count = (c.unread_count || 0) + 1;
    renderList();
  }
  if (m.conversation_id !== state.current) return;
  state.messages.set(m.id, m);
  const ol = $("messages");
  const existing = ol.querySelector('[data-id="' + m.id + '"]');
  if (existing) existing.replaceWith(messageNode(m));
  else ol.append(messageNode(m));
  ol.scrollTop = ol.scrollHeight;
  if (m.direction === "inbound") command("mark_read", { conversation_id: m.conversation_id }).catch(() => {});
}

const statusRank = { pending: 0, sent: 1, delivered: 2, read: 3, played: 4, failed: 5 };

function onStatus(s) {
  const m = state.messages.get(s.message_id);
  if (!m || (statusRank[s.status] ?? 0) < (statusRank[m.status] ?? 0)) return;
  m.status = s.status;
  if (s.error) m.error = s.error;
  onMessage(m);
}

// ---- Actions -------------------------------------------------------------------------------

async function act(promise) {
  $("composer-error").textContent = "";
  try {
    return await promise;
  } catch (e) {
    $("composer-error").textContent = e.message;
  }
}

function wire() {
  $("login-form").onsubmit = async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    try {
      saveTokens(await call("POST", "/auth/login", { email: $("login-email").value, password: $("login-password").value }));
      await start();
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  };
  $("logout").onclick = signOut;
  for (const b of document.querySelectorAll(".tabs button")) {
    b.onclick = () => {
      state.tab = b.dataset.tab;
      for (const o of document.querySelectorAll(".tabs button")) o.classList.toggle("active", o === b);
      renderList();
    };
  }
  $("presence").onchange = () => act(command("set_status", { status: $("presence").value }));
  $("take-next").onclick = async () => {
    const r = await act(command("take_next", {}));
    if (r && r.conversation) { upsertConversation(r.conversation); openConversation(r.conversation.id); }
    else if (r) $("composer-error").textContent = "Nobody is waiting.";
  };
  $("assign-me").onclick = () => act(command("assign", { conversation_id: state.current }));
  $("close").onclick = () => act(command("close", { conversation_id: state.current }));
  $("reopen").onclick = () => act(command("reopen", { conversation_id: state.current }));
  $("transfer").onchange = async () => {
    const department = $("transfer").value;
    $("transfer").value = "";
    if (department) await act(command("transfer", { conversation_id: state.current, department_id: department }));
  };
  $("note").onclick = async () => {
    const text = $("text").value.trim();
    if (!text) return;
    if (await act(command("note", { conversation_id: state.current, text }))) $("text").value = "";
  };
  let typingSent = 0;
  $("text").oninput = () => {
    if (Date.now() - typingSent > 3000 && state.current) {
      typingSent = Date.now();
      command("typing", { conversation_id: state.current }).catch(() => {});
    }
  };
  $("text").onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
  };
  $("composer").onsubmit = async (e) => {
    e.preventDefault();
    const c = state.conversations.get(state.current);
    const fields = { conversation_id: state.current, client_id: crypto.randomUUID() };
    if (windowOpen(c)) {
      fields.text = $("text").value.trim();
      if (!fields.text) return;
    } else {
      const params = $("template-params").value.split(",").map((p) => p.trim()).filter(Boolean);
      fields.template = { name: $("template-name").value.trim(), language: $("template-language").value.trim(), parameters: params };
    }
    const r = await act(command("send_message", fields));
    if (r) { $("text").value = ""; onMessage(r.message); }
  };
  setInterval(renderWindow, 30000);
}

async function start() {
  state.me = await call("GET", "/auth/me");
  $("login").hidden = true;
  $("app").hidden = false;
  $("me-name").textContent = state.me.full_name || state.me.email;
  $("me-role").textContent = state.me.role;
  $("tab-all").hidden = state.me.role === "agent";
  $("take-next").hidden = state.me.role === "viewer";
  try {
    state.departments = (await call("GET", "/departments?limit=200")).items;
    for (const d of state.departments) {
      const o = document.createElement("option");
      o.value = d.id;
      o.textContent = "→ " + d.name;
      $("transfer").append(o);
    }
  } catch (_) { /* transfers by department are then unavailable */ }
  await loadConversations();
  connect();
}

wire();
if (state.access) start().catch(() => { $("login").hidden = false; });
else $("login").hidden = false;
