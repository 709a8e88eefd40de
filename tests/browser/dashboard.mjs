// Drive tend's dashboard in headless Chromium (Debian's /usr/bin/chromium):
// the page lists the programs, a restart click changes the pid, the system
// panel and the log view fill in, and nothing fails in the console.
//
// usage: node dashboard.mjs URL SCREENSHOT PROGRAM[,PROGRAM...] RESTART_ME [USER PASS]
// Prints what it checked; exits 1 at the first check that fails.
import { chromium } from "playwright-core";

const [url, shot, names, target, user, pass] = process.argv.slice(2);
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; throw new Error(msg); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext(user ? { httpCredentials: { username: user, password: pass } } : {});
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));

  const resp = await page.goto(url);
  if (resp.status() !== 200) fail("GET / answered " + resp.status());
  const csp = resp.headers()["content-security-policy"] || "";
  if (!csp.includes("default-src 'self'")) fail("no Content-Security-Policy: " + csp);

  // every program listed, each RUNNING
  for (const n of names.split(",")) {
    const badge = page.locator(`#programs tr[data-name="${n}"] .badge`);
    await badge.waitFor({ timeout: 10000 });
    await page.waitForFunction((n) => document.querySelector(`#programs tr[data-name="${n}"] .badge`).textContent === "RUNNING", n, { timeout: 10000 });
    console.log("listed: " + n + " RUNNING");
  }

  // restart changes the pid; the live events bring the new one
  const pidCell = page.locator(`#programs tr[data-name="${target}"] td.pid`);
  const before = (await pidCell.textContent()).trim();
  if (!/^\d+$/.test(before)) fail("no pid shown for " + target + ": " + before);
  await page.locator(`#programs tr[data-name="${target}"] button.restart`).click();
  await page.waitForFunction(([n, old]) => {
    const tr = document.querySelector(`#programs tr[data-name="${n}"]`);
    const pid = tr.querySelector("td.pid").textContent.trim();
    return /^\d+$/.test(pid) && pid !== old && tr.querySelector(".badge").textContent === "RUNNING";
  }, [target, before], { timeout: 15000 });
  const after = (await pidCell.textContent()).trim();
  console.log(`restart: ${target} pid ${before} -> ${after}`);

  // the exit timeline shows the restart (a "stopped" mark); the sparklines
  // fill in from the samples tend takes while the page looks (every 5 s)
  await page.waitForFunction((n) => {
    const svg = document.querySelector(`#programs tr[data-name="${n}"] svg.spark`);
    return svg && svg.querySelector("line.exit.stopped");
  }, target, { timeout: 15000 });
  await page.waitForFunction((n) => {
    const svg = document.querySelector(`#programs tr[data-name="${n}"] svg.spark`);
    return svg && svg.querySelector("polyline.cpu") && svg.querySelector("polyline.mem");
  }, names.split(",")[1], { timeout: 20000 });
  const samples = await page.locator(`#programs tr[data-name="${names.split(",")[1]}"] svg.spark`).getAttribute("data-samples");
  console.log(`history: ${target} exit mark shown; ${names.split(",")[1]} sparklines with ${samples} sample(s)`);

  // the system panel
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector("#sys-total").textContent), null, { timeout: 10000 });
  const total = await page.locator("#sys-total").textContent();
  const cpuItems = await page.locator("#top-cpu li").count();
  if (cpuItems < 1) fail("top CPU list is empty");
  console.log(`system: ${total} processes, ${cpuItems} in top CPU, zombies ${await page.locator("#sys-zombies").textContent()}`);

  // the log view follows the program's output
  await page.locator(`#programs tr[data-name="${target}"] td.name`).click();
  await page.waitForFunction(() => document.querySelector("#log").textContent.split("\n").length > 3, null, { timeout: 10000 });
  console.log("log: " + (await page.locator("#log").textContent()).split("\n").length + " lines shown");

  await page.screenshot({ path: shot, fullPage: true });
  console.log("screenshot: " + shot);

  // opened as http://user:pass@host/: the page builds its URLs from the origin
  // (fetch refuses URLs with credentials, which relative ones would inherit)
  if (user) {
    const plain = await browser.newContext();
    const p2 = await plain.newPage();
    p2.on("pageerror", (e) => problems.push(String(e)));
    const u = new URL(url);
    u.username = user; u.password = pass;
    await p2.goto(u.toString());
    await p2.waitForFunction((n) => {
      const b = document.querySelector(`#programs tr[data-name="${n}"] .badge`);
      return b && b.textContent === "RUNNING";
    }, target, { timeout: 10000 });
    console.log("credentials in the URL: programs listed");
    await plain.close();
  }
  if (problems.length) fail("console errors: " + problems.join(" | "));
  console.log("ok");
} catch (e) {
  if (!process.exitCode) { console.error("FAIL: " + e.message); process.exitCode = 1; }
} finally {
  await browser.close();
}
