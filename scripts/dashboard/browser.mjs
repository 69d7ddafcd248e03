// Opens the dashboard of a running fnwire app (examples/hello-rust) in headless Chromium,
// triggers functions over HTTP, and checks that they appear live on the invocations page, that
// one invocation shows its trigger data, outputs and log lines, and that the functions, queues
// and workers pages show what runs. Saves the screenshots the README shows.
//
// Usage: node browser.mjs <origin> <screenshots dir> <chromium executable>
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [origin, shots, executablePath] = process.argv.slice(2);
if (!origin || !shots || !executablePath) {
  console.error("usage: node browser.mjs <origin> <screenshots dir> <chromium executable>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
// Bounded waits: a step that does not happen fails the test with what was expected.
const BOUND = 20_000;

// `launch` (not `launchPersistentContext`) gives Chromium a fresh temporary --user-data-dir and
// removes it on close; `headless: true` adds --headless. The flags keep Chromium off the network
// (no updates, sync or QUIC probes) and working as root in a container (--no-sandbox).
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
  ],
});
let failed = false;
try {
  // A short viewport and full-page shots: each image is as tall as its page's content, so the
  // PNGs the README carries stay small.
  const page = await browser.newPage({ viewport: { width: 1200, height: 300 } });
  const shot = async name => {
    // The pointer stays where the last click was; moved away, no row shows its hover colour.
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };
  const problems = [];
  page.on("pageerror", e => problems.push(`page error: ${e.message}`));
  page.on("console", m => { if (m.type() === "error") problems.push(`console error: ${m.text()} (${m.location().url})`); });
  // Nothing may load from outside the host: the page works offline.
  page.on("request", r => { if (!r.url().startsWith(origin)) problems.push(`request outside the host: ${r.url()}`); });
  // The console names no URL when a resource fails to load; this does.
  page.on("response", r => { if (r.status() >= 400) problems.push(`${r.status()} from ${r.request().method()} ${r.url()}`); });

  const call = async (method, path, body) => {
    const r = await fetch(origin + path, { method, body });
    await r.text();
    return r.status;
  };

  // Functions: every function of the app is listed with its trigger.
  await page.goto(`${origin}/admin/ui#functions`);
  await page.waitForSelector("#functions tr[data-function='hello']", { timeout: BOUND });
  for (const name of ["echo", "enqueue", "work", "tick"]) {
    await page.waitForSelector(`#functions tr[data-function='${name}']`, { timeout: BOUND });
  }

  // Invocations, live: the page is open first, then functions run.
  await page.goto(`${origin}/admin/ui#invocations`);
  await page.waitForSelector("#live.on", { timeout: BOUND });
  const marker = `dashboard-${Date.now()}`;
  if (await call("GET", `/api/hello/${marker}`) !== 200) throw new Error("GET /api/hello failed");
  if (await call("GET", "/api/boom") !== 500) throw new Error("GET /api/boom did not fail as it should");
  if (await call("POST", "/api/enqueue", `job ${marker}`) !== 202) throw new Error("POST /api/enqueue failed");
  await page.waitForSelector("#invocations tr[data-outcome='Failed']", { timeout: BOUND });
  await page.waitForFunction(
    () => [...document.querySelectorAll("#invocations tbody tr")].some(tr => tr.textContent.includes("hello") && tr.dataset.outcome === "Succeeded"),
    null, { timeout: BOUND });
  // The queue function runs from the message the HTTP function enqueued.
  await page.waitForFunction(
    () => [...document.querySelectorAll("#invocations tbody tr")].some(tr => tr.children[1]?.textContent === "work" && tr.dataset.outcome === "Succeeded"),
    null, { timeout: BOUND });
  await shot("invocations");

  // Filter by text: only the invocation that carried the marker stays.
  await page.fill("#f-text", marker);
  await page.waitForFunction(
    () => { const rows = document.querySelectorAll("#invocations tbody tr"); return rows.length >= 1 && [...rows].every(r => !r.textContent.includes("boom")); },
    null, { timeout: BOUND });

  // One invocation: its trigger data (the URL with the marker) and its log lines.
  await page.goto(`${origin}/admin/ui#invocations?function=work`);
  await page.waitForSelector("#invocations tbody tr[data-outcome='Succeeded']", { timeout: BOUND });
  await page.click("#invocations tbody tr[data-outcome='Succeeded']");
  await page.waitForSelector("#inv-trigger", { timeout: BOUND });
  const trigger = await page.textContent("#inv-trigger");
  if (!trigger.includes(marker)) throw new Error(`the work invocation's trigger data lacks the message: ${trigger}`);
  await page.waitForSelector("#inv-logs tr td", { timeout: BOUND });
  await shot("invocation");

  await page.goto(`${origin}/admin/ui#invocations?function=boom`);
  await page.click("#invocations tbody tr[data-outcome='Failed']");
  await page.waitForSelector("#inv-error", { timeout: BOUND });

  // Functions again: counts and percentiles now.
  await page.goto(`${origin}/admin/ui#functions`);
  await page.waitForFunction(
    () => { const row = document.querySelector("#functions tr[data-function='boom']"); return row && row.children[5].textContent !== "0"; },
    null, { timeout: BOUND });
  await shot("functions");

  // Queues: the queues the app wrote to; opening one peeks at its messages (the work function
  // wrote the upper-cased job to `done`).
  await page.goto(`${origin}/admin/ui#queues`);
  await page.waitForSelector("#queues tr[data-queue='jobs']", { timeout: BOUND });
  await page.click("#queues tr[data-queue='done']");
  await page.waitForFunction(
    text => document.querySelector("#messages")?.textContent.includes(text),
    `JOB ${marker.toUpperCase()}`, { timeout: BOUND });
  await shot("queues");

  // Workers: the worker process is live (no screenshot: one row says little).
  await page.goto(`${origin}/admin/ui#workers`);
  await page.waitForFunction(() => document.querySelector("#workers")?.textContent.includes("live"), null, { timeout: BOUND });

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("dashboard browser test passed; screenshots in " + shots);
} catch (e) {
  failed = true;
  console.error("dashboard browser test failed: " + (e.stack || e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
