// The flow list and the flow builder screen: palette, canvas, toolbar (undo/redo, zoom, validate,
// publish, export/import, drop-off), the side panels (node properties with inline validation,
// variables, versions, simulator), autosave of the draft and the keyboard shortcuts.
import { call, list, el, toast } from "./api.js";
import { FlowModel, NODE_TYPES, canonicalType, fieldErrors, readField, readDocument } from "./model.js";
import { Canvas } from "./canvas.js";
import { mountSimulator } from "./simulator.js";

const SAVE_DELAY_MS = 600;

function download(name, doc) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Reads a chosen file and creates a draft from it; resolves with the new flow's id. */
async function importFile(file) {
  const doc = readDocument(JSON.parse(await file.text()));
  const created = await call("POST", "/flows/import", { name: doc.name || file.name.replace(/\.json$/, ""), nodes: doc.nodes, edges: doc.edges, viewport: doc.viewport });
  return created.id;
}

function importButton(label) {
  const input = el("input", { type: "file", accept: "application/json,.json", class: "import-file", hidden: true });
  input.addEventListener("change", async () => {
    if (!input.files[0]) return;
    try {
      const id = await importFile(input.files[0]);
      toast("Imported as a new draft");
      location.hash = `#/flow/${id}`;
    } catch (err) {
      toast(`Import failed: ${err.message}`, "error");
    }
    input.value = "";
  });
  return [el("button", { type: "button", class: "import", onclick: () => input.click() }, label), input];
}

export async function flowList(main, ctx) {
  const flows = await list("/flows?limit=200");
  const rows = flows.map((f) => el("tr", {},
    el("td", {}, el("a", { href: `#/flow/${f.id}` }, f.name)),
    el("td", {}, String(f.node_count)),
    el("td", {}, f.latest_version ? `v${f.latest_version}` : "draft"),
    el("td", {}, new Date(f.updated_at).toLocaleString())));
  const create = el("form", { class: "inline", id: "new-flow" },
    el("input", { name: "name", placeholder: "New flow name", required: true, "aria-label": "New flow name" }),
    el("button", { type: "submit" }, "Create flow"), ...importButton("Import JSON…"));
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const f = await call("POST", "/flows", { name: create.name.value, nodes: [{ id: "start", type: "start", position: { x: 20, y: 200 }, data: {} }], edges: [], viewport: { x: 0, y: 0, zoom: 0.8 } });
      location.hash = `#/flow/${f.id}`;
    } catch (err) {
      toast(err.message, "error");
    }
  });
  main.append(el("header", { class: "page-head" }, el("h1", {}, "Flows"), ctx.canEdit ? create : null),
    flows.length ? el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Nodes"), el("th", {}, "Published"), el("th", {}, "Updated"))), el("tbody", {}, rows))
      : el("p", { class: "empty" }, "No flows yet."));
}

async function references() {
  const safe = (p) => list(p).catch(() => []);
  const [queues, departments, users, flows] = await Promise.all([safe("/queues?limit=200"), safe("/departments?limit=200"), safe("/users?limit=200"), safe("/flows?limit=200")]);
  return {
    queues: queues.map((q) => [q.id, q.name]),
    departments: departments.map((d) => [d.id, d.name]),
    agents: users.filter((u) => u.role !== "viewer").map((u) => [u.id, u.full_name || u.email]),
    flows: flows.map((f) => [f.id, f.name]),
  };
}

function parseInput(field, input) {
  switch (field.kind) {
    case "checkbox": return { value: input.checked || undefined };
    case "number": return input.value === "" ? { value: undefined } : { value: Number(input.value) };
    case "json":
      if (input.value.trim() === "") return { value: undefined };
      try { return { value: JSON.parse(input.value) }; } catch (err) { return { error: "not valid JSON: " + err.message }; }
    default: return { value: input.value === "" ? undefined : input.value };
  }
}

