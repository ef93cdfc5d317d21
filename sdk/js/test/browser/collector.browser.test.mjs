// End-to-end test of the built collector in real headless Chromium: a
// loopback server serves a page with the collector and receives its batches;
// Playwright types and moves the mouse like a user; every batch must have the
// schema's structure, must pass the Rust validator (the `validate` example of
// crates/shroud-telemetry), and must contain nothing that was typed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const artifacts = fileURLToPath(new URL("../../artifacts/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const LAUNCH = {
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
};

// What the test types: characters that never occur in the collector's JSON
// (no '#', '@', '$', '!'), so any leak is visible.
const SECRET = "Qx9#vW@Zp$k!";
const USER = "zorglub";

/** Builds the Rust validator once and returns the path of its executable. */
function buildValidator() {
  const out = execFileSync(
    "cargo",
    ["build", "-q", "-p", "shroud-telemetry", "--example", "validate", "--message-format=json"],
    { cwd: repo, encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] },
  );
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    const m = JSON.parse(line);
    if (m.reason === "compiler-artifact" && m.target?.name === "validate" && m.executable) return m.executable;
  }
  throw new Error("cargo did not report the validate example's executable");
}

function validate(bin, body, encoding) {
  const args = encoding && encoding !== "identity" ? ["--encoding", encoding] : [];
  const r = spawnSync(bin, args, { input: body, encoding: "utf8" });
  return { code: r.status, out: r.stdout.trim() };
}

// Zones playwright's US layout produces for each character of SECRET (+ Shift = MO).
const ZONE_OF_CHAR = { Q: "L5", x: "L4", 9: "R4", "#": "L3", v: "L2", W: "L4", "@": "L4", Z: "L5", p: "R5", $: "L2", k: "R3", "!": "L5" };

let validator, browser, srv;
const servers = [];
async function serve(opts) {
  srv = await startServer(opts);
  servers.push(srv);
  return srv;
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  validator = buildValidator();
  browser = await chromium.launch(LAUNCH);
});

after(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
});

async function openPage(query = "") {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on("console", (m) => process.env.DEBUG && console.log("page:", m.text()));
  await page.goto(`${srv.url}/${query}`);
  await page.waitForFunction(() => window.__ready === true);
  return page;
}

const allEvents = (reqs) => reqs.flatMap((r) => r.batch.events);

