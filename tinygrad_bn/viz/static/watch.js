// The watch page: a slider over the records of a training run; one row per layer, histograms of the
// activations and gradients of one batch. Histograms were binned in Python; this draws them so that
// each column shares one x range at the record shown.
(function () {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("data").textContent);
  const slider = document.getElementById("record");
  const table = document.getElementById("layers");
  const WIDTH = 170, HEIGHT = 64, AXIS = 12;

  function fmt(x) {  // like Python's "{:.3g}"
    if (x === null || x === undefined) return "n/a";
    if (x === 0) return "0";
    const exponent = Math.floor(Math.log10(Math.abs(x)));
    if (exponent < -3 || exponent >= 4) return x.toExponential(2).replace(/\.?0+e/, "e");
    const text = x.toFixed(Math.max(0, 2 - exponent));
    return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
  }
  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  // the columns: (what, kind) for the kinds this network has, values first, then gradients
  const kinds = Object.keys(data.columns).filter((kind) => data.layers.some((l) => l.kind === kind));
  const columns = [];
  for (const what of ["values", "grads"]) for (const kind of kinds) columns.push({ what, kind });
  const rows = [...new Set(data.layers.map((l) => l.row))];
  const cells = {};  // "row/what/kind" -> {svg, std, index of the layer}

  function build() {
    const head = document.createElement("thead");
    const top = head.insertRow(), sub = head.insertRow();
    top.append(Object.assign(document.createElement("th"), { rowSpan: 2, textContent: "layer" }));
    for (const what of ["values", "grads"]) {
      const th = Object.assign(document.createElement("th"), { colSpan: kinds.length, className: "what",
        textContent: what === "values" ? "activations (forward)" : "gradients of the loss (backward)" });
      top.append(th);
    }
    for (const { kind } of columns) sub.append(Object.assign(document.createElement("th"), { textContent: data.columns[kind] }));
    table.append(head);
    const body = document.createElement("tbody");
    for (const row of rows) {
      const tr = body.insertRow();
      const mine = data.layers.filter((l) => l.row === row);
      const name = tr.insertCell();
      name.className = "layer";
      name.innerHTML = `<strong>layer ${row}</strong><br>` + mine.map((l) => `${l.module}: ${l.type}`).join("<br>");
      for (const { what, kind } of columns) {
        const td = tr.insertCell();
        const index = data.layers.findIndex((l) => l.row === row && l.kind === kind);
        if (index < 0) continue;
        const svg = svgEl("svg", { class: `hist ${what}`, width: WIDTH, height: HEIGHT + AXIS,
          "data-layer": index, "data-what": what, role: "img" });
        const std = Object.assign(document.createElement("div"), { className: "std" });
        td.append(svg, std);
        cells[`${row}/${what}/${kind}`] = { svg, std, index };
      }
    }
    table.append(body);
    document.getElementById("probe").textContent = data.probe_examples;
  }

  function range(record, what, kind) {
    let lo = Infinity, hi = -Infinity;
    data.layers.forEach((layer, i) => {
      const summary = record.layers[i][what];
      if (layer.kind !== kind || !summary || !summary.hist) return;
      lo = Math.min(lo, summary.hist.lo);
      hi = Math.max(hi, summary.hist.hi);
    });
    if (!isFinite(lo)) return null;
    if (what === "grads") {  // gradients: symmetric around 0
      const r = Math.max(Math.abs(lo), Math.abs(hi));
      return [-r, r];
    }
    return [lo, hi];
  }

  function draw(cell, summary, span) {
    const svg = cell.svg;
    svg.replaceChildren();
    if (!summary || !summary.hist || !span) {
      cell.std.textContent = summary && summary.nonfinite ? `${summary.nonfinite} NaN/inf` : "no data";
      return;
    }
    const [lo, hi] = span, scale = WIDTH / (hi - lo || 1);
    const h = summary.hist, step = (h.hi - h.lo) / h.counts.length;
    const peak = Math.max(1, ...h.counts);
    h.counts.forEach((count, i) => {
      const x0 = (h.lo + i * step - lo) * scale, x1 = (h.lo + (i + 1) * step - lo) * scale;
      const height = HEIGHT * count / peak;
      svg.append(svgEl("rect", { class: "bar", x: x0, y: HEIGHT - height, width: Math.max(0.8, x1 - x0),
        height, "data-count": count }));
    });
    svg.append(svgEl("line", { x1: 0, x2: WIDTH, y1: HEIGHT + 0.5, y2: HEIGHT + 0.5 }));
    const label = (x, text, anchor) => {
      const t = svgEl("text", { x, y: HEIGHT + AXIS - 2, "text-anchor": anchor });
      t.textContent = text;
      svg.append(t);
    };
    label(0, fmt(lo), "start");
    label(WIDTH, fmt(hi), "end");
    cell.std.textContent = `std ${fmt(summary.std)}` + (summary.nonfinite ? `, ${summary.nonfinite} NaN/inf` : "");
  }

  function show(index) {
    const record = data.records[index];
    const when = record.epoch === 0 && record.step === null ? "before training"
      : record.step === null ? `after epoch ${record.epoch}` : `epoch ${record.epoch}, step ${record.step}`;
    document.getElementById("record-label").textContent =
      `${when}` + (record.loss === null ? "" : ` · loss ${fmt(record.loss)}`) + ` (${index + 1} of ${data.records.length})`;
    for (const { what, kind } of columns) {
      const span = range(record, what, kind);
      for (const row of rows) {
        const cell = cells[`${row}/${what}/${kind}`];
        if (cell) draw(cell, record.layers[cell.index][what], span);
      }
    }
  }

  build();
  slider.max = String(data.records.length - 1);
  slider.value = slider.max;
  slider.addEventListener("input", () => show(Number(slider.value)));
  show(data.records.length - 1);
  document.body.dataset.ready = "true";
})();
