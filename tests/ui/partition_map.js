// Loads serve's partition map page in Debian's headless chromium (driven by playwright-core),
// waits until it shows `expected` partitions, saves a screenshot and prints what the DOM shows
// as JSON: partitions per GPU and profile, free and stranded slices, pending claims. Then, if
// given, runs CHANGE_COMMAND (a shell command that changes the allocations) and waits, without
// reloading, until the page shows THEN_PARTITIONS partitions and no pending claim (it is live),
// and prints a second JSON line.
// Usage: node partition_map.js URL EXPECTED_PARTITIONS SCREENSHOT_PATH [CHANGE_COMMAND THEN_PARTITIONS]
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const [url, expected, screenshot, change, then] = process.argv.slice(2);
  const userDataDir = require("fs").mkdtempSync(require("os").tmpdir() + "/migdra-chromium-");
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    ignoreHTTPSErrors: true,  // serve's self-signed serving certificate
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await context.newPage();
    await page.goto(url);
    // A selector, not a predicate: the page's Content-Security-Policy forbids eval.
    await page.waitForSelector(`body[data-partitions="${expected}"]`, { state: "attached",
                                                                      timeout: 60000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    const facts = await page.evaluate(() => {
      const partitions = [...document.querySelectorAll(".partition")].map(p => ({
        gpu: Number(p.dataset.gpu), profile: p.dataset.profile, start: Number(p.dataset.start),
        size: Number(p.dataset.size), pod: p.dataset.pod, namespace: p.dataset.namespace,
        text: p.innerText }));
      const slices = state => [...document.querySelectorAll(".slice." + state)].map(s => ({
        gpu: Number(s.dataset.gpu), slice: Number(s.dataset.slice),
        background: getComputedStyle(s).backgroundImage + getComputedStyle(s).backgroundColor }));
      const pending = [...document.querySelectorAll("tr.pending")].map(r => ({
        claim: r.dataset.claim, pod: r.dataset.pod, text: r.innerText }));
      return { partitions, free: slices("free"), stranded: slices("stranded"), pending,
               status: document.getElementById("status").textContent,
               tokenInAddressBar: location.href.includes("token=") };
    });
    console.log(JSON.stringify(facts));
    if (change) {
      require("child_process").execSync(change, { stdio: "ignore" });
      await page.waitForSelector(`body[data-partitions="${then}"][data-pending="0"]`,
                                 { state: "attached", timeout: 60000 }).catch(async e => {
        const shown = await page.locator("body").getAttribute("data-partitions");
        const status = await page.locator("#status").textContent();
        throw new Error(`page shows ${shown} partitions (${status}): ${e.message}`);
      });
      console.log(JSON.stringify({
        partitions: await page.locator(".partition").count(),
        free: await page.locator(".slice.free").count(),
        stranded: await page.locator(".slice.stranded").count(),
        pending: await page.locator("tr.pending").count(),
        navigations: await page.evaluate(() => performance.getEntriesByType("navigation").length),
      }));
    }
  } finally {
    await context.close();
  }
}

main().catch(e => { console.error(e); process.exit(1); });
