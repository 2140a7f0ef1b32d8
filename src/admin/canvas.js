// The flow canvas: draws a FlowModel (nodes as DOM boxes, edges as SVG curves) under one
// pan/zoom transform, and turns pointer gestures into model edits: select, multi-select (shift,
// or shift-drag a box), move, connect by dragging from an exit's handle, pan, zoom. Rendering is
// keyed: only nodes whose content changed are rebuilt, so a 200-node flow stays smooth.
import { NODE_TYPES, canonicalType, handlesOf, handleIndex, readField, UNSUPPORTED } from "./model.js";
import { el } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_WIDTH = 210;
const INPUT_Y = 18;

function summary(node) {
  const type = canonicalType(node);
  const spec = NODE_TYPES[type];
  if (!spec) return UNSUPPORTED.includes(type) ? "cannot be published" : "unknown type";
  const d = node.data || {};
  const first = spec.fields.find((f) => ["textarea", "text"].includes(f.kind) && readField(d, f));
  let s = first ? String(readField(d, first)) : "";
  if (type === "handoff") s = `to ${d.handoffType || "queue"}${d.priority ? " · " + d.priority : ""}`;
  if (type === "delay") s = `${d.delaySeconds ?? d.duration ?? "?"} ${d.delaySeconds !== undefined ? "s" : d.unit || ""}`;
  return s.length > 80 ? s.slice(0, 79) + "…" : s;
}

export class Canvas {
  /** `host`: the element to fill; `options.readOnly` turns off every edit gesture. */
  constructor(host, model, { readOnly = false, onOpenNode = () => {} } = {}) {
    this.model = model;
    this.readOnly = readOnly;
    this.onOpenNode = onOpenNode;
    this.view = { x: 40, y: 40, k: 1 };
    this.items = new Map(); // node id -> {el, sig, outs: [y], height}
    this.errors = new Map(); // node id -> [messages]
    this.overlay = new Map(); // node id -> text (drop-off)
    this.current = null; // the simulator's node
    this.viewport = el("div", { class: "viewport", tabindex: "0", "aria-label": "Flow canvas" });
    this.world = el("div", { class: "world" });
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.classList.add("edges");
    this.draft = document.createElementNS(SVG, "path");
    this.draft.classList.add("edge", "draft");
    this.box = el("div", { class: "rubber", hidden: true });
    this.world.append(this.svg);
    this.viewport.append(this.world, this.box);
    host.append(this.viewport);
    this.viewport.addEventListener("pointerdown", (e) => this.pointerDown(e));
    this.viewport.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    this.viewport.addEventListener("dblclick", (e) => {
      const n = e.target.closest(".node");
      if (n) this.onOpenNode(n.dataset.id);
    });
    this.applyView();
  }

  // ---- coordinates ------------------------------------------------------------------------

  applyView() {
    this.world.style.transform = `translate(${this.view.x}px, ${this.view.y}px) scale(${this.view.k})`;
    this.viewport.style.setProperty("--zoom", this.view.k);
  }
  toWorld(clientX, clientY) {
    const r = this.viewport.getBoundingClientRect();
    return { x: (clientX - r.left - this.view.x) / this.view.k, y: (clientY - r.top - this.view.y) / this.view.k };
  }
  center() {
    const r = this.viewport.getBoundingClientRect();
    return this.toWorld(r.left + r.width / 2, r.top + r.height / 2);
  }
  zoomBy(factor, clientX, clientY) {
    const r = this.viewport.getBoundingClientRect();
    const cx = clientX ?? r.left + r.width / 2, cy = clientY ?? r.top + r.height / 2;
    const before = this.toWorld(cx, cy);
    this.view.k = Math.min(2.5, Math.max(0.15, this.view.k * factor));
    this.view.x = cx - r.left - before.x * this.view.k;
    this.view.y = cy - r.top - before.y * this.view.k;
    this.applyView();
  }
  fit() {
    if (!this.model.nodes.length) return;
    const xs = this.model.nodes.map((n) => n.position?.x || 0), ys = this.model.nodes.map((n) => n.position?.y || 0);
    const minX = Math.min(...xs), minY = Math.min(...ys), maxX = Math.max(...xs) + NODE_WIDTH, maxY = Math.max(...ys) + 140;
    const r = this.viewport.getBoundingClientRect();
    this.view.k = Math.min(1.2, Math.max(0.15, Math.min((r.width - 60) / (maxX - minX), (r.height - 60) / (maxY - minY))));
    this.view.x = 30 - minX * this.view.k;
    this.view.y = 30 - minY * this.view.k;
    this.applyView();
  }
  focusNode(id) {
    const n = this.model.node(id);
    if (!n) return;
    const r = this.viewport.getBoundingClientRect();
    this.view.x = r.width / 2 - ((n.position?.x || 0) + NODE_WIDTH / 2) * this.view.k;
    this.view.y = r.height / 2 - ((n.position?.y || 0) + 40) * this.view.k;
    this.applyView();
  }

