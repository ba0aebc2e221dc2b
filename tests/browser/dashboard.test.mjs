// Browser test of the dashboard: starts `modbus-historian simulate` (two devices) and
// `modbus-historian run` on a fresh SQLite file with the devices in the database, adds
// devices over the API (two simulated, one with a 10,000-character name that nobody
// answers, one disabled), stops the simulator for a few polls to make a real outage, and
// then checks in headless Chromium what the trend chart draws: series and y axes, the
// outage as a gap (no line pixels across it) with bad-quality marks, the min–max band when
// bucketed, a young installation's single bucket, zoom by dragging and out, pan, live
// updates over the event stream, the CSV download, the shareable link, no horizontal
// overflow at 400 px, no error banner nor 404 polling for `#device=999` or a disabled
// device (whose stored history is drawn), and the MQTT link state in the device list (a
// sink whose broker never answers). Also: nothing is fetched from another origin and the
// page logs no errors (a Content-Security-Policy violation or a 404 is one); the API documentation renders; a cross-site form post to
// the API is refused. Screenshots (dashboard-1400.png, dashboard-400.png, api-docs.png)
// are kept as artifacts. The discovery page scans the simulator, shows the proposed map
// and creates a device from it, which is then polled.
//
//   HISTORIAN_BIN   the binary (default: <target>/debug/modbus-historian)
//   CHROMIUM        the browser (default: /usr/bin/chromium)
//   ARTIFACTS       where the screenshots go (default: <target>/artifacts)
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const target = process.env.CARGO_TARGET_DIR || join(root, "target");
const bin = process.env.HISTORIAN_BIN || join(target, "debug", "modbus-historian");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = process.env.ARTIFACTS || join(target, "artifacts");
const WAIT = 20000;
const LONG_NAME = "long-device-name-".repeat(589).slice(0, 10000);

function listen(port) {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(port, "127.0.0.1", () => {
      const got = s.address().port;
      s.close(() => ok(got));
    });
  });
}

const freePort = () => listen(0);

// Two consecutive free ports: the simulator serves device i on base + i.
async function freePair() {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await listen(p + 1).then(() => true, () => false))) return p;
  }
  throw new Error("no two consecutive free ports");
}

function accepts(port) {
  return new Promise((ok) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => { c.destroy(); ok(true); });
    c.once("error", () => ok(false));
  });
}

async function until(what, check, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The historian's own SQLite file and bind address, whatever the caller's setting.
function cleanEnv() {
  const env = { ...process.env };
  for (const k of ["HISTORIAN_DATABASE_URL", "HISTORIAN_API_BIND", "HISTORIAN_API_TOKEN", "HISTORIAN_API_READ_TOKEN"]) {
    delete env[k];
  }
  return env;
}

class Proc {
  constructor(name, args) {
    this.name = name;
    this.log = "";
    this.child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: cleanEnv() });
    this.child.stdout.on("data", (d) => (this.log += d));
    this.child.stderr.on("data", (d) => (this.log += d));
  }

  running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal) {
    if (this.running()) {
      this.child.kill(signal);
      await new Promise((r) => this.child.once("exit", r));
    }
    return this.child.exitCode;
  }
}

// The simulator's reference map of 6 registers, as the devices API takes it.
const REGISTERS = [
  ["current_000", "input_register", 0, "float32", 1, "A"],
  ["current_001", "input_register", 2, "float32", 1, "A"],
  ["energy_002", "holding_register", 0, "uint32", 1, "Wh"],
  ["temperature_003", "holding_register", 2, "int16", 0.01, "degC"],
  ["voltage_004", "holding_register", 3, "uint16", 0.1, "V"],
  ["current_005", "input_register", 4, "float32", 1, "A"],
].map(([name, table, address, data_type, scale, unit]) => ({ name, table, address, data_type, scale, unit }));

async function json(base, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const trendReady = (page, check, arg) => page.waitForFunction(check, arg, { timeout: WAIT });

// Pixels of the chart's canvas at column `x` (CSS px from the canvas' left) inside the
// plot that are close to `rgb`.
function columnHits(page, x, rgb) {
  return page.evaluate(({ x, rgb }) => {
    const canvas = document.querySelector("#trend canvas");
    const ratio = canvas.width / canvas.getBoundingClientRect().width;
    const ctx = canvas.getContext("2d");
    const px = Math.round(x * ratio);
    const { data } = ctx.getImageData(px - 1, 0, 3, canvas.height);
    let hits = 0;
    for (let i = 0; i < data.length; i += 4) {
      const d = Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]);
      if (data[i + 3] > 128 && d < 90) hits++;
    }
    return hits;
  }, { x, rgb });
}

