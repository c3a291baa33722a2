// Loads serve's partition map page in Debian's headless chromium (driven by playwright-core),
// waits until it shows `expected` partitions, saves a screenshot and prints what the DOM shows
// as JSON: partitions per GPU and profile, free and stranded slices, pending claims.
// Usage: node partition_map.js URL EXPECTED_PARTITIONS SCREENSHOT_PATH
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const [url, expected, screenshot] = process.argv.slice(2);
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
  } finally {
    await context.close();
  }
}

main().catch(e => { console.error(e); process.exit(1); });
