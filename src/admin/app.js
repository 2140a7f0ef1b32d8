// The admin app's shell: sign-in, the navigation, and the hash router that mounts a screen
// (flows and the builder, the dashboard, the settings screens) into <main>.
import { call, saveTokens, signOut, signedIn, el } from "./api.js";
import { flowList, openBuilder } from "./builder.js";
import { dashboard } from "./dashboard.js";
import { settingsScreen } from "./settings.js";

const $ = (id) => document.getElementById(id);
const ctx = { me: null, canEdit: false, teardown: null };

async function route() {
  if (ctx.teardown) ctx.teardown();
  ctx.teardown = null;
  const main = $("main");
  main.replaceChildren();
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const [section, arg] = parts;
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === (section === "settings" ? arg : section || "flows"));
  }
  try {
    if (!section || section === "flows") await flowList(main, ctx);
    else if (section === "flow" && arg) ctx.teardown = await openBuilder(main, ctx, arg, { dropOff: parts[2] === "dropoff" });
    else if (section === "dashboard") await dashboard(main, ctx);
    else if (section === "settings") await settingsScreen(main, ctx, arg);
    else main.append(el("p", { class: "empty" }, "Nothing here."));
  } catch (err) {
    main.append(el("p", { class: "error", role: "alert" }, err.status === 403 ? "Your role cannot open this screen." : err.message));
  }
}

async function start() {
  ctx.me = await call("GET", "/auth/me");
  ctx.canEdit = ctx.me.role === "org_admin" || ctx.me.role === "super_admin";
  document.body.classList.toggle("read-only", !ctx.canEdit);
  $("login").hidden = true;
  $("shell").hidden = false;
  $("me-name").textContent = ctx.me.full_name || ctx.me.email;
  $("me-role").textContent = ctx.me.role;
  window.addEventListener("hashchange", route);
  await route();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    saveTokens(await call("POST", "/auth/login", { email: $("login-email").value, password: $("login-password").value }));
    await start();
  } catch (err) {
    $("login-error").textContent = err.message;
  }
});
$("logout").addEventListener("click", signOut);

if (signedIn()) start().catch(() => { $("login").hidden = false; });
else $("login").hidden = false;
