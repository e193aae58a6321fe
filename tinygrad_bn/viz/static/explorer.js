// The graph explorer's behaviour. The page holds one SVG per view, laid out by Graphviz in Python, and
// the data of every node and module (statistics and histograms binned in Python). This script shows one
// view at a time and adds pan and zoom, search, the side panel, collapsing modules and the depth control.
(function () {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("data").textContent);
  const graphBox = document.getElementById("graph");
  const panel = document.getElementById("panel");
  const depthInput = document.getElementById("depth");
  const depthValue = document.getElementById("depth-value");
  const searchInput = document.getElementById("search");
  const state = { view: null, svg: null, root: null, full: null, box: null, selected: null,
    collapsed: new Set(), matches: [], matchIndex: -1 };
  const childModules = {};
  for (const [key, m] of Object.entries(data.modules)) {
    if (m.parent) (childModules[m.parent] = childModules[m.parent] || []).push(key);
  }

  // ------------------------------------------------------------------ numbers and small helpers
  // like Python's "{:.4g}": 4 significant digits, exponent form for very small or large numbers
  function fmt(x) {
    if (x === null || x === undefined) return "n/a";
    if (x === 0) return "0";
    const exponent = Math.floor(Math.log10(Math.abs(x)));
    if (exponent < -4 || exponent >= 4) {
      const [mantissa, power] = x.toExponential(3).split("e");
      const p = parseInt(power, 10);
      return `${strip(mantissa)}e${p < 0 ? "-" : "+"}${String(Math.abs(p)).padStart(2, "0")}`;
    }
    return strip(x.toFixed(Math.max(0, 3 - exponent)));
  }
  function strip(text) {
    return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  }
  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  const viewData = () => data.views[state.view];
  const clustersOf = (id) => viewData().clusters[id] || [];

  // ------------------------------------------------------------------ histograms
  function histogram(summary, isGrad) {
    const width = 320, height = 96, bottom = 16, top = 12;
    const svg = svgEl("svg", { class: "hist" + (isGrad ? " grad" : ""), width, height,
      viewBox: `0 0 ${width} ${height}`, role: "img" });
    const hist = summary.hist;
    if (!hist) return svg;
    const peak = Math.max(1, ...hist.counts);
    const barWidth = width / hist.counts.length;
    hist.counts.forEach((count, i) => {
      const h = (height - bottom - top) * count / peak;
      svg.append(svgEl("rect", { class: "bar", x: i * barWidth + 0.5, y: height - bottom - h,
        width: Math.max(1, barWidth - 1), height: h, "data-count": count }));
    });
    const label = (x, text, anchor, y) => {
      const t = svgEl("text", { x, y, "text-anchor": anchor });
      t.textContent = text;
      svg.append(t);
    };
    label(0, fmt(hist.lo), "start", height - 3);
    label(width, fmt(hist.hi), "end", height - 3);
    label(0, `peak ${peak}`, "start", 10);
    return svg;
  }

  function statsTable(summary, prefix) {
    const table = el("table", { class: "stats" });
    const rows = [["min", summary.min, "max", summary.max], ["mean", summary.mean, "std", summary.std]];
    for (const [a, va, b, vb] of rows) {
      table.append(el("tr", {}, el("td", {}, a), el("td", { "data-stat": `${prefix}.${a}` }, fmt(va)),
        el("td", {}, b), el("td", { "data-stat": `${prefix}.${b}` }, fmt(vb))));
    }
    const zeros = summary.zeros === null ? "n/a" : `${fmt(100 * summary.zeros)}%`;
    const tail = [el("td", {}, "zeros"), el("td", { "data-stat": `${prefix}.zeros` }, zeros)];
    if (summary.nonfinite) tail.push(el("td", {}, "NaN/inf"), el("td", {}, String(summary.nonfinite)));
    table.append(el("tr", {}, ...tail));
    return table;
  }

  // ------------------------------------------------------------------ the side panel
  function showIntro() {
    const legend = el("ul", { class: "legend" });
    for (const [kind, colour] of Object.entries(data.styles)) {
      if (kind.includes("module")) continue;
      legend.append(el("li", {}, el("span", { class: "swatch", style: `background:${colour}` }), kind));
    }
    panel.replaceChildren(
      el("h2", {}, "Explore the graph"),
      el("p", {}, "Click a node for its operation, shape, values and gradient. Click a module's frame to " +
        "collapse it into one box, and the box to expand it again. Scroll to zoom, drag to pan."),
      el("p", {}, "Shapes are written on the edges where an operation changes them."),
      el("h3", {}, "Kinds of node"), legend);
  }

  function showNode(id) {
    const node = data.nodes[id];
    const title = node.op ? node.label.join(" · ") : (node.name || node.label[0]);
    const facts = el("table", {},
      el("tr", {}, el("td", {}, "kind"), el("td", { "data-field": "kind" },
        node.kind + (node.backward ? " (recorded by the backward pass)" : ""))),
      el("tr", {}, el("td", {}, "module"), el("td", { "data-field": "module" }, node.module || "none")),
      el("tr", {}, el("td", {}, "shape"), el("td", { "data-field": "shape" }, node.shape)),
      el("tr", {}, el("td", {}, "dtype"), el("td", { "data-field": "dtype" }, node.dtype)));
    const parts = [el("h2", { "data-field": "title" }, title)];
    if (node.op) {
      const formula = el("p", { "data-field": "words" }, el("strong", {}, node.op), ": " + node.words);
      if (node.detail) formula.append(" ", el("code", {}, node.detail));
      parts.push(formula);
    } else {
      parts.push(el("p", { "data-field": "words" }, node.words));
    }
    parts.push(facts, el("h3", {}, `value (${node.value.size} numbers)`));
    if (node.value.hist) parts.push(statsTable(node.value, "value"), histogram(node.value, false));
    else parts.push(el("p", { class: "muted" }, "no finite values"));
    parts.push(el("h3", {}, "gradient"));
    if (node.grad) {
      parts.push(el("p", { class: "sub" }, node.grad.source), statsTable(node.grad, "grad"),
        histogram(node.grad, true));
    } else {
      parts.push(el("p", { class: "muted", "data-field": "no-grad" },
        node.backward ? "not computed for ops of the backward pass" : "none: this tensor does not require grad"));
    }
    panel.replaceChildren(...parts);
  }

  function showModule(key) {
    const m = data.modules[key];
    const inside = viewData().nodes.filter((id) => clustersOf(id).includes(key)).length;
    const params = el("ul", {});
    for (const [name, shape] of m.paramList) params.append(el("li", {}, el("code", {}, name), " " + shape));
    const button = el("button", { type: "button", id: "toggle-module" },
      state.collapsed.has(key) ? "expand" : "collapse");
    button.addEventListener("click", () => toggleModule(key));
    panel.replaceChildren(
      el("h2", { "data-field": "title" }, m.label),
      el("table", {},
        el("tr", {}, el("td", {}, "type"), el("td", {}, m.type)),
        el("tr", {}, el("td", {}, "depth"), el("td", {}, String(m.depth))),
        el("tr", {}, el("td", {}, "parameters"), el("td", { "data-field": "params" }, m.params.toLocaleString("en"))),
        el("tr", {}, el("td", {}, "nodes"), el("td", {}, `${inside} in this view`))),
      m.paramList.length ? params : el("p", { class: "muted" }, "no parameters of its own"),
      button);
  }

  function select(id) {
    if (state.selected) {
      const old = document.getElementById(state.selected);
      if (old) old.classList.remove("selected");
    }
    state.selected = id;
    if (!id) return showIntro();
    const node = document.getElementById(id);
    if (node) node.classList.add("selected");
    showNode(id);
  }

  // ------------------------------------------------------------------ collapsing modules
  function hasCollapsedAncestor(key) {
    for (let parent = data.modules[key].parent; parent; parent = data.modules[parent].parent) {
      if (state.collapsed.has(parent)) return true;
    }
    return false;
  }
  // what stands for a node on the screen: itself, or the outermost collapsed module holding it
  function representative(id) {
    return clustersOf(id).find((key) => state.collapsed.has(key)) || id;
  }

  function applyCollapse() {
    const view = viewData();
    let shown = 0;
    for (const id of view.nodes) {
      const hidden = representative(id) !== id;
      document.getElementById(id).classList.toggle("hidden", hidden);
      if (!hidden) shown += 1;
    }
    for (const [edgeId, src, dst] of view.edges) {
      const a = representative(src), b = representative(dst);
      document.getElementById(edgeId).classList.toggle("hidden", a === b && a !== src);
    }
    state.root.querySelectorAll("g.collapsed-module").forEach((g) => g.remove());
    let boxes = 0;
    for (const cluster of state.root.querySelectorAll("g.cluster")) {
      const key = cluster.id;
      const buried = hasCollapsedAncestor(key);
      cluster.classList.toggle("hidden", buried);
      if (state.collapsed.has(key) && !buried) {
        state.root.append(collapsedBox(key, cluster));
        boxes += 1;
      }
    }
    document.getElementById("count").textContent =
      `${shown} of ${view.nodes.length} nodes shown` + (boxes ? `, ${boxes} collapsed module${boxes > 1 ? "s" : ""}` : "");
  }

  function collapsedBox(key, cluster) {
    const m = data.modules[key];
    const outline = cluster.querySelector("path, polygon").getBBox();
    const size = Math.max(11, Math.min(48, Math.min(outline.width / 9, outline.height / 4)));
    const g = svgEl("g", { class: "collapsed-module", "data-module": key });
    g.append(svgEl("rect", { x: outline.x, y: outline.y, width: outline.width, height: outline.height, rx: 8 }));
    const cx = outline.x + outline.width / 2, cy = outline.y + outline.height / 2;
    const lines = [[m.label, "big"], [`${m.params.toLocaleString("en")} parameters`, ""], ["click to expand", ""]];
    lines.forEach(([text, cls], i) => {
      const t = svgEl("text", { x: cx, y: cy + (i - 0.8) * size * 1.3, class: cls,
        style: `font-size:${cls ? size * 1.2 : size}px` });
      t.textContent = text;
      g.append(t);
    });
    return g;
  }

  function toggleModule(key) {
    if (state.collapsed.has(key)) state.collapsed.delete(key);
    else state.collapsed.add(key);
    applyCollapse();
    showModule(key);
  }

  function setDepth(depth) {
    depthInput.value = depth;
    depthValue.textContent = depth > data.maxDepth ? "all" : String(depth);
    state.collapsed = new Set(Object.keys(data.modules).filter((key) => data.modules[key].depth === depth));
    applyCollapse();
  }

  // ------------------------------------------------------------------ views, pan and zoom
  function showView(name) {
    state.view = name;
    document.querySelector(`input[name=view][value=${name}]`).checked = true;
    graphBox.replaceChildren(document.getElementById(`svg-${name}`).content.cloneNode(true));
    const svg = graphBox.querySelector("svg");
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    state.svg = svg;
    state.root = svg.querySelector("g.graph");
    const [x, y, w, h] = svg.getAttribute("viewBox").split(/[\s,]+/).map(Number);
    state.full = { x, y, w, h };
    applyCollapse();
    fit();
    const keep = state.selected && viewData().nodes.includes(state.selected) ? state.selected : null;
    state.selected = null;
    select(keep);
    search(searchInput.value);
  }

  function setBox(box) {
    state.box = box;
    state.svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
  }
  function fit() {
    const f = state.full, pad = 0.02 * Math.max(f.w, f.h);
    setBox({ x: f.x - pad, y: f.y - pad, w: f.w + 2 * pad, h: f.h + 2 * pad });
  }
  function toSvg(clientX, clientY) {
    const point = state.svg.createSVGPoint();
    point.x = clientX;
    point.y = clientY;
    return point.matrixTransform(state.svg.getScreenCTM().inverse());
  }
  function zoomAt(clientX, clientY, factor) {
    const p = toSvg(clientX, clientY), b = state.box;
    const w = Math.min(Math.max(b.w * factor, state.full.w / 200), state.full.w * 20);
    const k = w / b.w;
    setBox({ x: p.x - (p.x - b.x) * k, y: p.y - (p.y - b.y) * k, w, h: b.h * k });
  }
  function centerOn(id) {
    const rect = document.getElementById(id).getBoundingClientRect();
    const c = toSvg(rect.left + rect.width / 2, rect.top + rect.height / 2);
    const b = state.box, w = Math.min(b.w, Math.max(400, state.full.w / 4));
    const k = w / b.w;
    setBox({ x: c.x - w / 2, y: c.y - (b.h * k) / 2, w, h: b.h * k });
  }

  let drag = null;
  graphBox.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomAt(event.clientX, event.clientY, Math.exp(event.deltaY * 0.0015));
  }, { passive: false });
  graphBox.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, box: { ...state.box }, moved: false,
      scale: 1 / state.svg.getScreenCTM().a };
  });
  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    graphBox.classList.add("dragging");
    setBox({ ...drag.box, x: drag.box.x - dx * drag.scale, y: drag.box.y - dy * drag.scale });
  });
  window.addEventListener("pointerup", () => {
    graphBox.classList.remove("dragging");
    if (drag && drag.moved) setTimeout(() => { drag = null; }, 0);
    else drag = null;
  });
  graphBox.addEventListener("click", (event) => {
    if (drag && drag.moved) return;  // the end of a pan, not a click
    const box = event.target.closest("g.collapsed-module");
    if (box) return toggleModule(box.dataset.module);
    const node = event.target.closest("g.node");
    if (node) return select(node.id);
    const cluster = event.target.closest("g.cluster");
    if (cluster) return toggleModule(cluster.id);
    select(null);
  });

  // ------------------------------------------------------------------ search
  function search(text) {
    const query = text.trim().toLowerCase();
    for (const id of state.matches) {
      const node = document.getElementById(id);
      if (node) node.classList.remove("match");
    }
    state.matches = [];
    state.matchIndex = -1;
    state.svg.classList.toggle("searching", query !== "");
    if (query) {
      state.matches = viewData().nodes.filter((id) => {
        const n = data.nodes[id];
        return [n.op, n.name, n.module, ...n.label].some((s) => s && s.toLowerCase().includes(query));
      });
      for (const id of state.matches) document.getElementById(id).classList.add("match");
    }
    document.getElementById("matches").textContent = query ? `${state.matches.length} found` : "";
  }
  function nextMatch() {
    if (!state.matches.length) return;
    state.matchIndex = (state.matchIndex + 1) % state.matches.length;
    const id = state.matches[state.matchIndex];
    const buried = clustersOf(id).filter((key) => state.collapsed.has(key));
    if (buried.length) {  // a match inside collapsed modules: open them
      buried.forEach((key) => state.collapsed.delete(key));
      applyCollapse();
    }
    select(id);
    centerOn(id);
  }
  searchInput.addEventListener("input", () => search(searchInput.value));
  searchInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") nextMatch();
  });

  // ------------------------------------------------------------------ controls and start
  for (const radio of document.querySelectorAll("input[name=view]")) {
    if (!data.views[radio.value]) {
      radio.disabled = true;
      radio.parentElement.title = "needs an output that requires grad";
    }
    radio.addEventListener("change", () => showView(radio.value));
  }
  depthInput.max = String(data.maxDepth + 1);
  depthInput.addEventListener("input", () => setDepth(Number(depthInput.value)));
  document.getElementById("fit").addEventListener("click", fit);
  showView(data.initialView);
  setDepth(data.initialDepth === null ? data.maxDepth + 1 : Math.min(data.initialDepth, data.maxDepth + 1));
  document.body.dataset.ready = "true";
})();
