// The console's dashboard: fetches each panel from /api/panels/{id} (the events search from
// /api/events) with the page's time range and filters, and draws it as inline SVG (pie,
// column and bar as columns, single) or, for every other kind, a table. Each panel element
// reports its state in data-state: loading, ready, empty or error.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = 8;
  const HOUR = 3600 * 1000;
  const number = new Intl.NumberFormat();

  // el creates an HTML element with attributes and children (nodes or strings).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }

  // sv creates an SVG element the same way.
  function sv(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }

  function chart(width, height, label) {
    return sv("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  }

  function tip(text) {
    return sv("title", {}, text);
  }

  function shorten(s, n) {
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  // niceMax returns the top of a value axis of four equal whole-number steps that reaches v,
  // each step a round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten).
  function niceMax(v) {
    const step = Math.max(1, v / 4);
    const p = Math.pow(10, Math.floor(Math.log10(step)));
    const m = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find(m => m * p >= step && Number.isInteger(m * p));
    return 4 * m * p;
  }

  // yAxis draws the gridlines and value labels of a chart area.
  function yAxis(svg, x0, x1, y0, y1, max) {
    for (let i = 0; i <= 4; i++) {
      const y = y1 - (y1 - y0) * i / 4;
      svg.append(sv("line", { class: i ? "gridline" : "axis", x1: x0, x2: x1, y1: y, y2: y }));
      svg.append(sv("text", { x: x0 - 8, y: y + 4, "text-anchor": "end" }, number.format(max * i / 4)));
    }
  }

  // pie draws a donut of rows [label, value], the largest seven and "Other", with a legend.
  function pie(data) {
    let rows = data.rows.map(r => [String(r[0]), Number(r[1])]).sort((a, b) => b[1] - a[1]);
    if (rows.length > COLOURS) {
      const rest = rows.slice(COLOURS - 1).reduce((s, r) => s + r[1], 0);
      rows = rows.slice(0, COLOURS - 1).concat([["Other", rest]]);
    }
    const total = rows.reduce((s, r) => s + r[1], 0);
    const svg = chart(200, 200, data.title);
    const [cx, cy, r, inner] = [100, 100, 92, 56];
    let angle = -Math.PI / 2;
    rows.forEach(([name, v], i) => {
      const title = tip(`${name}: ${number.format(v)}`);
      if (v === total) {
        svg.append(sv("circle", { class: `mark c${i}`, cx, cy, r }, title));
        return;
      }
      const a1 = angle + 2 * Math.PI * v / total;
      const p = (a, rad) => `${cx + rad * Math.cos(a)} ${cy + rad * Math.sin(a)}`;
      const large = a1 - angle > Math.PI ? 1 : 0;
      const d = `M ${p(angle, r)} A ${r} ${r} 0 ${large} 1 ${p(a1, r)} L ${p(a1, inner)} A ${inner} ${inner} 0 ${large} 0 ${p(angle, inner)} Z`;
      svg.append(sv("path", { class: `mark c${i}`, d, stroke: "#fff", "stroke-width": 1.5 }, title));
      angle = a1;
    });
    svg.append(sv("circle", { cx, cy, r: inner, fill: "#fff" }));
    svg.append(sv("text", { class: "total", x: cx, y: cy + 4, "text-anchor": "middle" }, number.format(total)));
    svg.append(sv("text", { x: cx, y: cy + 22, "text-anchor": "middle" }, "events"));
    const legend = el("ul", { class: "legend" }, ...rows.map(([name, v], i) =>
      el("li", { title: name },
        el("span", { class: `swatch c${i}` }),
        el("span", { class: "name" }, name),
        el("span", { class: "num" }, number.format(v)),
        el("span", { class: "pct" }, `${Math.round(100 * v / total)}%`))));
    return el("div", { class: "pie" }, svg, legend);
  }

  // column draws rows [label, value] as labelled columns, in the order given.
  function column(data) {
    const [W, H, left, right, top, bottom] = [600, 270, 44, 12, 20, 70];
    const rows = data.rows.map(r => [String(r[0]), Number(r[1])]);
    const max = niceMax(Math.max(...rows.map(r => r[1])));
    const slot = (W - left - right) / Math.max(rows.length, 5);
    const svg = chart(W, H, data.title);
    yAxis(svg, left, W - right, top, H - bottom, max);
    rows.forEach(([name, v], i) => {
      const h = (H - bottom - top) * v / max;
      const x = left + i * slot + slot * 0.18;
      const w = slot * 0.64;
      svg.append(sv("rect", { class: "mark c1", x, y: H - bottom - h, width: w, height: h, rx: 3 },
        tip(`${name}: ${number.format(v)}`)));
      svg.append(sv("text", { class: "value-label", x: x + w / 2, y: H - bottom - h - 5, "text-anchor": "middle" }, number.format(v)));
      const lx = x + w / 2, ly = H - bottom + 14;
      svg.append(sv("text", { x: lx, y: ly, "text-anchor": "end", transform: `rotate(-35 ${lx} ${ly})` },
        shorten(name, 16), tip(name)));
    });
    return svg;
  }

  // single draws the one value of the panel's only row.
  function single(data) {
    const v = Number(data.rows[0][0]);
    const svg = chart(360, 130, data.title);
    svg.append(sv("text", { class: v > 0 ? "mark bad" : "mark", x: 180, y: 80, "text-anchor": "middle" }, number.format(v)));
    svg.append(sv("text", { class: "caption", x: 180, y: 114, "text-anchor": "middle" }, data.columns[0].label.toLowerCase()));
    return el("div", { class: "single" }, svg);
  }

  // table lists the rows under the column labels, leaving out hidden columns; numbers are
  // right-aligned.
  function table(data) {
    const cls = c => (c.type === "number" ? "num" : "");
    const shown = data.columns.map((c, i) => [c, i]).filter(([c]) => !c.hidden);
    const head = el("tr", {}, ...shown.map(([c]) => el("th", { class: cls(c), scope: "col" }, c.label)));
    const body = data.rows.map(r => el("tr", {}, ...shown.map(([c, i]) => {
      const v = r[i];
      const text = c.type === "number" ? number.format(Number(v)) : c.type === "time" ? new Date(v).toLocaleString() : String(v);
      return el("td", { class: cls(c) }, text);
    })));
    return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
  }

  // events is the events search's table, without the raw records.
  function events(data) {
    const keep = data.columns.map((c, i) => i).filter(i => data.columns[i].type !== "json");
    return table({ columns: keep.map(i => data.columns[i]), rows: data.rows.map(r => keep.map(i => r[i])) });
  }

  const draw = { pie, column, bar: column, single, table, events };

  function show(card, state, content) {
    card.dataset.state = state;
    card.removeAttribute("aria-busy");
    card.querySelector(".body").replaceChildren(content);
  }

  // selection returns the API query of the page: its time range and filters.
  function selection() {
    const q = new URLSearchParams();
    for (const [k, v] of new URLSearchParams(location.search)) {
      if (v && k !== "refresh") q.set(k, v);
    }
    return q;
  }

  function describe(data) {
    const opts = { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" };
    const filters = Object.entries(data.filters || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "all events";
    return `${new Date(data.from).toLocaleString([], opts)} – ${new Date(data.to).toLocaleString([], opts)} · ${filters}`;
  }

  // navigate links the page to every dashboard.
  async function navigate() {
    const nav = document.querySelector("header nav");
    const res = await fetch("/api/dashboards", { headers: { Accept: "application/json" } });
    if (!nav || !res.ok) return;
    const here = location.pathname === "/" ? "/d/overview" : location.pathname;
    nav.replaceChildren(...(await res.json()).dashboards.concat([{ path: "/events", title: "Events" }]).map(d =>
      el("a", d.path === here ? { href: d.path, class: "active", "aria-current": "page" } : { href: d.path }, d.title)));
  }

  async function load(card, query) {
    const id = card.dataset.panel;
    try {
      const url = card.dataset.kind === "events" ? `/api/events?${query}` : `/api/panels/${encodeURIComponent(id)}?${query}`;
      const res = await fetch(url, { headers: { Accept: "application/json" } });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || res.statusText);
      document.getElementById("window").textContent = describe(data);
      if (data.rows.length === 0) {
        show(card, "empty", el("p", { class: "note" }, "No events in this time range."));
        return;
      }
      show(card, "ready", (draw[card.dataset.kind] || table)(data));
    } catch (err) {
      show(card, "error", el("p", { class: "note" }, `Could not load this panel: ${err.message}`));
    }
  }

  // toLocalInput formats a time for a datetime-local input, in the browser's time zone.
  function toLocalInput(t) {
    const d = new Date(t.getTime() - t.getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }

  function setUpControls() {
    const form = document.getElementById("selection");
    const range = document.getElementById("range");
    const custom = document.getElementById("custom");
    const from = document.getElementById("from");
    const to = document.getElementById("to");
    const page = new URLSearchParams(location.search);
    const now = new Date();
    from.value = toLocalInput(page.get("from") ? new Date(page.get("from")) : new Date(now - 24 * HOUR));
    to.value = toLocalInput(page.get("to") ? new Date(page.get("to")) : now);

    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (range.value === "custom") {
        const f = new Date(from.value), t = new Date(to.value);
        if (isNaN(f) || isNaN(t) || f >= t) {
          to.setCustomValidity("Choose a start before the end.");
          to.reportValidity();
          return;
        }
        q.set("from", f.toISOString());
        q.set("to", t.toISOString());
      } else if (range.value) {
        q.set("range", range.value);
      }
      for (const [k, v] of new URLSearchParams(location.search)) {
        if (!["range", "from", "to", "environment"].includes(k)) q.set(k, v);
      }
      const env = form.elements.environment.value;
      if (env !== "all") q.set("environment", env);
      location.search = q.toString();
    });
    to.addEventListener("input", () => to.setCustomValidity(""));
    range.addEventListener("change", () => {
      custom.hidden = range.value !== "custom";
      if (custom.hidden) form.requestSubmit();
    });
    form.elements.environment.addEventListener("change", () => form.requestSubmit());
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpControls();
    navigate().catch(() => {});
    const query = selection();
    for (const card of document.querySelectorAll("[data-panel]")) load(card, query);
  });
})();
