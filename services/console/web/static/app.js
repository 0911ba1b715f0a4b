// The console's pages. A dashboard fetches each panel from /api/panels/{id} with the page's
// time range and filters and draws it with Apache ECharts by kind; the events page reads
// /api/events. The filters live in the URL (a link reproduces the view): changing one
// rewrites the URL with history.pushState and redraws without a reload. Clicking a chart
// element or a table row opens /events with that element's filters; on the detections page
// a chart element filters the page itself and a detection opens its events. Each panel
// card reports its state in data-state (loading, ready, empty, error) and, when drawn, how
// many data marks the chart holds in data-marks; so does the Overview's detections figure,
// with the count in data-count.
import * as echarts from "./vendor/echarts.js";

const HOUR = 3600 * 1000;
// FILTERS are the page's filter bar's filters, in its order: the dashboards' environment,
// account_id, aws_region, user_name and event_name; the detections page's environment,
// severity, account_id and rule_id.
const FILTERS = [...document.querySelectorAll("#selection [data-filter]")].map(e => e.name);
const TIME = ["range", "from", "to"];
const REFRESH = { "30s": 30e3, "1m": 60e3, "5m": 300e3 };
const PAGE_SIZE = 100;
const number = new Intl.NumberFormat();
// The severities from calm to alarming, and their colours wherever a detection is drawn.
const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const SEVERITY_COLOURS = { info: "#8d9bad", low: "#4a90d9", medium: "#e3b122", high: "#ec7b2f", critical: "#c8233a" };
const palette = ["#2f6fb5", "#e07b39", "#3aa17e", "#c9485b", "#8a63c9", "#d4a72c", "#4fb3c8", "#8c6d4f", "#d96fb0", "#7f8c99",
  "#1b9e77", "#a6761d", "#666ad1", "#e7298a", "#66a61e"];

let worldMap = null; // the promise of the registered world map

// el creates an HTML element with attributes and children (nodes or strings).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children);
  return e;
}

// iso writes a time as the API reads it: RFC 3339 in UTC, whole seconds.
function iso(t) {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function localTime(t) {
  return new Date(t).toLocaleString([], { dateStyle: "medium", timeStyle: "medium", hourCycle: "h23" });
}

function hourLabel(t, withDay) {
  const d = new Date(t);
  const hh = String(d.getHours()).padStart(2, "0") + ":00";
  return withDay ? `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${hh}` : hh;
}

// params returns the page's URL parameters.
function params() {
  return new URLSearchParams(location.search);
}

// apiQuery returns the query a panel request carries: the page's time and filters, without
// what only the page reads (refresh, paging, the events page's panel).
function apiQuery(extra = []) {
  const q = new URLSearchParams();
  for (const [k, v] of params()) {
    if (v && k !== "refresh" && k !== "offset" && k !== "limit" && !(k === "panel" && !extra.includes("panel"))) q.set(k, v);
  }
  return q;
}

// setParams replaces the page's URL parameters and redraws the page.
function setParams(q, replace = false) {
  const s = q.toString();
  const url = location.pathname + (s ? "?" + s : "");
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  syncControls();
  reload();
}

// ---------------------------------------------------------------------------------------
// Filter bar

function toLocalInput(t) {
  const d = new Date(t);
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 19);
}

// syncControls sets the filter bar from the URL.
function syncControls() {
  const q = params();
  const form = document.getElementById("selection");
  const range = form.elements.range;
  if (q.get("from")) {
    range.value = "custom";
  } else {
    const v = q.get("range") || "";
    if (![...range.options].some(o => o.value === v)) range.append(el("option", { value: v }, `Last ${v}`));
    range.value = v;
  }
  const custom = range.value === "custom";
  document.getElementById("custom").hidden = !custom;
  const now = Date.now();
  form.elements.from.value = toLocalInput(q.get("from") || now - 24 * HOUR);
  form.elements.to.value = toLocalInput(q.get("to") || now);
  for (const name of FILTERS) {
    const e = form.elements[name];
    const v = name === "environment" && q.get(name) === "all" ? "" : q.get(name) || "";
    if (e.tagName === "SELECT" && ![...e.options].some(o => o.value === v)) e.append(el("option", { value: v }, v));
    e.value = v;
  }
  form.elements.refresh.value = REFRESH[q.get("refresh")] ? q.get("refresh") : "";
  drawChips();
  schedule();
}

