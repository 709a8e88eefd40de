// The dashboard over a read-only connection (TCP without credentials):
// every button is disabled and looks it; nothing fails in the console.
// usage: node readonly.mjs URL PROGRAM
import { chromium } from "playwright-core";

const [url, name] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await (await browser.newContext()).newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(url);
  await page.waitForFunction((n) => {
    const b = document.querySelector(`#programs tr[data-name="${n}"] .badge`);
    return b && b.textContent === "RUNNING" && document.body.classList.contains("readonly");
  }, name, { timeout: 10000 });
  const buttons = await page.locator("#programs button").count();
  const enabled = await page.locator("#programs button:not([disabled])").count();
  const opacity = await page.locator("#programs button.restart").first().evaluate((b) => getComputedStyle(b).opacity);
  console.log(`read-only: ${buttons} buttons, ${enabled} enabled, opacity ${opacity}`);
  if (buttons < 3 || enabled !== 0 || Number(opacity) > 0.5) throw new Error("buttons look active");
  if (problems.length) throw new Error("page errors: " + problems.join(" | "));
  console.log("ok");
} catch (e) {
  console.error("FAIL: " + e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
