// Browser test of the dashboard: starts `modbus-historian demo` (own port, own data dir,
// short interval), opens the dashboard in headless Chromium, and checks that the device
// list and the charts render, that nothing is fetched from another origin, and that the
// page logs no errors (a Content-Security-Policy violation is one); then that the API
// documentation page renders, and that a cross-site form post to the API is refused.
// Keeps screenshots (dashboard.png, api-docs.png) as test artifacts.
//
//   HISTORIAN_BIN   the binary (default: <target>/debug/modbus-historian)
//   CHROMIUM        the browser (default: /usr/bin/chromium)
//   ARTIFACTS       where the screenshot goes (default: <target>/artifacts)
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const target = process.env.CARGO_TARGET_DIR || join(root, "target");
const bin = process.env.HISTORIAN_BIN || join(target, "debug", "modbus-historian");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = process.env.ARTIFACTS || join(target, "artifacts");
const DEVICES = 3;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitHealthy(base, demo, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (demo.exitCode !== null) throw new Error(`demo exited with ${demo.exitCode}`);
    try {
      const r = await fetch(`${base}/api/health`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`demo not healthy after ${ms} ms`);
}

// The demo's own SQLite file in its data dir, on loopback, whatever the caller's setting.
function demoEnv() {
  const env = { ...process.env };
  for (const k of ["HISTORIAN_DATABASE_URL", "HISTORIAN_API_BIND", "HISTORIAN_API_TOKEN", "HISTORIAN_API_READ_TOKEN"]) {
    delete env[k];
  }
  return env;
}

async function main() {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), "historian-browser-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let demoLog = "";
  const demo = spawn(bin, [
    "demo", "--devices", String(DEVICES), "--registers", "6", "--interval", "300ms",
    "--data-dir", dataDir, "--bind", `127.0.0.1:${port}`,
  ], { stdio: ["ignore", "pipe", "pipe"], env: demoEnv() });
  demo.stdout.on("data", (d) => (demoLog += d));
  demo.stderr.on("data", (d) => (demoLog += d));
  let browser;
  try {
    await waitHealthy(base, demo, 15000);
    browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const foreign = [];
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
    // Any request to another origin fails the test: the dashboard must work offline.
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(base)) return route.continue();
      foreign.push(url);
      return route.abort();
    });

    await page.goto(`${base}/`);
    await page.waitForFunction((n) => document.querySelectorAll("#devices tbody tr").length === n, DEVICES);
    const names = await page.$$eval("#devices tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
    if (names.join(",") !== "sim-000,sim-001,sim-002") throw new Error(`device list: ${names}`);
    await page.waitForSelector("#devices .badge.up");
    await page.waitForFunction(() => document.querySelectorAll("#latest tbody tr").length === 6);
    // Raw readings: every chart drawn, with points.
    await page.waitForFunction(() => {
      const charts = [...document.querySelectorAll(".chart")];
      return charts.length === 6 && charts.every((c) => c.dataset.state === "drawn" && Number(c.dataset.points) > 0);
    });
    const path = await page.$eval(".chart svg path.line", (p) => p.getAttribute("d"));
    if (!path || !path.startsWith("M")) throw new Error(`chart line: ${path}`);
    // A long range asks for buckets and still draws.
    await page.click('#ranges button[data-range="24h"]');
    await page.waitForFunction(() => document.querySelector("#range-note").textContent.includes("buckets"));
    await page.waitForFunction(() => [...document.querySelectorAll(".chart")]
      .every((c) => c.dataset.state === "drawn" && Number(c.dataset.points) > 0));
    await page.click('#ranges button[data-range="15m"]');
    await page.waitForFunction(() => [...document.querySelectorAll(".chart")]
      .every((c) => c.dataset.state === "drawn"));
    // Let a few polls arrive so the screenshot shows lines, then another device.
    await page.waitForTimeout(1500);
    await page.click('#ranges button[data-range="1h"]');
    await page.waitForFunction(() => [...document.querySelectorAll(".chart")]
      .every((c) => c.dataset.state === "drawn"));
    await page.click('#devices tbody tr[data-device="2"]');
    await page.waitForFunction(() => document.querySelector("#device-title").textContent === "sim-001");
    await page.waitForFunction(() => {
      const charts = [...document.querySelectorAll(".chart")];
      return charts.length === 6 && charts.every((c) => c.dataset.state === "drawn" && Number(c.dataset.points) > 1);
    });

    mkdirSync(artifacts, { recursive: true });
    const shot = join(artifacts, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });

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
    console.log(`browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshot ${shot}`);
  } catch (e) {
    console.error(`browser test FAILED: ${e.stack || e}\n--- demo output ---\n${demoLog}`);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close();
    demo.kill("SIGINT");
    await new Promise((r) => (demo.exitCode !== null ? r() : demo.once("exit", r)));
    if (demo.exitCode !== 0 && process.exitCode !== 1) {
      console.error(`demo exited with ${demo.exitCode}:\n${demoLog}`);
      process.exitCode = 1;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