// readControls returns the URL parameters the filter bar says, keeping the others.
function readControls() {
  const form = document.getElementById("selection");
  const q = params();
  for (const k of [...TIME, ...FILTERS, "refresh", "offset"]) q.delete(k);
  const range = form.elements.range.value;
  if (range === "custom") {
    const f = new Date(form.elements.from.value), t = new Date(form.elements.to.value);
    if (isNaN(f) || isNaN(t) || f >= t) {
      form.elements.to.setCustomValidity("Choose a start before the end.");
      form.elements.to.reportValidity();
      return null;
    }
    form.elements.to.setCustomValidity("");
    q.set("from", iso(f));
    q.set("to", iso(t));
  } else if (range) {
    q.set("range", range);
  }
  for (const name of FILTERS) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (form.elements.refresh.value) q.set("refresh", form.elements.refresh.value);
  return sortParams(q);
}

// sortParams orders the parameters as the filter bar shows them, so equal views have
// equal URLs.
function sortParams(q) {
  const order = [...TIME, ...FILTERS, "refresh"];
  const rank = k => (order.includes(k) ? order.indexOf(k) : order.length);
  const out = new URLSearchParams();
  [...q].sort((a, b) => rank(a[0]) - rank(b[0])).forEach(([k, v]) => out.append(k, v));
  return out;
}

function setUpControls() {
  const form = document.getElementById("selection");
  const apply = () => {
    const q = readControls();
    if (q && q.toString() !== params().toString()) setParams(q);
  };
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    apply();
  });
  form.elements.range.addEventListener("change", () => {
    const custom = form.elements.range.value === "custom";
    document.getElementById("custom").hidden = !custom;
    if (!custom) apply();
  });
  for (const name of [...FILTERS, "refresh", "from", "to"]) form.elements[name].addEventListener("change", apply);
  form.elements.to.addEventListener("input", () => form.elements.to.setCustomValidity(""));
  window.addEventListener("popstate", () => {
    syncControls();
    reload();
  });
}

// drawChips lists the filters the URL holds beyond the filter bar's (from a drill-down or a
// link), each removable.
function drawChips() {
  const box = document.getElementById("chips");
  const shown = new Set([...TIME, ...FILTERS, "refresh", "offset", "limit"]);
  const chips = [...params()].filter(([k, v]) => v && !shown.has(k)).map(([k, v]) => {
    const remove = el("button", { type: "button", class: "chip-x", "aria-label": `Remove the filter ${k}` }, "×");
    remove.addEventListener("click", () => {
      const q = params();
      q.delete(k);
      q.delete("offset");
      setParams(q);
    });
    return el("span", { class: "chip", "data-filter": k }, el("b", {}, k), " = ", v, remove);
  });
  box.replaceChildren(...chips);
}

// ---------------------------------------------------------------------------------------
// Auto-refresh

let timer = 0;

function schedule() {
  clearInterval(timer);
  const every = REFRESH[params().get("refresh")];
  if (every) timer = setInterval(() => reload(true), every);
}

// ---------------------------------------------------------------------------------------
// Drill-down

// drillURL returns the events search of one chart element or table row: the panel's events
// (panel=ID) within the answer's time range and filters, with the filters the panel's drill
// map gives for the element's values (by column name). A drill to detection_id is that
// detection's events alone; a panel whose drill page is /detections keeps the page's own
// time and filters and adds the element's.
function drillURL(card, data, values) {
  const drill = JSON.parse(card.dataset.drill || "{}");
  for (const [col, target] of Object.entries(drill)) {
    if (target === "detection_id" && values[col]) return "/events?" + new URLSearchParams({ detection_id: String(values[col]) });
  }
  if (card.dataset.drillPage === "/detections") return detectionsURL(drill, data, values);
  const q = new URLSearchParams();
  let from = Date.parse(data.from), to = Date.parse(data.to);
  for (const [col, target] of Object.entries(drill)) {
    const v = values[col];
    if (v === undefined || v === null || v === "") continue;
    if (target === "hour" || target === "second") {
      const t = Date.parse(v);
      if (isNaN(t)) continue;
      from = Math.max(from, t);
      to = Math.min(to, t + (target === "hour" ? HOUR : 1000));
    } else {
      q.set(target, String(v));
    }
  }
  const out = new URLSearchParams({ from: iso(from), to: iso(to) });
  for (const [k, v] of Object.entries(data.filters || {})) out.set(k, v);
  for (const [k, v] of q) out.set(k, v);
  out.set("panel", data.panel);
  return "/events?" + out;
}

// detectionsURL returns the detections page with the page's time and filters and those of
// the drill map for values: the hour of a column replaces the time range.
function detectionsURL(drill, data, values) {
  const q = params();
  q.delete("offset");
  for (const [col, target] of Object.entries(drill)) {
    const v = values[col];
    if (v === undefined || v === null || v === "") continue;
    if (target === "hour" || target === "second") {
      const t = Date.parse(v);
      if (isNaN(t)) continue;
      q.delete("range");
      q.set("from", iso(Math.max(Date.parse(data.from), t)));
      q.set("to", iso(Math.min(Date.parse(data.to), t + (target === "hour" ? HOUR : 1000))));
    } else {
      q.set(target, String(v));
    }
  }
  const s = sortParams(q).toString();
  return "/detections" + (s ? "?" + s : "");
}

