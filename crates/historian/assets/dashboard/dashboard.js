// The historian's dashboard: devices with status, latest values of the chosen device, and a
// chart per register. Long ranges ask the API for buckets (served from the hourly/daily
// roll-ups where the width allows), short ones for raw readings. No external resources.
"use strict";

const RANGES = [
  // label, seconds, bucket (null: raw readings)
  ["15m", 900, null],
  ["1h", 3600, null],
  ["6h", 21600, 120],
  ["24h", 86400, 600],
  ["7d", 604800, 3600],
  ["30d", 2592000, 21600],
];
const CHART_WORKERS = 4;
const SVG = "http://www.w3.org/2000/svg";

const state = { devices: [], device: null, range: "15m", latestAt: 0, latest: [], chartGen: 0 };

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path) {
  const resp = await fetch(path, { headers: { accept: "application/json" } });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((body && body.detail) || `${path}: HTTP ${resp.status}`);
  return body;
}

function showError(err) {
  const box = $("#error");
  if (err) {
    box.textContent = String(err.message || err);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

function ago(ms) {
  if (ms == null) return "never";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function fmt(v) {
  if (v == null || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e12 || a < 1e-3)) return v.toExponential(3);
  return Number(v.toFixed(3)).toString();
}

// Axis labels with as many decimals as the span needs (a counter near 4e9 moving by a
// few units still gets distinct labels).
function axisFmt(v, span) {
  if (Math.abs(v) >= 1e12) return v.toExponential(4);
  const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(span || 1)) + 2));
  return v.toFixed(decimals);
}

// Devices -----------------------------------------------------------------------------------

async function refreshDevices() {
  const [health, devices] = await Promise.all([api("/api/health"), api("/api/devices")]);
  $("#health").textContent =
    `${health.devices_up}/${health.devices} devices up · ${health.readings_stored} readings stored · ${health.storage}` +
    (health.mqtt ? ` · MQTT ${health.mqtt.state} (${health.mqtt.queued} queued, ${health.mqtt.dropped} dropped)` : "");
  state.devices = devices;
  const body = $("#devices tbody");
  body.replaceChildren(
    ...devices.map((d) => {
      const tr = el("tr", { "data-device": d.id });
      if (state.device === d.id) tr.classList.add("selected");
      tr.append(
        el("td", {}, d.name),
        badgeCell(d.status),
        el("td", {}, d.last_poll ? ago(Date.now() - Date.parse(d.last_poll)) : "never"),
        el("td", { class: "num" }, String(d.polls_failed)),
      );
      tr.addEventListener("click", () => selectDevice(d.id));
      return tr;
    }),
  );
  if (state.device == null && devices.length) selectDevice(devices[0].id);
}

function badgeCell(text) {
  const td = el("td");
  td.append(el("span", { class: `badge ${text}` }, text));
  return td;
}

// Latest values -----------------------------------------------------------------------------

async function refreshLatest() {
  if (state.device == null) return;
  const id = state.device;
  const latest = await api(`/api/register_readings/latest/${id}`);
  if (id !== state.device) return;
  state.latest = latest.readings;
  state.latestAt = Date.now();
  $("#device-title").textContent = latest.device_name;
  renderLatest();
  if (!$("#charts").children.length && latest.readings.length) drawCharts();
}

function renderLatest() {
  const since = Date.now() - state.latestAt;
  $("#latest tbody").replaceChildren(
    ...state.latest.map((r) => {
      const tr = el("tr");
      tr.append(
        el("td", {}, r.register_name),
        el("td", {}, String(r.register_address)),
        el("td", { class: "num" }, r.text != null ? r.text : fmt(r.value)),
        el("td", {}, r.unit),
        badgeCell(r.quality),
        el("td", {}, ago((r.age_ms || 0) + since)),
      );
      return tr;
    }),
  );
}

// Charts ------------------------------------------------------------------------------------

