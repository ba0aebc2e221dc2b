// The "Discover" page: starts a read-only discovery (POST /api/discover), follows its
// progress (GET /api/discover/{job}), shows the proposed map with each register's
// confidence and evidence, lets names and types be edited, and creates the device through
// the device API (POST /api/devices). State for the browser test: #proposed's data-rows,
// #created's data-device.
"use strict";

const TYPES = ["bool", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64", "string"];
const $ = (id) => document.getElementById(id);
let job = null;
let result = null;

function headers(json) {
  const h = { accept: "application/json" };
  if (json) h["content-type"] = "application/json";
  const token = $("token").value.trim();
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

async function call(method, path, body) {
  const resp = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new Error((data && data.detail) || `${method} ${path}: ${resp.status}`);
  return data;
}

function showError(err) {
  const box = $("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
}

// "1-3,7" as [1, 2, 3, 7].
function unitList(text) {
  const out = new Set();
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [a, b = a] = part.split("-").map((n) => Number(n.trim()));
    if (!Number.isInteger(a) || !Number.isInteger(b) || a > b || b > 255) throw new Error(`unit ids: ${part} is not a unit id or range of them (0-255)`);
    for (let u = a; u <= b; u++) out.add(u);
  }
  if (!out.size) throw new Error("unit ids: give at least one");
  return [...out];
}

function number(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
}

function request() {
  const tables = [...document.querySelectorAll('input[name="table"]:checked')].map((c) => c.value);
  if (!tables.length) throw new Error("tables: tick at least one");
  const body = {
    target: $("target").value.trim(),
    units: unitList($("units").value),
    tables,
    first_address: number("first"),
    last_address: number("last"),
    samples: number("samples"),
    sample_interval_ms: number("sample-interval"),
    timeout_ms: number("timeout"),
    pause_ms: number("pause"),
    max_requests_per_second: number("rate"),
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

function showProgress(j) {
  const p = j.progress;
  $("progress-panel").hidden = false;
  $("bar").max = Math.max(p.total, 1);
  $("bar").value = p.done;
  $("phase").textContent = j.state === "running" ? p.phase : j.state;
  const eta = p.eta_ms !== undefined ? `, about ${Math.ceil(p.eta_ms / 1000)} s left` : "";
  $("counts").textContent = `${p.requests} requests, ${p.ranges} readable ranges, ${(p.elapsed_ms / 1000).toFixed(1)} s${eta}`;
  $("cancel").hidden = j.state !== "running";
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function showUnit(index) {
  const found = result.devices[index];
  const body = $("proposed").tBodies[0];
  body.replaceChildren();
  found.registers.forEach((r, i) => {
    const row = body.insertRow();
    row.dataset.index = i;
    if (r.comment) row.classList.add("guess");
    const name = document.createElement("input");
    name.value = r.name;
    name.className = "reg-name";
    name.setAttribute("aria-label", `name of ${r.table} ${r.address}`);
    row.insertCell().append(name);
    cell(row, r.table);
    cell(row, r.bit == null ? String(r.address) : `${r.address}.${r.bit}`, "num");
    const type = document.createElement("select");
    type.className = "reg-type";
    type.setAttribute("aria-label", `type of ${r.table} ${r.address}`);
    for (const t of TYPES) type.add(new Option(t, t, false, t === r.data_type));
    row.insertCell().append(type);
    cell(row, `${Math.round(r.confidence * 100)} %`, "num");
    cell(row, r.comment ? `${r.comment}\n${r.evidence}` : r.evidence, "evidence");
  });
  $("proposed").dataset.rows = String(found.registers.length);
  $("device-name").value = found.device.name;
}

function showResult(j) {
  result = j.result;
  $("result-panel").hidden = false;
  $("summary").textContent = result.summary;
  const choice = $("unit");
  choice.replaceChildren(...result.devices.map((d, i) => new Option(`unit ${d.unit}`, String(i))));
  $("unit-choice").hidden = result.devices.length < 2;
  $("create-form").hidden = result.devices.length === 0;
  if (result.devices.length) showUnit(0);
}

async function follow(id) {
  for (;;) {
    const j = await call("GET", `/api/discover/${id}`);
    if (job !== id) return;
    showProgress(j);
    if (j.state === "finished") return showResult(j);
    if (j.state === "failed") throw new Error(j.error);
    if (j.state === "cancelled") return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

$("discover-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  $("result-panel").hidden = true;
  $("created").hidden = true;
  try {
    const j = await call("POST", "/api/discover", request());
    job = j.id;
    showProgress(j);
    await follow(j.id);
  } catch (err) {
    showError(err);
  }
});

$("cancel").addEventListener("click", async () => {
  const id = job;
  job = null;
  try {
    if (id) await call("DELETE", `/api/discover/${id}`);
    $("phase").textContent = "cancelled";
    $("cancel").hidden = true;
  } catch (err) {
    showError(err);
  }
});

$("unit").addEventListener("change", (e) => showUnit(Number(e.target.value)));

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  const found = result.devices[Number($("unit").value || 0)];
  const device = structuredClone(found.device);
  device.name = $("device-name").value.trim();
  const interval = number("interval");
  if (interval !== undefined) device.interval = interval;
  for (const row of $("proposed").tBodies[0].rows) {
    const reg = device.registers[Number(row.dataset.index)];
    reg.name = row.querySelector(".reg-name").value.trim();
    const type = row.querySelector(".reg-type").value;
    if (type !== found.registers[Number(row.dataset.index)].data_type) {
      reg.data_type = type;
      if (type !== "string") delete reg.length;
    }
  }
  try {
    const created = await call("POST", "/api/devices", device);
    const note = $("created");
    note.hidden = false;
    note.dataset.device = String(created.id);
    note.replaceChildren("Created ", Object.assign(document.createElement("a"), { href: `/#device=${created.id}`, textContent: created.name }),
      ` with ${created.registers.length} registers; it is polled within a second.`);
  } catch (err) {
    showError(err);
  }
});
