// The settings screens: organization, users and roles, WhatsApp numbers (secrets write-only, the
// webhook URL and verify token to copy into Meta's dashboard), departments, queues, chatbots
// (triggers, bound numbers, flows), templates per number and canned responses. Each list screen is
// described by a table and a form; the API's field errors are shown beside the fields.
import { call, list, el, toast } from "./api.js";

const options = (items, label = (x) => x.name) => items.map((x) => [x.id, label(x)]);
const loaders = {
  users: async () => options(await list("/users?limit=200"), (u) => u.full_name || u.email),
  departments: async () => options(await list("/departments?limit=200")),
  queues: async () => options(await list("/queues?limit=200")),
  numbers: async () => options(await list("/whatsapp/numbers?limit=200"), (n) => n.display_name || n.display_phone_number || n.phone_number_id),
  flows: async () => options(await list("/flows?limit=200")),
  chatbots: async () => options(await list("/chatbots?limit=200")),
};
const yes = (v) => (v ? "yes" : "no");

/** Each list screen: its API path, table columns and form fields. */
const SCREENS = {
  users: {
    title: "Users and roles", path: "/users",
    columns: [["full_name", "Name"], ["email", "Email"], ["role", "Role"], ["max_concurrent_conversations", "Capacity"], ["is_active", "Active", yes]],
    fields: [
      { key: "full_name", label: "Name", required: true }, { key: "email", label: "Email", type: "email", required: true },
      { key: "role", label: "Role", kind: "select", options: [["agent", "agent"], ["org_admin", "org_admin"], ["viewer", "viewer"]] },
      { key: "password", label: "Password (at least 8 characters)", type: "password", secret: true, requiredOnCreate: true },
      { key: "max_concurrent_conversations", label: "Max concurrent conversations", kind: "number" },
      { key: "is_active", label: "Active", kind: "checkbox", editOnly: true },
    ],
  },
  numbers: {
    title: "WhatsApp numbers", path: "/whatsapp/numbers",
    columns: [["display_name", "Name"], ["display_phone_number", "Number"], ["phone_number_id", "Phone number id"], ["has_access_token", "Token", yes], ["has_app_secret", "App secret", yes]],
    fields: [
      { key: "phone_number_id", label: "Phone number id (from Meta)", required: true, createOnly: true }, { key: "waba_id", label: "WhatsApp Business Account id" },
      { key: "display_phone_number", label: "Display number" }, { key: "display_name", label: "Display name" },
      { key: "access_token", label: "Access token", type: "password", secret: true }, { key: "app_secret", label: "App secret", type: "password", secret: true },
      { key: "verify_token", label: "Webhook verify token", type: "password", secret: true },
      { key: "default_flow_id", label: "Default flow", kind: "select", load: "flows", optional: true },
      { key: "default_chatbot_id", label: "Default chatbot", kind: "select", load: "chatbots", optional: true },
      { key: "default_department_id", label: "Default department", kind: "select", load: "departments", optional: true },
      { key: "messages_per_second", label: "Messages per second (Meta tier)", kind: "number" },
    ],
    actions: [["Webhook setup", webhookSetup]],
  },
  departments: {
    title: "Departments", path: "/departments",
    columns: [["name", "Name"], ["description", "Description"], ["agent_ids", "Agents", (a) => String((a || []).length)], ["is_active", "Active", yes]],
    fields: [
      { key: "name", label: "Name", required: true }, { key: "description", label: "Description" },
      { key: "agent_ids", label: "Agents", kind: "multi", load: "users" }, { key: "is_active", label: "Active", kind: "checkbox", editOnly: true },
    ],
  },
  queues: {
    title: "Queues", path: "/queues",
    columns: [["name", "Name"], ["priority", "Priority"], ["strategy", "Strategy"], ["sla_minutes", "SLA (min)"], ["max_size", "Max size"]],
    fields: [
      { key: "name", label: "Name", required: true }, { key: "department_id", label: "Department", kind: "select", load: "departments", optional: true },
      { key: "priority", label: "Priority", kind: "number" }, { key: "sla_minutes", label: "SLA (minutes)", kind: "number" },
      { key: "max_size", label: "Max size", kind: "number" }, { key: "overflow_queue_id", label: "Overflow queue", kind: "select", load: "queues", optional: true },
      { key: "strategy", label: "Strategy", kind: "select", options: [["round_robin", "round robin"], ["least_busy", "least busy"], ["manual", "manual (agents pull)"]] },
    ],
  },
  chatbots: {
    title: "Chatbots", path: "/chatbots",
    columns: [["name", "Name"], ["is_active", "Active", yes], ["number_ids", "Numbers", (a) => String((a || []).length)], ["triggers", "Triggers", (t) => [t?.default && "default", t?.fallback && "fallback", ...(t?.keywords || [])].filter(Boolean).join(", ")]],
    fields: [
      { key: "name", label: "Name", required: true }, { key: "description", label: "Description" }, { key: "is_active", label: "Active", kind: "checkbox" },
      { key: "number_ids", label: "Bound numbers", kind: "multi", load: "numbers" },
      { key: "main_flow_id", label: "Main flow", kind: "select", load: "flows", optional: true },
      { key: "fallback_flow_id", label: "Fallback flow", kind: "select", load: "flows", optional: true },
      { key: "triggers.keywords", label: "Keywords (comma separated)", kind: "list" },
      { key: "triggers.default", label: "Answer when no keyword matched", kind: "checkbox" },
      { key: "triggers.fallback", label: "Use as fallback", kind: "checkbox" },
    ],
  },
  canned: {
    title: "Canned responses", path: "/canned-responses",
    columns: [["shortcut", "Shortcut"], ["title", "Title"], ["text", "Text"]],
    fields: [{ key: "shortcut", label: "Shortcut", required: true }, { key: "title", label: "Title" }, { key: "text", label: "Text", kind: "textarea", required: true }],
  },
};