// go opens url: a view of this page is drawn in place (its URL pushed), another page loaded.
function go(url) {
  const u = new URL(url, location.href);
  if (u.pathname === location.pathname) setParams(u.searchParams);
  else location.assign(u.href);
}

function rowValues(data, row) {
  return Object.fromEntries(data.columns.map((c, i) => [c.name, row[i]]));
}

// ---------------------------------------------------------------------------------------
// Charts

const charts = new Map(); // card → ECharts instance
const resizer = new ResizeObserver(entries => {
  for (const e of entries) echarts.getInstanceByDom(e.target)?.resize();
});

function chartBox(card, height) {
  const body = card.querySelector(".body");
  let box = body.querySelector(".chart");
  let chart = charts.get(card);
  if (!box || !chart) {
    chart?.dispose();
    box = el("div", { class: "chart", style: undefined });
    box.classList.add(`h${height}`);
    body.replaceChildren(box);
    chart = echarts.init(box, null, { renderer: "canvas" });
    chart.on("click", p => {
      const values = p.data && p.data.drill;
      if (values) go(drillURL(card, card.answer, values));
    });
    box.chart = chart; // the instance, for the browser tests and for a look from the developer tools
    resizer.observe(box);
    charts.set(card, chart);
  }
  chart.getDom().classList.toggle("drillable", true);
  return chart;
}

function dropChart(card) {
  const chart = charts.get(card);
  if (chart) {
    resizer.unobserve(chart.getDom());
    chart.dispose();
    charts.delete(card);
  }
}

// tip builds a tooltip as elements, not HTML text: the page's Content-Security-Policy
// allows no style attributes, which ECharts' own tooltip markup carries. lines are
// [colour or "", label, value].
function tip(title, lines) {
  return el("div", { class: "tip" }, el("div", { class: "tip-title" }, title), ...lines.map(([colour, label, value]) => {
    const dot = el("span", { class: "dot" });
    if (colour) dot.style.backgroundColor = colour;
    return el("div", { class: "tip-line" }, dot, el("span", { class: "tip-label" }, label), el("b", {}, value));
  }));
}

const baseTooltip = { confine: true, backgroundColor: "rgba(255,255,255,0.97)", borderColor: "#c9d2dc", textStyle: { color: "#1d2733", fontSize: 12 } };
const legend = { type: "scroll", top: 0, left: 0, right: 0, textStyle: { fontSize: 11 }, itemWidth: 14, itemHeight: 9, pageIconSize: 10 };
const axisLabel = { fontSize: 11, color: "#506070" };

// hours returns the start of every hour of [from, to).
function hours(data) {
  const out = [];
  const first = Math.floor(Date.parse(data.from) / HOUR) * HOUR;
  for (let t = first; t < Date.parse(data.to); t += HOUR) out.push(t);
  return out;
}

function hourAxis(hs) {
  const days = new Set(hs.map(t => new Date(t).toDateString())).size > 1;
  return {
    type: "category", data: hs.map(t => hourLabel(t, days && new Date(t).getHours() === 0)),
    axisLabel: { ...axisLabel, hideOverlap: true }, axisTick: { alignWithLabel: true },
  };
}

function pie(card, data) {
  const chart = chartBox(card, 300);
  const items = data.rows.map(r => ({ name: String(r[0]), value: Number(r[1]), drill: rowValues(data, r) }));
  chart.setOption({
    color: palette,
    tooltip: { ...baseTooltip, trigger: "item", formatter: p => tip(p.name, [[p.color, data.columns[1].label, `${number.format(p.value)} (${p.percent}%)`]]) },
    legend: { ...legend, type: "scroll", orient: "vertical", left: "58%", top: "middle", right: 4 },
    series: [{
      type: "pie", radius: ["38%", "68%"], center: ["30%", "52%"], avoidLabelOverlap: true, data: items,
      label: { show: false }, emphasis: { label: { show: true, fontWeight: "bold", formatter: "{b}\n{d}%" } },
      itemStyle: { borderColor: "#fff", borderWidth: 1.5 },
    }],
  }, true);
  return items.length;
}

