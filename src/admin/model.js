// The flow builder's canvas model: node types with their fields and exits, the graph and its
// edits, selection, undo/redo, React-Flow import/export and the variables index. Pure (no DOM):
// the browser draws it (builder.js) and node's test runner checks it (tests/e2e/model.test.mjs).

const text = (key, label, extra = {}) => ({ key, label, kind: "text", ...extra });
const area = (key, label, extra = {}) => ({ key, label, kind: "textarea", ...extra });
const num = (key, label, extra = {}) => ({ key, label, kind: "number", ...extra });
const pick = (key, label, options, extra = {}) => ({ key, label, kind: "select", options, ...extra });
const json = (key, label, extra = {}) => ({ key, label, kind: "json", ...extra });
const check = (key, label, extra = {}) => ({ key, label, kind: "checkbox", ...extra });
const variable = (key, label, extra = {}) => ({ key, label, kind: "text", variable: true, ...extra });

const timeout = [num("timeoutSeconds", "Timeout (seconds)", { aliases: ["timeoutMinutes"] }), text("timeoutMessage", "Timeout message")];
const attempts = [num("validation.maxAttempts", "Attempts", { aliases: ["maxAttempts"] }), text("validation.errorMessage", "Retry message", { aliases: ["errorMessage"] })];

/** Every node type of the engine (docs/FLOWS.md), in palette order. */
export const NODE_TYPES = {
  start: { label: "Start", group: "Basics", fields: [], defaults: {} },
  message: {
    label: "Message", group: "Basics",
    fields: [area("content", "Text", { aliases: ["messageText", "text", "message"] }),
      pick("mediaType", "Media", ["", "image", "video", "audio", "document", "sticker"]),
      text("mediaUrl", "Media URL", { aliases: ["link", "url"] }), text("mediaId", "Media id"), text("caption", "Caption"), text("filename", "File name")],
    defaults: { content: "" },
  },
  question: {
    label: "Question", group: "Ask",
    fields: [area("content", "Question", { aliases: ["questionText", "question", "messageText"], required: true }),
      pick("responseType", "Answer type", ["text", "number", "email", "phone", "date", "options", "regex"], { aliases: ["inputType"] }),
      variable("variableName", "Save answer to", { aliases: ["outputVariable", "variable"] }),
      json("options", "Options (for an options answer)"), text("validation.pattern", "Pattern (for a regex answer)", { aliases: ["pattern"], regex: true }),
      ...attempts, ...timeout],
    defaults: { content: "", responseType: "text", variableName: "" },
  },
  interactive_buttons: {
    label: "Buttons", group: "Ask",
    fields: [area("bodyText", "Body", { aliases: ["body", "content", "messageText", "text"], required: true }),
      { key: "buttons", label: "Buttons (1-3, titles up to 20)", kind: "buttons" },
      text("headerText", "Header", { aliases: ["header"] }), text("footerText", "Footer", { aliases: ["footer"] }),
      variable("variableName", "Save choice to", { aliases: ["outputVariable", "saveToVariable"] }), ...attempts, ...timeout],
    defaults: { bodyText: "", buttons: [{ id: "yes", title: "Yes" }, { id: "no", title: "No" }] },
  },
  interactive_list: {
    label: "List", group: "Ask",
    fields: [area("bodyText", "Body", { aliases: ["body", "content", "messageText", "text"], required: true }),
      text("buttonText", "Button text", { aliases: ["button"], max: 20 }),
      json("sections", "Sections [{title, rows: [{id, title, description}]}]"),
      variable("variableName", "Save choice to", { aliases: ["outputVariable", "saveToVariable"] }), ...attempts, ...timeout],
    defaults: { bodyText: "", buttonText: "Options", sections: [{ title: "Options", rows: [{ id: "one", title: "One" }] }] },
  },
  condition: {
    label: "Condition", group: "Logic",
    fields: [json("branches", "Branches [{id, logic, conditions: [{variable, operator, value}]}]")],
    defaults: { branches: [{ id: "branch_1", logic: "and", conditions: [{ variable: "", operator: "==", value: "" }] }] },
  },
  set_variable: {
    label: "Set variable", group: "Logic",
    fields: [json("variables", "Variables [{name, valueType, value, operation}]")],
    defaults: { variables: [{ name: "", valueType: "static", value: "", operation: "set" }] },
  },
  random: {
    label: "Random", group: "Logic",
    fields: [json("paths", "Paths [{id, weight}]"), variable("saveToVariable", "Save path to", { aliases: ["variableName"] })],
    defaults: { paths: [{ id: "a", weight: 1 }, { id: "b", weight: 1 }] },
  },
  datetime: {
    label: "Date & time", group: "Logic",
    fields: [pick("operation", "Operation", ["get_current", "format", "add", "compare", "parse", "business_hours"]),
      text("timezone", "Time zone"), text("format", "Format"), text("inputFormat", "Input format"),
      num("addAmount", "Add amount"), pick("addUnit", "Add unit", ["", "minutes", "hours", "days"]),
      text("sourceVariable", "Source variable"), text("compareWith", "Compare with"), text("compareOperator", "Compare operator"),
      json("days", "Business days"), text("startTime", "Opens"), text("endTime", "Closes"), variable("outputVariable", "Save to")],
    defaults: { operation: "get_current", outputVariable: "now" },
  },
  api_call: {
    label: "API call", group: "Integrations",
    fields: [pick("method", "Method", ["GET", "POST", "PUT", "PATCH", "DELETE"]), text("url", "URL", { required: true, url: true }),
      json("headers", "Headers"), json("queryParams", "Query parameters", { aliases: ["query"] }), json("body", "Body"),
      num("timeout", "Timeout (1-30 s)", { aliases: ["timeoutSeconds"], min: 1, maxValue: 30 }),
      variable("responseVariable", "Save response to", { aliases: ["outputVariable", "variableName"] }),
      json("mappings", "Mappings [{variable, pointer}]"), json("errorHandling", "Error handling {maxRetries, retryDelay, onError}")],
    defaults: { method: "GET", url: "https://", responseVariable: "api_response" },
  },
  whatsapp_template: {
    label: "Template", group: "Integrations",
    fields: [text("templateName", "Template name", { aliases: ["name"], required: true }), text("languageCode", "Language", { aliases: ["language"] }),
      json("parameters", "Parameters"), json("components", "Components")],
    defaults: { templateName: "", languageCode: "en_US" },
  },
  action: {
    label: "Action", group: "Integrations",
    fields: [json("actions", "Actions [{type: webhook | save_contact | update_variable, config}]")],
    defaults: { actions: [{ type: "save_contact", config: { fields: { name: "{{name}}" } } }] },
  },
  analytics: {
    label: "Analytics", group: "Integrations",
    fields: [text("eventName", "Event", { required: true }), text("eventValue", "Value"), json("eventProperties", "Properties"),
      json("tags", "Tags"), check("incrementCounter", "Count it"), variable("saveToVariable", "Save to")],
    defaults: { eventName: "" },
  },
  delay: {
    label: "Delay", group: "Flow",
    fields: [num("delaySeconds", "Seconds", { aliases: ["seconds"], min: 1 }), text("delayMessage", "Message while waiting", { aliases: ["message"] })],
    defaults: { delaySeconds: 60 },
  },
  handoff: {
    label: "Handoff", group: "Flow",
    fields: [pick("handoffType", "To", ["queue", "department", "agent"], { aliases: ["transferType", "target"] }),
      { key: "queueId", label: "Queue", kind: "ref", ref: "queues" }, { key: "departmentId", label: "Department", kind: "ref", ref: "departments" },
      { key: "agentId", label: "Agent", kind: "ref", ref: "agents" }, pick("priority", "Priority", ["medium", "low", "high", "urgent"]),
      text("transferMessage", "Message to the customer", { aliases: ["message"] }), text("contextMessage", "Note for the agent", { aliases: ["note"] })],
    defaults: { handoffType: "queue", priority: "medium" },
  },
  jump: {
    label: "Jump", group: "Flow",
    fields: [pick("jumpType", "Jump to", ["node", "flow"]), { key: "targetNodeId", label: "Node", kind: "ref", ref: "nodes", aliases: ["target_node_id"] },
      { key: "targetFlowId", label: "Flow", kind: "ref", ref: "flows", aliases: ["target_flow_id"] }, json("variableMapping", "Variables to pass")],
    defaults: { jumpType: "node" },
  },
  end: {
    label: "End", group: "Flow",
    fields: [area("content", "Farewell", { aliases: ["farewellMessage", "messageText"] }), check("close", "Close the conversation", { aliases: ["closeConversation"] })],
    defaults: { content: "" },
  },
};