const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
function put(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] = o[k] || {};
  o[keys[keys.length - 1]] = value;
}

async function webhookSetup(item) {
  const s = await call("GET", `/whatsapp/numbers/${item.id}/webhook-setup`);
  const copy = (value) => el("button", { type: "button", onclick: () => navigator.clipboard?.writeText(value).then(() => toast("Copied")) }, "Copy");
  return el("div", { class: "card setup", id: "webhook-setup" }, el("h3", {}, "Paste these into Meta's App Dashboard (WhatsApp › Configuration)"),
    el("p", {}, "Callback URL ", el("code", { class: "callback-url" }, s.callback_url), " ", copy(s.callback_url)),
    el("p", {}, "Verify token ", s.verify_token ? [el("code", { class: "verify-token" }, s.verify_token), " ", copy(s.verify_token)] : el("em", {}, "none set: edit the number and set one")));
}

/** A form for `fields`, filled from `item` (null: create). Resolves the body to send. */
async function form(screen, item, canEdit, onDone) {
  const f = el("form", { class: "card form", id: "resource-form" }, el("h3", {}, item ? `Edit ${item.name || item.full_name || item.shortcut || item.display_name || ""}` : `New ${screen.title.toLowerCase().replace(/s$/, "")}`));
  const controls = new Map();
  for (const field of screen.fields) {
    if ((field.createOnly && item) || (field.editOnly && !item)) continue;
    const value = item ? get(item, field.key) : undefined;
    let c;
    if (field.kind === "select" || field.kind === "multi") {
      const opts = field.load ? await loaders[field.load]().catch(() => []) : field.options;
      c = el("select", { name: field.key, multiple: field.kind === "multi" }, field.optional ? el("option", { value: "" }, "—") : null,
        opts.filter(([id]) => !item || id !== item.id).map(([v, label]) => el("option", { value: v, selected: field.kind === "multi" ? (value || []).includes(v) : value === v }, label)));
    } else if (field.kind === "checkbox") {
      c = el("input", { type: "checkbox", name: field.key, checked: item ? !!value : field.key === "is_active" });
    } else if (field.kind === "textarea" || field.kind === "json") {
      c = el("textarea", { name: field.key, rows: field.kind === "json" ? 6 : 3, spellcheck: field.kind !== "json" });
      c.value = field.kind === "json" ? (value === undefined ? "[]" : JSON.stringify(value, null, 1)) : value ?? "";
    } else {
      c = el("input", { name: field.key, type: field.kind === "number" ? "number" : field.type || "text", required: field.required || (field.requiredOnCreate && !item) });
      if (field.secret) c.placeholder = item ? (item[`has_${field.key}`] ? "set · leave blank to keep" : "not set") : "";
      else c.value = field.kind === "list" ? (value || []).join(", ") : value ?? "";
    }
    c.disabled = !canEdit;
    controls.set(field.key, c);
    f.append(el("label", { class: field.kind === "checkbox" ? "field check" : "field" }, el("span", {}, field.label), c, el("span", { class: "field-error", dataset: { field: field.key } })));
  }
  if (canEdit) f.append(el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, item ? "Save" : "Create"), el("button", { type: "button", onclick: () => onDone(false) }, "Cancel")));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const field of screen.fields) {
      const c = controls.get(field.key);
      if (!c) continue;
      let v;
      if (field.kind === "checkbox") v = c.checked;
      else if (field.kind === "multi") v = [...c.selectedOptions].map((o) => o.value);
      else if (field.kind === "number") v = c.value === "" ? undefined : Number(c.value);
      else if (field.kind === "list") v = c.value.split(",").map((s) => s.trim()).filter(Boolean);
      else if (field.kind === "select") v = c.value === "" ? (field.optional && item ? null : undefined) : c.value;
      else v = c.value === "" ? (field.secret ? undefined : item ? null : undefined) : c.value;
      if (v !== undefined) put(body, field.key, v);
    }
    for (const m of f.querySelectorAll(".field-error")) m.textContent = "";
    for (const field of screen.fields.filter((x) => x.kind === "json" && controls.has(x.key))) {
      try { put(body, field.key, JSON.parse(controls.get(field.key).value || "null")); } catch (err) {
        f.querySelector(`.field-error[data-field="${field.key}"]`).textContent = `not valid JSON: ${err.message}`;
        return;
      }
    }
    try {
      await call(item ? "PUT" : "POST", item ? `${screen.path}/${item.id}` : screen.path, body);
      toast("Saved");
      onDone(true);
    } catch (err) {
      const fields = (err.details && err.details.fields) || [];
      for (const fe of fields) {
        const m = f.querySelector(`.field-error[data-field="${CSS.escape(fe.field)}"]`) || f.querySelector(`.field-error[data-field^="${CSS.escape(fe.field.split(".")[0])}"]`);
        if (m) m.textContent = fe.message;
      }
      toast(err.message, "error");
    }
  });
  return f;
}