/** The properties panel of the selected node: one control per field, errors beside them. */
function propertiesPanel(b) {
  const { model, ctx } = b;
  const panel = el("div", { class: "panel-body" });
  const ids = [...model.selected];
  if (ids.length !== 1) {
    panel.append(el("p", { class: "muted" }, ids.length ? `${ids.length} nodes selected` : "Select a node to edit it; drag from the palette to add one."));
    if (b.problems.length) {
      panel.append(el("h3", {}, `Problems (${b.problems.length})`), el("ul", { class: "problems" }, b.problems.map((p) =>
        el("li", {}, el("button", { type: "button", class: "link", onclick: () => p.node_id && b.select(p.node_id) }, p.node_id || "flow"), ` ${p.field}: ${p.message}`))));
    }
    return panel;
  }
  const node = model.node(ids[0]);
  const type = canonicalType(node);
  const spec = NODE_TYPES[type];
  const local = fieldErrors(node);
  const serverErrors = b.problems.filter((p) => p.node_id === node.id);
  panel.append(el("h3", {}, spec ? spec.label : node.type, " ", el("code", {}, node.id)));
  if (serverErrors.length) panel.append(el("ul", { class: "problems node-problems" }, serverErrors.map((p) => el("li", {}, `${p.field}: ${p.message}`))));
  if (!spec) {
    panel.append(el("p", { class: "error" }, local.type));
    return panel;
  }
  const messages = new Map();
  const show = (errors) => {
    for (const [key, m] of messages) {
      m.textContent = errors[key] || "";
      m.previousElementSibling?.setAttribute("aria-invalid", errors[key] ? "true" : "false");
    }
  };
  const commit = (field, value) => {
    b.fromPanel = true;
    model.setField(node.id, field, value);
    b.fromPanel = false;
    show(fieldErrors(model.node(node.id)));
  };
  for (const field of spec.fields) {
    const value = readField(node.data, field);
    const disabled = !ctx.canEdit;
    let control;
    const name = `field-${field.key}`;
    if (field.kind === "buttons") {
      control = buttonsEditor(Array.isArray(value) ? value : [], disabled, (next) => commit(field, next));
    } else if (field.kind === "select" || field.kind === "ref") {
      const options = field.kind === "select" ? field.options.map((o) => [o, o || "—"]) : [["", "—"], ...(field.ref === "nodes" ? model.nodes.map((n) => [n.id, n.id]) : b.refs[field.ref] || [])];
      control = el("select", { name, disabled }, options.map(([v, label]) => el("option", { value: v, selected: String(value ?? "") === v }, label)));
    } else if (field.kind === "checkbox") {
      control = el("input", { type: "checkbox", name, checked: !!value, disabled });
    } else if (field.kind === "textarea" || field.kind === "json") {
      control = el("textarea", { name, rows: field.kind === "json" ? 4 : 3, disabled, spellcheck: field.kind !== "json" });
      control.value = field.kind === "json" ? (value === undefined ? "" : JSON.stringify(value, null, 1)) : value ?? "";
    } else {
      control = el("input", { name, type: field.kind === "number" ? "number" : "text", disabled });
      control.value = value ?? "";
    }
    const message = el("span", { class: "field-error", role: "alert" });
    messages.set(field.key, message);
    if (field.kind !== "buttons") {
      control.addEventListener(field.kind === "checkbox" || field.kind === "select" || field.kind === "ref" ? "change" : "input", () => {
        const parsed = parseInput(field, control);
        if (parsed.error) {
          message.textContent = parsed.error;
          control.setAttribute("aria-invalid", "true");
          return;
        }
        commit(field, parsed.value);
      });
    }
    panel.append(el("label", { class: "field" }, el("span", {}, field.label), control, message));
  }
  show(local);
  return panel;
}

