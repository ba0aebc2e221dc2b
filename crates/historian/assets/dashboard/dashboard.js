// The historian's dashboard: a trend chart first (registers picked from any device,
// overlaid on one time axis), the chosen device's registers with their latest values
// below it, and the device list. The view (registers, range, resolution) lives in the
// URL's fragment, so a link shows the same view. Live views follow new readings over the
// readings event stream. No external resources.
"use strict";

const PRESETS = [
  ["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800], ["30d", 2592000],
];
// Bucket widths `auto` chooses from, in seconds.
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const RAW_LIMIT = 5000;
const FETCH_WORKERS = 4;
const POLL_MS = 3000;

const state = {
  devices: [],
  device: null,            // the device whose registers the picker lists
  deviceGone: null,        // an id asked for that does not exist
  registers: [],           // the picker's rows: latest readings (or the map of a disabled device)
  latestAt: 0,
  selected: [],            // "deviceId:reference", in the order picked
  meta: new Map(),         // key -> { device, deviceName, address, name, unit }
  preset: "15m",           // null: a fixed window (custom range, zoom, pan)
  from: 0, to: 0,          // the fixed window, ms
  resolution: "auto",
  live: true,
  series: new Map(),       // key -> { points, bucketMs }
  viewGen: 0,
  stream: null,
  notes: [],
  firstVisit: false,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const resp = await fetch(path, { headers: { accept: "application/json" } });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new HttpError(resp.status, (body && body.detail) || `${path}: HTTP ${resp.status}`);
  return body;
}

// The banner is for trouble that the next successful refresh clears.
function showError(err) {
  const box = $("#error");
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : "";
}

function ago(ms) {
  if (ms == null) return "never";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function badge(text, title) {
  const span = el("span", { class: `badge ${text}` }, text);
  if (title) span.title = title;
  return span;
}

const keyOf = (device, address) => `${device}:${address}`;
const deviceOf = (id) => state.devices.find((d) => d.id === id);

// Devices ------------------------------------------------------------------------------------

async function refreshDevices() {
  const [health, devices] = await Promise.all([api("/api/health"), api("/api/devices")]);
  $("#health").textContent =
    `${health.devices_up}/${health.devices} devices up · ${health.readings_stored} readings stored · ${health.storage}` +
    (health.mqtt ? ` · MQTT ${health.mqtt.state} (${health.mqtt.queued} queued, ${health.mqtt.dropped} dropped)` : "");
  state.devices = devices;
  renderDevices();
  if (state.device == null && state.deviceGone == null && devices.length) {
    const first = devices.find((d) => d.status !== "disabled") || devices[0];
    selectDevice(first.id);
  }
  if (state.deviceGone != null && deviceOf(state.deviceGone)) {
    const id = state.deviceGone;
    state.deviceGone = null;
    selectDevice(id);
  }
}

function mqttCell(d) {
  const td = el("td", { class: "mqtt" });
  if (!d.mqtt) {
    td.append(el("span", { class: "muted" }, "—"));
    return td;
  }
  td.append(badge(d.mqtt.state, "broker link"));
  if (d.mqtt.birth) td.append(" ", badge(d.mqtt.birth, "Sparkplug B: born = DBIRTH sent, dead = DDEATH sent or not born yet"));
  return td;
}

function renderDevices() {
  const owners = state.devices.some((d) => d.owner != null);
  const head = $("#devices thead tr");
  const ownerTh = head.querySelector("th.owner");
  if (owners && !ownerTh) head.insertBefore(el("th", { class: "owner" }, "Owner"), head.querySelector("th.lastpoll"));
  if (!owners && ownerTh) ownerTh.remove();
  $("#devices tbody").replaceChildren(
    ...state.devices.map((d) => {
      const tr = el("tr", { "data-device": d.id });
      if (state.device === d.id) tr.classList.add("selected");
      const name = el("td", { class: "device", title: d.name });
      name.append(el("span", { class: "name" }, d.name), el("span", { class: "sub" }, `${d.host}:${d.port} · unit ${d.unit_id}`));
      const status = el("td");
      status.append(badge(d.status));
      tr.append(name, status, mqttCell(d));
      if (owners) tr.append(el("td", { class: "owner" }, d.owner == null ? "—" : String(d.owner)));
      tr.append(
        el("td", { class: "lastpoll" }, d.last_poll ? ago(Date.now() - Date.parse(d.last_poll)) : "never"),
        el("td", { class: "num errors" }, String(d.polls_failed)),
      );
      tr.addEventListener("click", () => selectDevice(d.id));
      return tr;
    }),
  );
}

// The register picker -----------------------------------------------------------------------

function deviceNote(text) {
  const box = $("#device-note");
  box.hidden = !text;
  box.textContent = text || "";
}

function selectDevice(id) {
  state.device = id;
  state.registers = [];
  for (const tr of document.querySelectorAll("#devices tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.device) === id);
  }
  saveHash();
  renderPicker();
  refreshLatest().catch(showError);
}

async function refreshLatest() {
  const id = state.device;
  if (id == null) return;
  const d = deviceOf(id);
  if (!d && state.devices.length) {
    // Asked for by a link or a stale fragment: say so once, and stop asking.
    state.deviceGone = id;
    state.device = null;
    state.registers = [];
    $("#device-title").textContent = "Registers";
    deviceNote(`There is no device with id ${id}. Pick one from the device list.`);
    renderPicker();
    return;
  }
  if (d && d.status === "disabled") {
    // A disabled device is not polled, so it has no live values; its map tells what it
    // holds, and its stored history is charted like any other.
    if (state.registers.length && state.registers[0].device_id === id) return;
    const detail = await api(`/api/devices/${id}`);
    if (id !== state.device) return;
    $("#device-title").textContent = detail.name;
    deviceNote(`${detail.name} is disabled: it is not polled; its stored history can still be charted.`);
    state.registers = detail.registers.map((r) => ({
      device_id: id, register_address: r.register_address, register_name: r.name,
      unit: r.unit || "", data_type: r.data_type, value: null, text: null, quality: "disabled", disabled: true,
    }));
    for (const r of state.registers) {
      state.meta.set(keyOf(id, r.register_address), {
        device: id, deviceName: detail.name, address: r.register_address, name: r.register_name, unit: r.unit,
      });
    }
    renderPicker();
    return;
  }
  let latest;
  try {
    latest = await api(`/api/register_readings/latest/${id}`);
  } catch (err) {
    if (err.status === 404) {
      // Deleted since the list was read: the next list tells.
      state.registers = [];
      renderPicker();
      return;
    }
    throw err;
  }
  if (id !== state.device) return;
  deviceNote(null);
  state.registers = latest.readings;
  state.latestAt = Date.now();
  $("#device-title").textContent = latest.device_name;
  $("#device-title").title = latest.device_name;
  for (const r of latest.readings) {
    state.meta.set(keyOf(id, r.register_address), {
      device: id, deviceName: latest.device_name, address: r.register_address, name: r.register_name, unit: r.unit,
    });
  }
  if (state.firstVisit && !state.selected.length) {
    state.firstVisit = false;
    const first = latest.readings.find((r) => r.data_type !== "string");
    if (first) toggleRegister(id, first.register_address);
  }
  renderPicker();
}

function matches(r, words) {
  const hay = `${r.register_name} ${r.unit} ${r.register_address}`.toLowerCase();
  return words.every((w) => hay.includes(w));
}

function renderPicker() {
  const words = $("#register-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const since = Date.now() - state.latestAt;
  const rows = state.registers.filter((r) => matches(r, words)).map((r) => {
    const key = keyOf(r.device_id, r.register_address);
    const chosen = state.selected.indexOf(key);
    const drawable = r.data_type !== "string";
    const tr = el("tr", { "data-register": r.register_address });
    if (chosen >= 0) tr.classList.add("chosen");
    const pick = el("td", { class: "pick" });
    const box = el("input", { type: "checkbox", "aria-label": `chart ${r.register_name}` });
    box.checked = chosen >= 0;
    box.disabled = !drawable;
    pick.append(box);
    const name = el("td", { title: r.register_name });
    const label = el("span", { class: "name" });
    if (chosen >= 0) {
      const sw = el("span", { class: "swatch" });
      sw.style.background = Trend.COLOURS[chosen % Trend.COLOURS.length];
      label.append(sw);
    }
    label.append(r.register_name);
    name.append(label, el("span", { class: "sub" }, `${r.register_address}${r.unit ? ` · ${r.unit}` : ""}`));
    const value = el("td", { class: "num" }, r.text != null ? r.text : `${Trend.fmt(r.value)}${r.unit ? ` ${r.unit}` : ""}`);
    const q = el("td", { class: "q" });
    q.append(badge(r.quality));
    tr.append(pick, name, value, q, el("td", { class: "age" }, r.disabled ? "—" : ago((r.age_ms || 0) + since)));
    if (drawable) tr.addEventListener("click", () => toggleRegister(r.device_id, r.register_address));
    return tr;
  });
  $("#latest tbody").replaceChildren(...rows);
  const others = state.selected.filter((k) => !k.startsWith(`${state.device}:`)).length;
  $("#chosen").textContent = others ? `${others} more on the chart from other devices` : "";
}

function toggleRegister(device, address) {
  const key = keyOf(device, address);
  const at = state.selected.indexOf(key);
  if (at >= 0) {
    state.selected.splice(at, 1);
    state.series.delete(key);
  } else {
    state.selected.push(key);
  }
  renderPicker();
  loadView();
}

// The view's window and resolution -----------------------------------------------------------

function viewWindow() {
  if (state.preset) {
    const seconds = PRESETS.find((p) => p[0] === state.preset)[1];
    const now = Date.now();
    return [now - seconds * 1000, now];
  }
  return [state.from, state.to];
}

// Raw readings when they fit in one answer per register, otherwise buckets sized to the
// chart's width (about one per 2 px).
function bucketSeconds(span) {
  if (state.resolution === "raw") return null;
  if (state.resolution !== "auto") {
    const n = parseInt(state.resolution, 10);
    return state.resolution.endsWith("d") ? n * 86400 : state.resolution.endsWith("h") ? n * 3600
      : state.resolution.endsWith("m") ? n * 60 : n;
  }
  const intervals = state.selected.map((k) => (deviceOf(Number(k.split(":")[0])) || {}).poll_interval_ms || 1000);
  const fastest = Math.min(1000, ...intervals);
  if (span / fastest <= RAW_LIMIT * 0.8) return null;
  const width = Math.max(300, $("#trend").clientWidth || 600);
  const wanted = span / 1000 / (width / 2);
  return STEPS.find((s) => s >= wanted) || STEPS[STEPS.length - 1];
}

function bucketLabel(s) {
  return s >= 86400 ? `${s / 86400} d` : s >= 3600 ? `${s / 3600} h` : s >= 60 ? `${s / 60} min` : `${s} s`;
}

// Readings become points; a pause longer than three poll intervals becomes a null, so the
// line stops there.
function rawPoints(readings, intervalMs) {
  const gap = 3 * intervalMs;
  const out = [];
  let prev = null;
  for (const r of readings) {
    const t = Date.parse(r.timestamp);
    if (prev != null && t - prev > gap) out.push({ t: Math.round((prev + t) / 2), v: null, gap: true });
    out.push({ t, v: r.value, q: r.quality });
    prev = t;
  }
  return out;
}

// Buckets become points at their middle; missing buckets become a null.
function bucketPoints(buckets, bucketMs) {
  const out = [];
  let prev = null;
  for (const b of buckets) {
    const start = Date.parse(b.bucket);
    if (prev != null && start - prev > bucketMs * 1.5) out.push({ t: prev + bucketMs * 1.5, v: null, gap: true });
    out.push({ t: start + bucketMs / 2, v: b.avg ?? null, lo: b.min ?? null, hi: b.max ?? null, bucket: start });
    prev = start;
  }
  return out;
}

async function fetchSeries(key, start, end, bucket) {
  const [device, address] = key.split(":");
  const q = new URLSearchParams({ start: new Date(start).toISOString(), end: new Date(end).toISOString() });
  if (bucket) {
    q.set("bucket", `${bucket}s`);
    q.set("aggregates", "avg,min,max");
  } else {
    q.set("limit", String(RAW_LIMIT));
  }
  const data = await api(`/api/register_readings/${device}/${address}?${q}`);
  const meta = state.meta.get(key) || {};
  state.meta.set(key, {
    device: Number(device), address: Number(address),
    deviceName: data.device_name || meta.deviceName || (deviceOf(Number(device)) || {}).name || device,
    name: data.register_name, unit: data.unit,
  });
  if (bucket) return { points: bucketPoints(data.buckets, bucket * 1000), bucketMs: bucket * 1000, truncated: false };
  const interval = (deviceOf(Number(device)) || {}).poll_interval_ms || 1000;
  return { points: rawPoints(data.readings, interval), bucketMs: null, truncated: data.truncated };
}

// Fetches every chosen register for the current window, then draws.
async function loadView() {
  const gen = ++state.viewGen;
  saveHash();
  let [start, end] = viewWindow();
  const bucket = bucketSeconds(end - start);
  if (bucket) {
    // Bucket-aligned, so roll-up buckets are counted whole.
    start = Math.floor(start / 1000 / bucket) * bucket * 1000;
    end = Math.ceil(end / 1000 / bucket) * bucket * 1000;
  }
  state.notes = [];
  $("#trend-note").textContent = state.selected.length ? "loading…" : "";
  const queue = state.selected.slice();
  const dropped = [];
  let truncated = false;
  const worker = async () => {
    while (queue.length && gen === state.viewGen) {
      const key = queue.shift();
      try {
        const s = await fetchSeries(key, start, end, bucket);
        if (gen !== state.viewGen) return;
        state.series.set(key, s);
        truncated ||= s.truncated;
      } catch (err) {
        if (err.status === 404) dropped.push(key);
        else throw err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: FETCH_WORKERS }, worker));
    showError(null);
  } catch (err) {
    if (gen === state.viewGen) showError(err);
    return;
  }
  if (gen !== state.viewGen) return;
  if (dropped.length) {
    // A register the store does not know (a wrong link, a deleted device): said once, not
    // asked for again.
    state.selected = state.selected.filter((k) => !dropped.includes(k));
    for (const k of dropped) state.series.delete(k);
    state.notes.push(`not charted (no such device or register): ${dropped.join(", ")}`);
    saveHash();
    renderPicker();
  }
  state.bucket = bucket;
  state.window = [start, end];
  const what = bucket ? `average with min–max band, ${bucketLabel(bucket)} buckets` : "raw readings";
  if (truncated) state.notes.push(`only the first ${RAW_LIMIT} readings of a register: zoom in or choose buckets`);
  $("#trend-note").textContent = state.selected.length
    ? [`${new Date(start).toLocaleString()} – ${new Date(end).toLocaleString()} · ${what}`, ...state.notes].join(" · ")
    : "";
  draw();
  follow();
}

function draw() {
  const series = state.selected.filter((k) => state.series.has(k)).map((key) => {
    const m = state.meta.get(key) || {};
    const s = state.series.get(key);
    return { key, label: `${m.deviceName} · ${m.name}`, unit: m.unit || "", points: s.points, bucketMs: s.bucketMs };
  });
  chart.set(series, state.window || viewWindow());
  $("#trend-empty").hidden = series.length > 0;
}

// Live: new readings over the event stream while a raw view ends now; a bucketed live
// view is fetched again as buckets fill.
let refetchTimer = null;
function follow() {
  const keys = new Set(state.selected);
  const devices = [...new Set(state.selected.map((k) => k.split(":")[0]))];
  const wanted = state.live && state.preset && !state.bucket && devices.length ? devices.join(",") : null;
  if (state.stream && state.stream.devices !== wanted) {
    state.stream.source.close();
    state.stream = null;
  }
  if (wanted && !state.stream) {
    const source = new EventSource(`/api/register_readings/stream?device=${encodeURIComponent(wanted)}`);
    source.addEventListener("readings", (e) => onReadings(JSON.parse(e.data)));
    state.stream = { source, devices: wanted };
  }
  state.streamKeys = keys;
  clearTimeout(refetchTimer);
  if (state.live && state.preset && state.bucket) {
    refetchTimer = setTimeout(loadView, Math.max(10000, Math.min(state.bucket * 1000, 60000)));
  }
}

let drawPending = false;
function onReadings(readings) {
  let changed = false;
  for (const r of readings) {
    const key = keyOf(r.device_id, r.register_address);
    const s = state.series.get(key);
    if (!s || s.bucketMs || !state.streamKeys.has(key)) continue;
    const t = Date.parse(r.timestamp);
    const last = s.points[s.points.length - 1];
    if (last && t <= last.t) continue;
    const interval = (deviceOf(r.device_id) || {}).poll_interval_ms || 1000;
    if (last && t - last.t > 3 * interval) s.points.push({ t: Math.round((last.t + t) / 2), v: null, gap: true });
    s.points.push({ t, v: r.value, q: r.quality });
    changed = true;
  }
  if (!changed || drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    if (!state.preset || !state.live) return;
    const [start, end] = viewWindow();
    for (const s of state.series.values()) {
      while (s.points.length && s.points[0].t < start) s.points.shift();
    }
    state.window = [start, end];
    draw();
  });
}

// Navigation ---------------------------------------------------------------------------------

function setPreset(label) {
  state.preset = label;
  state.live = true;
  syncControls();
  loadView();
}

function setWindow(from, to) {
  if (!(to > from)) return;
  state.preset = null;
  state.from = from;
  state.to = to;
  state.live = false;
  syncControls();
  loadView();
}

function pan(direction) {
  const [start, end] = state.window || viewWindow();
  const shift = ((end - start) / 2) * direction;
  const now = Date.now();
  if (direction > 0 && end + shift >= now) {
    const span = end - start;
    const preset = PRESETS.find((p) => p[1] * 1000 === span);
    if (preset) return setPreset(preset[0]);
    return setWindow(now - span, now);
  }
  setWindow(start + shift, end + shift);
}

function zoomOut() {
  const [start, end] = state.window || viewWindow();
  const span = end - start;
  setWindow(start - span / 2, Math.min(Date.now(), end + span / 2));
}

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

function syncControls() {
  for (const b of document.querySelectorAll("#ranges button")) {
    b.classList.toggle("active", b.dataset.range === state.preset);
  }
  $("#live").setAttribute("aria-pressed", String(state.live && !!state.preset));
  $("#resolution").value = state.resolution;
  const [start, end] = viewWindow();
  $("#range-from").value = toLocalInput(start);
  $("#range-to").value = toLocalInput(end);
}

function saveHash() {
  const p = new URLSearchParams();
  if (state.device != null) p.set("device", String(state.device));
  if (state.selected.length) p.set("series", state.selected.join(","));
  if (state.preset) p.set("range", state.preset);
  else {
    p.set("from", new Date(state.from).toISOString());
    p.set("to", new Date(state.to).toISOString());
  }
  if (state.resolution !== "auto") p.set("res", state.resolution);
  const hash = `#${p.toString().replaceAll("%2C", ",").replaceAll("%3A", ":")}`;
  history.replaceState(null, "", hash);
  $("#share").href = location.href;
}

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (PRESETS.some((r) => r[0] === p.get("range"))) state.preset = p.get("range");
  const from = Date.parse(p.get("from") || ""), to = Date.parse(p.get("to") || "");
  if (Number.isFinite(from) && Number.isFinite(to) && to > from) {
    state.preset = null;
    state.live = false;
    state.from = from;
    state.to = to;
  }
  if ([...$("#resolution").options].some((o) => o.value === p.get("res"))) state.resolution = p.get("res");
  const device = Number(p.get("device"));
  if (p.get("device") && Number.isInteger(device)) state.device = device;
  state.selected = (p.get("series") || "").split(",").filter((k) => /^\d+:\d+$/.test(k));
  state.firstVisit = !location.hash;
}

// CSV of what the chart shows: every point in the window, gaps left out.
function downloadCsv() {
  const [start, end] = state.window || viewWindow();
  const lines = ["timestamp,device,register,address,unit,value,min,max,quality"];
  const quote = (s) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  for (const key of state.selected) {
    const s = state.series.get(key);
    const m = state.meta.get(key);
    if (!s || !m) continue;
    for (const p of s.points) {
      if (p.gap || p.t < start || p.t > end) continue;
      const t = new Date(s.bucketMs ? p.bucket : p.t).toISOString();
      lines.push([t, quote(m.deviceName), quote(m.name), m.address, quote(m.unit || ""),
        p.v ?? "", p.lo ?? "", p.hi ?? "", p.q || (s.bucketMs ? "bucket" : "")].join(","));
    }
  }
  const blob = new Blob([`${lines.join("\n")}\n`], { type: "text/csv" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `trend-${new Date(start).toISOString().slice(0, 19)}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// Start --------------------------------------------------------------------------------------

let chart;

function init() {
  readHash();
  chart = new Trend.Chart($("#trend"), {
    onZoom: (a, b) => setWindow(a, b),
    onZoomOut: zoomOut,
  });
  const ranges = $("#ranges");
  for (const [label] of PRESETS) {
    const b = el("button", { type: "button", "data-range": label }, label);
    b.addEventListener("click", () => setPreset(label));
    ranges.append(b);
  }
  $("#custom-range").addEventListener("submit", (e) => {
    e.preventDefault();
    setWindow(new Date($("#range-from").value).getTime(), new Date($("#range-to").value).getTime());
  });
  $("#resolution").addEventListener("change", (e) => {
    state.resolution = e.target.value;
    loadView();
  });
  $("#pan-back").addEventListener("click", () => pan(-1));
  $("#pan-forward").addEventListener("click", () => pan(1));
  $("#live").addEventListener("click", () => {
    if (state.live && state.preset) {
      const [a, b] = viewWindow();
      setWindow(a, b);
    } else setPreset(state.preset || "15m");
  });
  $("#download").addEventListener("click", downloadCsv);
  $("#share").addEventListener("click", (e) => {
    if (navigator.clipboard) {
      e.preventDefault();
      navigator.clipboard.writeText(location.href).catch(() => {});
    }
  });
  $("#register-search").addEventListener("input", renderPicker);
  syncControls();
  const tick = async () => {
    try {
      await refreshDevices();
      await refreshLatest();
      showError(null);
    } catch (err) {
      showError(err);
    }
  };
  tick().then(loadView);
  setInterval(tick, POLL_MS);
  setInterval(renderPicker, 1000);
}

document.addEventListener("DOMContentLoaded", init);