function column(card, data, horizontal) {
  if (data.columns[0].type === "time") {
    // Counts per hour: every hour of the window on the axis, as one series.
    return hourly(card, { ...data, rows: data.rows.map(r => [r[0], data.columns[1].label, r[1]]) }, false);
  }
  const chart = chartBox(card, 300);
  const names = data.rows.map(r => String(r[0]));
  const sev = card.dataset.palette === "severity" ? data.columns.findIndex(c => c.name === "top_severity") : -1;
  const items = data.rows.map(r => {
    const item = { value: Number(r[1]), drill: rowValues(data, r) };
    if (sev >= 0) item.itemStyle = { color: SEVERITY_COLOURS[r[sev]] || palette[9] };
    return item;
  });
  const cat = { type: "category", data: names, axisLabel: { ...axisLabel, interval: 0, rotate: horizontal ? 0 : names.length > 5 ? 30 : 0, width: horizontal ? 150 : 90, overflow: "truncate" } };
  const val = { type: "value", axisLabel, minInterval: 1 };
  chart.setOption({
    color: palette,
    tooltip: { ...baseTooltip, trigger: "axis", axisPointer: { type: "shadow" },
      formatter: ps => tip(names[ps[0].dataIndex], [[ps[0].color, data.columns[1].label, number.format(ps[0].value)],
        ...(sev >= 0 ? [["", data.columns[sev].label, String(data.rows[ps[0].dataIndex][sev])]] : [])]) },
    grid: { left: 8, right: 24, top: 16, bottom: 8, containLabel: true },
    xAxis: horizontal ? val : cat,
    yAxis: horizontal ? { ...cat, inverse: true } : val,
    series: [{
      type: "bar", name: data.columns[1].label, data: items, barMaxWidth: 42,
      itemStyle: { borderRadius: horizontal ? [0, 3, 3, 0] : [3, 3, 0, 0] },
      label: { show: true, position: horizontal ? "right" : "top", fontSize: 11, formatter: p => number.format(p.value) },
    }],
  }, true);
  return items.length;
}

// seriesByHour turns rows (time, series, value) into one array per series over every hour.
function seriesByHour(data) {
  const hs = hours(data);
  const index = new Map(hs.map((t, i) => [t, i]));
  const series = new Map();
  for (const r of data.rows) {
    const t = Date.parse(r[0]), name = String(r[1]);
    if (!index.has(t)) continue;
    if (!series.has(name)) series.set(name, hs.map(() => 0));
    series.get(name)[index.get(t)] += Number(r[2]);
  }
  return { hs, series };
}

const OUTCOME_COLOURS = { success: "#3aa17e", failure: "#c9485b" };

function hourly(card, data, line) {
  const chart = chartBox(card, 300);
  const { hs, series } = seriesByHour(data);
  const bySeverity = card.dataset.palette === "severity";
  const rank = name => (SEVERITIES.includes(name) ? SEVERITIES.indexOf(name) : -1);
  // Severities stack from calm at the bottom to alarming at the top; other series the
  // largest first.
  const names = [...series.keys()].sort(bySeverity ? (a, b) => rank(a) - rank(b) || a.localeCompare(b) : (a, b) => sum(series.get(b)) - sum(series.get(a)));
  const colour = (name, i) => (bySeverity ? SEVERITY_COLOURS[name] || palette[9] : OUTCOME_COLOURS[name] || palette[i % palette.length]);
  let marks = 0;
  const out = names.map((name, i) => {
    const values = series.get(name);
    marks += values.filter(v => v > 0).length;
    return {
      name, type: line ? "line" : "bar", stack: line ? undefined : "total", barMaxWidth: 28,
      smooth: false, showSymbol: line, symbolSize: 5, emphasis: { focus: "series" },
      color: colour(name, i),
      data: values.map((v, j) => ({ value: v, drill: { time: iso(hs[j]), name: iso(hs[j]), series: name, value: v } })),
    };
  });
  chart.setOption({
    tooltip: {
      ...baseTooltip, trigger: "axis", axisPointer: { type: line ? "line" : "shadow" },
      formatter: ps => {
        const rows = ps.filter(p => p.value > 0).sort((a, b) => b.value - a.value).slice(0, 12);
        return tip(localTime(hs[ps[0].dataIndex]), rows.map(p => [p.color, p.seriesName, number.format(p.value)]));
      },
    },
    legend: { ...legend, data: bySeverity ? [...names].reverse() : names },
    grid: { left: 8, right: 16, top: 34, bottom: 8, containLabel: true },
    xAxis: hourAxis(hs),
    yAxis: { type: "value", axisLabel, minInterval: 1 },
    series: out,
  }, true);
  return marks;
}