function buttonsEditor(buttons, disabled, onChange) {
  const box = el("div", { class: "buttons-editor" });
  const rows = buttons.map((btn) => ({ id: btn.id ?? "", title: btn.title ?? "" }));
  const emit = () => onChange(rows.map((r) => ({ id: r.id, title: r.title })));
  const draw = () => {
    box.replaceChildren(...rows.map((r, i) => {
      const id = el("input", { value: r.id, placeholder: "id", class: "button-id", "aria-label": `Button ${i + 1} id`, disabled });
      const title = el("input", { value: r.title, placeholder: "title", class: "button-title", maxlength: 40, "aria-label": `Button ${i + 1} title`, disabled });
      id.addEventListener("input", () => { r.id = id.value; emit(); });
      title.addEventListener("input", () => { r.title = title.value; emit(); });
      return el("div", { class: "button-row" }, id, title, el("button", { type: "button", class: "icon", title: "Remove", disabled, onclick: () => { rows.splice(i, 1); emit(); draw(); } }, "×"));
    }), el("button", { type: "button", class: "add-button", disabled: disabled || rows.length >= 3, onclick: () => { rows.push({ id: `option_${rows.length + 1}`, title: `Option ${rows.length + 1}` }); emit(); draw(); } }, "Add button"));
  };
  draw();
  return box;
}

function variablesPanel(b) {
  const vars = b.model.variables();
  const link = (id) => el("button", { type: "button", class: "link", onclick: () => b.select(id) }, id);
  if (!vars.length) return el("p", { class: "muted panel-body" }, "No variables yet: questions, buttons, API calls and set-variable nodes create them; {{name}} in any text reads one.");
  return el("table", { class: "grid vars panel-body" },
    el("thead", {}, el("tr", {}, el("th", {}, "Variable"), el("th", {}, "Set by"), el("th", {}, "Used by"))),
    el("tbody", {}, vars.map((v) => el("tr", { class: !v.set.length && !v.builtin ? "warn" : "", dataset: { variable: v.name } },
      el("td", {}, el("code", {}, v.name)),
      el("td", {}, v.set.length ? v.set.map(link) : v.builtin ? "built in" : "never set"),
      el("td", {}, v.used.map(link))))));
}

function describeChanges(c) {
  if (!c) return "";
  if (c.first) return `first version: ${c.nodes_added} nodes, ${c.edges_added} connections`;
  const parts = [];
  if (c.nodes_added) parts.push(`+${c.nodes_added} nodes`);
  if (c.nodes_removed) parts.push(`−${c.nodes_removed} nodes`);
  if (c.nodes_changed) parts.push(`${c.nodes_changed} edited`);
  if (c.nodes_moved) parts.push(`${c.nodes_moved} moved`);
  if (c.edges_added) parts.push(`+${c.edges_added} connections`);
  if (c.edges_removed) parts.push(`−${c.edges_removed} connections`);
  return parts.join(", ") || "no changes";
}

async function versionsPanel(b) {
  const versions = await call("GET", `/flows/${b.id}/versions`);
  if (!versions.length) return el("p", { class: "muted panel-body" }, "Not published yet. Publishing makes the draft a version new conversations run.");
  return el("ol", { class: "versions panel-body" }, versions.map((v) => el("li", { dataset: { version: v.version } },
    el("strong", {}, `v${v.version}`), " ", el("span", { class: "muted" }, new Date(v.created_at).toLocaleString()),
    el("div", { class: "diff" }, describeChanges(v.changes)))));
}

const PALETTE_GROUPS = ["Basics", "Ask", "Logic", "Integrations", "Flow"];

function palette(b) {
  const box = el("aside", { class: "palette", "aria-label": "Node types" }, el("h2", {}, "Nodes"));
  for (const group of PALETTE_GROUPS) {
    box.append(el("h3", {}, group));
    for (const [type, spec] of Object.entries(NODE_TYPES).filter(([, s]) => s.group === group)) {
      const item = el("button", { type: "button", class: `palette-item type-${type}`, dataset: { type }, title: `Drag onto the canvas, or click to add ${spec.label}` }, spec.label);
      item.addEventListener("pointerdown", (e) => b.dragFromPalette(e, type));
      box.append(item);
    }
  }
  return box;
}

