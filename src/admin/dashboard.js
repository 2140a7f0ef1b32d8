// The dashboard: the business API's analytics as charts drawn in SVG (conversations per day,
// first response and resolution times, per agent and per queue), a period picker, and each flow's
// funnel with a link to its drop-off drawn on the flow itself.
import { call, list, el } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}, ...children) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const duration = (s) => (s == null ? "—" : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

/** Grouped vertical bars: `series` [{key, label, cls}] over `rows`, labelled by `labelOf`. */
function columns(rows, series, labelOf, { width = 720, height = 220 } = {}) {
  const top = Math.max(...rows.flatMap((r) => series.map((s) => r[s.key] || 0)));
  const max = top <= 4 ? 4 : Math.ceil(top / 4) * 4; // whole-number gridlines
  const pad = { l: 36, b: 28, t: 10 };
  const slot = (width - pad.l) / Math.max(1, rows.length);
  const bar = Math.max(2, Math.min(18, (slot - 4) / series.length));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  for (const f of [0, 0.5, 1]) {
    const y = height - pad.b - f * (height - pad.b - pad.t);
    chart.append(svg("line", { x1: pad.l, x2: width, y1: y, y2: y, class: "grid-line" }), svg("text", { x: pad.l - 4, y: y + 4, class: "axis", "text-anchor": "end" }, Math.round(f * max)));
  }
  rows.forEach((r, i) => {
    series.forEach((s, j) => {
      const h = ((r[s.key] || 0) / max) * (height - pad.b - pad.t);
      const x = pad.l + i * slot + (slot - series.length * bar) / 2 + j * bar;
      chart.append(svg("rect", { x, y: height - pad.b - h, width: bar - 1, height: h, class: `bar ${s.cls}` }, svg("title", {}, `${labelOf(r)} · ${s.label}: ${r[s.key] || 0}`)));
    });
    if (rows.length <= 16 || i % Math.ceil(rows.length / 12) === 0) chart.append(svg("text", { x: pad.l + i * slot + slot / 2, y: height - 10, class: "axis", "text-anchor": "middle" }, labelOf(r)));
  });
  return el("figure", { class: "figure" }, chart, el("figcaption", {}, series.map((s) => el("span", { class: `legend ${s.cls}` }, s.label))));
}

/** Horizontal bars of a duration percentile per row (agents), with p50 and p90. */
function durations(rows, key, title) {
  const max = Math.max(1, ...rows.map((r) => r[key]?.p90 || 0));
  return el("figure", { class: "figure hbars" }, el("figcaption", {}, title),
    rows.length ? rows.map((r) => el("div", { class: "hbar" }, el("span", { class: "hbar-label" }, r.name),
      el("span", { class: "hbar-track" }, el("span", { class: "hbar-p90", style: { width: `${((r[key]?.p90 || 0) / max) * 100}%` } }), el("span", { class: "hbar-p50", style: { width: `${((r[key]?.p50 || 0) / max) * 100}%` } })),
      el("span", { class: "hbar-value" }, `${duration(r[key]?.p50)} · p90 ${duration(r[key]?.p90)}`))) : el("p", { class: "muted" }, "No data yet."));
}

const kpi = (label, value, id) => el("div", { class: "kpi", dataset: { kpi: id } }, el("span", { class: "kpi-value" }, String(value)), el("span", { class: "kpi-label" }, label));

export async function dashboard(main) {
  const days = el("select", { "aria-label": "Period" }, [7, 30, 90].map((d) => el("option", { value: d, selected: d === 30 }, `Last ${d} days`)));
  const body = el("div", { class: "dashboard" });
  main.append(el("header", { class: "page-head" }, el("h1", {}, "Dashboard"), days), body);
  const load = async () => {
    const to = new Date();
    const from = new Date(to.getTime() - Number(days.value) * 86400000);
    const q = `?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    const [o, perDay, agents, queues, flows] = await Promise.all([
      call("GET", "/analytics/overview" + q), call("GET", "/analytics/conversations" + q), call("GET", "/analytics/agents" + q),
      call("GET", "/analytics/queues" + q), list("/flows?limit=50")]);
    const funnels = await Promise.all(flows.filter((f) => f.latest_version).slice(0, 8).map(async (f) => ({ flow: f, r: await call("GET", `/analytics/flows/${f.id}${q}`).catch(() => null) })));
    body.replaceChildren(
      el("section", { class: "kpis" }, kpi("conversations opened", o.conversations_opened, "opened"), kpi("closed", o.conversations_closed, "closed"),
        kpi("open now", o.open_now, "open"), kpi("waiting in queues", o.queued_now, "queued"), kpi("messages in / out", `${o.messages_in} / ${o.messages_out}`, "messages"),
        kpi("first response p50", duration(o.first_response_secs.p50), "first-response"), kpi("resolution p50", duration(o.resolution_secs.p50), "resolution")),
      el("section", { class: "card" }, el("h2", {}, "Conversations per day"),
        perDay.length ? columns(perDay, [{ key: "opened", label: "opened", cls: "s1" }, { key: "closed", label: "closed", cls: "s2" }], (d) => d.day.slice(5)) : el("p", { class: "muted" }, "No conversations in this period.")),
      el("section", { class: "card two" },
        el("div", {}, el("h2", {}, "Per agent"), agents.length ? columns(agents, [{ key: "assigned", label: "assigned", cls: "s1" }, { key: "closed", label: "closed", cls: "s2" }, { key: "open_now", label: "open now", cls: "s3" }], (a) => a.name.split(" ")[0], { width: 420 }) : el("p", { class: "muted" }, "No agents yet."),
          durations(agents, "first_response_secs", "First response (p50, p90)"), durations(agents, "resolution_secs", "Resolution (p50, p90)")),
        el("div", {}, el("h2", {}, "Per queue"), queues.length ? columns(queues, [{ key: "queued", label: "queued", cls: "s1" }, { key: "waiting_now", label: "waiting now", cls: "s3" }, { key: "sla_breaches", label: "SLA breaches", cls: "s4" }], (x) => x.name, { width: 420 }) : el("p", { class: "muted" }, "No queues yet."))),
      el("section", { class: "card" }, el("h2", {}, "Flows"), funnels.length ? el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ["Flow", "Started", "Completed", "Handed off", "Completion", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, funnels.map(({ flow, r }) => el("tr", {}, el("td", {}, flow.name), el("td", {}, String(r?.started ?? "—")), el("td", {}, String(r?.completed ?? "—")),
          el("td", {}, String(r?.handed_off ?? "—")), el("td", {}, r?.completion_rate == null ? "—" : `${Math.round(r.completion_rate * 100)} %`),
          el("td", {}, el("a", { href: `#/flow/${flow.id}/dropoff` }, "Drop-off on the flow →"))))))
        : el("p", { class: "muted" }, "No published flows yet.")));
  };
  days.addEventListener("change", load);
  await load();
}