function selectDevice(id) {
  state.device = id;
  state.latest = [];
  for (const tr of document.querySelectorAll("#devices tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.device) === id);
  }
  $("#charts").replaceChildren();
  saveHash();
  refreshLatest().catch(showError);
}

function selectRange(label) {
  state.range = label;
  for (const b of document.querySelectorAll("#ranges button")) {
    b.classList.toggle("active", b.dataset.range === label);
  }
  saveHash();
  drawCharts();
}

function saveHash() {
  history.replaceState(null, "", `#device=${state.device ?? ""}&range=${state.range}`);
}

function drawCharts() {
  const gen = ++state.chartGen;
  const [, seconds, bucket] = RANGES.find((r) => r[0] === state.range);
  $("#range-note").textContent = bucket
    ? `(avg with min–max band, ${bucket >= 3600 ? bucket / 3600 + " h" : bucket / 60 + " min"} buckets)`
    : "(raw readings)";
  const now = Date.now();
  let start = now - seconds * 1000;
  let end = now;
  if (bucket) {
    // Bucket-aligned, so roll-up buckets are counted whole.
    start = Math.floor(start / 1000 / bucket) * bucket * 1000;
    end = (Math.floor(now / 1000 / bucket) + 1) * bucket * 1000;
  }
  const box = $("#charts");
  // String registers have no numbers to draw.
  const cards = state.latest.filter((r) => r.data_type !== "string").map((r) => {
    const card = el("div", { class: "chart", "data-register": r.register_address, "data-state": "loading" });
    const title = el("div", { class: "title" });
    title.append(el("strong", {}, r.register_name), el("span", { class: "muted" }, `${r.register_address} · ${r.unit}`));
    card.append(title);
    return { card, r };
  });
  box.replaceChildren(...cards.map((c) => c.card));
  const queue = cards.slice();
  const worker = async () => {
    while (queue.length && gen === state.chartGen) {
      const { card, r } = queue.shift();
      try {
        const q = new URLSearchParams({ start: new Date(start).toISOString(), end: new Date(end).toISOString() });
        if (bucket) {
          q.set("bucket", `${bucket}s`);
          q.set("aggregates", "avg,min,max");
        } else {
          q.set("limit", "5000");
        }
        const data = await api(`/api/register_readings/${state.device}/${r.register_address}?${q}`);
        if (gen !== state.chartGen) return;
        const points = bucket
          ? data.buckets.map((b) => ({ t: Date.parse(b.bucket) + (bucket * 500), v: b.avg, lo: b.min, hi: b.max }))
          : data.readings.map((p) => ({ t: Date.parse(p.timestamp), v: p.value, bad: p.quality === "bad" }));
        card.append(chart(points, start, end, !!bucket, card.clientWidth - 16));
        card.dataset.state = "drawn";
        card.dataset.points = String(points.length);
      } catch (err) {
        card.dataset.state = "error";
        card.append(el("div", { class: "muted" }, String(err.message || err)));
      }
    }
  };
  for (let i = 0; i < CHART_WORKERS; i++) worker();
}

// Drawn at the card's pixel width, so text is never stretched.
function chart(points, start, end, banded, width) {
  const W = Math.max(240, width || 600), H = 140, L = 78, R = 8, T = 8, B = 20;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  const values = [];
  for (const p of points) {
    for (const v of [p.v, p.lo, p.hi]) if (v != null && Number.isFinite(v)) values.push(v);
  }
  if (!values.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no readings in this range"));
    return root;
  }
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const x = (t) => L + ((t - start) / (end - start)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  for (const v of [lo + pad, (lo + hi) / 2, hi - pad]) {
    root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end", class: "axis" }, axisFmt(v, hi - lo)));
  }
  const short = end - start <= 86400000;
  const label = (t) => short ? new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : new Date(t).toLocaleDateString([], { month: "short", day: "numeric" });
  root.append(svg("text", { x: L, y: H - 4, class: "axis" }, label(start)));
  root.append(svg("text", { x: W - R, y: H - 4, "text-anchor": "end", class: "axis" }, label(end)));
  if (banded) {
    // The min–max band, one closed shape per run of buckets with values.
    for (const run of runs(points, (p) => p.lo != null && p.hi != null)) {
      const top = run.map((p) => `${x(p.t)},${y(p.hi)}`);
      const bottom = run.slice().reverse().map((p) => `${x(p.t)},${y(p.lo)}`);
      root.append(svg("polygon", { points: top.concat(bottom).join(" "), class: "band" }));
    }
  }
  // The line breaks where readings failed instead of bridging the gap.
  const d = runs(points, (p) => p.v != null)
    .map((run) => run.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(""))
    .join("");
  if (d) root.append(svg("path", { d, class: "line" }));
  for (const p of points) {
    if (p.bad) root.append(svg("line", { x1: x(p.t), x2: x(p.t), y1: H - B, y2: H - B - 6, class: "badmark" }));
  }
  return root;
}

function runs(points, ok) {
  const out = [];
  let cur = [];
  for (const p of points) {
    if (ok(p)) cur.push(p);
    else if (cur.length) { out.push(cur); cur = []; }
  }
  if (cur.length) out.push(cur);
  return out;
}

// Start -------------------------------------------------------------------------------------

function init() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (RANGES.some((r) => r[0] === params.get("range"))) state.range = params.get("range");
  if (params.get("device")) state.device = Number(params.get("device"));
  const ranges = $("#ranges");
  for (const [label] of RANGES) {
    const b = el("button", { type: "button", "data-range": label }, label);
    b.classList.toggle("active", label === state.range);
    b.addEventListener("click", () => selectRange(label));
    ranges.append(b);
  }
  const tick = async () => {
    try {
      await refreshDevices();
      await refreshLatest();
      showError(null);
    } catch (err) {
      showError(err);
    }
  };
  tick();
  setInterval(tick, 3000);
  setInterval(renderLatest, 1000);
  // Short ranges follow the present.
  setInterval(() => { if (state.range === "15m" || state.range === "1h") drawCharts(); }, 30000);
  if (state.device != null) selectDevice(state.device);
}

document.addEventListener("DOMContentLoaded", init);