  // ---- drawing ----------------------------------------------------------------------------

  nodeElement(node) {
    const type = canonicalType(node);
    const spec = NODE_TYPES[type];
    const handles = handlesOf(node);
    const errors = this.errors.get(node.id) || [];
    const box = el("div", { class: `node type-${spec ? type : "unknown"}`, dataset: { id: node.id, type } },
      el("div", { class: "node-head" }, el("span", { class: "node-type" }, spec ? spec.label : node.type), el("span", { class: "node-id" }, node.id)),
      el("div", { class: "node-body" }, summary(node) || "\u00a0"));
    if (type !== "start") box.append(el("span", { class: "in", title: "Input" }));
    if (errors.length) box.append(el("span", { class: "badge-error", title: errors.join("\n") }, String(errors.length)));
    if (this.overlay.has(node.id)) box.append(el("span", { class: "badge-stat" }, this.overlay.get(node.id)));
    if (handles.length) {
      // An error naming a branch (`buttons[1]: ... has no exit`) is drawn on that branch's handle.
      const badHandles = new Map();
      for (const e of errors) {
        const m = /^(?:buttons|rows|branches|paths)\[(\d+)\][^:]*: (.*)$/.exec(e);
        if (m) badHandles.set(Number(m[1]), m[2]);
      }
      const outs = el("ul", { class: "outs" });
      handles.forEach((h, i) => {
        const bad = badHandles.get(i);
        outs.append(el("li", { class: bad ? "out has-error" : "out", dataset: { handle: h.id ?? "" }, title: bad },
          el("span", { class: "out-label" }, h.label || "next"), el("span", { class: "dot", title: `Drag to connect ${h.label || "next"}` })));
      });
      box.append(outs);
    }
    return box;
  }

  /** Brings the DOM in line with the model: rebuilds changed nodes, moves the rest, redraws edges. */
  render() {
    const seen = new Set();
    const rebuilt = [];
    for (const node of this.model.nodes) {
      seen.add(node.id);
      const sig = JSON.stringify([node.type, node.data, this.errors.get(node.id), this.overlay.get(node.id)]);
      let item = this.items.get(node.id);
      if (!item || item.sig !== sig) {
        const fresh = this.nodeElement(node);
        if (item) item.el.replaceWith(fresh);
        else this.world.append(fresh);
        item = { el: fresh, sig, outs: [], height: 0 };
        this.items.set(node.id, item);
        rebuilt.push(item);
      }
      item.el.style.transform = `translate(${node.position?.x || 0}px, ${node.position?.y || 0}px)`;
      item.el.classList.toggle("selected", this.model.selected.has(node.id));
      item.el.classList.toggle("sim-current", this.current === node.id);
      item.el.classList.toggle("has-error", this.errors.has(node.id));
    }
    for (const [id, item] of this.items) {
      if (!seen.has(id)) {
        item.el.remove();
        this.items.delete(id);
      }
    }
    for (const item of rebuilt) {
      item.height = item.el.offsetHeight;
      item.outs = [...item.el.querySelectorAll(".out")].map((o) => o.offsetTop + o.offsetHeight / 2);
    }
    this.renderEdges();
  }

