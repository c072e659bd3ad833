// Drives Debian's Chromium (headless, through playwright-core; no browser download) through
// shopd's storefront as a shopper does, and checks pages with axe-core. Started by
// tests/it/browser.rs, which runs the server and reads the mail; this script exits non-zero
// on the first failed expectation and prints one JSON line of facts for the Rust side.
//
//   node storefront.mjs <scenario> <base URL> <artifact dir> [key=value ...]
//
// Scenarios: purchase (search with a typo, variant, cart, discount code, checkout, declined
// card then a good one), staff (sign in to the admin, find the order, ship it with a tracking
// number), order (an order page opened from its mail's link), axe (accessibility of the given
// pages, signed in as `login` when given).

import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const [scenario, base, artifacts, ...rest] = process.argv.slice(2);
const args = Object.fromEntries(rest.map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
fs.mkdirSync(artifacts, { recursive: true });

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

let step = 0;
async function shot(page, name) {
  step += 1;
  const file = path.join(artifacts, `${scenario}-${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * Pages must not log errors (a CSP violation, a failed script) nor fail to load a resource
 * while we use them. A page's own status (402 for a declined card) is the page's business.
 */
function watchConsole(page, errors) {
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => {
    if (r.request().resourceType() !== "document" && r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    // A navigation cancels what the previous page was still loading; that is no failure.
    if (r.failure()?.errorText !== "net::ERR_ABORTED") errors.push(`failed ${r.url()}: ${r.failure()?.errorText}`);
  });
}

async function pay(page, card) {
  await page.fill("#f-card_number", card);
  await page.fill("#f-expiry", "12/34");
  await page.fill("#f-cvc", "123");
  await Promise.all([page.waitForLoadState("load"), page.click("#pay")]);
}

async function purchase(page) {
  const email = args.email;
  await page.goto(base + "/");
  await shot(page, "home");
  // A typo: "hodie" finds hoodies.
  await page.fill("#q", "hodie");
  await Promise.all([page.waitForURL(/\/search\?/), page.press("#q", "Enter")]);
  const first = page.locator(".grid .card a").first();
  expect(await first.count() === 1, "search with a typo found products");
  expect(/hoodie/i.test(await first.innerText()), "the first hit is a hoodie");
  await shot(page, "search");
  await Promise.all([page.waitForURL(/\/products\//), first.click()]);
  // The variant picker: price, availability and the address follow the selection.
  const picker = page.locator("#variant");
  expect(await picker.count() === 1, "the product has a variant picker");
  const options = await picker.locator("option:not([disabled])").all();
  expect(options.length >= 2, "two variants can be picked");
  const second = options[1];
  const value = await second.getAttribute("value");
  const price = await second.getAttribute("data-price");
  await picker.selectOption(value);
  expect((await page.locator("#price").innerText()).startsWith(price), "the price follows the variant");
  expect(page.url().includes(`variant=${value}`), "the address names the variant");
  await shot(page, "product");
  await Promise.all([page.waitForURL(/\/cart$/), page.click("#add-to-cart")]);
  expect(await page.locator("table.lines tbody tr").count() === 1, "one line in the cart");
  await page.fill("#f-code", "WELCOME10");
  await Promise.all([page.waitForLoadState("load"), page.click("form[action='/cart/discounts'] button")]);
  expect(await page.locator(".chip", { hasText: "WELCOME10" }).count() === 1, "the code is on the cart");
  expect((await page.locator(".totals").innerText()).includes("WELCOME10"), "the discount is in the summary");
  await shot(page, "cart");
  await Promise.all([page.waitForURL(/\/checkout$/), page.click("#checkout")]);
  await page.fill("#f-email", email);
  await page.fill("#f-name", "Gus Guest");
  await page.fill("#f-line1", "1 Main St");
  await page.fill("#f-city", "Springfield");
  await page.fill("#f-region", "IL");
  await page.fill("#f-postal_code", "62701");
  await page.fill("#f-country", "US");
  await Promise.all([page.waitForLoadState("load"), page.click("button[value=update]")]);
  expect(await page.locator("input[name=shipping_method]").count() >= 1, "shipping methods are offered");
  await shot(page, "checkout");
  await Promise.all([page.waitForURL(/\/pay$/), page.click("#place-order")]);
  await shot(page, "payment");
  if (args.decline === "1") {
    await pay(page, "4000 0000 0000 0002");
    expect((await page.locator("#pay-error").innerText()).includes("declined"), "the decline is shown");
    await shot(page, "declined");
  }
  await pay(page, "4242 4242 4242 4242");
  await page.waitForURL(/\/orders\/ord_[^/]+$/);
  expect(await page.locator("#order-status").getAttribute("data-status") === "paid", "the order is paid");
  await shot(page, "confirmation");
  return { order_id: await page.locator("#order-id").innerText(), order_url: page.url() };
}

async function signIn(page) {
  await page.goto(base + "/account/sign-in?next=/admin");
  await page.fill("#f-email", args.login);
  await page.fill("#f-password", args.password);
  await Promise.all([page.waitForURL(/\/admin$/), page.click("form[action='/account/sign-in'] button[type=submit]")]);
}

async function staff(page) {
  await signIn(page);
  await shot(page, "dashboard");
  await Promise.all([page.waitForURL(/\/admin\/orders$/), page.click("nav a[href='/admin/orders']")]);
  const link = page.locator(`a[href='/admin/orders/${args.order}']`);
  expect(await link.count() === 1, "the order is in the list");
  await shot(page, "orders");
  await Promise.all([page.waitForURL(/\/admin\/orders\/ord_/), link.click()]);
  await page.fill("#f-carrier", "UPS");
  await page.fill("#f-tracking", args.tracking);
  await shot(page, "order");
  await Promise.all([page.waitForURL(/done=fulfilled/), page.click("#fulfil")]);
  expect(await page.locator("#order-status").getAttribute("data-status") === "fulfilled", "the order is fulfilled");
  await shot(page, "fulfilled");
  return { status: "fulfilled" };
}

async function orderPage(page) {
  await page.goto(args.url);
  const status = await page.locator("#order-status").getAttribute("data-status");
  const tracking = await page.locator(".tracking").allInnerTexts();
  await shot(page, "order");
  return { status, tracking };
}

async function runAxe(page, label, report) {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) allows it.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  await shot(page, label.replace(/[^a-z0-9]+/gi, "_"));
  report.push({ path: label, violations: result });
}

async function axe(page) {
  const report = [];
  if (args.login) {
    await signIn(page);
  } else {
    // A line in the cart, so the cart and checkout pages show their forms.
    await page.goto(base + args.product);
    await Promise.all([page.waitForURL(/\/cart$/), page.click("#add-to-cart")]);
  }
  for (const p of args.paths.split(",")) {
    await page.goto(base + p);
    await runAxe(page, p, report);
  }
  if (!args.login) {
    // Forms as they look with their errors: each message tied to its field.
    await page.goto(base + "/checkout");
    await Promise.all([page.waitForLoadState("load"), page.click("#place-order")]);
    expect(await page.locator("[aria-invalid=true]").count() > 0, "checkout shows its field errors");
    await runAxe(page, "/checkout (errors)", report);
  }
  const bad = report.flatMap((r) => r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${r.path}: ${v.id} (${v.impact}, ${v.nodes} nodes): ${v.help}`));
  expect(bad.length === 0, "no serious or critical axe violations:\n" + bad.join("\n"));
  return { pages: report.length, minor: report.reduce((n, r) => n + r.violations.length, 0) };
}

const browser = await launch();
let code = 0;
let current = null;
try {
  // A phone-sized window, a new profile each run (no cookies from an earlier one).
  const context = await browser.newContext({ javaScriptEnabled: args.js !== "0", viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  current = page;
  const errors = [];
  watchConsole(page, errors);
  const facts = await { purchase, staff, order: orderPage, axe }[scenario](page);
  expect(errors.length === 0, "no console errors: " + errors.join(" | "));
  console.log(JSON.stringify({ ok: true, ...facts }));
} catch (e) {
  console.error(String(e && e.stack || e));
  if (current) {
    await shot(current, "failure").catch(() => {});
    const text = await current.locator("main").innerText().catch(() => "");
    console.error(`at ${current.url()}:\n${text.slice(0, 800)}`);
  }
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