const ALIASES = {
  input: "start", text: "message", output: "end", buttons: "interactive_buttons", list: "interactive_list",
  variable: "set_variable", http_request: "api_call", transfer: "handoff", jump_to_flow: "jump", goto: "jump",
  wait: "delay", template: "whatsapp_template", date_time: "datetime",
};
/** Types the original had that we import but refuse at publish (they ran arbitrary code or SQL). */
export const UNSUPPORTED = ["ai_prompt", "script", "database_query"];
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAIN_HANDLES = ["", "default", "next", "out", "output", "source"];

/** The engine's type for a node: aliases resolved, and the original's `default`/`custom` nodes read from data. */
export function canonicalType(node) {
  let t = node.type || "";
  if (!t || t === "default" || t === "custom") t = (node.data && (node.data.nodeType || node.data.type)) || t;
  return ALIASES[t] || t;
}

const getPath = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== "object" || o[k] === null) o[k] = {};
    o = o[k];
  }
  const last = keys[keys.length - 1];
  if (value === undefined || value === "") delete o[last];
  else o[last] = value;
}

/** The key a field is stored under in this node: an alias the node already uses, else the field's own key. */
export function fieldKey(data, field) {
  if (getPath(data, field.key) !== undefined) return field.key;
  return (field.aliases || []).find((a) => getPath(data, a) !== undefined) || field.key;
}