describe("collector in headless Chromium", () => {
  it("sends valid batches with timings and shapes only", async () => {
    // The first request is refused with 429 to check the retry honours Retry-After.
    await serve({ answer: (_r, n) => (n === 1 ? [429, { "Retry-After": "1" }] : [202, {}]) });
    const page = await openPage("?flush=800&max=150");

    await page.click("#user");
    await page.keyboard.type(USER, { delay: 35 });
    await page.click("#pw");
    await page.keyboard.type(SECRET, { delay: 40 });
    await page.click("#ignored");
    await page.keyboard.type("ignored", { delay: 20 });
    // Mouse: a curved path across the area, a click, a drag.
    for (let i = 0; i <= 40; i++) {
      await page.mouse.move(60 + i * 12, 300 + Math.sin(i / 6) * 60);
      await page.waitForTimeout(8);
    }
    await page.mouse.down();
    await page.mouse.move(500, 420, { steps: 8 });
    await page.mouse.up();
    // Copy: select a paragraph and press the shortcut.
    await page.click("#copyme", { clickCount: 3 });
    await page.keyboard.press("Control+c");
    await page.screenshot({ path: artifacts + "collector-top.png" });
    // Scroll the sensitive card into view, dwell, scroll away.
    await page.mouse.move(400, 400);
    for (let i = 0; i < 10; i++) {
      await page.mouse.wheel(0, 160);
      await page.waitForTimeout(30);
    }
    await page.evaluate(() => document.getElementById("secret").scrollIntoView({ block: "center" }));
    await page.waitForTimeout(400);
    await page.screenshot({ path: artifacts + "collector-sensitive.png" });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
    await page.evaluate(() => window.__shroud.flush());
    await page.waitForFunction(() => {
      const s = window.__shroud.stats();
      return s.queuedBatches === 0 && s.bufferedEvents === 0;
    }, null, { timeout: 10000 }).catch(async (e) => {
      console.log("stats", await page.evaluate(() => JSON.stringify(window.__shroud.stats())), srv.requests.map((r) => [r.batch.seq, r.batch.events.length]));
      throw e;
    });
    const stats = await page.evaluate(() => window.__shroud.stats());
    await page.close();

    const reqs = srv.requests;
    assert.ok(reqs.length >= 3, `expected several batches, got ${reqs.length}`);
    // 429 then the same batch again.
    assert.equal(reqs[1].batch.seq, reqs[0].batch.seq, "the batch refused with 429 is retried");
    assert.ok(stats.retries >= 1);
    const delivered = reqs.slice(1);
    const seqs = delivered.map((r) => r.batch.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "batches arrive in seq order");
    assert.equal(new Set(seqs).size, seqs.length, "no seq delivered twice");
    assert.equal(new Set(reqs.map((r) => r.batch.session)).size, 1, "one session");

    for (const r of reqs) {
      assert.equal(r.headers.authorization, "Bearer test-token", "the headers hook is used");
      assert.equal(r.encoding, "gzip", "bodies are gzipped with CompressionStream");
      assert.equal(r.batch.v, 1);
      assert.ok(r.batch.clock.origin > 1.7e12 && r.batch.clock.sent > 0);
      assert.ok(r.batch.viewport.w === 1000 && r.batch.viewport.h === 700);
      // No typed character sequence or key name anywhere in any body.
      const text = r.json.toString("utf8");
      for (const s of [...SECRET, USER]) if (!/[a-z0-9]/i.test(s)) assert.ok(!text.includes(s), `leaked ${s}`);
      for (let i = 0; i + 3 <= SECRET.length; i++) assert.ok(!text.includes(SECRET.slice(i, i + 3)), "secret leaked");
      for (let i = 0; i + 3 <= USER.length; i++) assert.ok(!text.includes(USER.slice(i, i + 3)), "user text leaked");
      for (const s of ["ignored", "KeyQ", "Digit9", '"key"', '"code"', "Copy this"]) assert.ok(!text.includes(s), `leaked ${s}`);
      // The Rust validator accepts both the decompressed JSON and the gzip body as sent.
      const plain = validate(validator, r.json);
      assert.equal(plain.out, `ok ${r.batch.events.length} events`, plain.out);
      const gz = validate(validator, r.raw, "gzip");
      assert.equal(gz.out, `ok ${r.batch.events.length} events`, gz.out);
    }

    const evs = allEvents(delivered);
    const kinds = new Set(evs.map((e) => e.k));
    for (const k of ["kd", "ku", "mm", "md", "mu", "wh", "sc", "cb", "fc", "dw"]) assert.ok(kinds.has(k), `no ${k} event`);
    // Key downs outside the ignored field: user + secret, and their zones in order.
    const downs = evs.filter((e) => e.k === "kd" && e.z !== "MO").map((e) => e.z);
    const expected = [...USER].map((c) => ({ z: "L5", o: "R4", r: "L2", g: "L1", l: "R4", u: "R2", b: "L1" })[c]);
    expected.push(...[...SECRET].map((c) => ZONE_OF_CHAR[c]), "L3"); // + the C of Control+C
    assert.deepEqual(downs, expected, "zones of the typed keys, nothing from the ignored field");
    const ups = evs.filter((e) => e.k === "ku");
    assert.equal(ups.length, evs.filter((e) => e.k === "kd").length, "every key down has its key up");
    // Hold times are plausible (playwright holds keys ~0-50 ms).
    assert.ok(evs.some((e) => e.k === "fc" && e.s === "field_focus" && e.el === "login"));
    assert.ok(evs.some((e) => e.k === "cb" && e.op === "copy"));
    const dw = evs.find((e) => e.k === "dw");
    assert.equal(dw.el, "ssn-card");
    assert.ok(dw.ms >= 250 && dw.ms < 5000, `dwell ${dw.ms} ms`);
    assert.ok(evs.filter((e) => e.k === "mm").length >= 30, "pointer moves recorded");
    assert.ok(evs.some((e) => e.k === "mm" && e.b === 1), "drag carries the buttons mask");
  });

  it("collects nothing before consent", async () => {
    await serve();
    const page = await openPage("?consent=1&flush=200");
    await page.click("#user");
    await page.keyboard.type("abc");
    await page.mouse.move(200, 200, { steps: 5 });
    await page.evaluate(() => window.__shroud.flush());
    await page.waitForTimeout(300);
    assert.equal(srv.requests.length, 0);
    assert.equal(await page.evaluate(() => window.__shroud.stats().recordedEvents), 0);
    await page.evaluate(() => window.__shroud.consent(true));
    await page.keyboard.type("abc");
    await page.evaluate(() => window.__shroud.flush());
    await page.waitForFunction(() => window.__shroud.stats().sentBatches > 0);
    assert.equal(srv.requests.length, 1);
    assert.equal(srv.requests[0].batch.events.filter((e) => e.k === "kd").length, 3);
    await page.close();
  });

  it("hands what is left to the browser when the page goes away", async () => {
    await serve();
    const page = await openPage("?flush=600000&zones=hands");
    await page.click("#user");
    await page.keyboard.type("hello", { delay: 20 });
    // Navigate away: pagehide must hand the buffered batch over (keepalive fetch, auth kept).
    await page.goto("about:blank");
    const t0 = Date.now();
    while (srv.requests.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(srv.requests.length >= 1, "batch sent on pagehide");
    const b = srv.requests.at(-1).batch;
    assert.equal(b.zones, "hands");
    assert.ok(b.events.filter((e) => e.k === "kd").every((e) => ["LH", "RH", "MO"].includes(e.z)));
    assert.equal(validate(validator, srv.requests.at(-1).json).out, `ok ${b.events.length} events`);
    await page.close();
  });
});
