// Drives board pages in headless Chromium (Debian's /usr/bin/chromium through playwright-core).
//
// usage: node board.mjs '<json spec>'
//   spec: {"pages": {"a": URL, "b": URL, …}, "ready": EXPR, "steps": [step, …]}
//   Each page opens in its own browser context (as separate people would) at 1280×800 and is
//   ready once EXPR is true (default `window.board?.connected()`, the board page; a transcode
//   deck passes its own). Steps run in order, each on `page`:
//     {"page": "a", "do": "drag", "points": [[x, y], …]}   mouse down/move/up; x, y in 0..1 of the canvas
//     {"page": "a", "do": "click", "selector": "#mark"}
//     {"page": "a", "do": "select", "selector": "#page", "value": "#DEFAULT"}
//     {"page": "a", "do": "prompt", "text": "Hello"}   the answer to the page's next prompt()
//     {"page": "b", "do": "wait", "expr": "board.elementCount() === 1"}   until true (10 s)
//     {"page": "b", "do": "eval", "expr": "board.elementIds()"}           its value goes to results
//     {"page": "a", "do": "screenshot", "path": "/tmp/board.png"}
// Prints one JSON line: {"results": [value of each eval], "errors": [uncaught page errors]}.
// A failing step exits non-zero with the reason on stderr.
import { chromium } from "playwright-core";

const TIMEOUT_MS = 10_000;
const spec = JSON.parse(process.argv[2] ?? "{}");

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  // Playwright adds its own --headless; ours are what a sandboxed CI container needs and stop
  // Chromium from phoning home.
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const errors = [];
const results = [];
const answers = {}; // page name -> queued prompt() answers
try {
  const pages = {};
  for (const [name, url] of Object.entries(spec.pages ?? {})) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on("pageerror", e => errors.push(`${name}: ${e.message}`));
    answers[name] = [];
    page.on("dialog", dialog => dialog.accept(answers[name].shift() ?? ""));
    await page.goto(url);
    await page.waitForFunction(spec.ready ?? "window.board?.connected()");
    pages[name] = page;
  }
  for (const step of spec.steps ?? []) {
    const page = pages[step.page];
    if (!page) throw new Error(`step ${JSON.stringify(step)}: no page ${step.page}`);
    if (step.do === "drag") {
      const box = await page.locator("#board").boundingBox();
      const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
      const [first, ...rest] = step.points.map(at);
      await page.mouse.move(...first);
      await page.mouse.down();
      for (const p of rest) await page.mouse.move(...p, { steps: 5 });
      await page.mouse.up();
    } else if (step.do === "click") {
      await page.click(step.selector);
    } else if (step.do === "select") {
      await page.selectOption(step.selector, step.value);
    } else if (step.do === "prompt") {
      answers[step.page].push(step.text);
    } else if (step.do === "wait") {
      await page.waitForFunction(step.expr);
    } else if (step.do === "eval") {
      results.push(await page.evaluate(step.expr));
    } else if (step.do === "screenshot") {
      await page.screenshot({ path: step.path });
    } else {
      throw new Error(`unknown step ${JSON.stringify(step)}`);
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ results, errors }));
