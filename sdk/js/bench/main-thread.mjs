// Main-thread cost of the collector per 1,000 events, in headless Chromium.
//
// For each configuration a fresh page dispatches the same N synthetic input
// events (60% pointermove, 30% keydown/keyup, 10% wheel) on the page, then
// flushes and waits until every batch is delivered to a loopback server. The
// main thread's busy time comes from Chrome's own counters (CDP
// Performance.getMetrics: TaskDuration = all main-thread tasks, ScriptDuration
// = JavaScript) read before and after; the same run on the page WITHOUT the
// collector is the baseline, so the difference is what the collector costs:
// its handlers, batching, JSON, gzip and fetch. Median of REPS runs.
//
//   npm run bench            (N=20000, REPS=5 by default; env N, REPS)
import { chromium } from "playwright-core";
import { startServer } from "../test/browser/server.mjs";

const N = Number(process.env.N ?? 20000);
const REPS = Number(process.env.REPS ?? 5);
const LAUNCH = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(browser, srv, query) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  await page.goto(`${srv.url}/${query}`);
  await page.waitForFunction(() => window.__ready === true);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const metric = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics");
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    return { task: m.TaskDuration * 1000, script: m.ScriptDuration * 1000 };
  };
  const before = await metric();
  const dispatchMs = await page.evaluate(async (n) => {
    const area = document.getElementById("area");
    // busy = time spent synchronously dispatching (i.e. in the page's and the
    // collector's handlers), excluding the pacing sleeps.
    let busy = 0;
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = i % 10;
      if (r < 6) {
        area.dispatchEvent(new PointerEvent("pointermove", { bubbles: true, clientX: 100 + (i % 400), clientY: 200 + (i % 97), pointerType: "mouse" }));
      } else if (r < 9) {
        const code = ["KeyA", "KeyS", "KeyD", "KeyF", "Space"][i % 5];
        area.dispatchEvent(new KeyboardEvent(r === 6 || r === 8 ? "keydown" : "keyup", { bubbles: true, code }));
      } else {
        area.dispatchEvent(new WheelEvent("wheel", { bubbles: true, deltaY: 40, clientX: 300, clientY: 300 }));
      }
      // Pace the input (~10,000 events/s, still far above a human) and yield
      // like real input does, so delivery keeps up and nothing is dropped.
      if (i % 100 === 99) {
        busy += performance.now() - t0;
        await new Promise((r) => setTimeout(r, 10));
        t0 = performance.now();
      }
    }
    busy += performance.now() - t0;
    const dt = busy;
    if (window.__shroud) {
      window.__shroud.flush();
      await new Promise((resolve) => {
        const check = () => {
          const s = window.__shroud.stats();
          if (s.queuedBatches === 0 && s.bufferedEvents === 0 && !s.inFlight) resolve();
          else setTimeout(check, 20);
        };
        check();
      });
    }
    return dt;
  }, N);
  const after = await metric();
  const recorded = await page.evaluate(() => window.__shroud?.stats().sentEvents ?? 0);
  const dropped = await page.evaluate(() => window.__shroud?.stats().droppedEvents ?? 0);
  if (dropped > 0) console.error(`warning: ${dropped} events dropped in ${query}`);
  await page.close();
  return { task: after.task - before.task, script: after.script - before.script, dispatchMs, recorded };
}

const browser = await chromium.launch(LAUNCH);
const srv = await startServer();
const configs = [
  ["no collector (baseline)", "?off=1"],
  ["collector, gzip", "?flush=600000&max=500"],
  ["collector, no gzip", "?flush=600000&max=500&gzip=0"],
];
const results = {};
for (const [name, q] of configs) {
  const rs = [];
  for (let i = 0; i < REPS; i++) rs.push(await run(browser, srv, q));
  results[name] = { dispatch: median(rs.map((r) => r.dispatchMs)), task: median(rs.map((r) => r.task)), script: median(rs.map((r) => r.script)), recorded: median(rs.map((r) => r.recorded)) };
}
await browser.close();
await srv.close();

const base = results["no collector (baseline)"];
console.log(`N = ${N} synthetic input events per run, median of ${REPS} runs, Chromium ${browser.version?.() ?? ""}`.trim());
console.log("| configuration | events sent | dispatch ms (synchronous, all N events) | main-thread task ms | script ms | in-handler cost, ms / 1,000 events (dispatch delta) | total main-thread cost incl. batching, JSON, gzip, fetch, ms / 1,000 events (TaskDuration delta) |");
console.log("|---|---|---|---|---|---|---|");
for (const [name] of configs) {
  const r = results[name];
  const isBase = name === "no collector (baseline)";
  const per = isBase ? "—" : (((r.task - base.task) / N) * 1000).toFixed(2);
  const hand = isBase ? "—" : (((r.dispatch - base.dispatch) / N) * 1000).toFixed(2);
  console.log(`| ${name} | ${r.recorded} | ${r.dispatch.toFixed(1)} | ${r.task.toFixed(1)} | ${r.script.toFixed(1)} | ${hand} | ${per} |`);
}
