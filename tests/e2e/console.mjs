// The agent console in headless Chromium: two agents sign in; a customer's message arrives by a
// signed webhook; the agent of the right department sees it live, replies, and watches the status
// tick reach "read"; the other agent never sees it. Run by tests/api/browser.rs, which starts the
// server and the fake Graph API and passes everything through the environment.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
const base = env("E2E_BASE_URL");
const contact = env("E2E_CONTACT");
const timeout = 15000;

async function signIn(browser, email, password) {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (e) => console.error(`[${email}] page error: ${e.message}`));
  await page.goto(base + "/");
  await page.fill("#login-email", email);
  await page.fill("#login-password", password);
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("#app:not([hidden])");
  await page.locator("#connection-text", { hasText: /^Live$/ }).waitFor();
  return page;
}

async function deliver(text) {
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "waba", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "15550783881", phone_number_id: env("E2E_PNID") },
      contacts: [{ profile: { name: "E2E Customer" }, wa_id: contact }],
      messages: [{ from: contact, id: `wamid.e2e.${Date.now()}`, timestamp: String(Math.floor(Date.now() / 1000)), type: "text", text: { body: text } }],
    } }] }],
  });
  const signature = "sha256=" + createHmac("sha256", env("E2E_APP_SECRET")).update(body).digest("hex");
  const res = await fetch(base + "/api/v1/webhooks/meta", {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
}

const browser = await chromium.launch({ executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
let sales, support;
try {
  sales = await signIn(browser, env("E2E_SALES_EMAIL"), env("E2E_SALES_PASSWORD"));
  support = await signIn(browser, env("E2E_SUPPORT_EMAIL"), env("E2E_SUPPORT_PASSWORD"));

  await deliver("Hello, I need help with my order");
  // The Sales agent is given the conversation and sees it appear live.
  const item = sales.locator("#conversations li", { hasText: "E2E Customer" });
  await item.waitFor();
  await item.click();
  await sales.locator("#messages .msg.inbound", { hasText: "Hello, I need help with my order" }).waitFor();
  await sales.locator("#contact-number", { hasText: contact }).waitFor();

  // The reply goes out; its tick moves to read as Meta's statuses arrive.
  await sales.fill("#text", "Hi! Let me check that for you.");
  await sales.press("#text", "Enter");
  const mine = sales.locator("#messages .msg.outbound", { hasText: "Hi! Let me check that for you." });
  await mine.waitFor();
  await mine.locator('.tick[data-status="read"]').waitFor();

  // The customer writes again: it shows up at once, without a reload.
  await deliver("Order 4411");
  await sales.locator("#messages .msg.inbound", { hasText: "Order 4411" }).waitFor();

  // Support never saw any of it, in either list.
  for (const tab of ["mine", "queue"]) {
    await support.click(`.tabs button[data-tab=${tab}]`);
    const count = await support.locator("#conversations li[data-id]").count();
    if (count !== 0) throw new Error(`the Support agent sees ${count} conversation(s) in ${tab}`);
  }
  if (process.env.E2E_SCREENSHOTS) {
    mkdirSync("screenshots", { recursive: true });
    await sales.setViewportSize({ width: 1100, height: 640 });
    await sales.screenshot({ path: "screenshots/sales-ok.png" });
  }
  console.log("console e2e: ok");
} catch (e) {
  mkdirSync("screenshots", { recursive: true });
  if (sales) await sales.screenshot({ path: "screenshots/sales.png" }).catch(() => {});
  if (support) await support.screenshot({ path: "screenshots/support.png" }).catch(() => {});
  console.error("console e2e failed:", e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