function outlier(card, data) {
  const chart = chartBox(card, 300);
  const rows = data.rows.map(r => rowValues(data, r));
  const hs = rows.map(r => Date.parse(r.time));
  const lower = rows.map(r => Math.max(0, r.lower));
  const width = rows.map((r, i) => Math.max(0, r.upper - lower[i]));
  const drill = r => ({ time: r.time, value: r.value });
  chart.setOption({
    tooltip: {
      ...baseTooltip, trigger: "axis",
      formatter: ps => {
        const r = rows[ps[0].dataIndex];
        return tip(localTime(r.time) + (r.outlier ? " · outlier" : ""), [["#2f6fb5", data.columns[1].label, number.format(r.value)],
          ["#7f8c99", "Mean", r.mean.toFixed(2)], ["rgba(47,111,181,0.4)", "Band", `${r.lower.toFixed(2)} – ${r.upper.toFixed(2)}`]]);
      },
    },
    legend: { ...legend, data: ["Logins", "Mean", "Band (mean ± 3σ)", "Outliers"] },
    grid: { left: 8, right: 16, top: 34, bottom: 8, containLabel: true },
    xAxis: { ...hourAxis(hs), boundaryGap: false },
    yAxis: { type: "value", axisLabel, minInterval: 1 },
    series: [
      { name: "Band floor", type: "line", stack: "band", data: lower, lineStyle: { opacity: 0 }, symbol: "none", silent: true, tooltip: { show: false } },
      { name: "Band (mean ± 3σ)", type: "line", stack: "band", data: width, lineStyle: { opacity: 0 }, symbol: "none", silent: true, areaStyle: { color: "rgba(47,111,181,0.16)" }, color: "rgba(47,111,181,0.4)" },
      { name: "Mean", type: "line", data: rows.map(r => r.mean), symbol: "none", lineStyle: { type: "dashed", width: 1 }, color: "#7f8c99" },
      { name: "Logins", type: "line", data: rows.map(r => ({ value: r.value, drill: drill(r) })), symbolSize: 5, color: "#2f6fb5" },
      {
        name: "Outliers", type: "scatter", symbolSize: 11, color: "#c9485b", z: 5,
        data: rows.map((r, i) => (r.outlier ? { value: [i, r.value], drill: drill(r) } : { value: [i, null] })),
      },
    ],
  }, true);
  return rows.length;
}

// miller is the Miller cylindrical projection, which keeps the shapes people know from
// Mercator without its poles; y grows downwards.
const miller = {
  project: ([lon, lat]) => [lon, -1.25 * Math.log(Math.tan(Math.PI / 4 + 0.4 * lat * Math.PI / 180)) * 180 / Math.PI],
  unproject: ([x, y]) => [x, (2.5 * Math.atan(Math.exp(-y * Math.PI / 180 / 1.25)) - 0.625 * Math.PI) * 180 / Math.PI],
};

async function loadWorld() {
  if (!worldMap) {
    worldMap = fetch("/static/vendor/world.json").then(res => {
      if (!res.ok) throw new Error(`world map: ${res.status} ${res.statusText}`);
      return res.json();
    }).then(geo => echarts.registerMap("world", geo));
  }
  return worldMap;
}

async function map(card, data) {
  await loadWorld();
  const chart = chartBox(card, 340);
  const rows = data.rows.map(r => rowValues(data, r));
  const max = Math.max(1, ...rows.map(r => Number(r.events)));
  const extra = data.columns.slice(6);
  const items = rows.map(r => ({
    name: r.location, value: [Number(r.longitude), Number(r.latitude), Number(r.events)], row: r, drill: r,
  }));
  chart.setOption({
    tooltip: {
      ...baseTooltip, trigger: "item",
      formatter: p => p.data ? tip(p.data.row.location, [["rgba(201,72,91,0.72)", data.columns[4].label, number.format(p.data.row.events)],
        ...extra.map(c => ["", c.label, number.format(p.data.row[c.name])])]) : p.name,
    },
    geo: {
      map: "world", roam: true, projection: miller, scaleLimit: { min: 1, max: 12 }, top: 8, bottom: 8, left: 8, right: 8,
      itemStyle: { areaColor: "#e4eaf0", borderColor: "#b4c0cc", borderWidth: 0.5 },
      emphasis: { itemStyle: { areaColor: "#d3dde7" }, label: { show: false } },
      tooltip: { show: false },
    },
    series: [{
      name: data.columns[4].label, type: "scatter", coordinateSystem: "geo", data: items,
      symbolSize: v => 6 + 26 * Math.sqrt(v[2] / max),
      itemStyle: { color: "rgba(201,72,91,0.72)", borderColor: "#fff", borderWidth: 1 },
      emphasis: { scale: 1.25 },
    }],
  }, true);
  return items.length;
}

