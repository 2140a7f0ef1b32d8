// Unit tests of the flow builder's canvas model (src/admin/model.js): graph edits, undo/redo,
// handles per branch, inline validation, the variables index and the React-Flow round trip. Run by
// `node --test` (tests/api/browser.rs runs it inside `cargo test`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FlowModel, NODE_TYPES, handlesOf, handleIndex, fieldErrors, readDocument, graphSignature, canonicalType } from "../../src/admin/model.js";

const start = () => new FlowModel({ nodes: [{ id: "start", type: "start", position: { x: 0, y: 0 }, data: {} }], edges: [] });

test("the palette offers every node type of the engine", () => {
  const engine = ["start", "message", "question", "interactive_buttons", "interactive_list", "condition", "set_variable", "random", "api_call",
    "handoff", "jump", "delay", "whatsapp_template", "action", "datetime", "analytics", "end"];
  assert.deepEqual(Object.keys(NODE_TYPES).sort(), engine.sort());
});

test("adding, connecting, moving and deleting nodes, each one undoable step", () => {
  const m = start();
  const buttons = m.addNode("interactive_buttons", { x: 300, y: 0 });
  const end = m.addNode("end", { x: 600, y: 0 });
  m.connect("start", null, buttons);
  m.connect(buttons, "yes", end);
  assert.equal(m.edges.length, 2);
  assert.deepEqual(m.edges[1], { id: `e_${buttons}_yes_${end}`, source: buttons, target: end, sourceHandle: "yes" });
  // An exit has one target: connecting it again replaces the edge.
  const other = m.addNode("message", { x: 600, y: 200 });
  m.connect(buttons, "yes", other);
  assert.deepEqual(m.edges.filter((e) => e.source === buttons).map((e) => e.target), [other]);
  // A gesture is one step however many moves it made.
  m.select([end, other]);
  m.beginGesture();
  for (let i = 0; i < 10; i++) m.moveNodes([...m.selected], 5, 1);
  m.endGesture();
  assert.deepEqual(m.node(end).position, { x: 650, y: 10 });
  m.undo();
  assert.deepEqual(m.node(end).position, { x: 600, y: 0 });
  m.redo();
  assert.deepEqual(m.node(end).position, { x: 650, y: 10 });
  m.select([buttons]);
  m.deleteSelected();
  assert.equal(m.node(buttons), undefined);
  assert.equal(m.edges.length, 0, "a deleted node takes its edges");
  m.undo();
  assert.equal(m.edges.length, 2);
  assert.throws(() => m.connect(buttons, "no", "start"), /start node/);
  assert.throws(() => m.addNode("start", { x: 0, y: 0 }), /already has a start/);
});

test("typing in one field is one undo step; undo and redo walk the history both ways", () => {
  const m = start();
  const q = m.addNode("question", { x: 200, y: 0 });
  const field = NODE_TYPES.question.fields.find((f) => f.key === "content");
  for (const text of ["W", "Wh", "What", "What's your name?"]) m.setField(q, field, text);
  assert.equal(m.node(q).data.content, "What's your name?");
  assert.ok(m.undo());
  assert.equal(m.node(q).data.content, "", "the whole typing run is undone at once");
  assert.ok(m.undo());
  assert.equal(m.node(q), undefined);
  assert.ok(!m.canUndo());
  assert.ok(m.redo() && m.redo());
  assert.equal(m.node(q).data.content, "What's your name?");
  assert.ok(!m.canRedo());
  // A new edit after an undo drops the redo branch.
  m.undo();
  m.setField(q, NODE_TYPES.question.fields.find((f) => f.key === "variableName"), "name");
  assert.ok(!m.canRedo());
});

test("duplicate copies the selection and the edges inside it, never the start node", () => {
  const m = start();
  const a = m.addNode("message", { x: 0, y: 100 });
  const b = m.addNode("end", { x: 300, y: 100 });
  m.connect("start", null, a);
  m.connect(a, null, b);
  m.select(["start", a, b]);
  const copies = m.duplicateSelected();
  assert.equal(copies.length, 2);
  assert.equal(m.nodes.length, 5);
  const [ca, cb] = copies;
  assert.deepEqual(m.node(ca).position, { x: 40, y: 140 });
  assert.ok(m.edges.some((e) => e.source === ca && e.target === cb), "the inner edge is copied");
  assert.ok(!m.edges.some((e) => e.target === ca), "edges from outside the selection are not");
  assert.deepEqual([...m.selected], copies);
});