/** Opens the builder for flow `id`; returns its teardown. */
export async function openBuilder(main, ctx, id, { dropOff = false } = {}) {
  const [flow, refs] = await Promise.all([call("GET", `/flows/${id}`), references()]);
  const model = new FlowModel({ nodes: flow.nodes, edges: flow.edges, viewport: flow.viewport });
  const b = { id, ctx, model, refs, problems: [], tab: "properties", fromPanel: false, saving: null, dirty: false, timer: null };
  const status = el("span", { class: "save-state", id: "save-state" }, ctx.canEdit ? "Saved" : "Read only");
  const tabs = el("nav", { class: "tabs" });
  const panelHost = el("div", { class: "panel" });
  const simHost = el("div", { class: "panel sim-host", hidden: true });
  const stage = el("section", { class: "stage" });
  const btn = (label, action, attrs = {}) => el("button", { type: "button", onclick: action, ...attrs }, label);
  const toolbar = el("header", { class: "toolbar" },
    el("a", { href: "#/flows", class: "back" }, "← Flows"), el("strong", { class: "flow-name" }, flow.name), status,
    ctx.canEdit ? [btn("Undo", () => model.undo(), { id: "undo", title: "Undo (Ctrl+Z)" }), btn("Redo", () => model.redo(), { id: "redo", title: "Redo (Ctrl+Shift+Z)" }),
      btn("Duplicate", () => model.duplicateSelected(), { title: "Duplicate (Ctrl+D)" }), btn("Delete", () => model.deleteSelected(), { title: "Delete (Del)" })] : null,
    btn("−", () => b.canvas.zoomBy(1 / 1.2), { title: "Zoom out (-)" }), btn("+", () => b.canvas.zoomBy(1.2), { title: "Zoom in (+)" }), btn("Fit", () => b.canvas.fit(), { title: "Fit (0)" }),
    btn("Validate", () => b.validate(true), { id: "validate" }),
    ctx.canEdit ? btn("Publish", () => b.publish(), { id: "publish", class: "primary" }) : null,
    btn("Export", () => b.export(), { id: "export" }), ctx.canEdit ? importButton("Import") : null,
    btn("Drop-off", () => b.toggleDropOff(), { id: "dropoff", title: "Where runs stop, drawn on the nodes" }),
    btn("?", () => toast("Del delete · Ctrl+Z undo · Ctrl+Shift+Z redo · Ctrl+D duplicate · Ctrl+A select all · Ctrl+S save · +/− zoom · 0 fit · Esc deselect · Shift+drag box select"), { title: "Shortcuts" }));
  const side = el("aside", { class: "side" }, tabs, panelHost, simHost);
  main.append(el("div", { class: `builder${ctx.canEdit ? "" : " read-only"}` }, toolbar, el("div", { class: "builder-body" }, ctx.canEdit ? palette(b) : null, stage, side)));
  main.classList.add("full");

  b.canvas = new Canvas(stage, model, { readOnly: !ctx.canEdit, onOpenNode: (nid) => { b.select(nid); b.showTab("properties"); } });
  b.canvas.onError = (m) => toast(m, "error");
  if (flow.viewport && typeof flow.viewport.zoom === "number") {
    b.canvas.view = { x: flow.viewport.x || 0, y: flow.viewport.y || 0, k: flow.viewport.zoom };
    b.canvas.applyView();
  }
  b.canvas.render();
  if (!flow.viewport) b.canvas.fit();

  b.select = (nid) => { model.select([nid]); b.canvas.focusNode(nid); b.showTab("properties"); };
  b.renderPanel = async () => {
    for (const t of tabs.children) t.classList.toggle("active", t.dataset.tab === b.tab);
    simHost.hidden = b.tab !== "simulator";
    panelHost.hidden = b.tab === "simulator";
    if (b.tab === "properties") panelHost.replaceChildren(propertiesPanel(b));
    else if (b.tab === "variables") panelHost.replaceChildren(variablesPanel(b));
    else if (b.tab === "versions") panelHost.replaceChildren(await versionsPanel(b).catch((e) => el("p", { class: "error" }, e.message)));
  };
  b.showTab = (t) => { b.tab = t; b.renderPanel(); };
  const tabNames = [["properties", "Properties"], ["variables", "Variables"], ["versions", "Versions"]];
  if (ctx.canEdit) tabNames.push(["simulator", "Simulator"]);
  for (const [key, label] of tabNames) tabs.append(el("button", { type: "button", dataset: { tab: key }, onclick: () => b.showTab(key) }, label));
  if (ctx.canEdit) {
    mountSimulator(simHost, { flowId: id, beforeRun: () => b.flush(), highlight: (nid) => b.canvas.setCurrent(nid) });
  }

  // ---- saving and checking --------------------------------------------------------------------

  b.setStatus = (text, kind = "") => { status.textContent = text; status.dataset.kind = kind; };
  b.save = async () => {
    if (!ctx.canEdit) return;
    clearTimeout(b.timer);
    b.timer = null;
    if (b.saving) { await b.saving; if (!b.dirty) return; }
    b.dirty = false;
    b.setStatus("Saving…");
    const doc = model.toDocument();
    b.saving = call("PUT", `/flows/${id}`, { nodes: doc.nodes, edges: doc.edges, viewport: { x: b.canvas.view.x, y: b.canvas.view.y, zoom: b.canvas.view.k } })
      .then(() => { b.setStatus(b.dirty ? "Unsaved changes" : "Saved", "ok"); return b.validate(false); })
      .catch((err) => { b.dirty = true; b.setStatus(`Not saved: ${err.message}`, "error"); })
      .finally(() => { b.saving = null; });
    await b.saving;
  };
  b.flush = async () => {
    if (b.dirty || b.timer) await b.save();
    else if (b.saving) await b.saving;
  };
  b.validate = async (announce) => {
    if (announce) await b.flush();
    const report = await call("POST", `/flows/${id}/validate`).catch((err) => { toast(err.message, "error"); return null; });
    if (!report) return;
    b.showProblems(report.errors);
    if (announce) toast(report.valid ? "The flow is valid" : `${report.errors.length} problem(s): see the marked nodes`, report.valid ? "info" : "error");
  };
  b.showProblems = (errors) => {
    b.problems = errors;
    const byNode = new Map();
    for (const e of errors) if (e.node_id) byNode.set(e.node_id, [...(byNode.get(e.node_id) || []), `${e.field}: ${e.message}`]);
    b.canvas.setErrors(byNode);
    if (b.tab !== "properties") return;
    if (!panelHost.contains(document.activeElement)) return b.renderPanel();
    // The user is typing in the panel: refresh the node's problem list without stealing focus.
    const selected = [...model.selected][0];
    let box = panelHost.querySelector(".node-problems");
    if (!box) {
      box = el("ul", { class: "problems node-problems" });
      panelHost.querySelector("h3")?.after(box);
    }
    box.replaceChildren(...errors.filter((p) => p.node_id === selected).map((p) => el("li", {}, `${p.field}: ${p.message}`)));
  };
  b.publish = async () => {
    await b.flush();
    try {
      const v = await call("POST", `/flows/${id}/publish`);
      toast(`Published v${v.version}: ${describeChanges(v.changes)}`);
      b.showProblems([]);
      b.showTab("versions");
    } catch (err) {
      if (err.code === "flow_invalid" && err.details) b.showProblems(err.details.errors || []);
      toast(err.message, "error");
    }
  };
  b.export = async () => {
    await b.flush();
    const doc = await call("GET", `/flows/${id}/export`);
    download(`${flow.name.replace(/[^\w.-]+/g, "_") || "flow"}.json`, doc);
  };
  b.toggleDropOff = async () => {
    if (b.canvas.overlay.size) return b.canvas.setOverlay(new Map());
    try {
      const r = await call("GET", `/analytics/flows/${id}`);
      const overlay = new Map();
      for (const n of model.nodes) {
        const waiting = r.waiting_at[n.id] || 0, handed = r.handoffs_at[n.id] || 0;
        if (waiting || handed) overlay.set(n.id, `${waiting} waiting · ${handed} handed off`);
      }
      b.canvas.setOverlay(overlay);
      toast(`${r.started} runs started, ${r.completed} completed, ${r.handed_off} handed off${overlay.size ? "" : "; nobody stopped at a node"}`);
    } catch (err) {
      toast(err.message, "error");
    }
  };

  model.onChange((kind) => {
    b.canvas.render();
    if (kind === "graph") {
      if (ctx.canEdit) {
        b.dirty = true;
        b.setStatus("Unsaved changes");
        clearTimeout(b.timer);
        b.timer = setTimeout(() => b.save(), SAVE_DELAY_MS);
      }
      if (!b.fromPanel && b.tab !== "simulator") b.renderPanel();
    } else if (b.tab === "properties" || b.tab === "simulator") {
      if (b.tab === "simulator" && model.selected.size === 1) b.tab = "properties";
      b.renderPanel();
    }
  });

  // ---- palette drag ---------------------------------------------------------------------------

  b.dragFromPalette = (e, type) => {
    e.preventDefault();
    const ghost = el("div", { class: `node ghost type-${type}` }, NODE_TYPES[type].label);
    const start = { x: e.clientX, y: e.clientY };
    let moved = false;
    const place = (ev) => Object.assign(ghost.style, { left: ev.clientX - 20 + "px", top: ev.clientY - 14 + "px" });
    const onMove = (ev) => {
      if (!moved && Math.abs(ev.clientX - start.x) + Math.abs(ev.clientY - start.y) > 4) { moved = true; document.body.append(ghost); }
      if (moved) place(ev);
    };
    const onUp = (ev) => {
      document.removeEventListener("pointermove", onMove);
      document.removeEventListener("pointerup", onUp);
      ghost.remove();
      const r = b.canvas.viewport.getBoundingClientRect();
      const inside = ev.clientX >= r.left && ev.clientX <= r.right && ev.clientY >= r.top && ev.clientY <= r.bottom;
      if (moved && !inside) return;
      const at = moved ? b.canvas.toWorld(ev.clientX - 20, ev.clientY - 14) : b.canvas.center();
      try {
        model.addNode(type, at);
        b.showTab("properties");
      } catch (err) {
        toast(err.message, "error");
      }
    };
    document.addEventListener("pointermove", onMove);
    document.addEventListener("pointerup", onUp);
  };

  // ---- keyboard -------------------------------------------------------------------------------

  const keys = (e) => {
    if (e.target.closest("input, textarea, select")) return;
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key.toLowerCase();
    let handled = true;
    if (mod && k === "s") b.flush();
    else if (mod && k === "a") model.selectAll();
    else if (e.key === "Escape") model.select([]);
    else if (e.key === "+" || e.key === "=") b.canvas.zoomBy(1.2);
    else if (e.key === "-") b.canvas.zoomBy(1 / 1.2);
    else if (e.key === "0") b.canvas.fit();
    else if (!ctx.canEdit) handled = false;
    else if ((mod && k === "z" && e.shiftKey) || (mod && k === "y")) model.redo();
    else if (mod && k === "z") model.undo();
    else if (mod && k === "d") model.duplicateSelected();
    else if (e.key === "Delete" || e.key === "Backspace") model.deleteSelected();
    else handled = false;
    if (handled) e.preventDefault();
  };
  document.addEventListener("keydown", keys);
  const leaving = (e) => { if (b.dirty || b.saving) { e.preventDefault(); e.returnValue = ""; } };
  window.addEventListener("beforeunload", leaving);

  b.showTab("properties");
  b.validate(false);
  if (dropOff) b.toggleDropOff();
  window.__builder = b; // for the browser tests and the console (read only use)
  return () => {
    if (b.dirty) b.save();
    document.removeEventListener("keydown", keys);
    window.removeEventListener("beforeunload", leaving);
    main.classList.remove("full");
    delete window.__builder;
  };
}
