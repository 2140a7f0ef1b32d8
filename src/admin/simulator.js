// The simulator chat panel: runs the flow's draft through the real engine on the server
// (POST /flows/{id}/simulate), shows each effect as the customer would see it (text, media,
// buttons, lists) or as a note (API calls, handoffs, timers, variables), answers by typing or by
// tapping a button or row, fires pending timers by hand, and highlights the current node.
import { call, el, toast } from "./api.js";

function describe(effect) {
  switch (effect.effect) {
    case "call_api": return `API call ${effect.request?.method || ""} ${effect.request?.url || ""}${effect.fire_and_forget ? " (fire and forget)" : ""}`;
    case "handoff": return `Handed off (${JSON.stringify(effect.target)}, priority ${effect.priority})${effect.note ? ": " + effect.note : ""}`;
    case "schedule_timer": return `Timer set: ${effect.kind} at ${new Date(effect.due_at).toLocaleTimeString()}`;
    case "cancel_timers": return "Timers cancelled";
    case "update_contact": return `Contact updated: ${JSON.stringify(effect.fields)}`;
    case "analytics": return `Event ${effect.event}`;
    case "tag": return `Tagged ${effect.tag}`;
    case "jump_flow": return `Jumps to flow ${effect.flow_id}`;
    default: return effect.effect.replace(/_/g, " ");
  }
}

export function mountSimulator(host, { flowId, beforeRun, highlight }) {
  const log = el("div", { class: "chat", "aria-live": "polite" });
  const input = el("input", { placeholder: "Type as the customer…", "aria-label": "Customer message", id: "sim-text" });
  const vars = el("pre", { class: "sim-vars" });
  const mocks = el("textarea", { rows: 3, placeholder: '{"node_id": {"status": 200, "body": {}}}', "aria-label": "API mocks", spellcheck: false });
  const state = { session: null, busy: false };
  const fire = el("button", { type: "button", id: "sim-fire", disabled: true, onclick: () => run({ fire_timer: true }) }, "Fire timer");
  const line = (who, ...content) => {
    log.append(el("div", { class: `bubble ${who}` }, ...content));
    log.scrollTop = log.scrollHeight;
  };

  function show(effect) {
    if (effect.effect === "cancel_timers" || effect.effect === "finished") return; // the status line says it
    if (effect.effect !== "send") return line("note", describe(effect));
    const m = effect.message || {};
    if (m.type === "text") return line("bot", m.body);
    if (m.type === "media") return line("bot", `[${m.media_type}] `, m.caption || m.filename || m.link || m.id || "");
    if (m.type === "template") return line("bot", `[template ${m.name} · ${m.language}]`);
    if (m.type === "buttons") {
      return line("bot", el("div", {}, m.body), el("div", { class: "choices" }, (m.buttons || []).map(([id, title]) =>
        el("button", { type: "button", class: "choice", dataset: { reply: id }, onclick: () => answer({ reply_id: id }, title) }, title))));
    }
    if (m.type === "list") {
      const rows = (m.sections || []).flatMap((s) => s.rows || []);
      return line("bot", el("div", {}, m.body), el("div", { class: "choices" }, rows.map((r) =>
        el("button", { type: "button", class: "choice", dataset: { reply: r.id }, onclick: () => answer({ reply_id: r.id }, r.title) }, r.title))));
    }
    line("note", JSON.stringify(m));
  }

  async function run(body) {
    if (state.busy) return;
    state.busy = true;
    try {
      await beforeRun();
      let api_mocks;
      if (mocks.value.trim()) {
        try { api_mocks = JSON.parse(mocks.value); } catch (_) { toast("API mocks: not valid JSON", "error"); return; }
      }
      const r = await call("POST", `/flows/${flowId}/simulate`, { ...body, session_id: body.session_id === null ? undefined : state.session || undefined, api_mocks });
      state.session = r.session_id;
      for (const e of r.effects) show(e);
      if (r.status !== "waiting" && r.status !== "running") line("note", `Run ${r.status}`);
      highlight(r.current_node || null);
      vars.textContent = JSON.stringify(r.variables, null, 1);
      fire.disabled = !(r.pending_timers && r.pending_timers.length);
      host.dataset.status = r.status;
      host.dataset.current = r.current_node || "";
    } catch (err) {
      line("note error", err.message);
    } finally {
      state.busy = false;
    }
  }

  function answer(reply, shown) {
    line("customer", shown);
    return run({ input: reply });
  }

  const restart = () => {
    log.replaceChildren();
    state.session = null;
    highlight(null);
    return run({ session_id: null });
  };
  const form = el("form", { class: "sim-input" }, input, el("button", { type: "submit" }, "Send"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    if (!state.session) return toast("Start the simulator first", "error");
    const text = input.value;
    input.value = "";
    answer({ text }, text);
  });
  host.append(el("div", { class: "sim" },
    el("div", { class: "sim-actions" }, el("button", { type: "button", id: "sim-start", class: "primary", onclick: restart }, "Start / restart"), fire),
    log, form,
    el("details", {}, el("summary", {}, "Variables"), vars),
    el("details", {}, el("summary", {}, "API mocks (per node)"), mocks),
    el("p", { class: "muted" }, "Runs the draft in the real engine. Nothing is sent to WhatsApp or stored; API calls answer from the mocks above, or fail.")));
}
