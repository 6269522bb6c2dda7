// Drives the agents' inbox in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core): log in with an agent token, see the queued conversation, claim it, reply,
// label a text the bot was unsure about, resolve, and save a screenshot. Run by tests/tests/browser.rs, which prepares the app and
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
  // Anything the Content-Security-Policy blocks is reported to the console as an error
  // ("Refused to ... because it violates the following Content Security Policy directive").
  const blocked = (m) => m.type() === "error" && /Content Security Policy|Refused to/.test(m.text());
  page.on("console", (m) => {
    if (blocked(m)) errors.push("console: " + m.text());
  });
  const response = await page.goto(base + "/desk/");
  step("security headers");
  const headers = response.headers();
  const csp = headers["content-security-policy"] || "";
  for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
    if (!csp.includes(directive)) throw new Error("CSP lacks " + directive + ": " + csp);
  }
  if (/unsafe-inline|unsafe-eval/.test(csp)) throw new Error("CSP allows inline code: " + csp);
  if (headers["x-content-type-options"] !== "nosniff") throw new Error("no nosniff");
  if (headers["referrer-policy"] !== "no-referrer") throw new Error("no referrer policy");
  if (await page.locator("script:not([src])").count()) throw new Error("an inline script");

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

  step("the customer panel: notes, tags, and John's Messenger identity linked");
  await page.locator("#customer .past").first().waitFor();
  await page.fill("#customer-notes", "Prefers email. Order 10234 was late.");
  await page.fill("#customer-tags", "vip, late-delivery");
  await page.click("#customer-save");
  await page.waitForSelector("#customer:has-text('late-delivery')");
  await page.selectOption("#link-channel", "messenger");
  await page.fill("#link-id", "PSID-JOHN"); // John also wrote on Messenger (set up by browser.rs)
  await page.click("#customer-link button");
  await page.locator("#customer .past[data-channel='messenger']").waitFor();
  if (await page.locator("#customer .past").count() !== 2) throw new Error("both of John's conversations are listed");
  if (await page.inputValue("#customer-notes") !== "Prefers email. Order 10234 was late.") throw new Error("the notes stayed");

  step("reply");
  await page.fill("#reply-text", "Hi, this is Anna from the shop. Your parcel left our warehouse today.");
  await page.click("#send");
  await page.locator("#transcript .msg.agent", { hasText: "Your parcel left" }).waitFor();
  await page.locator("#kpis .kpi").first().waitFor();

  step("insert a saved reply with /");
  await page.fill("#reply-text", "/cont");
  const choice = page.locator("#saved-replies .saved-reply", { hasText: "/contact" });
  await choice.waitFor();
  await page.screenshot({ path: screenshot });
  await choice.click();
  const inserted = await page.inputValue("#reply-text");
  if (!inserted.includes("help@otthon.example")) throw new Error("the saved reply was not inserted with its facts: " + inserted);
  await page.click("#send");
  await page.locator("#transcript .msg.agent", { hasText: "help@otthon.example" }).waitFor();

  step("teach the bot");
  const unsure = page.locator("#learning .learn", { hasText: "blorp zindle quax" });
  await unsure.waitFor();
  await unsure.locator("select").selectOption("out_of_scope");
  await unsure.locator("button").click();
  await unsure.waitFor({ state: "detached" });

  step("resolve");
  await page.fill("#note", "tracking link sent");
  await page.click("#resolve");
  await page.waitForSelector("#conversation-meta:has-text('status bot')");
  await page.waitForSelector("#resolve:disabled");
  const shown = await page.locator("#error").textContent();
  if (shown) throw new Error("the page shows an error: " + shown);
  if (errors.length) throw new Error("script errors: " + errors.join("; "));

  step("the web chat page works under the same policy");
  const chat = await browser.newPage();
  chat.on("pageerror", (e) => errors.push(String(e)));
  chat.on("console", (m) => {
    if (blocked(m)) errors.push("chat console: " + m.text());
  });
  const chatResponse = await chat.goto(base + "/chat");
  if (!(chatResponse.headers()["content-security-policy"] || "").includes("script-src 'self'")) {
    throw new Error("the chat page has no CSP");
  }
  await chat.fill("#text", "How much does shipping cost?");
  await chat.click("form button");
  await chat.locator("#log .bot", { hasText: "Delivery within Hungary costs" }).waitFor();
  if (errors.length) throw new Error("script errors: " + errors.join("; "));
  console.log("ok: screenshot " + screenshot);
} catch (e) {
  console.error("browser test failed: " + (e && e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
