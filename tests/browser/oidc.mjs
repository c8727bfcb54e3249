// Signing in to the operations console through a real OpenID Connect provider
// (node-oidc-provider, started by the test on `localhost`, a different site from the
// console's 127.0.0.1), in Debian's Chromium through playwright-core. olivia signs in and
// is an operator; vera is a viewer and sees no Resend button; mallory, whom the provider
// knows without a console group, is refused; ada, whose name is a local operator's, is
// refused; the provider's answer replayed with its state cookie is refused. Saves
// screenshots of the login page and the provider's page.
// Usage: node oidc.mjs CONSOLE_BASE_URL PROVIDER_BASE_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

const [base, idp, shots] = process.argv.slice(2);
if (!base || !idp || !shots) {
  console.error("usage: node oidc.mjs CONSOLE_BASE_URL PROVIDER_BASE_URL SCREENSHOT_DIR");
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

// Signs `name` in through the provider; the page where the console leaves the browser,
// and the provider's answer (the callback URL) as the browser was sent to it.
async function signIn(name, shoot) {
  const context = await browser.newContext();
  const page = await context.newPage({ viewport: { width: 1200, height: 800 } });
  let answer = null;
  page.on("request", (r) => { if (r.url().startsWith(`${base}/console/oidc/callback`)) answer = r.url(); });
  await page.goto(`${base}/console/`);
  check(`${name}: the console asks for a login`, page.url().endsWith("/console/login"));
  const button = page.getByRole("link", { name: "Sign in with Hospital login" });
  check(`${name}: the login page offers the provider`, (await button.count()) === 1);
  if (shoot) await page.screenshot({ path: `${shotDir}/login-sso.png`, fullPage: true });
  await button.click();
  await page.waitForLoadState();
  check(`${name}: the browser is at the provider`, page.url().startsWith(idp));
  await page.locator("input[name=login]").fill(name);
  await page.locator("input[name=password]").fill("any password the provider accepts");
  if (shoot) await page.screenshot({ path: `${shotDir}/provider-login.png`, fullPage: true });
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.waitForLoadState();
  // The provider asks once for consent to share the profile and groups.
  const consent = page.getByRole("button", { name: "Continue" });
  if (page.url().startsWith(idp) && (await consent.count()) === 1) {
    await consent.click();
  }
  await page.waitForURL((u) => u.href.startsWith(base), { timeout: 15000 });
  await page.waitForLoadState();
  // The console's page moves on to the dashboard by itself.
  if (page.url().includes("/console/oidc/callback")) {
    await page.waitForURL((u) => !u.href.includes("/console/oidc/callback"), { timeout: 5000 }).catch(() => {});
  }
  return { context, page, answer };
}

try {
  const olivia = await signIn("olivia", true);
  const o = olivia.page;
  check("olivia: signed in, on the dashboard", (await o.locator("h1").innerText()) === "Interfaces");
  check("olivia: an operator", (await o.locator(".who").innerText()).includes("olivia (operator)"));
  await o.screenshot({ path: `${shotDir}/signed-in.png`, fullPage: true });
  await o.getByRole("link", { name: "Dead letters", exact: true }).click();
  await o.waitForLoadState();
  check("olivia: sees the Resend button", (await o.getByRole("button", { name: "Resend" }).count()) >= 1);
  // The provider's answer again, with its state cookie put back: a code and state are
  // good once.
  check("olivia: the provider's answer was seen", olivia.answer !== null);
  const state = new URL(olivia.answer).searchParams.get("state");
  const replay = await browser.newContext();
  await replay.addCookies([{ name: "accord_oidc", value: state, url: `${base}/console/oidc/callback` }]);
  const r = await replay.newPage();
  const again = await r.goto(olivia.answer);
  check("a replayed answer is refused (401)", again.status() === 401);
  check("a replayed answer is refused as used", (await r.locator("p.error").innerText()).includes("already used"));
  check("a replayed answer opens no session", r.url().includes("/console/oidc/callback") && (await r.locator(".who").count()) === 0);
  await replay.close();

  const vera = await signIn("vera", false);
  check("vera: a viewer", (await vera.page.locator(".who").innerText()).includes("vera (viewer)"));
  await vera.page.getByRole("link", { name: "Dead letters", exact: true }).click();
  await vera.page.waitForLoadState();
  check("vera: sees no Resend button", (await vera.page.getByRole("button", { name: "Resend" }).count()) === 0);

  const mallory = await signIn("mallory", false);
  const refusal = await mallory.page.locator("p.error").innerText();
  check("mallory: refused, no console role", refusal.includes("no console role"));
  check("mallory: no session", (await mallory.page.locator(".who").count()) === 0);
  await mallory.page.screenshot({ path: `${shotDir}/sso-refused.png`, fullPage: true });

  const ada = await signIn("ada", false);
  check("ada through the provider: refused, a local operator's name",
    (await ada.page.locator("p.error").innerText()).includes("local operator"));
} catch (e) {
  check(`the sign-in run: ${e}`, false);
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`FAILED: ${failures.length} check(s)`);
  process.exit(1);
}