  anchor(edge) {
    const from = this.model.node(edge.source), to = this.model.node(edge.target);
    if (!from || !to) return null;
    const item = this.items.get(from.id);
    const i = handleIndex(handlesOf(from), edge);
    const y = i >= 0 && item && item.outs[i] !== undefined ? item.outs[i] : (item ? item.height / 2 : 30);
    return {
      x1: (from.position?.x || 0) + NODE_WIDTH, y1: (from.position?.y || 0) + y,
      x2: to.position?.x || 0, y2: (to.position?.y || 0) + INPUT_Y, dangling: i < 0,
    };
  }

  static curve({ x1, y1, x2, y2 }) {
    const dx = Math.max(40, Math.abs(x2 - x1) / 2);
    return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  }

  renderEdges() {
    const parts = [];
    for (const edge of this.model.edges) {
      const a = this.anchor(edge);
      if (!a) continue;
      const g = document.createElementNS(SVG, "g");
      g.dataset.id = edge.id || "";
      const d = Canvas.curve(a);
      for (const cls of ["edge-hit", "edge"]) {
        const p = document.createElementNS(SVG, "path");
        p.setAttribute("d", d);
        p.classList.add(cls);
        if (cls === "edge" && a.dangling) p.classList.add("dangling");
        if (cls === "edge" && this.model.selectedEdge && this.model.selectedEdge === edge.id) p.classList.add("selected");
        g.append(p);
      }
      parts.push(g);
    }
    this.svg.replaceChildren(...parts, this.draft);
    this.draft.setAttribute("d", "");
  }

  setErrors(errors) {
    this.errors = errors;
    this.render();
  }
  setOverlay(overlay) {
    this.overlay = overlay;
    this.render();
  }
  setCurrent(id) {
    this.current = id;
    for (const [nid, item] of this.items) item.el.classList.toggle("sim-current", nid === id);
  }

  // ---- gestures ---------------------------------------------------------------------------

  wheel(e) {
    e.preventDefault();
    this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
  }

  pointerDown(e) {
    if (e.button !== 0) return;
    const dot = e.target.closest(".out");
    const node = e.target.closest(".node");
    const hit = e.target.closest("g[data-id]");
    this.viewport.focus({ preventScroll: true });
    if (dot && node && !this.readOnly) return this.startConnect(e, node.dataset.id, dot.dataset.handle === "" ? null : dot.dataset.handle, dot);
    if (node) return this.startMove(e, node.dataset.id);
    if (hit && hit.dataset.id) {
      this.model.selectEdge(hit.dataset.id);
      return this.renderEdges();
    }
    if (e.shiftKey && !this.readOnly) return this.startBox(e);
    this.startPan(e);
  }

  track(e, move, up) {
    const id = e.pointerId;
    this.viewport.setPointerCapture(id);
    const onMove = (ev) => ev.pointerId === id && move(ev);
    const onUp = (ev) => {
      if (ev.pointerId !== id) return;
      this.viewport.removeEventListener("pointermove", onMove);
      this.viewport.removeEventListener("pointerup", onUp);
      this.viewport.removeEventListener("pointercancel", onUp);
      up(ev);
    };
    this.viewport.addEventListener("pointermove", onMove);
    this.viewport.addEventListener("pointerup", onUp);
    this.viewport.addEventListener("pointercancel", onUp);
  }

