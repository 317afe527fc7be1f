// Loads every page of the built book in headless Chromium, as a reader
// would, and fails on what a reader would meet:
//
// - a console error or an uncaught exception;
// - a request that fails (a missing stylesheet, script, font or image);
// - an image that does not load;
// - a page that scrolls sideways on a phone (390 px wide): code blocks and
//   tables may scroll inside themselves, the page may not;
// - a serious or critical accessibility violation (axe-core), in the light
//   theme, and for contrast in every theme;
// - a missing page that does not get the book's 404 page, styled.
//
// The book is served the way GitHub Pages serves a project site: under a
// sub-path (`--base /socket-book/`), with 404.html for a missing page. Run it
// through `cargo xtask check` (or `cargo xtask browser-check`), which builds
// the book for that sub-path first.
//
// The build it checks names a repository (output.html.git-repository-url),
// as the published book does: every "Filename:" above a listing must then
// link to a file that exists in this repository (`--repo`).
//
//   node check.mjs --book DIR --base /socket-book/ --repo DIR --chromium PATH

import { createServer } from "node:http";
import { access, readFile, readdir } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, index, all) => {
    if (arg.startsWith("--")) pairs.push([arg.slice(2), all[index + 1]]);
    return pairs;
  }, []),
);
const bookDir = args.book;
const base = args.base ?? "/";
const browserPath = args.chromium ?? "/usr/bin/chromium";
const repoDir = args.repo;
if (!bookDir) {
  console.error("usage: node check.mjs --book DIR [--base /path/] [--chromium PATH]");
  process.exit(2);
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
  ".js": "text/javascript",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".json": "application/json",
  ".php": "text/plain; charset=utf-8",
};

// A static server with GitHub Pages' rules: the book lives under `base`,
// `dir/` serves `dir/index.html`, and anything missing gets 404.html.
const server = createServer(async (request, response) => {
  const url = new URL(request.url, "http://localhost");
  let path = decodeURIComponent(url.pathname);
  if (!path.startsWith(base)) return notFound(response);
  path = path.slice(base.length);
  if (path === "" || path.endsWith("/")) path += "index.html";
  const file = normalize(join(bookDir, path));
  if (!file.startsWith(normalize(bookDir))) return notFound(response);
  try {
    const body = await readFile(file);
    response.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
    });
    response.end(body);
  } catch {
    notFound(response);
  }
});

async function notFound(response) {
  const page = await readFile(join(bookDir, "404.html")).catch(() => "");
  response.writeHead(404, { "content-type": TYPES[".html"] });
  response.end(page);
}

await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

// Every page a reader opens (toc.html is only the sidebar's frame for
// browsers without JavaScript; 404.html is checked as a missing page below).
const pages = (await readdir(bookDir, { recursive: true }))
  .filter((name) => name.endsWith(".html") && !["404.html", "toc.html"].includes(name))
  .sort();
// The print page holds the whole book: it is checked for errors, but the
// slow audits run on the pages themselves. The dark themes' contrast is
// audited on pages that have every kind of element the book styles.
const AUDITED_THEMES_ON = [
  "introduction.html",
  "about-the-original.html",
  "ch02-the-socket-api-from-php-to-rust.html",
  "ch05-multiplexing-with-select.html",
  "ch05-exercises.html",
];

const browser = await chromium.launch({
  executablePath: browserPath,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});

const problems = [];
const THEMES = ["light", "rust", "coal", "navy", "ayu"];

// Opens `path` in a fresh page of the given width and collects what went
// wrong while it loaded. `expectStatus` is the status the document should
// have (404 for the missing-page check).
async function visit(path, width, height, expectStatus = 200) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const seen = [];
  page.on("console", (message) => {
    // The missing page's own 404 is expected; Chromium logs it as an error.
    const expected = expectStatus === 404 && message.text().includes("404 (Not Found)");
    if (message.type() === "error" && !expected) seen.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => seen.push(`uncaught: ${error.message}`));
  page.on("requestfailed", (request) => {
    // A request cut short because the test reloaded the page is not a fault.
    const why = request.failure()?.errorText ?? "";
    if (why !== "net::ERR_ABORTED") seen.push(`request failed: ${request.url()} (${why})`);
  });
  page.on("response", (response) => {
    const isDocument = response.request().resourceType() === "document";
    const status = response.status();
    if (isDocument ? status !== expectStatus : status >= 400) {
      seen.push(`HTTP ${status}: ${response.url()}`);
    }
  });
  await page.goto(`${origin}${base}${path}`, { waitUntil: "load" });
  return { context, page, seen };
}

