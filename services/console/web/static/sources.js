// The sources page: draws the table of sources from /api/sources (every 30 s, and after each
// change), switches a source on or off with POST /api/sources/{id}/enable or /disable, adds
// one with POST /api/sources, removes one added here with DELETE, and lists a source's
// missing files (/sources?missing=ID) from /api/sources/{id}. The completeness days are the
// URL's days parameter. The table reports its state in data-state (loading, ready, error).

const REFRESH = 30e3;
const number = new Intl.NumberFormat();

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter(c => c !== null && c !== undefined));
  return e;
}

// human writes a number of seconds as people say it: 45 s, 3 min, 2 h 5 min, 3 d 4 h.
function human(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

function localTime(t) {
  return new Date(t).toLocaleString([], { dateStyle: "medium", timeStyle: "medium", hourCycle: "h23" });
}

// relative writes a past time relative to the answer's now ("3 min ago"), a future one as "in 3 min".
function relative(t, now) {
  const s = (new Date(t) - now) / 1000;
  return s >= 0 ? `in ${human(s)}` : `${human(-s)} ago`;
}

function timeEl(t, now) {
  return el("time", { datetime: t, title: localTime(t) }, relative(t, now));
}

// breakable splits a name after its dashes, dots and slashes, where a narrow column may wrap it.
function breakable(text) {
  const out = [];
  for (const part of text.split(/(?<=[-./])/)) out.push(part, el("wbr"));
  return out.slice(0, -1);
}

function plural(n, one, many) {
  return `${number.format(n)} ${n === 1 ? one : many}`;
}

function muted(text) {
  return el("span", { class: "muted" }, text);
}

function params() {
  return new URLSearchParams(location.search);
}

// apiQuery is the completeness days of the page, as the API reads them.
function apiQuery() {
  const days = params().get("days");
  return days ? "?" + new URLSearchParams({ days }) : "";
}

const table = document.getElementById("sources");
const problem = document.getElementById("problem");
let loading = null;
let timer = 0;

function showProblem(text) {
  problem.textContent = text || "";
  problem.hidden = !text;
}

async function fetchJSON(url, init) {
  const res = await fetch(url, { headers: { Accept: "application/json" }, ...init });
  if (res.status === 401) return signIn();
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

async function load() {
  if (loading) return loading;
  loading = (async () => {
    table.setAttribute("aria-busy", "true");
    try {
      const answer = await fetchJSON("/api/sources" + apiQuery());
      draw(answer);
      table.dataset.state = "ready";
      showProblem("");
      document.getElementById("updated").textContent = `Updated ${new Date(answer.now).toLocaleTimeString([], { hourCycle: "h23" })} · refreshes every 30 s`;
    } catch (e) {
      table.dataset.state = "error";
      showProblem(`The sources could not be read: ${e.message}`);
    } finally {
      table.setAttribute("aria-busy", "false");
      loading = null;
      clearTimeout(timer);
      timer = setTimeout(load, REFRESH);
    }
  })();
  return loading;
}

function draw(answer) {
  const now = new Date(answer.now);
  const body = el("tbody");
  if (answer.sources.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 12, class: "note" }, "No sources yet: add one below, give the fetcher --sources FILE, or let it discover the account's trails.")));
  }
  for (const s of answer.sources) body.append(row(s, now));
  // Keep open what was open.
  const open = new Set([...table.querySelectorAll("details[open]")].map(d => d.dataset.key));
  table.tBodies[0].replaceWith(body);
  for (const d of body.querySelectorAll("details")) if (open.has(d.dataset.key)) d.open = true;
}