async function resourceScreen(main, ctx, screen) {
  const items = await list(`${screen.path}?limit=200`);
  const detail = el("div", { class: "detail" });
  const reload = () => { main.replaceChildren(); resourceScreen(main, ctx, screen); };
  const open = async (item) => detail.replaceChildren(await form(screen, item, ctx.canEdit, (changed) => (changed ? reload() : detail.replaceChildren())));
  const rows = items.map((item) => el("tr", { dataset: { id: item.id } },
    screen.columns.map(([key, , fmt]) => el("td", {}, fmt ? fmt(get(item, key)) : String(get(item, key) ?? ""))),
    el("td", { class: "actions" },
      el("button", { type: "button", onclick: () => open(item) }, ctx.canEdit ? "Edit" : "View"),
      (screen.actions || []).map(([label, fn]) => el("button", { type: "button", onclick: async () => detail.replaceChildren(await fn(item).catch((e) => el("p", { class: "error" }, e.message))) }, label)),
      ctx.canEdit ? el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm("Delete it? This cannot be undone.")) return;
        try { await call("DELETE", `${screen.path}/${item.id}`); reload(); } catch (err) { toast(err.message, "error"); }
      } }, "Delete") : null)));
  main.append(
    el("header", { class: "page-head" }, el("h1", {}, screen.title), ctx.canEdit ? el("button", { type: "button", class: "primary", id: "new-item", onclick: () => open(null) }, "New") : null),
    items.length ? el("table", { class: "grid" }, el("thead", {}, el("tr", {}, screen.columns.map(([, label]) => el("th", {}, label)), el("th", {}))), el("tbody", {}, rows))
      : el("p", { class: "empty" }, "None yet."),
    detail);
}