test("one handle per branch, matching the engine's exits", () => {
  const ids = (type, data) => handlesOf({ type, data }).map((h) => h.id);
  assert.deepEqual(ids("question", {}), ["valid", "invalid"]);
  assert.deepEqual(ids("question", { timeoutSeconds: 60 }), ["valid", "invalid", "timeout"]);
  assert.deepEqual(ids("interactive_buttons", { buttons: [{ id: "buy", title: "Buy" }, { id: "look", title: "Look" }] }), ["buy", "look", "invalid"]);
  assert.deepEqual(ids("list", { sections: [{ rows: [{ id: "a", title: "A" }] }, { rows: [{ id: "b", title: "B" }] }] }), ["a", "b", "invalid"]);
  assert.deepEqual(ids("condition", { branches: [{ id: "vip" }, { id: "new" }] }), ["vip", "new", "default"]);
  assert.deepEqual(ids("condition", { conditions: [] }), ["true", "default"]);
  assert.deepEqual(ids("api_call", {}), ["success", "error"]);
  assert.deepEqual(ids("random", { paths: [{ id: "a" }, { id: "b" }] }), ["a", "b"]);
  assert.deepEqual(ids("datetime", { operation: "business_hours" }), ["true", "false"]);
  assert.deepEqual(ids("message", {}), [null]);
  assert.deepEqual(ids("end", {}), []);
  // The original drew branches with labels; they land on the right handle.
  const cond = handlesOf({ type: "condition", data: { conditions: [] } });
  assert.equal(handleIndex(cond, { label: "sim" }), 0);
  assert.equal(handleIndex(cond, { label: "else" }), 1);
  assert.equal(handleIndex(handlesOf({ type: "message", data: {} }), {}), 0);
  assert.equal(handleIndex(handlesOf({ type: "api_call", data: {} }), { sourceHandle: "nope" }), -1);
});

test("inline validation names the field", () => {
  assert.deepEqual(fieldErrors({ type: "question", data: { content: "", variableName: "1st" } }), { content: "required", variableName: "letters, digits and _, not starting with a digit" });
  assert.match(fieldErrors({ type: "interactive_buttons", data: { bodyText: "Pick", buttons: [{ id: "a", title: "A title that is far too long" }] } }).buttons, /20 characters/);
  assert.match(fieldErrors({ type: "interactive_buttons", data: { bodyText: "Pick", buttons: [] } }).buttons, /1 to 3/);
  assert.match(fieldErrors({ type: "api_call", data: { url: "ftp://x", timeout: 90 } }).url, /http/);
  assert.match(fieldErrors({ type: "api_call", data: { url: "https://x.example", timeout: 90 } }).timeout, /1 to 30/);
  assert.match(fieldErrors({ type: "question", data: { content: "?", validation: { pattern: "(" } } })["validation.pattern"], /regular expression/);
  assert.match(fieldErrors({ type: "script", data: {} }).type, /cannot be published/);
  assert.deepEqual(fieldErrors({ type: "message", data: { content: "Hi" } }), {});
});

test("the variables panel knows where each variable is set and read", () => {
  const m = new FlowModel({ nodes: [
    { id: "q", type: "question", position: { x: 0, y: 0 }, data: { content: "Name?", variableName: "name" } },
    { id: "api", type: "api_call", position: { x: 0, y: 0 }, data: { url: "https://crm.example/{{name}}", responseVariable: "crm", mappings: [{ variable: "score", pointer: "/score" }] } },
    { id: "c", type: "condition", position: { x: 0, y: 0 }, data: { branches: [{ id: "hot", conditions: [{ variable: "score", operator: ">", value: 7 }] }] } },
    { id: "m", type: "message", position: { x: 0, y: 0 }, data: { content: "Hi {{name}} {{contact.name}} {{ghost}}" } },
  ], edges: [] });
  const v = Object.fromEntries(m.variables().map((x) => [x.name, x]));
  assert.deepEqual(v.name.set, ["q"]);
  assert.deepEqual(v.name.used.sort(), ["api", "m"]);
  assert.deepEqual(v.score.set, ["api"]);
  assert.deepEqual(v.score.used, ["c"]);
  assert.deepEqual(v.crm.set, ["api"]);
  assert.ok(v.contact.builtin);
  assert.deepEqual(v.ghost.set, [], "read but never set");
});

test("React-Flow import and export round trip, with the original builder's shapes", () => {
  const original = JSON.parse(readFileSync(new URL("../fixtures/original-flow.json", import.meta.url), "utf8"));
  const doc = readDocument(original);
  const m = new FlowModel(doc);
  const exported = m.toDocument();
  assert.equal(graphSignature(exported), graphSignature(doc), "export gives back what was imported");
  assert.equal(graphSignature(readDocument({ flow: { name: "x", canvas_data: exported } })), graphSignature(doc));
  // The original's aliases open as engine types, with their positions as drawn.
  for (const n of doc.nodes) assert.ok(NODE_TYPES[canonicalType(n)] || ["ai_prompt", "script", "database_query"].includes(canonicalType(n)), n.type);
  assert.deepEqual(m.node(doc.nodes[0].id).position, doc.nodes[0].position);
  assert.throws(() => readDocument({ edges: [] }), /no `nodes`/);
  assert.throws(() => readDocument("x"), /JSON object/);
});
