// Drives the agents' inbox in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core): log in with an agent token, see the queued conversation, claim it, reply,
// resolve, and save a screenshot. Run by tests/tests/browser.rs, which prepares the app and
// checks what reached the fake Graph API.
//
//   node tests/browser/inbox.mjs <base-url> <agent-token> <customer-name> <screenshot.png>
import { chromium } from "playwright-core";

const [base, token, customer, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: inbox.mjs <base-url> <agent-token> <customer-name> <screenshot.png>");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
const step = (name) => console.log("step: " + name);
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/desk/");

  step("log in");
  await page.fill("#token", token);
  await page.click("#login-button");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForSelector("#who:has-text('Signed in as')");

  step("see the queued conversation");
  const item = page.locator("#queue .item", { hasText: customer });
  await item.waitFor();
  await item.click();
  await page.waitForSelector("#transcript .msg");

  step("claim it");
  await page.click("#claim");
  await page.waitForSelector("#claim:has-text('Yours')");
  await page.locator("#claimed .item", { hasText: customer }).waitFor();

  step("reply");
  await page.fill("#reply-text", "Hi, this is Anna from the shop. Your parcel left our warehouse today.");
  await page.click("#send");
  await page.locator("#transcript .msg.agent", { hasText: "Your parcel left" }).waitFor();
  await page.locator("#kpis .kpi").first().waitFor();
  await page.screenshot({ path: screenshot });

  step("resolve");
  await page.fill("#note", "tracking link sent");
  await page.click("#resolve");
  await page.waitForSelector("#conversation-meta:has-text('status bot')");
  await page.waitForSelector("#resolve:disabled");
  const shown = await page.locator("#error").textContent();
  if (shown) throw new Error("the page shows an error: " + shown);
  if (errors.length) throw new Error("script errors: " + errors.join("; "));
  console.log("ok: screenshot " + screenshot);
} catch (e) {
  console.error("browser test failed: " + (e && e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