async function organization(main, ctx) {
  const org = await call("GET", "/organizations/me");
  const f = el("form", { class: "card form", id: "org-form" }, el("h3", {}, "Organization"),
    el("label", { class: "field" }, el("span", {}, "Name"), el("input", { name: "name", value: org.name, required: true, disabled: !ctx.canEdit })),
    el("label", { class: "field" }, el("span", {}, "Slug"), el("input", { name: "slug", value: org.slug || "", disabled: !ctx.canEdit })),
    el("label", { class: "field" }, el("span", {}, "Time zone (IANA, e.g. America/Sao_Paulo)"), el("input", { name: "timezone", value: org.timezone || "", disabled: !ctx.canEdit })),
    el("span", { class: "field-error", role: "alert" }),
    ctx.canEdit ? el("button", { type: "submit", class: "primary" }, "Save") : null);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await call("PUT", "/organizations/me", { name: f.name.value, slug: f.slug.value, timezone: f.timezone.value });
      toast("Saved");
    } catch (err) {
      f.querySelector(".field-error").textContent = ((err.details && err.details.fields) || []).map((x) => `${x.field}: ${x.message}`).join("; ") || err.message;
    }
  });
  main.append(el("header", { class: "page-head" }, el("h1", {}, "Organization")), f);
}

async function templates(main, ctx) {
  const numbers = await list("/whatsapp/numbers?limit=200");
  main.append(el("header", { class: "page-head" }, el("h1", {}, "Templates")));
  if (!numbers.length) return main.append(el("p", { class: "empty" }, "Add a WhatsApp number first: templates belong to a number's business account."));
  const pickNumber = el("select", { "aria-label": "Number" }, numbers.map((n) => el("option", { value: n.id }, n.display_name || n.phone_number_id)));
  const body = el("div");
  const show = async () => {
    const path = `/whatsapp/numbers/${pickNumber.value}/templates`;
    const screen = {
      title: "Templates", path,
      columns: [["name", "Name"], ["language", "Language"], ["category", "Category"], ["status", "Status"]],
      fields: [{ key: "name", label: "Name (lowercase, digits, _)", required: true, createOnly: true }, { key: "language", label: "Language", required: true, createOnly: true },
        { key: "category", label: "Category", kind: "select", options: [["MARKETING", "MARKETING"], ["UTILITY", "UTILITY"], ["AUTHENTICATION", "AUTHENTICATION"]] },
        { key: "components", label: "Components (JSON)", kind: "json" }],
      actions: ctx.canEdit ? [["Submit to Meta", async (t) => { await call("POST", `${path}/${t.id}/submit`); toast("Submitted for review"); return el("span"); }]] : [],
    };
    body.replaceChildren();
    await resourceScreen(body, ctx, screen);
    if (ctx.canEdit) body.querySelector(".page-head")?.append(el("button", { type: "button", onclick: async () => { await call("POST", `${path}/sync`).catch((e) => toast(e.message, "error")); show(); } }, "Sync from Meta"));
  };
  pickNumber.addEventListener("change", show);
  main.append(el("div", { class: "row" }, "Number ", pickNumber), body);
  await show();
}

export async function settingsScreen(main, ctx, which) {
  if (which === "organization") return organization(main, ctx);
  if (which === "templates") return templates(main, ctx);
  const screen = SCREENS[which];
  if (!screen) return main.append(el("p", { class: "empty" }, "Nothing here."));
  return resourceScreen(main, ctx, screen);
}