function single(card, data) {
  dropChart(card);
  const v = Number(data.rows[0][0]);
  const link = el("a", { class: "single " + (v > 0 ? "bad" : "good"), href: drillURL(card, data, {}), title: "Show the matching events" },
    el("span", { class: "value" }, number.format(v)), el("span", { class: "caption" }, data.columns[0].label));
  card.querySelector(".body").replaceChildren(link);
  return 1;
}

function cellText(c, v) {
  if (v === null || v === undefined) return "";
  switch (c.type) {
    case "number": return number.format(Number(v));
    case "time": return localTime(v);
    case "bool": return v ? "yes" : "no";
    default: return Array.isArray(v) ? v.join(", ") : String(v);
  }
}

function table(card, data) {
  dropChart(card);
  card.classList.toggle("wide", data.columns.length >= 5);
  const head = el("tr", {}, ...data.columns.map(c => el("th", { class: c.type, scope: "col" }, c.label)));
  const body = data.rows.map(r => {
    const tr = el("tr", { class: "drillable", tabindex: "0", title: "Show the matching events" },
      ...data.columns.map((c, i) => el("td", { class: c.type }, cellText(c, r[i]))));
    const open = () => go(drillURL(card, data, rowValues(data, r)));
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", ev => ev.key === "Enter" && open());
    return tr;
  });
  card.querySelector(".body").replaceChildren(
    el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...body))));
  return body.length;
}

// severityBadge shows a severity in its colour.
function severityBadge(s) {
  return el("span", { class: `sev sev-${SEVERITIES.includes(s) ? s : "unknown"}` }, s);
}

// detections lists detections: a click on a row opens its events, its arrow its detail
// (the columns marked detail: description, tags, context, ...).
function detections(card, data) {
  dropChart(card);
  const cols = data.columns.map((c, i) => ({ ...c, i }));
  const shown = cols.filter(c => !c.detail);
  const extra = cols.filter(c => c.detail);
  const at = name => data.columns.findIndex(c => c.name === name);
  const head = el("tr", {}, el("th", { class: "toggle", "aria-label": "Detail" }), ...shown.map(c => el("th", { class: c.type, scope: "col" }, c.label)));
  const body = el("tbody");
  for (const r of data.rows) {
    const values = rowValues(data, r);
    const events = drillURL(card, data, values);
    const toggle = el("button", { type: "button", class: "expand", "aria-expanded": "false", "aria-label": "Show the detection's detail" }, "▸");
    const tr = el("tr", { class: "drillable detection", tabindex: "0", title: "Show the detection's events", "data-detection": values.detection_id },
      el("td", { class: "toggle" }, toggle),
      ...shown.map(c => el("td", { class: c.type }, c.name === "severity" ? severityBadge(String(r[c.i])) :
        // Each actor once: a detection of ten failed logins of one user names her ten times.
        c.type === "list" ? [...new Set(r[c.i] || [])].join(", ") : cellText(c, r[c.i]))));
    const fields = extra.map(c => {
      const v = r[c.i];
      let content;
      if (c.type === "json") content = el("pre", {}, pretty(v));
      else if (c.type === "list") content = (v || []).length ? el("span", { class: "tags" }, ...(v || []).map(t => el("code", { class: "tag" }, t))) : "—";
      else if (c.name === "detection_id") content = el("code", {}, String(v ?? ""));
      else content = cellText(c, v) || "—";
      return el("div", { class: `field field-${c.name}` }, el("dt", {}, c.label), el("dd", {}, content));
    });
    const detail = el("tr", { class: "record detection-detail", hidden: true }, el("td", { colspan: String(shown.length + 1) },
      el("dl", { class: "fields" }, ...fields),
      el("p", { class: "links" }, el("a", { href: events }, `Show the ${number.format(Number(values.events) || 0)} events`), " ",
        el("a", { href: `/api/detections/${encodeURIComponent(values.detection_id)}` }, "Detection as JSON"))));
    toggle.addEventListener("click", ev => {
      ev.stopPropagation();
      const open = detail.hidden;
      detail.hidden = !open;
      toggle.textContent = open ? "▾" : "▸";
      toggle.setAttribute("aria-expanded", String(open));
    });
    tr.addEventListener("click", () => go(events));
    tr.addEventListener("keydown", ev => ev.key === "Enter" && ev.target === tr && go(events));
    body.append(tr, detail);
  }
  card.querySelector(".body").replaceChildren(el("div", { class: "table-wrap detections" }, el("table", {}, el("thead", {}, head), body)));
  return data.rows.length;
}

const draw = {
  detections,
  pie, column: (c, d) => column(c, d, false), bar: (c, d) => column(c, d, true),
  "stacked-column": (c, d) => hourly(c, d, false), line: (c, d) => hourly(c, d, true),
  "outlier-line": outlier, single, map, table,
};

