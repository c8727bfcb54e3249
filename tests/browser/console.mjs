// The operations console in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against a running production's admin listener. A viewer logs in, sees
// the dead letter masked and without buttons, and is refused a resend the server checks;
// an operator finds the message, reads its lineage, is refused a form without its CSRF
// token, edits the message, sees the edit as a diff and resends it with a reason; an admin
// counts a replay with a dry run. Saves a screenshot of each page.
// Usage: node console.mjs BASE_URL SCREENSHOT_DIR VIEWER:PASSWORD OPERATOR:PASSWORD ADMIN:PASSWORD CONTROL_ID
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

const [base, shots, viewer, operator, admin, control] = process.argv.slice(2);
if (!base || !shots || !viewer || !operator || !admin || !control) {
  console.error("usage: node console.mjs BASE_URL SCREENSHOT_DIR VIEWER:PASSWORD OPERATOR:PASSWORD ADMIN:PASSWORD CONTROL_ID");
  process.exit(2);
}
const shotDir = resolve(shots);
mkdirSync(shotDir, { recursive: true });

const failures = [];
const check = (what, ok) => {
  console.log(`${ok ? "ok" : "FAILED"} ${what}`);
  if (!ok) failures.push(what);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

async function login(context, who) {
  const [name, password] = who.split(":");
  const page = await context.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${base}/console/`);
  check(`${name}: the console asks for a login`, page.url().endsWith("/console/login"));
  await page.getByLabel("Operator").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForLoadState();
  check(`${name}: logged in, on the dashboard`, (await page.locator("h1").innerText()) === "Interfaces");
  return page;
}

try {
  const outside = [];
  // The viewer.
  const vctx = await browser.newContext();
  vctx.on("request", (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  const v = await login(vctx, viewer);
  check("the dashboard lists adt_to_lims", (await v.locator("td", { hasText: "adt_to_lims" }).count()) > 0);
  await v.screenshot({ path: `${shotDir}/dashboard.png`, fullPage: true });
  await v.getByRole("link", { name: "Dead letters", exact: true }).click();
  await v.waitForLoadState();
  check("a viewer sees no Resend button", (await v.getByRole("button", { name: "Resend" }).count()) === 0);
  await v.locator("tbody a").first().click();
  await v.waitForLoadState();
  const masked = await v.locator("main").innerText();
  check("a viewer sees the patient's name masked", !masked.includes("EVERYWOMAN") && masked.includes("••••"));
  await v.screenshot({ path: `${shotDir}/message-viewer.png`, fullPage: true });
  const deadUrl = v.url();
  const csrf = await v.locator("input[name=csrf]").first().inputValue();
  const refused = await v.request.post(`${deadUrl}/resend`, { form: { csrf, reason: "trying" } });
  check("the server refuses a viewer's resend (403)", refused.status() === 403);

  // The operator.
  const octx = await browser.newContext();
  octx.on("request", (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  const o = await login(octx, operator);
  await o.getByRole("link", { name: "Messages", exact: true }).click();
  await o.getByLabel("Control id").fill(control);
  await o.getByRole("button", { name: "Search" }).click();
  await o.waitForLoadState();
  check("the search finds the message by control id", (await o.locator("tbody tr").count()) >= 1);
  await o.screenshot({ path: `${shotDir}/search.png`, fullPage: true });
  await o.goto(deadUrl);
  const lineage = o.locator("h2", { hasText: "Lineage" });
  check("the operator's viewer shows the lineage", (await lineage.count()) === 1);
  const pid5 = o.locator("tr", { has: o.locator("td code", { hasText: /^PID-5\.1$/ }) }).first();
  check("PID-5.1 came from the received PID-5 through family_name",
    (await pid5.innerText()).includes("family_name") && (await pid5.innerText()).includes("EVERYWOMAN"));
  await o.screenshot({ path: `${shotDir}/lineage.png`, fullPage: true });
  const side = o.locator("div.side section");
  check("the viewer shows the delivery beside the message it was made from",
    (await side.count()) === 2 && (await side.nth(0).innerText()).includes("Received on")
      && (await side.nth(1).innerText()).includes("This message"));
  await side.first().scrollIntoViewIfNeeded();
  await o.screenshot({ path: `${shotDir}/side-by-side.png` });
  const noToken = await o.request.post(`${deadUrl}/resend`, { form: { reason: "no token" } });
  check("a form without its CSRF token is refused (403)", noToken.status() === 403);
  // Edit and resend: the family name corrected, the edit shown as a diff, then sent.
  await o.getByText("Edit and resend").click();
  const box = o.locator("textarea[name=message]");
  await box.fill((await box.inputValue()).replace("EVERYWOMAN", "EDITWOMAN"));
  await o.locator("details").getByLabel("Reason").fill("ward corrected the spelling");
  await o.getByRole("button", { name: "Show the edit" }).click();
  await o.waitForLoadState();
  check("the edit is shown as a diff", (await o.locator("del").innerText()).includes("EVERYWOMAN")
    && (await o.locator("ins").innerText()).includes("EDITWOMAN"));
  await o.screenshot({ path: `${shotDir}/edit.png`, fullPage: true });
  await o.getByRole("button", { name: "Resend the edited message" }).click();
  await o.waitForLoadState();
  check("the edited message is queued", (await o.locator("p.flash").innerText()).includes("queued on adt_to_lims"));
  await o.screenshot({ path: `${shotDir}/resent.png`, fullPage: true });
  await o.goto(`${deadUrl.replace(/\/messages\/(\d+)$/, "/trace/$1")}`);
  check("the trace lists every hop", (await o.locator("main ol > li").count()) >= 2);
  await o.screenshot({ path: `${shotDir}/trace.png`, fullPage: true });
  await o.goto(`${base}/console/`);
  await o.getByRole("link", { name: "adt_to_lims", exact: true }).click();
  await o.waitForLoadState();
  check("the interface page charts its traffic", (await o.locator("svg.chart rect").count()) >= 1);
  await o.screenshot({ path: `${shotDir}/interface.png`, fullPage: true });

  // The admin counts a replay before confirming it.
  const actx = await browser.newContext();
  actx.on("request", (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  const a = await login(actx, admin);
  await a.getByRole("link", { name: "Replay", exact: true }).click();
  await a.getByLabel("Interface").selectOption("adt_to_lims");
  await a.getByLabel("Reason").fill("the lab lost a day");
  await a.getByRole("button", { name: "Count (dry run)" }).click();
  await a.waitForLoadState();
  check("the dry run counts before anything is replayed",
    (await a.locator("p.flash").innerText()).startsWith("would replay"));
  await a.screenshot({ path: `${shotDir}/replay.png`, fullPage: true });
  check("nothing was fetched from outside the production", outside.length === 0);
} catch (e) {
  check(`the console run: ${e}`, false);
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`FAILED: ${failures.length} check(s)`);
  process.exit(1);
}