async function brokenImages(page) {
  return page.evaluate(() =>
    [...document.images]
      .filter((image) => !image.complete || image.naturalWidth === 0)
      .map((image) => image.getAttribute("src")),
  );
}

async function axe(page, options) {
  await page.addScriptTag({ content: AXE_SOURCE });
  return page.evaluate(async (options) => {
    const result = await window.axe.run(document, options);
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({
        id: v.id,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
      }));
  }, options);
}

// Switches theme as the reader's theme menu does: mdBook keeps the choice
// in localStorage and applies it (CSS variables and the code highlighting's
// stylesheet) when a page loads.
async function setTheme(page, theme) {
  await page.evaluate((theme) => localStorage.setItem("mdbook-theme", theme), theme);
  await page.reload({ waitUntil: "load" });
}

async function checkPage(name) {
  // A desktop screen: errors, failed requests, images, accessibility.
  {
    const { context, page, seen } = await visit(name, 1366, 900);
    for (const src of await brokenImages(page)) seen.push(`image does not load: ${src}`);
    // Each listing's filename links to the whole file in the repository.
    const files = await page.evaluate(() =>
      [...document.querySelectorAll(".filename")].map((label) => ({
        text: label.textContent,
        href: label.querySelector("a")?.getAttribute("href") ?? null,
      })),
    );
    for (const { text, href } of files) {
      const path = href?.split("/blob/main/")[1];
      if (!path) {
        seen.push(`"${text}" does not link to the file`);
      } else if (repoDir && !(await access(join(repoDir, path)).then(() => true, () => false))) {
        seen.push(`"${text}" links to ${path}, which is not in the repository`);
      }
    }
    if (name !== "print.html") {
      for (const v of await axe(page, { resultTypes: ["violations"] })) {
        seen.push(`accessibility (${v.id}): ${v.help} at ${v.nodes.join(", ")}`);
      }
    }
    if (AUDITED_THEMES_ON.includes(name)) {
      for (const theme of THEMES.slice(1)) {
        await setTheme(page, theme);
        const contrast = await axe(page, { runOnly: ["color-contrast"] });
        for (const v of contrast) {
          seen.push(`contrast in the ${theme} theme: ${v.help} at ${v.nodes.join(", ")}`);
        }
      }
    }
    problems.push(...seen.map((problem) => `${name} (1366 px): ${problem}`));
    await context.close();
  }
  // A phone: the page itself must not scroll sideways.
  {
    const { context, page, seen } = await visit(name, 390, 844);
    const overflow = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const wide = document.documentElement.scrollWidth;
      if (wide <= width) return null;
      // Name the widest element that sticks out, to say what to fix.
      let culprit = null;
      for (const element of document.querySelectorAll("main *")) {
        const right = element.getBoundingClientRect().right;
        if (right > width + 1 && (!culprit || right > culprit.right)) {
          culprit = { right, tag: element.tagName.toLowerCase(), text: element.textContent.slice(0, 60) };
        }
      }
      return { width, wide, culprit };
    });
    if (overflow) {
      const what = overflow.culprit
        ? ` (widest: <${overflow.culprit.tag}> "${overflow.culprit.text.trim()}")`
        : "";
      seen.push(`scrolls sideways: ${overflow.wide} px wide in ${overflow.width} px${what}`);
    }
    problems.push(...seen.map((problem) => `${name} (390 px): ${problem}`));
    await context.close();
  }
}

// Two pages at a time: Chromium renders one while the other is audited.
const queue = [...pages];
await Promise.all(
  [0, 1].map(async () => {
    while (queue.length > 0) await checkPage(queue.shift());
  }),
);

// A missing page, as a reader who followed a stale link meets it: the 404
// page, with its styles and scripts, under the sub-path.
{
  const { context, page, seen } = await visit("no/such/page.html", 1366, 900, 404);
  const styled = await page.evaluate(
    () => getComputedStyle(document.documentElement).getPropertyValue("--bg").trim() !== "",
  );
  if (!styled) seen.push("the 404 page loaded without the book's styles");
  const heading = await page.evaluate(() => document.querySelector("main h1")?.textContent ?? "");
  if (!/not found|404/i.test(heading)) seen.push(`the 404 page's heading is ${JSON.stringify(heading)}`);
  problems.push(...seen.map((problem) => `a missing page: ${problem}`));
  await context.close();
}

await browser.close();
server.close();

console.log(
  `browser check: ${pages.length} pages at 1366 and 390 px, ` +
    `${AUDITED_THEMES_ON.length} of them in five themes, and a missing page`,
);
if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(`${problems.length} problems`);
  process.exit(1);
}
console.log("no problems");