export function readField(data, field) {
  return getPath(data || {}, fieldKey(data || {}, field));
}

/** A node's exits: `{id, label}`, where id null is the plain (unnamed) exit. */
export function handlesOf(node) {
  const d = node.data || {};
  const timed = d.timeoutSeconds || d.timeoutMinutes;
  const choice = (ids) => [...ids, { id: "invalid", label: "invalid" }, ...(timed ? [{ id: "timeout", label: "timeout" }] : [])];
  switch (canonicalType(node)) {
    case "end": case "handoff": case "jump": return [];
    case "question": return choice([{ id: "valid", label: "valid" }]);
    case "interactive_buttons":
      return choice((Array.isArray(d.buttons) ? d.buttons : []).map((b, i) => ({ id: String(b.id || b.value || `button_${i}`), label: b.title || b.text || b.label || b.id })));
    case "interactive_list":
      return choice((Array.isArray(d.sections) ? d.sections : []).flatMap((s) => (Array.isArray(s.rows) ? s.rows : []))
        .map((r, i) => ({ id: String(r.id || r.value || `row_${i}`), label: r.title || r.text || r.id })));
    case "condition": {
      const branches = Array.isArray(d.branches) ? d.branches.map((b, i) => ({ id: String(b.id || b.handle || `branch_${i}`), label: b.id || `branch ${i + 1}` }))
        : [{ id: "true", label: "true" }];
      return [...branches, { id: "default", label: "default" }];
    }
    case "random": return (Array.isArray(d.paths) ? d.paths : []).map((p, i) => ({ id: String(p.id || `path_${i}`), label: `${p.id || i} (${p.weight ?? 1})` }));
    case "api_call": return [{ id: "success", label: "success" }, { id: "error", label: "error" }];
    case "datetime": return d.operation === "compare" || d.operation === "business_hours" ? [{ id: "true", label: "true" }, { id: "false", label: "false" }] : [{ id: null, label: "" }];
    default:
      if (UNSUPPORTED.includes(canonicalType(node)) || !NODE_TYPES[canonicalType(node)]) return [{ id: null, label: "" }];
      return [{ id: null, label: "" }];
  }
}

/** Which of `handles` an edge leaves from (by sourceHandle, else by the original's label), or -1. */
export function handleIndex(handles, edge) {
  const named = edge.sourceHandle ?? edge.label ?? "";
  const h = String(named).toLowerCase();
  let i = handles.findIndex((x) => x.id !== null && x.id.toLowerCase() === h);
  if (i >= 0) return i;
  const yes = ["true", "yes", "sim"], no = ["false", "no", "não", "nao", "else"];
  if (yes.includes(h)) i = handles.findIndex((x) => x.id === "true");
  else if (no.includes(h)) i = handles.findIndex((x) => x.id === "false" || x.id === "default");
  if (i >= 0) return i;
  if (MAIN_HANDLES.includes(h)) return handles.length ? 0 : -1;
  return -1;
}

