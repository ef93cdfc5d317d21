// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { createCollector, type Collector, type CollectorOptions } from "../../src/index.js";

const running: Collector[] = [];
afterEach(() => {
  while (running.length) running.pop()!.stop();
  document.body.innerHTML = "";
});

function start(over: Partial<CollectorOptions> = {}) {
  const bodies: any[] = [];
  const fetch = vi.fn(async (_url: string, init: RequestInit) => {
    bodies.push(JSON.parse(init.body as string));
    return new Response(null, { status: 202 });
  });
  const c = createCollector({ endpoint: "/v1/telemetry", compress: false, fetch: fetch as any, ...over });
  running.push(c);
  return { c, bodies, fetch };
}

function type(target: Element, code: string, key: string) {
  target.dispatchEvent(new KeyboardEvent("keydown", { code, key, bubbles: true }));
  target.dispatchEvent(new KeyboardEvent("keyup", { code, key, bubbles: true }));
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("collector in a DOM", () => {
  it("records zones only: never key, code or characters, password fields included", async () => {
    document.body.innerHTML = `<input id="pw" type="password">`;
    const pw = document.getElementById("pw")!;
    const { c, bodies } = start();
    type(pw, "KeyS", "s");
    type(pw, "Digit3", "#");
    type(pw, "Space", " ");
    c.flush();
    await settle();
    expect(bodies.length).toBe(1);
    const evs = bodies[0].events;
    expect(evs.map((e: any) => `${e.k}:${e.z}`)).toEqual(["kd:L4", "ku:L4", "kd:L3", "ku:L3", "kd:SP", "ku:SP"]);
    const raw = JSON.stringify(bodies[0]);
    for (const leak of ['"s"', "#", "KeyS", "Digit3", "Space", "key", "code"]) expect(raw).not.toContain(leak);
  });

  it("excludes fields inside data-shroud-ignore", async () => {
    document.body.innerHTML = `<div data-shroud-ignore><input id="a"></div><input id="b">`;
    const { c, bodies } = start();
    type(document.getElementById("a")!, "KeyA", "a");
    type(document.getElementById("b")!, "KeyB", "b");
    c.flush();
    await settle();
    expect(bodies[0].events.map((e: any) => e.z)).toEqual(["L1", "L1"]);
  });

  it("marks auto-repeat and maps IME composition to OT; hands mode sends LH/RH", async () => {
    const { c, bodies } = start({ zones: "hands" });
    document.body.dispatchEvent(new KeyboardEvent("keydown", { code: "KeyJ", repeat: true, bubbles: true }));
    document.body.dispatchEvent(new KeyboardEvent("keydown", { code: "KeyA", isComposing: true, bubbles: true }));
    document.body.dispatchEvent(new KeyboardEvent("keydown", { code: "KeyA", bubbles: true }));
    c.flush();
    await settle();
    expect(bodies[0].zones).toBe("hands");
    expect(bodies[0].events.map((e: any) => [e.z, e.r])).toEqual([["RH", true], ["OT", undefined], ["LH", undefined]]);
  });

  it("collects nothing before consent when consent is required, and forgets on withdrawal", async () => {
    const { c, bodies } = start({ requireConsent: true });
    type(document.body, "KeyA", "a");
    c.flush();
    await settle();
    expect(bodies.length).toBe(0);
    expect(c.stats()).toMatchObject({ collecting: false, recordedEvents: 0, bufferedEvents: 0 });
    c.consent(true);
    type(document.body, "KeyA", "a");
    expect(c.stats().bufferedEvents).toBe(2);
    c.consent(false);
    expect(c.stats()).toMatchObject({ collecting: false, bufferedEvents: 0 });
    type(document.body, "KeyA", "a");
    c.flush();
    await settle();
    expect(bodies.length).toBe(0);
  });

  it("a session outside the sample records nothing", () => {
    const { c } = start({ sampleRate: 0 });
    type(document.body, "KeyA", "a");
    expect(c.stats()).toMatchObject({ collecting: false, recordedEvents: 0 });
  });

  it("counts clipboard operations without touching their content, labels field focus", async () => {
    document.body.innerHTML = `<form data-shroud-id="login"><input id="u"></form>`;
    const u = document.getElementById("u")!;
    const { c, bodies } = start();
    u.dispatchEvent(new FocusEvent("focusin", { bubbles: true }));
    const paste = new Event("paste", { bubbles: true });
    Object.defineProperty(paste, "clipboardData", { get: () => { throw new Error("content was read"); } });
    u.dispatchEvent(paste);
    c.flush();
    await settle();
    expect(bodies[0].events.map((e: any) => [e.k, e.s ?? e.op, e.el])).toEqual([
      ["fc", "field_focus", "login"],
      ["cb", "paste", undefined],
    ]);
  });

  it("seals a full batch without waiting for the timer and keeps seq increasing", async () => {
    const { bodies } = start({ maxBatchEvents: 4, flushIntervalMs: 60_000 });
    for (let i = 0; i < 4; i++) type(document.body, "KeyK", "k");
    await settle();
    await settle();
    expect(bodies.map((b) => [b.seq, b.events.length])).toEqual([[0, 4], [1, 4]]);
    expect(new Set(bodies.map((b) => b.session)).size).toBe(1);
  });

  it("sends on the flush timer", async () => {
    const { bodies } = start({ flushIntervalMs: 30 });
    type(document.body, "KeyK", "k");
    await new Promise((r) => setTimeout(r, 80));
    expect(bodies.length).toBe(1);
  });
});