function sum(a) {
  return a.reduce((s, v) => s + v, 0);
}

// ---------------------------------------------------------------------------------------
// Panels

function show(card, state, note) {
  card.dataset.state = state;
  card.setAttribute("aria-busy", "false");
  if (note !== undefined) {
    dropChart(card);
    delete card.dataset.marks;
    card.querySelector(".body").replaceChildren(el("p", { class: `note ${state}` }, note));
  }
}

function describe(data) {
  const opts = { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" };
  const f = Object.entries(data.filters || {}).map(([k, v]) => `${k} = ${v}`).join(", ") ||
    (document.body.dataset.page === "detections" ? "all detections" : "all events");
  return `${new Date(data.from).toLocaleString([], opts)} – ${new Date(data.to).toLocaleString([], opts)} · ${f}`;
}

const inflight = new Map(); // card → AbortController

async function loadPanel(card, quiet) {
  inflight.get(card)?.abort();
  const ctl = new AbortController();
  inflight.set(card, ctl);
  const id = card.dataset.panel;
  const q = apiQuery();
  card.dataset.state = "loading";
  card.setAttribute("aria-busy", "true");
  if (!quiet && !charts.has(card)) card.querySelector(".body").replaceChildren(el("p", { class: "note" }, "Loading…"));
  const csv = new URLSearchParams(q);
  csv.set("format", "csv");
  card.querySelector("a.csv").href = `/api/panels/${encodeURIComponent(id)}?${csv}`;
  try {
    const res = await fetch(`/api/panels/${encodeURIComponent(id)}?${q}`, { headers: { Accept: "application/json" }, signal: ctl.signal });
    if (res.status === 401) return signIn();
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    card.answer = data;
    card.querySelector("pre.sql").textContent = data.sql;
    const link = card.querySelector("a.events-link");
    if (link) link.href = drillURL(card, data, {});
    document.getElementById("window").textContent = describe(data);
    if (data.rows.length === 0) {
      show(card, "empty", card.dataset.panel.startsWith("detections-") ? "No detections in this time range." : "No events in this time range.");
      return;
    }
    const marks = await (draw[card.dataset.kind] || table)(card, data);
    if (ctl.signal.aborted) return;
    card.dataset.marks = String(marks);
    show(card, "ready");
  } catch (err) {
    if (ctl.signal.aborted) return;
    show(card, "error", `Could not load this panel: ${err.message}`);
  } finally {
    if (inflight.get(card) === ctl) inflight.delete(card);
  }
}

// ---------------------------------------------------------------------------------------
// Events search

async function loadEvents(card, quiet) {
  inflight.get(card)?.abort();
  const ctl = new AbortController();
  inflight.set(card, ctl);
  const q = apiQuery(["panel"]);
  const offset = Math.max(0, Number(params().get("offset")) || 0);
  const page = new URLSearchParams(q);
  page.set("limit", PAGE_SIZE);
  if (offset) page.set("offset", offset);
  card.dataset.state = "loading";
  card.setAttribute("aria-busy", "true");
  if (!quiet) card.querySelector(".body").replaceChildren(el("p", { class: "note" }, "Loading…"));
  card.querySelector("a.csv").href = `/api/events.jsonl?${q}`;
  card.querySelector("a.csv").textContent = "Download JSON lines";
  card.querySelector("a.events-link")?.remove();
  try {
    const res = await fetch(`/api/events?${page}`, { headers: { Accept: "application/json" }, signal: ctl.signal });
    if (res.status === 401) return signIn();
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    card.querySelector("pre.sql").textContent = data.sql;
    document.getElementById("window").textContent = describe(data);
    const download = el("a", { class: "download", href: `/api/events.jsonl?${q}`, download: "events.jsonl" }, "Download JSON lines");
    const status = el("span", { class: "total" }, data.total === 0 ? "No matching events" :
      `${number.format(offset + 1)}–${number.format(offset + data.rows.length)} of ${number.format(data.total)} events`);
    const pager = el("div", { class: "pager" }, status, pageButton("Newer", offset - PAGE_SIZE, offset > 0),
      pageButton("Older", offset + PAGE_SIZE, offset + data.rows.length < data.total), download);
    if (data.rows.length === 0) {
      card.querySelector(".body").replaceChildren(pager, el("p", { class: "note empty" }, "No events match these filters in this time range."));
      show(card, "empty");
      return;
    }
    card.querySelector(".body").replaceChildren(pager, eventsTable(data));
    card.dataset.marks = String(data.rows.length);
    show(card, "ready");
  } catch (err) {
    if (ctl.signal.aborted) return;
    show(card, "error", `Could not load the events: ${err.message}`);
  }
}

function pageButton(label, offset, enabled) {
  const b = el("button", { type: "button", disabled: !enabled }, label);
  b.addEventListener("click", () => {
    const q = params();
    if (offset > 0) q.set("offset", offset);
    else q.delete("offset");
    setParams(q);
  });
  return b;
}

// eventsTable lists the events; a click on a value filters by it, a click elsewhere on a
// row shows its raw record.
function eventsTable(data) {
  const cols = data.columns.map((c, i) => ({ ...c, i })).filter(c => c.type !== "json" && c.name !== "event_id");
  const raw = data.columns.findIndex(c => c.name === "raw");
  const idCol = data.columns.findIndex(c => c.name === "event_id");
  const head = el("tr", {}, el("th", { class: "toggle", "aria-label": "Record" }), ...cols.map(c => el("th", { class: c.type, scope: "col" }, c.label)));
  const body = el("tbody");
  for (const r of data.rows) {
    const toggle = el("button", { type: "button", class: "expand", "aria-expanded": "false", "aria-label": "Show the raw record" }, "▸");
    const tr = el("tr", { class: "event" }, el("td", { class: "toggle" }, toggle), ...cols.map(c => {
      const v = r[c.i];
      if (v === "" || v === null || c.type === "time") return el("td", { class: c.type }, cellText(c, v));
      const b = el("button", { type: "button", class: "filter-value", title: `Filter: ${c.name} = ${v}`, "data-filter": c.name }, cellText(c, v));
      b.addEventListener("click", ev => {
        ev.stopPropagation();
        const q = params();
        q.set(c.name, String(v));
        q.delete("offset");
        setParams(sortParams(q));
      });
      return el("td", { class: c.type }, b);
    }));
    const detail = el("tr", { class: "record", hidden: true }, el("td", { colspan: String(cols.length + 1) },
      el("p", { class: "event-id" }, "event_id ", el("code", {}, String(r[idCol] ?? ""))), el("pre", {}, pretty(r[raw]))));
    const flip = () => {
      const open = detail.hidden;
      detail.hidden = !open;
      toggle.textContent = open ? "▾" : "▸";
      toggle.setAttribute("aria-expanded", String(open));
    };
    tr.addEventListener("click", flip);
    body.append(tr, detail);
  }
  return el("div", { class: "table-wrap events" }, el("table", {}, el("thead", {}, head), body));
}

function pretty(raw) {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return String(raw);
  }
}

// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// The Overview's detections figure

// loadFigure counts the detections of the page's time window and filters, by severity,
// and links the figure to the detections page with the same time and filters.
async function loadFigure(fig) {
  inflight.get(fig)?.abort();
  const ctl = new AbortController();
  inflight.set(fig, ctl);
  const q = apiQuery();
  const link = new URLSearchParams(q);
  if (params().get("refresh")) link.set("refresh", params().get("refresh"));
  const query = sortParams(link).toString();
  fig.href = "/detections" + (query ? "?" + query : "");
  fig.dataset.state = "loading";
  try {
    const res = await fetch(`/api/detections/summary?${q}`, { headers: { Accept: "application/json" }, signal: ctl.signal });
    if (res.status === 401) return signIn();
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    fig.querySelector(".figure-value").textContent = number.format(data.total);
    fig.querySelector(".figure-sev").replaceChildren(...[...SEVERITIES].reverse().filter(s => data.by_severity[s]).map(s =>
      el("span", { class: `sev sev-${s}`, title: `${data.by_severity[s]} ${s}` }, `${number.format(data.by_severity[s])} ${s}`)));
    fig.classList.toggle("none", data.total === 0);
    fig.dataset.count = String(data.total);
    fig.dataset.state = "ready";
  } catch (err) {
    if (ctl.signal.aborted) return;
    fig.querySelector(".figure-value").textContent = "?";
    fig.title = `Could not count the detections: ${err.message}`;
    fig.dataset.state = "error";
  } finally {
    if (inflight.get(fig) === ctl) inflight.delete(fig);
  }
}

function reload(quiet = false) {
  for (const card of document.querySelectorAll("[data-panel]")) {
    if (card.dataset.kind === "events") loadEvents(card, quiet);
    else loadPanel(card, quiet);
  }
  const fig = document.getElementById("detections-figure");
  if (fig) loadFigure(fig);
}

// Times the server wrote in UTC, shown in the browser's zone.
for (const t of document.querySelectorAll("time[data-local]")) t.textContent = localTime(t.getAttribute("datetime"));

setUpControls();
syncControls();
reload();

// signIn sends the browser to the login page when the session has ended, to come back here;
// the promise it returns never settles, so the caller draws nothing more.
function signIn() {
  location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  return new Promise(() => {});
}