/** Checks a node's own fields as the user types (the server's /validate checks the whole graph). */
export function fieldErrors(node) {
  const type = canonicalType(node);
  const spec = NODE_TYPES[type];
  const d = node.data || {};
  const errors = {};
  if (!spec) {
    errors.type = UNSUPPORTED.includes(type) ? `${type} nodes cannot be published (they ran arbitrary code)` : `\`${type}\` is not a node type`;
    return errors;
  }
  for (const f of spec.fields) {
    const v = readField(d, f);
    if (f.required && (v === undefined || v === null || String(v).trim() === "")) errors[f.key] = "required";
    else if (f.variable && v && !NAME.test(v)) errors[f.key] = "letters, digits and _, not starting with a digit";
    else if (f.url && v && !/^https?:\/\/[^\s/]+/.test(v)) errors[f.key] = "an http(s) URL";
    else if (f.max && v && String(v).length > f.max) errors[f.key] = `at most ${f.max} characters`;
    else if (f.kind === "number" && v !== undefined && v !== "" && (Number.isNaN(Number(v)) || (f.min !== undefined && Number(v) < f.min) || (f.maxValue !== undefined && Number(v) > f.maxValue)))
      errors[f.key] = f.maxValue !== undefined ? `a number from ${f.min} to ${f.maxValue}` : `a number of at least ${f.min ?? 0}`;
    else if (f.regex && v) {
      try { new RegExp(v); } catch (_) { errors[f.key] = "not a valid regular expression"; }
    }
  }
  if (type === "interactive_buttons") {
    const buttons = Array.isArray(d.buttons) ? d.buttons : [];
    const ids = buttons.map((b) => b.id);
    if (buttons.length < 1 || buttons.length > 3) errors.buttons = "WhatsApp allows 1 to 3 buttons";
    else if (buttons.some((b) => !b.title || !b.id)) errors.buttons = "every button needs an id and a title";
    else if (buttons.some((b) => b.title.length > 20)) errors.buttons = "a button title is at most 20 characters";
    else if (new Set(ids).size !== ids.length) errors.buttons = "two buttons have the same id";
  }
  return errors;
}

const clone = (v) => JSON.parse(JSON.stringify(v));

/** Reads React-Flow JSON in the shapes we and the original builder write. */
export function readDocument(doc) {
  if (!doc || typeof doc !== "object") throw new Error("not a JSON object");
  const root = doc.flow && typeof doc.flow === "object" ? doc.flow : doc;
  const canvas = root.canvas_data || root.canvasData || root;
  if (!Array.isArray(canvas.nodes)) throw new Error("the document has no `nodes` (expected React-Flow JSON)");
  return { name: root.name, nodes: clone(canvas.nodes), edges: clone(Array.isArray(canvas.edges) ? canvas.edges : []), viewport: canvas.viewport || null };
}