  startPan(e) {
    const start = { x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y };
    let moved = false;
    this.viewport.classList.add("panning");
    this.track(e, (ev) => {
      moved = moved || Math.abs(ev.clientX - start.x) + Math.abs(ev.clientY - start.y) > 3;
      this.view.x = start.vx + ev.clientX - start.x;
      this.view.y = start.vy + ev.clientY - start.y;
      this.applyView();
    }, () => {
      this.viewport.classList.remove("panning");
      if (!moved) this.model.select([]);
      this.model.viewport = { x: this.view.x, y: this.view.y, zoom: this.view.k };
    });
  }

  startMove(e, id) {
    if (e.shiftKey) this.model.select([id], true);
    else if (!this.model.selected.has(id)) this.model.select([id]);
    if (this.readOnly || !this.model.selected.has(id)) return;
    const ids = [...this.model.selected];
    let last = this.toWorld(e.clientX, e.clientY);
    this.model.beginGesture();
    let frame = 0;
    this.track(e, (ev) => {
      const p = this.toWorld(ev.clientX, ev.clientY);
      this.model.moveNodes(ids, p.x - last.x, p.y - last.y);
      last = p;
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; this.moved(ids); });
    }, () => {
      if (frame) cancelAnimationFrame(frame);
      this.moved(ids);
      this.model.endGesture();
    });
  }

  /** Repositions dragged nodes and redraws only their edges. */
  moved(ids) {
    const set = new Set(ids);
    for (const id of ids) {
      const n = this.model.node(id), item = this.items.get(id);
      if (n && item) item.el.style.transform = `translate(${n.position.x}px, ${n.position.y}px)`;
    }
    for (const g of this.svg.querySelectorAll("g[data-id]")) {
      const edge = this.model.edges.find((x) => (x.id || "") === g.dataset.id);
      if (!edge || !(set.has(edge.source) || set.has(edge.target))) continue;
      const a = this.anchor(edge);
      if (a) for (const p of g.children) p.setAttribute("d", Canvas.curve(a));
    }
  }

  startConnect(e, source, handle, dot) {
    const item = this.items.get(source);
    const node = this.model.node(source);
    const y = dot.offsetTop + dot.offsetHeight / 2;
    const from = { x1: node.position.x + NODE_WIDTH, y1: node.position.y + (item ? y : 0) };
    this.viewport.classList.add("connecting");
    this.track(e, (ev) => {
      const p = this.toWorld(ev.clientX, ev.clientY);
      this.draft.setAttribute("d", Canvas.curve({ ...from, x2: p.x, y2: p.y }));
    }, (ev) => {
      this.viewport.classList.remove("connecting");
      this.draft.setAttribute("d", "");
      const target = document.elementFromPoint(ev.clientX, ev.clientY)?.closest(".node");
      if (!target || target.dataset.id === source) return;
      try {
        this.model.connect(source, handle, target.dataset.id);
      } catch (err) {
        this.onError?.(err.message);
      }
    });
  }

  startBox(e) {
    const start = this.toWorld(e.clientX, e.clientY);
    const r = this.viewport.getBoundingClientRect();
    this.box.hidden = false;
    const draw = (ev) => {
      const l = Math.min(e.clientX, ev.clientX) - r.left, t = Math.min(e.clientY, ev.clientY) - r.top;
      Object.assign(this.box.style, { left: l + "px", top: t + "px", width: Math.abs(ev.clientX - e.clientX) + "px", height: Math.abs(ev.clientY - e.clientY) + "px" });
    };
    this.track(e, draw, (ev) => {
      this.box.hidden = true;
      const end = this.toWorld(ev.clientX, ev.clientY);
      const [x0, x1] = [Math.min(start.x, end.x), Math.max(start.x, end.x)], [y0, y1] = [Math.min(start.y, end.y), Math.max(start.y, end.y)];
      const inside = this.model.nodes.filter((n) => n.position.x < x1 && n.position.x + NODE_WIDTH > x0 && n.position.y < y1 && n.position.y + 60 > y0);
      this.model.select(inside.map((n) => n.id), true);
    });
  }
}
