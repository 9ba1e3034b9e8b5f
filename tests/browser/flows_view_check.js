// Drives Debian's chromium over a viewer written by recipes/flows.lua --html and checks it
// against the recipe's JSON files (tests/cli/flows_html.sh runs it):
//   node flows_view_check.js VIEW.html JSON_AT_TAU JSON_AT_TAU2 TAU2 SCREENSHOT.png PROFILE_DIR
// Prints one line per check, "N passed, M failed" last; exit 1 on any failure.
"use strict";
const fs = require("fs");
const { chromium } = require("playwright-core");

const [html, json1, json2, tau2, shot, profile] = process.argv.slice(2);
let pass = 0, fail = 0;
function check(name, cond, detail) {
  if (cond) pass++; else { fail++; console.log("FAIL " + name + (detail ? ": " + detail : "")); }
}
const models = (j) => (j.a ? { a: j.a, b: j.b } : { a: j });

// What the page should highlight when (layer, pos) is clicked, from the JSON's edges:
// downwards through edges whose `from` is reached, upwards through those whose `to` is.
function expectedTrace(j, layer, pos) {
  const out = new Set([layer + ":" + pos]);
  for (const g of Object.values(models(j))) {
    let front = new Set([pos]);
    for (let l = layer - 1; l >= 0 && front.size; l--) {
      const next = new Set();
      for (const e of g.edges) if (e[0] === l && front.has(e[1])) next.add(e[2]);
      next.forEach((t) => out.add(l + ":" + t));
      front = next;
    }
    front = new Set([pos]);
    for (let l = layer; l < j.num_layers + 0 && front.size; l++) {
      const up = new Set();
      for (const e of g.edges) if (e[0] === l && front.has(e[2])) up.add(e[1]);
      up.forEach((t) => out.add((l + 1) + ":" + t));
      front = up;
    }
  }
  return out;
}
// The graph's edge count with head `head` of attention layer `layer` switched off, rebuilt
// from the JSON's edges (a head switched off only removes edges, and what they reached).
function withoutHead(g, L, layer, head) {
  const reached = new Set(g.target.map((t) => L + ":" + t));
  let n = 0;
  for (let l = L - 1; l >= 0; l--) {
    for (const e of g.edges) {
      if (e[0] !== l || !reached.has((l + 1) + ":" + e[1])) continue;
      const heads = e[3].filter((h) => !(l === layer && h === head));
      if (heads.length) { n++; reached.add(l + ":" + e[2]); }
    }
  }
  return n;
}
function edgeKeys(j) {
  const k = new Set();
  for (const g of Object.values(models(j))) for (const e of g.edges) k.add(e[0] + ":" + e[1] + ":" + e[2]);
  return k.size;
}