/** A comparable form of a graph: what it draws and runs, ignoring key order and React-Flow's UI flags. */
export function graphSignature({ nodes, edges }) {
  const sortKeys = (v) => (Array.isArray(v) ? v.map(sortKeys) : v && typeof v === "object"
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v);
  return JSON.stringify({
    nodes: nodes.map((n) => ({ id: n.id, type: n.type, position: n.position, data: sortKeys(n.data || {}) })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    edges: edges.map((e) => `${e.source}:${e.sourceHandle ?? e.label ?? ""}->${e.target}`).sort(),
  });
}

/** The graph being edited: every change goes through `change`, which records undo history. */
export class FlowModel {
  constructor(doc = { nodes: [], edges: [] }, { historyLimit = 200 } = {}) {
    this.historyLimit = historyLimit;
    this.listeners = [];
    this.reset(doc);
  }

  reset(doc) {
    this.nodes = clone(doc.nodes || []);
    this.edges = clone(doc.edges || []);
    this.viewport = doc.viewport || null;
    this.selected = new Set();
    this.selectedEdge = null;
    this.past = [];
    this.future = [];
    this.lastMerge = null;
  }

  onChange(fn) { this.listeners.push(fn); }
  emit(kind) { for (const fn of this.listeners) fn(kind); }
  node(id) { return this.nodes.find((n) => n.id === id); }
  snapshot() { return JSON.stringify({ nodes: this.nodes, edges: this.edges }); }

  /** Applies `fn` as one undoable step; edits with the same `mergeKey` in a row (typing) are one step. */
  change(fn, mergeKey = null) {
    const before = this.snapshot();
    fn();
    if (this.snapshot() === before) return false;
    if (!(mergeKey && this.lastMerge === mergeKey)) {
      this.past.push(before);
      if (this.past.length > this.historyLimit) this.past.shift();
    }
    this.lastMerge = mergeKey;
    this.future = [];
    this.emit("graph");
    return true;
  }

  /** Starts a drag: positions change live, and the whole gesture becomes one step at `endGesture`. */
  beginGesture() { this.gesture = this.snapshot(); }
  endGesture() {
    const before = this.gesture;
    this.gesture = null;
    if (before && before !== this.snapshot()) {
      this.past.push(before);
      this.future = [];
      this.lastMerge = null;
      this.emit("graph");
    }
  }

  restore(snapshot) {
    const s = JSON.parse(snapshot);
    this.nodes = s.nodes;
    this.edges = s.edges;
    for (const id of [...this.selected]) if (!this.node(id)) this.selected.delete(id);
    this.selectedEdge = null;
    this.lastMerge = null;
    this.emit("graph");
  }
  canUndo() { return this.past.length > 0; }
  canRedo() { return this.future.length > 0; }
  undo() {
    if (!this.past.length) return false;
    this.future.push(this.snapshot());
    this.restore(this.past.pop());
    return true;
  }
  redo() {
    if (!this.future.length) return false;
    this.past.push(this.snapshot());
    this.restore(this.future.pop());
    return true;
  }

  freshId(prefix) {
    const taken = new Set(this.nodes.map((n) => n.id));
    let i = this.nodes.length + 1;
    while (taken.has(`${prefix}_${i}`)) i++;
    return `${prefix}_${i}`;
  }

  addNode(type, position) {
    const spec = NODE_TYPES[type];
    if (!spec) throw new Error(`unknown node type ${type}`);
    if (type === "start" && this.nodes.some((n) => canonicalType(n) === "start")) throw new Error("the flow already has a start node");
    const id = this.freshId(type === "interactive_buttons" ? "buttons" : type === "interactive_list" ? "list" : type);
    this.change(() => {
      this.nodes.push({ id, type, position: { x: Math.round(position.x), y: Math.round(position.y) }, data: clone(spec.defaults) });
    });
    this.select([id]);
    return id;
  }

  /** Moves nodes by a delta (live during a gesture, or as one step outside one). */
  moveNodes(ids, dx, dy) {
    const apply = () => {
      for (const id of ids) {
        const n = this.node(id);
        if (n) n.position = { x: Math.round((n.position?.x || 0) + dx), y: Math.round((n.position?.y || 0) + dy) };
      }
    };
    if (this.gesture) apply();
    else this.change(apply);
  }

  setField(id, field, value) {
    const n = this.node(id);
    if (!n) return false;
    return this.change(() => {
      n.data = n.data || {};
      setPath(n.data, fieldKey(n.data, field), value);
    }, `${id}:${field.key}`);
  }

  /** Connects an exit to a node; an exit has one target, so an earlier edge from it is replaced. */
  connect(source, handle, target) {
    const to = this.node(target);
    if (!this.node(source) || !to) return null;
    if (canonicalType(to) === "start") throw new Error("nothing can lead into the start node");
    const handles = handlesOf(this.node(source));
    const id = `e_${source}_${handle ?? "next"}_${target}`;
    this.change(() => {
      this.edges = this.edges.filter((e) => !(e.source === source && handleIndex(handles, e) === handles.findIndex((h) => h.id === handle)));
      const edge = { id, source, target };
      if (handle !== null && handle !== undefined) edge.sourceHandle = handle;
      this.edges.push(edge);
    });
    return id;
  }

  removeEdge(id) {
    return this.change(() => { this.edges = this.edges.filter((e) => e.id !== id); });
  }

  select(ids, additive = false) {
    if (!additive) this.selected.clear();
    for (const id of ids) {
      if (additive && this.selected.has(id)) this.selected.delete(id);
      else this.selected.add(id);
    }
    this.selectedEdge = null;
    this.emit("selection");
  }
  selectEdge(id) {
    this.selected.clear();
    this.selectedEdge = id;
    this.emit("selection");
  }
  selectAll() { this.select(this.nodes.map((n) => n.id)); }

  /** Deletes the selected nodes (with their edges) or the selected edge. */
  deleteSelected() {
    if (this.selectedEdge) {
      const id = this.selectedEdge;
      this.selectedEdge = null;
      return this.removeEdge(id);
    }
    const gone = new Set(this.selected);
    if (!gone.size) return false;
    this.selected.clear();
    return this.change(() => {
      this.nodes = this.nodes.filter((n) => !gone.has(n.id));
      this.edges = this.edges.filter((e) => !gone.has(e.source) && !gone.has(e.target));
    });
  }

  /** Copies the selected nodes (not a start node) and the edges between them, offset, and selects the copies. */
  duplicateSelected() {
    const originals = this.nodes.filter((n) => this.selected.has(n.id) && canonicalType(n) !== "start");
    if (!originals.length) return [];
    const renamed = new Map();
    this.change(() => {
      for (const n of originals) {
        const copy = clone(n);
        copy.id = this.freshId(n.id.replace(/_\d+$/, ""));
        copy.position = { x: (n.position?.x || 0) + 40, y: (n.position?.y || 0) + 40 };
        delete copy.selected;
        renamed.set(n.id, copy.id);
        this.nodes.push(copy);
      }
      for (const e of this.edges.filter((e) => renamed.has(e.source) && renamed.has(e.target))) {
        this.edges.push({ ...clone(e), id: `${e.id}_copy_${renamed.get(e.source)}`, source: renamed.get(e.source), target: renamed.get(e.target) });
      }
    });
    this.select([...renamed.values()]);
    return [...renamed.values()];
  }

  /** The draft as React-Flow JSON (what PUT /flows/{id} and export carry). */
  toDocument() {
    const doc = { nodes: clone(this.nodes), edges: clone(this.edges) };
    if (this.viewport) doc.viewport = this.viewport;
    return doc;
  }

  /** Every variable: the nodes that set it and the nodes that read it. */
  variables() {
    const index = new Map();
    const entry = (name) => {
      if (!index.has(name)) index.set(name, { name, set: new Set(), used: new Set() });
      return index.get(name);
    };
    const uses = (value, id) => {
      if (typeof value === "string") {
        for (const m of value.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)/g)) entry(m[1]).used.add(id);
      } else if (value && typeof value === "object") {
        for (const v of Object.values(value)) uses(v, id);
      }
    };
    for (const n of this.nodes) {
      const d = n.data || {};
      const type = canonicalType(n);
      const spec = NODE_TYPES[type];
      for (const f of spec ? spec.fields : []) {
        const v = readField(d, f);
        if (f.variable && typeof v === "string" && v) entry(v).set.add(n.id);
      }
      if (type === "set_variable") for (const v of Array.isArray(d.variables) ? d.variables : []) if (v.name) entry(v.name).set.add(n.id);
      if (type === "api_call") for (const m of Array.isArray(d.mappings) ? d.mappings : []) if (m.variable) entry(m.variable).set.add(n.id);
      if (type === "condition") {
        const branches = Array.isArray(d.branches) ? d.branches : [{ conditions: d.conditions }];
        for (const b of branches) for (const c of Array.isArray(b.conditions) ? b.conditions : []) {
          const name = String(c.variable || c.field || "").split(".")[0];
          if (name) entry(name).used.add(n.id);
        }
      }
      if (type === "datetime" && d.sourceVariable) entry(String(d.sourceVariable).split(".")[0]).used.add(n.id);
      uses(d, n.id);
    }
    for (const builtin of ["contact", "conversation", "last_message"]) {
      const e = index.get(builtin);
      if (e && !e.set.size) e.builtin = true;
    }
    return [...index.values()].sort((a, b) => a.name.localeCompare(b.name))
      .map((v) => ({ name: v.name, set: [...v.set], used: [...v.used], builtin: !!v.builtin }));
  }
}
