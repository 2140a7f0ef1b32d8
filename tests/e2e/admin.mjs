// The admin app in headless Chromium: an org_admin builds the lead-qualification flow by dragging
// nodes from the palette and connecting handles, sees validation errors (inline and from the
// server, on the nodes) and fixes them, publishes, runs the simulator through both button
// branches, exports and re-imports the JSON and gets the same graph; the settings and dashboard
// screens open; a viewer cannot edit; a 200-node flow is timed. Screenshots go to
// tests/e2e/screenshots/ (ignored by git). Run by tests/api/browser.rs.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { graphSignature } from "../../src/admin/model.js";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
const base = env("E2E_BASE_URL");
const timeout = 15000;
const shots = new URL("./screenshots/", import.meta.url).pathname;
mkdirSync(shots, { recursive: true });

async function signIn(browser, email, password) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (e) => console.error(`[${email}] page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && console.error(`[${email}] console: ${m.text()}`));
  page.on("response", (r) => r.status() >= 500 || (r.status() === 404 && !r.url().endsWith("/favicon.ico")) ? console.error(`[${email}] ${r.status()} ${r.url()}`) : null);
  await page.goto(base + "/admin");
  await page.fill("#login-email", email);
  await page.fill("#login-password", password);
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("#shell:not([hidden])");
  return page;
}

const center = async (locator) => {
  const b = await locator.boundingBox();
  if (!b) throw new Error("not visible");
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
};

/** Polls `fn` in the page until it returns true (page.waitForFunction compiles strings, which our CSP refuses). */
async function until(page, fn, arg) {
  const deadline = Date.now() + timeout;
  while (!(await page.evaluate(fn, arg))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${fn}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function drag(page, from, to, steps = 12) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(to.x, to.y, { steps });
  await page.mouse.up();
}

/** Drags a node type from the palette to a point of the canvas (offsets from its corner); returns the new node's id. */
async function place(page, type, dx, dy) {
  const canvas = await page.locator(".viewport").boundingBox();
  const before = new Set(await page.locator(".viewport .node").evaluateAll((ns) => ns.map((n) => n.dataset.id)));
  await drag(page, await center(page.locator(`.palette-item[data-type=${type}]`)), { x: canvas.x + dx, y: canvas.y + dy });
  await until(page, (n) => document.querySelectorAll(".viewport .node").length === n, before.size + 1);
  const after = await page.locator(".viewport .node").evaluateAll((ns) => ns.map((n) => n.dataset.id));
  return after.find((id) => !before.has(id));
}

/** Drags from a node's exit handle onto another node. */
async function connect(page, source, handle, target) {
  const dot = page.locator(`.node[data-id="${source}"] .out[data-handle="${handle}"] .dot`);
  await drag(page, await center(dot), await center(page.locator(`.node[data-id="${target}"] .node-head`)));
  await until(page, ([s, t]) => window.__builder.model.edges.some((e) => e.source === s && e.target === t), [source, target]);
}

async function edit(page, node, field, value) {
  await page.click(`.node[data-id="${node}"] .node-head`);
  await page.fill(`.panel [name="field-${field}"]`, value);
}

async function saved(page) {
  await page.locator("#save-state", { hasText: /^Saved$/ }).waitFor();
}

async function api(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const res = await fetch("/api/v1" + path, { method, headers: { "content-type": "application/json", authorization: "Bearer " + sessionStorage.getItem("access") }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: await res.json().catch(() => null) };
  }, [method, path, body]);
}

const browser = await chromium.launch({ executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
let admin, viewer;
try {
  admin = await signIn(browser, env("E2E_ADMIN_EMAIL"), env("E2E_ADMIN_PASSWORD"));

  // ---- build the lead-qualification flow by hand ----
  await admin.fill("#new-flow input[name=name]", "Lead qualification");
  await admin.click("#new-flow button[type=submit]");
  await admin.locator('.viewport .node[data-id="start"]').waitFor();
  const ask = await place(admin, "interactive_buttons", 240, 140);
  await edit(admin, ask, "bodyText", "Are you looking to buy?");
  await admin.fill(".panel .button-id >> nth=0", "buy");
  await admin.fill(".panel .button-title >> nth=0", "Buy now");
  await admin.fill(".panel .button-id >> nth=1", "browse");
  await admin.fill(".panel .button-title >> nth=1", "Just browsing");
  // Inline validation: a title over WhatsApp's 20 characters is flagged as it is typed.
  await admin.fill(".panel .button-title >> nth=1", "Just browsing around, thanks");
  await admin.locator(".panel .field-error", { hasText: "20 characters" }).waitFor();
  await admin.fill(".panel .button-title >> nth=1", "Just browsing");
  await admin.locator(".panel .field-error", { hasText: "20 characters" }).waitFor({ state: "detached" });
  const name = await place(admin, "question", 470, 40);
  await edit(admin, name, "content", "What's your name?");
  await admin.fill('.panel [name="field-variableName"]', "1name");
  await admin.locator(".panel .field-error", { hasText: "not starting with a digit" }).waitFor();
  await admin.fill('.panel [name="field-variableName"]', "name");
  const thanks = await place(admin, "message", 470, 330);
  await edit(admin, thanks, "content", "Thanks {{name}}! A specialist will call you today.");
  const bye = await place(admin, "end", 240, 470);
  await edit(admin, bye, "content", "No problem, come back anytime!");
  await connect(admin, "start", "", ask);
  await connect(admin, ask, "buy", name);
  await connect(admin, name, "valid", thanks);

  // The server's validation marks the nodes it names: the "browse" button has no exit, the end node is unreachable.
  await saved(admin);
  await admin.click("#validate");
  await admin.locator(`.node[data-id="${ask}"].has-error`).waitFor();
  await admin.locator(`.node[data-id="${bye}"].has-error`).waitFor();
  await admin.locator(`.node[data-id="${ask}"] .out.has-error[data-handle="browse"]`).waitFor();
  if ((await admin.locator(`.node[data-id="${ask}"] .out.has-error`).count()) !== 1) throw new Error("only the unconnected branch is marked");
  await admin.click(`.node[data-id="${ask}"] .node-head`);
  await admin.locator(".panel .node-problems li", { hasText: "Just browsing" }).waitFor();
  await admin.screenshot({ path: shots + "builder-errors.png" });
  await connect(admin, ask, "browse", bye);
  await saved(admin);
  await admin.click("#validate");
  await admin.locator(".toast", { hasText: "The flow is valid" }).waitFor();
  if ((await admin.locator(".node.has-error").count()) !== 0) throw new Error("errors stayed on the canvas after the fix");

  // Undo/redo through the keyboard: delete the end node, undo brings it and its edge back.
  await admin.click(`.node[data-id="${bye}"] .node-head`);
  await admin.keyboard.press("Delete");
  await admin.locator(`.node[data-id="${bye}"]`).waitFor({ state: "detached" });
  await admin.keyboard.press("Control+z");
  await admin.locator(`.node[data-id="${bye}"]`).waitFor();
  const restored = await admin.evaluate((b) => window.__builder.model.edges.some((e) => e.target === b), bye);
  if (!restored) throw new Error("undo did not restore the edge");

  // ---- publish ----
  await saved(admin);
  await admin.click("#publish");
  await admin.locator(".toast", { hasText: "Published v1" }).waitFor();
  await admin.locator('.versions li[data-version="1"]').waitFor();
  const flowId = location(admin);

  // ---- simulator: both branches ----
  await admin.click('.tabs button[data-tab="simulator"]');
  await admin.click("#sim-start");
  await admin.locator(".bubble.bot", { hasText: "Are you looking to buy?" }).waitFor();
  await admin.locator(`.node[data-id="${ask}"].sim-current`).waitFor();
  await admin.click('.choice[data-reply="buy"]');
  await admin.locator(".bubble.bot", { hasText: "What's your name?" }).waitFor();
  await admin.locator(`.node[data-id="${name}"].sim-current`).waitFor();
  await admin.fill("#sim-text", "Ana");
  await admin.press("#sim-text", "Enter");
  await admin.locator(".bubble.bot", { hasText: "Thanks Ana! A specialist will call you today." }).waitFor();
  await admin.click("#sim-start");
  await admin.locator(".bubble.bot", { hasText: "Are you looking to buy?" }).waitFor();
  await admin.click('.choice[data-reply="browse"]');
  await admin.locator(".bubble.bot", { hasText: "No problem, come back anytime!" }).waitFor();
  await admin.screenshot({ path: shots + "builder.png" });

  // ---- export, then import the file: the same graph ----
  const [download] = await Promise.all([admin.waitForEvent("download"), admin.click("#export")]);
  const file = await download.path();
  const exported = JSON.parse(readFileSync(file, "utf8"));
  await admin.locator(".toolbar .import-file").setInputFiles(file);
  await until(admin, (id) => location.hash.startsWith("#/flow/") && !location.hash.includes(id), flowId);
  await admin.locator(`.viewport .node[data-id="${ask}"]`).waitFor();
  const copyId = location(admin);
  const original = (await api(admin, "GET", `/flows/${flowId}`)).body;
  const copy = (await api(admin, "GET", `/flows/${copyId}`)).body;
  if (graphSignature(copy) !== graphSignature(original) || graphSignature(exported) !== graphSignature(original)) {
    throw new Error(`the re-imported graph differs:\n${graphSignature(original)}\n${graphSignature(copy)}`);
  }

  // ---- settings: a number's webhook setup, a department created through the form ----
  await admin.goto(base + "/admin#/settings/numbers");
  await admin.locator("table.grid tbody tr").first().locator("button", { hasText: "Webhook setup" }).click();
  await admin.locator(".callback-url", { hasText: "/api/v1/webhooks/meta" }).waitFor();
  await admin.locator(".verify-token").waitFor();
  await admin.goto(base + "/admin#/settings/departments");
  await admin.click("#new-item");
  await admin.click("#resource-form button[type=submit]");
  if (!(await admin.locator("#resource-form [name=name]").evaluate((i) => i.validity.valueMissing))) throw new Error("an empty name was accepted");
  await admin.fill("#resource-form [name=name]", "Enterprise sales");
  await admin.click("#resource-form button[type=submit]");
  await admin.locator("table.grid td", { hasText: "Enterprise sales" }).waitFor();

  // ---- a flow of the original builder opens as drawn ----
  await admin.goto(base + "/admin#/flows");
  await admin.locator("#new-flow .import-file").setInputFiles(new URL("../fixtures/original-flow.json", import.meta.url).pathname);
  await admin.locator('.viewport .node[data-id="n3"]').waitFor();
  const legacy = JSON.parse(readFileSync(new URL("../fixtures/original-flow.json", import.meta.url), "utf8")).flow.canvas_data;
  const drawn = await admin.evaluate(() => window.__builder.model.nodes.map((n) => [n.id, n.position.x, n.position.y]));
  if (JSON.stringify(drawn) !== JSON.stringify(legacy.nodes.map((n) => [n.id, n.position.x, n.position.y]))) throw new Error(`moved on import: ${JSON.stringify(drawn)}`);
  if ((await admin.locator(".edges path.edge.dangling").count()) !== 0) throw new Error("a branch of the original flow lost its handle");
  await admin.locator('.node[data-id="n3"] .out[data-handle="true"]').waitFor();

  // ---- dashboard, and drop-off drawn on a flow ----
  await admin.goto(base + "/admin#/dashboard");
  await admin.locator(".kpis .kpi").first().waitFor();
  await admin.locator(".dashboard table.grid td", { hasText: "Lead qualification" }).first().waitFor();
  await admin.evaluate(() => document.querySelector(".toasts")?.remove());
  await admin.screenshot({ path: shots + "dashboard.png", fullPage: true });
  await admin.locator(".dashboard tr", { hasText: "Main" }).locator("a", { hasText: "Drop-off" }).click();
  await admin.locator('.node[data-id="ask"] .badge-stat', { hasText: "1 waiting" }).waitFor();

  // ---- a viewer reads but cannot edit ----
  viewer = await signIn(browser, env("E2E_VIEWER_EMAIL"), env("E2E_VIEWER_PASSWORD"));
  await viewer.goto(base + `/admin#/flow/${flowId}`);
  await viewer.locator(`.viewport .node[data-id="${ask}"]`).waitFor();
  for (const forbidden of [".palette", "#publish", "#undo", '.tabs button[data-tab="simulator"]']) {
    if ((await viewer.locator(forbidden).count()) !== 0) throw new Error(`a viewer sees ${forbidden}`);
  }
  const head = viewer.locator(`.node[data-id="${ask}"] .node-head`);
  const before = await head.boundingBox();
  await drag(viewer, await center(head), { x: before.x + 200, y: before.y + 150 });
  await viewer.click(`.node[data-id="${ask}"] .node-head`);
  await viewer.keyboard.press("Delete");
  const after = await head.boundingBox();
  if (Math.abs(after.x - before.x) > 1 || Math.abs(after.y - before.y) > 1) throw new Error("a viewer moved a node");
  if (!(await viewer.locator('.panel [name="field-bodyText"]').isDisabled())) throw new Error("a viewer can type in a field");
  const stillThere = (await api(viewer, "GET", `/flows/${flowId}`)).body;
  if (graphSignature(stillThere) !== graphSignature(original)) throw new Error("the viewer changed the flow");

  // ---- 200 nodes: open, drag and pan, timed (figures printed, not asserted) ----
  const big = { name: "Two hundred", nodes: [{ id: "start", type: "start", position: { x: 0, y: 0 }, data: {} }], edges: [] };
  for (let i = 1; i < 200; i++) {
    big.nodes.push({ id: `m${i}`, type: i % 3 === 0 ? "question" : "message", position: { x: (i % 20) * 260, y: Math.floor(i / 20) * 180 }, data: { content: `Step ${i}`, variableName: `v${i}` } });
    big.edges.push({ id: `e${i}`, source: i === 1 ? "start" : `m${i - 1}`, sourceHandle: (i - 1) % 3 === 0 && i > 1 ? "valid" : undefined, target: `m${i}` });
  }
  const created = (await api(admin, "POST", "/flows", big)).body;
  const t0 = Date.now();
  await admin.goto(base + `/admin#/flow/${created.id}`);
  await until(admin, () => document.querySelectorAll(".viewport .node").length === 200);
  const openMs = Date.now() - t0;
  const frame = () => admin.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  const node = await center(admin.locator('.node[data-id="m21"] .node-head'));
  let t1 = Date.now();
  await admin.mouse.move(node.x, node.y);
  await admin.mouse.down();
  for (let i = 1; i <= 60; i++) await admin.mouse.move(node.x + i * 3, node.y + i * 2);
  await admin.mouse.up();
  await frame();
  const dragMs = (Date.now() - t1) / 60;
  const canvas = await admin.locator(".viewport").boundingBox();
  t1 = Date.now();
  await admin.mouse.move(canvas.x + canvas.width - 20, canvas.y + canvas.height - 20);
  await admin.mouse.down();
  for (let i = 1; i <= 60; i++) await admin.mouse.move(canvas.x + canvas.width - 20 - i * 5, canvas.y + canvas.height - 20 - i * 3);
  await admin.mouse.up();
  await frame();
  const panMs = (Date.now() - t1) / 60;
  t1 = Date.now();
  for (let i = 0; i < 20; i++) await admin.mouse.wheel(0, i % 2 ? 120 : -120);
  await frame();
  const zoomMs = (Date.now() - t1) / 20;
  await admin.screenshot({ path: shots + "builder-200.png" });
  console.log(`admin e2e: 200 nodes: open ${openMs} ms, drag ${dragMs.toFixed(1)} ms/move, pan ${panMs.toFixed(1)} ms/move, zoom ${zoomMs.toFixed(1)} ms/step`);
  console.log("admin e2e: ok");
} catch (e) {
  if (admin) await admin.screenshot({ path: shots + "admin-failure.png" }).catch(() => {});
  if (viewer) await viewer.screenshot({ path: shots + "viewer-failure.png" }).catch(() => {});
  console.error("admin e2e failed:", e);
  process.exitCode = 1;
} finally {
  await browser.close();
}

function location(page) {
  const m = /#\/flow\/([0-9a-f-]+)/.exec(page.url());
  if (!m) throw new Error(`not on a flow: ${page.url()}`);
  return m[1];
}