// The canvas x (CSS px) of time `ms` on the trend chart.
const xOf = (page, ms) => page.evaluate((ms) => chart.xOf(ms), ms);

async function main() {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), "historian-browser-"));
  const [port, simBase, deadPort, noBroker] = [await freePort(), await freePair(), await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const simArgs = ["simulate", "--devices", "2", "--registers", "6", "--base-port", String(simBase)];
  const config = join(dataDir, "historian.toml");
  writeFileSync(config, [
    "[storage]", `url = "sqlite://${join(dataDir, "historian.db")}"`,
    "[api]", `bind = "127.0.0.1:${port}"`,
    "[spool]", `dir = "${join(dataDir, "spool")}"`,
    "[polling]", 'interval = "300ms"', 'timeout = "200ms"',
    // An MQTT sink whose broker never answers: the device list shows the link down.
    "[mqtt]", `url = "mqtt://127.0.0.1:${noBroker}"`, "",
  ].join("\n"));
  let sim = new Proc("simulate", simArgs);
  const historian = new Proc("run", ["run", "--config", config]);
  let browser;
  try {
    await until("the simulator", () => accepts(simBase + 1));
    await until("the API", async () => {
      if (!historian.running()) throw new Error(`run exited with ${historian.child.exitCode}`);
      return fetch(`${base}/api/health`).then((r) => r.ok, () => false);
    });
    const device = (name, port, enabled = true) => ({
      name, host: "127.0.0.1", port, interval_ms: 300, enabled, timeout_ms: 200, registers: REGISTERS,
    });
    const boiler = (await json(base, "POST", "/api/devices", device("boiler-1", simBase))).id;
    const pump = (await json(base, "POST", "/api/devices", device("pump-station", simBase + 1))).id;
    await json(base, "POST", "/api/devices", device(LONG_NAME, deadPort));
    const disabled = (await json(base, "POST", "/api/devices", device("spare-meter", simBase))).id;
    const status = async (id) => (await json(base, "GET", "/api/devices")).find((d) => d.id === id);
    // spare-meter gathers some history, then is disabled: that history stays chartable.
    await until("spare-meter polled", async () => (await status(disabled)).polls_ok >= 3);
    await json(base, "PUT", `/api/devices/${disabled}`, device("spare-meter", simBase, false));
    await until("boiler-1 polled", async () => (await status(boiler)).polls_ok >= 5);
    // A real outage: the simulator goes away for a few polls, then comes back.
    await sim.stop("SIGKILL");
    const failed = (await status(boiler)).polls_failed;
    await until("polls failing during the outage", async () => (await status(boiler)).polls_failed >= failed + 4);
    sim = new Proc("simulate", simArgs);
    await until("boiler-1 back up", async () => {
      const d = await status(boiler);
      return d.status === "up" && d.polls_ok >= 10;
    });
    const ok = (await status(boiler)).polls_ok;
    await until("readings after the outage", async () => (await status(boiler)).polls_ok >= ok + 5);

    browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const foreign = [];
    const problems = [];
    const responses = [];
    context.on("response", (r) => responses.push({ url: r.url(), status: r.status() }));
    const watch = (page) => {
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()} at ${page.url()}`));
      return page;
    };
    // Any request to another origin fails the test: the dashboard must work offline.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(base)) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    const page = watch(await context.newPage());

    // First visit: the first device's first register is drawn, raw, live.
    await page.goto(`${base}/`);
    await page.waitForFunction((n) => document.querySelectorAll("#devices tbody tr").length === n, 4);
    await trendReady(page, () => document.querySelector("#trend").dataset.series === "1");
    const names = await page.$$eval("#devices tbody tr .name", (e) => e.map((t) => t.textContent));
    if (names.join(",") !== `boiler-1,pump-station,${LONG_NAME},spare-meter`) throw new Error(`device list: ${names.map((n) => n.slice(0, 30))}`);
    await page.waitForSelector("#devices .badge.up");
    const links = await page.$$eval("#devices tbody tr td.mqtt", (tds) => tds.map((t) => t.textContent));
    if (links.join() !== "down,down,down,down") throw new Error(`MQTT column: ${links}`);

    // The picker: search by unit, add the voltage; another device's current joins.
    await page.fill("#register-search", "V");
    await page.waitForFunction(() => [...document.querySelectorAll("#latest tbody tr")].map((r) => r.dataset.register).join() === "400004");
    await page.click('#latest tbody tr[data-register="400004"]');
    await page.fill("#register-search", "");
    await page.click(`#devices tbody tr[data-device="${pump}"]`);
    await page.waitForFunction(() => document.querySelector("#device-title").textContent === "pump-station");
    await page.fill("#register-search", "300001");
    await page.waitForFunction(() => document.querySelectorAll("#latest tbody tr").length === 1);
    await page.click('#latest tbody tr[data-register="300001"]');
    await trendReady(page, () => {
      const d = document.querySelector("#trend").dataset;
      return d.series === "3" && d.axes === "2" && d.points.split(",").every((n) => Number(n) > 5);
    });
    const hash = await page.evaluate(() => location.hash);
    const want = `series=${boiler}:300001,${boiler}:400004,${pump}:300001`;
    if (!hash.includes(want)) throw new Error(`fragment ${hash} lacks ${want}`);

    // Live: new points arrive over the event stream, without fetching the series again.
    const fetched = () => responses.filter((r) => /\/api\/register_readings\/\d+\/\d+\?/.test(r.url)).length;
    const before = fetched();
    const points = await page.$eval("#trend", (e) => Number(e.dataset.points.split(",")[0]));
    await trendReady(page, (n) => Number(document.querySelector("#trend").dataset.points.split(",")[0]) >= n + 3, points);
    if (fetched() !== before) throw new Error("live points should come from the event stream, not new fetches");


    // A custom range around the data so far: the outage is wide enough to look at.
    const readings = (await json(base, "GET", `/api/register_readings/${boiler}/300001?limit=5000`)).readings;
    const firstAt = Date.parse(readings[0].timestamp);
    const local = (ms) => { const t = new Date(ms - new Date(ms).getTimezoneOffset() * 60000); return t.toISOString().slice(0, 19); };
    await page.fill("#range-from", local(firstAt - 2000));
    await page.fill("#range-to", local(Date.now() + 2000));
    await page.click("#custom-range button");
    await page.waitForFunction(() => location.hash.includes("from="));
    await trendReady(page, () => {
      const d = document.querySelector("#trend").dataset;
      return d.series === "3" && document.querySelector("#trend-note").textContent.includes("raw readings");
    });

    await page.fill("#register-search", "");
    mkdirSync(artifacts, { recursive: true });
    const desktopShot = join(artifacts, "dashboard-1400.png");
    await page.screenshot({ path: desktopShot, fullPage: true });

    // The outage: the boiler's lines break around it, bad readings are marked, and no
    // line pixel crosses its middle.
    const d = await page.$eval("#trend", (e) => ({ ...e.dataset }));
    const [seg0, seg1, seg2] = d.segments.split(",").map(Number);
    if (seg0 < 2 || seg1 < 2) throw new Error(`the outage should split boiler-1's lines: segments ${d.segments}`);
    if (seg2 < 1) throw new Error(`pump-station's line: segments ${d.segments}`);
    if (Number(d.badMarks) < 4) throw new Error(`bad readings should be marked: ${d.badMarks}`);
    const badRun = readings.filter((r) => r.quality === "bad").map((r) => Date.parse(r.timestamp));
    const goodBefore = readings.filter((r) => r.value != null && Date.parse(r.timestamp) < badRun[0]).map((r) => Date.parse(r.timestamp));
    const gapMiddle = (badRun[0] + badRun[badRun.length - 1]) / 2;
    const blue = [0x24, 0x63, 0xeb];
    const inGap = await columnHits(page, await xOf(page, gapMiddle), blue);
    const onLine = await columnHits(page, await xOf(page, goodBefore[Math.floor(goodBefore.length / 2)]), blue);
    if (inGap !== 0 || onLine === 0) throw new Error(`line pixels at ${await xOf(page, gapMiddle)} / ${await xOf(page, goodBefore[Math.floor(goodBefore.length / 2)])}: ${inGap} in the gap (want 0), ${onLine} on the line (want > 0)`);

    // Bucketed: the min–max band is drawn, one step per 1 s bucket.
    await page.selectOption("#resolution", "1s");
    await trendReady(page, () => document.querySelector("#trend-note").textContent.includes("1 s buckets") &&
      Number(document.querySelector("#trend").dataset.bandSteps) > 10);
    // A young installation: 24 h in auto resolution is a bucket or two, still drawn.
    await page.selectOption("#resolution", "auto");
    await page.click('#ranges button[data-range="24h"]');
    await trendReady(page, () => {
      const d = document.querySelector("#trend").dataset;
      return document.querySelector("#trend-note").textContent.includes("min buckets") &&
        d.series === "3" && Number(d.bandSteps) >= 3 && d.points.split(",").every((n) => Number(n) >= 1);
    });
    const young = await page.$eval("#trend", (e) => ({ ...e.dataset }));
    if (Number(young.lonePoints) + young.segments.split(",").filter((s) => s !== "0").length < 3) {
      throw new Error(`every series should show something: ${JSON.stringify(young)}`);
    }

    // Zoom by dragging across the 15 minutes: a fixed window, no longer live.
    await page.click('#ranges button[data-range="15m"]');
    await trendReady(page, () => document.querySelector("#trend-note").textContent.includes("raw readings"));
    const over = await page.$eval("#trend .u-over", (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    await page.mouse.move(over.x + over.w * 0.95, over.y + over.h / 2);
    await page.mouse.down();
    await page.mouse.move(over.x + over.w - 1, over.y + over.h / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => location.hash.includes("from="));
    const zoomed = new URLSearchParams((await page.evaluate(() => location.hash)).slice(1));
    const span = Date.parse(zoomed.get("to")) - Date.parse(zoomed.get("from"));
    if (!(span > 0 && span < 900000 * 0.2)) throw new Error(`zoomed window ${span} ms`);
    if ((await page.getAttribute("#live", "aria-pressed")) !== "false") throw new Error("a zoomed view should not be live");
    const shown = `${Date.parse(zoomed.get("from"))},${Date.parse(zoomed.get("to"))}`;
    await trendReady(page, (w) => document.querySelector("#trend").dataset.window === w, shown);

    // CSV of what is shown: the three registers, inside the window.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
    if (csv[0] !== "timestamp,device,register,address,unit,value,min,max,quality") throw new Error(`CSV header ${csv[0]}`);
    const rows = csv.slice(1).map((l) => l.split(","));
    const series = new Set(rows.map((r) => `${r[1]}/${r[3]}`));
    if (series.size !== 3) throw new Error(`CSV series: ${[...series]} in ${csv.length} lines for ${shown}`);
    const outside = rows.filter((r) => Date.parse(r[0]) < Date.parse(zoomed.get("from")) || Date.parse(r[0]) > Date.parse(zoomed.get("to")));
    if (outside.length) throw new Error(`CSV rows outside the view: ${outside.slice(0, 3)}`);

    // The link opens the same view, here on a 400 px wide screen.
    const link = await page.getAttribute("#share", "href");
    const mobile = watch(await browser.newPage({ viewport: { width: 400, height: 850 } }));
    await mobile.route("**/*", (route) => (route.request().url().startsWith(base) ? route.continue() : (foreign.push(route.request().url()), route.abort())));
    await mobile.goto(link);
    await mobile.waitForFunction((n) => document.querySelectorAll("#devices tbody tr").length === n, 4);
    await trendReady(mobile, () => document.querySelector("#trend").dataset.series === "3");
    if ((await mobile.evaluate(() => location.hash)) !== new URL(link).hash) throw new Error("the link's view changed on opening");
    const widths = await mobile.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      tables: [...document.querySelectorAll("table")].map((t) => Math.round(t.getBoundingClientRect().right)),
    }));
    if (widths.page > 400 || widths.tables.some((r) => r > 400)) throw new Error(`at 400 px: ${JSON.stringify(widths)}`);
    const mobileShot = join(artifacts, "dashboard-400.png");
    await mobile.screenshot({ path: mobileShot, fullPage: true });

    // A device that does not exist, and a disabled one: a note, no banner, no 404 polling;
    // the disabled device's stored history is drawn.
    const missing = watch(await context.newPage());
    const devicesPolls = () => responses.filter((r) => r.url.endsWith("/api/devices")).length;
    await missing.goto(`${base}/#device=999`);
    await missing.waitForSelector("#device-note:not([hidden])");
    const note = await missing.textContent("#device-note");
    if (!note.includes("no device with id 999")) throw new Error(`note for #device=999: ${note}`);
    await missing.click(`#devices tbody tr[data-device="${disabled}"]`);
    await missing.waitForFunction(() => document.querySelector("#device-note").textContent.includes("disabled"));
    await missing.click('#latest tbody tr[data-register="300001"]');
    await trendReady(missing, () => {
      const d = document.querySelector("#trend").dataset;
      return d.series === "1" && d.points.split(",").reduce((a, n) => a + Number(n), 0) >= 3;
    });
    const polls = devicesPolls();
    await until("two more device list refreshes", () => devicesPolls() >= polls + 2);
    if (await missing.isVisible("#error")) throw new Error(`error banner: ${await missing.textContent("#error")}`);
    const notFound = responses.filter((r) => r.status === 404);
    if (notFound.length) throw new Error(`404 answers: ${notFound.map((r) => r.url).join(", ")}`);
    await missing.close();
    await mobile.close();

    // Double-click zooms out; ◀ pans to earlier.
    const windowOf = () => page.evaluate(() => {
      const p = new URLSearchParams(location.hash.slice(1));
      return [Date.parse(p.get("from")), Date.parse(p.get("to"))];
    });
    await page.dblclick("#trend .u-over");
    await page.waitForFunction((span) => {
      const p = new URLSearchParams(location.hash.slice(1));
      return Date.parse(p.get("to")) - Date.parse(p.get("from")) > span * 1.4;
    }, span);
    const [outFrom, outTo] = await windowOf();
    await page.click("#pan-back");
    await page.waitForFunction((from) => Date.parse(new URLSearchParams(location.hash.slice(1)).get("from")) < from, outFrom);
    const [panFrom, panTo] = await windowOf();
    if (Math.abs((panTo - panFrom) - (outTo - outFrom)) > 2) throw new Error(`panning changed the span: ${outTo - outFrom} -> ${panTo - panFrom}`);

    // The discovery page: a scan of the simulator's first device (ten addresses of its
    // register tables, two samples a simulator step apart) shows the proposed map, which creates a device.
    const discover = watch(await context.newPage());
    await discover.goto(`${base}/discover`);
    await discover.fill("#target", `127.0.0.1:${simBase}`);
    await discover.uncheck('input[name="table"][value="coil"]');
    await discover.uncheck('input[name="table"][value="discrete_input"]');
    await discover.fill("#last", "9");
    await discover.fill("#samples", "2");
    await discover.fill("#sample-interval", "1100");
    await discover.click("#discover");
    await discover.waitForSelector("#result-panel:not([hidden])", { timeout: WAIT });
    const proposed = await discover.$$eval("#proposed tbody tr", (rows) => rows.map((r) => ({
      name: r.querySelector(".reg-name").value, table: r.cells[1].textContent,
      type: r.querySelector(".reg-type").value, confidence: r.cells[4].textContent,
    })));
    const floats = proposed.filter((r) => r.table === "input_register" && r.type === "float32");
    if (floats.length < 2 || !proposed.every((r) => / %$/.test(r.confidence))) {
      throw new Error(`proposed map: ${JSON.stringify(proposed)}`);
    }
    if (!(await discover.textContent("#summary")).includes("input_register: 10 readable: 0-9")) {
      throw new Error(`summary: ${await discover.textContent("#summary")}`);
    }
    await discover.fill("#device-name", "discovered-boiler");
    await discover.fill("#interval", "300");
    await discover.click("#create");
    await discover.waitForSelector("#created:not([hidden])", { timeout: WAIT });
    const createdId = Number(await discover.getAttribute("#created", "data-device"));
    await until("the discovered device polled", async () => ((await status(createdId)) || {}).polls_ok >= 2);
    await discover.close();

    // The API documentation page renders from the binary's assets too, listing operations.
    await page.goto(`${base}/api/docs/`);
    await page.waitForSelector(".opblock-summary-path");
    const ops = await page.$$eval(".opblock-summary-path", (e) => e.map((x) => x.textContent));
    if (!ops.some((p) => p.includes("/api/register_readings/range"))) throw new Error(`docs list: ${ops}`);
    await page.screenshot({ path: join(artifacts, "api-docs.png") });
    if (foreign.length) throw new Error(`requests to other origins: ${foreign.join(", ")}`);
    if (problems.length) throw new Error(problems.join("\n"));

    // A form on a page of another origin (here an opaque one) posting to the API, as any
    // site the operator visits could: the browser sends it, the historian refuses it.
    await page.goto("about:blank");
    await page.setContent(`<form method="post" enctype="text/plain"
      action="${base}/api/storage/maintenance"><input name="x" value="y"></form>`);
    const [posted] = await Promise.all([
      page.waitForResponse(`${base}/api/storage/maintenance`),
      page.evaluate(() => document.forms[0].submit()),
    ]);
    if (posted.status() !== 403) throw new Error(`cross-site form post answered ${posted.status()}`);
    console.log(`browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots ${desktopShot} ${mobileShot}`);
  } catch (e) {
    console.error(`browser test FAILED: ${e.stack || e}\n--- run output ---\n${historian.log.slice(-3000)}\n--- simulate output ---\n${sim.log.slice(-2000)}`);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close();
    const code = await historian.stop("SIGINT");
    await sim.stop("SIGINT");
    if (code !== 0 && process.exitCode !== 1) {
      console.error(`run exited with ${code}:\n${historian.log.slice(-3000)}`);
      process.exitCode = 1;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