function row(s, now) {
  const tr = el("tr", { class: "source" + (s.enabled ? "" : " disabled"), "data-source": s.id });

  const toggle = el("input", { type: "checkbox", role: "switch", class: "switch", "aria-label": `Collect ${s.name || s.id}`, checked: s.enabled });
  toggle.addEventListener("change", () => setEnabled(s, toggle));
  tr.append(el("td", { class: "toggle" }, toggle));

  const name = el("td", { class: "name", title: s.trail_arn || s.id }, el("b", {}, s.name || s.id));
  name.append(el("div", { class: "muted small" }, [s.origin, s.environment && `env ${s.environment}`, s.organization && "organization"].filter(Boolean).join(" · ")));
  tr.append(name);

  const kind = el("td", { class: "kind" }, s.kind);
  if (s.queue) kind.append(el("div", { class: "muted small", title: s.queue }, s.queue.replace(/^.*\//, "")));
  tr.append(kind);

  tr.append(el("td", { class: "bucket" }, el("code", {}, ...breakable(s.bucket + (s.prefix ? "/" + s.prefix.replace(/^\/+|\/+$/g, "") : ""))),
    el("div", { class: "muted small" }, [s.region || "fetcher's region", s.role_arn && `role ${s.role_arn.replace(/^.*:role\//, "")}`, s.external_id_set && "external ID set"].filter(Boolean).join(" · "))));

  const last = el("td", { class: "last" });
  if (s.last_file) {
    last.append(timeEl(s.last_file.read_at, now), el("div", { class: "muted small key", title: s.last_file.key }, s.last_file.key.replace(/^.*\//, "")));
  } else last.append(muted("none yet"));
  tr.append(last);

  tr.append(el("td", { class: "number today", title: `${bytes(s.today.bytes)} read today (UTC)` },
    el("div", {}, el("span", { class: "files-today" }, number.format(s.today.files)), s.today.files === 1 ? " file" : " files"),
    el("div", { class: "muted small" }, el("span", { class: "records-today" }, number.format(s.today.records)), s.today.records === 1 ? " record" : " records")));
  tr.append(el("td", { class: "number lag", title: s.newest_event ? `newest event ${localTime(s.newest_event)}` : "" },
    s.lag_seconds === null ? muted("—") : human(s.lag_seconds)));

  tr.append(backfill(s));

  const scan = el("td", { class: "scan" });
  if (!s.enabled) scan.append(muted("disabled"));
  else if (s.scan.next_scan) {
    const late = (now - new Date(s.scan.next_scan)) / 1000;
    if (late < -1) scan.append(timeEl(s.scan.next_scan, now));
    else if (late < 60) scan.append(el("time", { datetime: s.scan.next_scan, title: localTime(s.scan.next_scan) }, "due now"));
    else scan.append(el("time", { class: "bad", datetime: s.scan.next_scan, title: localTime(s.scan.next_scan) }, `overdue ${human(late)}`));
  }
  else scan.append(muted("not scheduled"));
  if (s.scan.interval_seconds) scan.append(el("div", { class: "muted small" }, `every ${human(s.scan.interval_seconds)}`));
  if (s.scan.last_new) scan.append(el("div", { class: "muted small" }, "new files ", timeEl(s.scan.last_new, now)));
  tr.append(scan);

  tr.append(completeness(s));

  const errors = el("td", { class: "errors" });
  if (s.errors.last_error) {
    errors.append(el("div", { class: "bad error-text", title: s.errors.last_error }, s.errors.last_error));
    if (s.errors.error_at) errors.append(el("div", { class: "muted small" }, timeEl(s.errors.error_at, now)));
  }
  const today = [s.errors.failed_files_today && `${number.format(s.errors.failed_files_today)} failed`,
    s.errors.skipped_files_today && `${number.format(s.errors.skipped_files_today)} skipped`].filter(Boolean);
  if (today.length) errors.append(el("div", { class: s.errors.failed_files_today ? "bad small" : "muted small" }, today.join(", ") + " today"));
  if (!errors.childNodes.length) errors.append(muted("none"));
  tr.append(errors);

  const actions = el("td", { class: "actions" });
  if (s.removable) {
    const remove = el("button", { type: "button", class: "remove", title: "Remove this source (its files read stay in the ledger)" }, "Remove");
    remove.addEventListener("click", () => removeSource(s, remove));
    actions.append(remove);
  }
  tr.append(actions);
  return tr;
}

function backfill(s) {
  const b = s.backfill;
  const td = el("td", { class: "backfill" });
  const state = b.state || "not started";
  if (!b.files_total) {
    td.append(muted(state + (b.since ? ` since ${b.since.slice(0, 10)}` : "")));
    return td;
  }
  const pct = Math.floor((100 * b.files_done) / b.files_total);
  td.append(
    el("div", { class: "bar-line" },
      el("progress", { max: b.files_total, value: b.files_done, "aria-label": `backfill of ${s.name}` }),
      el("span", { class: "pct" }, `${pct}%`)),
    el("div", { class: "small" }, `${number.format(b.files_done)} / ${number.format(b.files_total)} files · ${number.format(b.records)} records`),
    el("div", { class: "muted small" }, state + (b.since ? ` · since ${b.since.slice(0, 10)}` : " · all stored files")));
  if (b.days.length) {
    const rows = b.days.slice().reverse().map(d => el("tr", { class: d.done ? "done" : "" },
      el("td", {}, d.day), el("td", { class: "number" }, `${number.format(d.files_done)} / ${number.format(d.files_total)}`),
      el("td", { class: "number" }, number.format(d.records))));
    const more = b.days_total > b.days.length ? el("p", { class: "muted small" }, `the newest ${b.days.length} of ${b.days_total} days; `, el("a", { href: s.url }, "all")) : null;
    td.append(el("details", { class: "days", "data-key": "backfill:" + s.id }, el("summary", {}, plural(b.days_total, "day", "days")),
      el("table", { class: "mini" }, el("thead", {}, el("tr", {}, el("th", {}, "Day"), el("th", { class: "number" }, "Files"), el("th", { class: "number" }, "Records"))),
        el("tbody", {}, ...rows)), more));
  }
  return td;
}

function completeness(s) {
  const c = s.completeness;
  const td = el("td", { class: "completeness" });
  if (!c.expected) {
    td.append(muted("no digest read"));
  } else {
    td.append(el("div", { class: "small" }, `${number.format(c.read)} of ${number.format(c.expected)} read`));
  }
  if (c.missing) {
    const a = el("a", { class: "missing-count bad", href: `/sources?${new URLSearchParams({ ...Object.fromEntries(params()), missing: s.id })}` },
      `${number.format(c.missing)} missing`);
    a.addEventListener("click", e => { e.preventDefault(); openMissing(s.id, true); });
    td.append(el("div", {}, a));
  }
  const days = c.days.slice().reverse().map(d => {
    const cls = d.missing ? "bad" : d.expected && d.read === d.expected ? "good" : "";
    const extra = [d.missing && `${number.format(d.missing)} missing`, d.waiting && `${number.format(d.waiting)} in grace`,
      d.unread && `${number.format(d.unread)} failed/skipped`].filter(Boolean).join(" · ");
    return el("tr", { class: cls }, el("td", {}, d.day), el("td", { class: "number" }, d.expected ? `${number.format(d.read)} / ${number.format(d.expected)}` : "—"),
      el("td", { class: "small", title: "in grace: not read yet, within --completeness-grace of its digest; failed/skipped: in the ledger, not read" }, extra));
  });
  td.append(el("details", { class: "days", "data-key": "completeness:" + s.id }, el("summary", { title: `${c.from} – ${c.to}, UTC` }, "by day"),
    el("table", { class: "mini" }, el("thead", {}, el("tr", {}, el("th", {}, "Day"), el("th", { class: "number" }, "Read / expected"), el("th", {}, ""))),
      el("tbody", {}, ...days))));
  return td;
}

async function setEnabled(s, toggle) {
  const want = toggle.checked;
  toggle.disabled = true;
  try {
    await fetchJSON(`${s.url}/${want ? "enable" : "disable"}`, { method: "POST" });
    await load();
  } catch (e) {
    toggle.checked = !want;
    showProblem(`${s.name}: could not ${want ? "enable" : "disable"} it: ${e.message}`);
  } finally {
    toggle.disabled = false;
  }
}

async function removeSource(s, button) {
  if (!confirm(`Remove the source ${s.name}? The files read from it stay in the ledger.`)) return;
  button.disabled = true;
  try {
    await fetchJSON(s.url, { method: "DELETE" });
    await load();
  } catch (e) {
    button.disabled = false;
    showProblem(`${s.name}: ${e.message}`);
  }
}

const missing = document.getElementById("missing");
const missingTable = document.getElementById("missing-files");

async function openMissing(id, push) {
  if (push) {
    const q = params();
    q.set("missing", id);
    history.pushState(null, "", "?" + q);
  }
  missing.hidden = false;
  document.getElementById("missing-source").textContent = id;
  missingTable.dataset.state = "loading";
  const lead = document.getElementById("missing-lead");
  lead.textContent = "Loading…";
  try {
    const s = await fetchJSON(`/api/sources/${encodeURIComponent(id)}${apiQuery()}`);
    const c = s.completeness;
    document.getElementById("missing-source").textContent = s.name;
    lead.textContent = `${number.format(c.missing)} files that CloudTrail's digests list for ${c.from} – ${c.to} (UTC) are not in the ledger ` +
      `${human(c.grace_seconds)} after their digest was read` + (c.missing > c.missing_files.length ? ` (the oldest ${c.missing_files.length} shown).` : ".");
    const body = el("tbody", {}, ...c.missing_files.map(m => el("tr", { class: "missing-file" },
      el("td", { class: "time" }, m.hour.replace("T", " ").replace(/:00Z$/, " UTC")), el("td", {}, m.account_id), el("td", {}, m.aws_region),
      el("td", {}, el("code", {}, m.key)), el("td", { class: "time", title: m.digest_read_at }, localTime(m.digest_read_at)))));
    missingTable.tBodies[0].replaceWith(body);
    missingTable.dataset.state = "ready";
  } catch (e) {
    lead.textContent = `The missing files could not be read: ${e.message}`;
    missingTable.dataset.state = "error";
  }
  missing.scrollIntoView({ block: "start" });
}

function closeMissing(push) {
  missing.hidden = true;
  if (push) {
    const q = params();
    q.delete("missing");
    history.pushState(null, "", q.size ? "?" + q : location.pathname);
  }
}

document.getElementById("missing-close").addEventListener("click", e => { e.preventDefault(); closeMissing(true); });
window.addEventListener("popstate", () => {
  const id = params().get("missing");
  if (id) openMissing(id, false); else closeMissing(false);
  syncDays();
  load();
});

// The completeness days live in the URL.
const daysSelect = document.getElementById("days");
function syncDays() {
  const days = params().get("days") || "7";
  if (![...daysSelect.options].some(o => o.value === days)) daysSelect.append(el("option", { value: days }, `Last ${days} days`));
  daysSelect.value = days;
}
document.getElementById("selection").addEventListener("submit", e => {
  e.preventDefault();
  const q = params();
  q.set("days", daysSelect.value);
  history.pushState(null, "", "?" + q);
  load();
  if (q.get("missing")) openMissing(q.get("missing"), false);
});
daysSelect.addEventListener("change", () => document.getElementById("selection").requestSubmit());

// The add form posts JSON, and says what the console answered.
const form = document.getElementById("add-source");
form.addEventListener("submit", async e => {
  e.preventDefault();
  const message = document.getElementById("add-message");
  const data = new FormData(form);
  const body = {};
  for (const name of ["name", "bucket", "prefix", "region", "role_arn", "external_id", "environment", "queue"]) body[name] = (data.get(name) || "").trim();
  body.enabled = form.querySelector('input[type=checkbox][name=enabled]').checked;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  message.className = "form-message";
  message.textContent = "Adding…";
  try {
    const s = await fetchJSON("/api/sources", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
    form.reset();
    message.classList.add("good");
    message.textContent = `Added ${s.name}: the fetchers start collecting it at their next scan.`;
    await load();
  } catch (err) {
    message.classList.add("bad");
    message.textContent = err.message;
  } finally {
    button.disabled = false;
  }
});

document.addEventListener("visibilitychange", () => { if (!document.hidden) load(); });

syncDays();
load();
if (params().get("missing")) openMissing(params().get("missing"), false);

// signIn sends the browser to the login page when the session has ended, to come back here;
// the promise it returns never settles, so the caller draws nothing more.
function signIn() {
  location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  return new Promise(() => {});
}