(async () => {
  const j1 = JSON.parse(fs.readFileSync(json1, "utf8")), j2 = JSON.parse(fs.readFileSync(json2, "utf8"));
  const L = (j1.a || j1).num_layers;
  j1.num_layers = j2.num_layers = L;
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(10000);
    const errors = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    const requests = [];
    page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
    await page.goto("file://" + fs.realpathSync(html));
    await page.waitForSelector("#radial .tok");
    check("console errors", errors.length === 0, errors.join(" | "));
    check("network requests", requests.length === 0, requests.join(" "));

    // the counts at the recipe's tau, per model
    const count = async (m) => +(await page.getAttribute("#edge-count", "data-edges-" + m));
    for (const [m, g] of Object.entries(models(j1))) {
      if (g) check("edges of " + m + " at tau", (await count(m)) === g.edges.length,
        (await count(m)) + " vs the JSON's " + g.edges.length);
    }
    check("paths drawn", (await page.locator("#radial path.edge").count()) === edgeKeys(j1));

    // click a token on a ring with something on both sides: the highlighted set is its trace
    const g1 = models(j1).a;
    let layer = 1, pos = g1.nodes[1][0];
    for (let l = 1; l < L; l++) if (g1.nodes[l].length) { layer = l; pos = g1.nodes[l][g1.nodes[l].length - 1]; break; }
    const before = await page.locator("#radial .tok.hl").count();
    await page.click(`#radial .tok[data-layer="${layer}"][data-pos="${pos}"] circle`, { timeout: 5000 });
    const got = new Set(await page.$$eval("#radial .tok.hl", (els) =>
      els.map((e) => e.getAttribute("data-layer") + ":" + e.getAttribute("data-pos"))));
    const want = expectedTrace(j1, layer, pos);
    check("nothing highlighted before the click", before === 0, String(before));
    check("highlighted after the click", got.size === want.size && [...want].every((x) => got.has(x)),
      "page [" + [...got].sort() + "] vs JSON [" + [...want].sort() + "]");
    // the clicked token's head glyph: one square per head, the used ones with their weight
    const glyph = await page.$$eval(`#radial .tok[data-layer="${layer}"][data-pos="${pos}"] rect.hg`,
      (els) => els.map((e) => e.querySelector("title").textContent));
    const heads = (j1.a || j1).num_heads;
    const usedHeads = new Set();
    for (const g of Object.values(models(j1))) {
      if (g) for (const e of g.edges) if (e[0] === layer - 1 && e[1] === pos) e[3].forEach((h) => usedHeads.add(h));
    }
    check("head glyph", glyph.length === heads && glyph.filter((x) => /max weight [01]\.\d{3}/.test(x)).length === usedHeads.size,
      glyph.join(" | ") + " vs heads used " + [...usedHeads]);
    check("the trace goes both ways", [...want].some((x) => +x.split(":")[0] < layer) &&
      [...want].some((x) => +x.split(":")[0] > layer), [...want].join(" "));

    // the tau slider: the counts become those of the JSON written at tau2
    await page.$eval("#tau", (el, v) => { el.value = v; el.dispatchEvent(new Event("input")); }, tau2);
    for (const [m, g] of Object.entries(models(j2))) {
      if (g) check("edges of " + m + " at tau2", (await count(m)) === g.edges.length,
        (await count(m)) + " vs the JSON's " + g.edges.length);
    }
    check("paths drawn at tau2", (await page.locator("#radial path.edge").count()) === edgeKeys(j2));
    check("edge counts changed", edgeKeys(j1) !== edgeKeys(j2));

    // back at the recipe's tau, the selection kept: the screenshot shows a trace
    await page.$eval("#tau", (el, v) => { el.value = v; el.dispatchEvent(new Event("input")); }, String(j1.tau || j1.a.tau));
    // a screenshot that is not blank: decoded in a blank page, counting non-white pixels
    await page.screenshot({ path: shot, fullPage: true });
    const data = fs.readFileSync(shot).toString("base64");
    const blank = await browser.newPage();
    const inked = await blank.evaluate(async (b64) => {
      const img = new Image();
      img.src = "data:image/png;base64," + b64;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width; c.height = img.height;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0, colours = new Set();
      for (let i = 0; i < px.length; i += 4) {
        if (px[i] < 240 || px[i + 1] < 240 || px[i + 2] < 240) n++;
        if (i % 64 === 0) colours.add(px[i] >> 4 << 8 | px[i + 1] >> 4 << 4 | px[i + 2] >> 4);
      }
      return { frac: n / (px.length / 4), colours: colours.size };
    }, data);
    check("screenshot not blank", inked.frac > 0.01 && inked.colours > 5, JSON.stringify(inked));
    // a head switched off removes its edges
    await page.click("#heads .hq[data-layer='" + (L - 1) + "'][data-head='0']");
    for (const [m, g] of Object.entries(models(j1))) {
      if (!g) continue;
      const want = withoutHead(g, L, L - 1, 0);
      check("edges of " + m + " without head 1 of the last layer", (await count(m)) === want,
        (await count(m)) + " vs " + want + " rebuilt from the JSON");
    }
    check("console errors after the interactions", errors.length === 0, errors.join(" | "));

  } catch (e) {
    check("the page could be driven", false, String(e && e.stack || e));
  } finally {
    await browser.close();
  }
  console.log(`flows_view_check: ${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
})();
