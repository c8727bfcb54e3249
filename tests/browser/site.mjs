// The governance site in a real browser: Debian's Chromium, headless, driven by
// playwright-core. Loads the overview, an interface page and the matrix from file://,
// checks the key content in the DOM, follows a link from the dependency graph, and saves
// a screenshot of each page. Usage: node site.mjs SITE_DIR SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [siteDir, shotDir] = process.argv.slice(2).map((p) => resolve(p));
if (!siteDir || !shotDir) {
  console.error("usage: node site.mjs SITE_DIR SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shotDir, { recursive: true });
const url = (rel) => pathToFileURL(`${siteDir}/${rel}`).href;

const failures = [];
const check = (what, ok) => {
  console.log(`${ok ? "ok" : "FAILED"} ${what}`);
  if (!ok) failures.push(what);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const requests = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("file:")) requests.push(r.url());
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // The overview.
  await page.goto(url("index.html"));
  check("overview title names the estate", (await page.title()).includes("Lothian TrakCare laboratory estate"));
  check("the stylesheet applies (header is dark)",
    (await page.locator("header").evaluate((h) => getComputedStyle(h).backgroundColor)) === "rgb(29, 53, 87)");
  check("the dependency graph draws five systems", (await page.locator("svg.graph g.node").count()) === 5);
  check("the graph draws one arrow per interface", (await page.locator("svg.graph path.edge").count()) === 12);
  const due = page.locator("#reviews tbody tr");
  check("one review is due", (await due.count()) === 1 && (await due.first().innerText()).includes("adt_to_pharmacy"));
  await page.screenshot({ path: `${shotDir}/overview.png`, fullPage: true });

  // A link in the graph leads to the interface's page.
  await page.locator("svg.graph a", { hasText: "adt_to_lims" }).first().click();
  await page.waitForLoadState();
  check("the graph's label opens the interface page", page.url().endsWith("/interface/adt_to_lims.html"));
  check("the interface page's heading", (await page.locator("h1").innerText()).startsWith("adt_to_lims"));
  const replies = await page.locator("#acks ul.replies").first().innerText();
  check("reply handling in plain English",
    replies.includes("An AE reply is retried 5 times, 2 s to 5 min apart, then dead-lettered"));
  check("the mapping table lists the sex code map",
    (await page.locator("table.mapping a", { hasText: "trakcare_sex" }).count()) >= 1);
  check("the example message is shown", (await page.locator("pre.hl7").first().innerText()).startsWith("MSH|^~\\&|"));
  await page.screenshot({ path: `${shotDir}/interface-adt_to_lims.png`, fullPage: true });

  // The matrix.
  await page.goto(url("matrix.html"));
  const patient = page.locator("section#Patient table.matrix");
  check("the matrix has a row per Patient field", (await patient.locator("tbody tr").count()) === 11);
  const nhs = patient.locator("tbody tr", { hasText: "nhs_number" });
  check("the MPI owns the NHS number", (await nhs.locator("td.owner").innerText()) === "owner");
  check("an unowned field is highlighted",
    (await patient.locator("tbody tr.unowned", { hasText: "postcode" }).count()) === 1);
  await page.screenshot({ path: `${shotDir}/matrix.png`, fullPage: true });

  check(`no request left file:// (${requests.join(", ")})`, requests.length === 0);
  check(`no script errors (${errors.join("; ")})`, errors.length === 0);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
