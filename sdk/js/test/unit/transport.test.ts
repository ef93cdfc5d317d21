import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gunzipSync } from "node:zlib";
import { BatchQueue } from "../../src/queue.js";
import { Transport, type TransportOptions } from "../../src/transport.js";

type Call = { url: string; init: RequestInit };

function setup(statuses: Array<number | Error | [number, Record<string, string>]>, over: Partial<TransportOptions> = {}) {
  const q = new BatchQueue({ session: "s", origin: 1_763_779_200_000, zones: "fine", maxBatchEvents: 10, maxQueuedBatches: 10, maxBufferedEvents: 1000 });
  const calls: Call[] = [];
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const s = statuses.shift() ?? 202;
    if (s instanceof Error) throw s;
    const [status, headers] = Array.isArray(s) ? s : [s, {}];
    return new Response(null, { status, headers });
  });
  const errors: Error[] = [];
  const tx = new Transport(q, {
    endpoint: "http://gw/v1/telemetry",
    compress: false,
    retryBaseMs: 1000,
    retryMaxMs: 8000,
    credentials: "same-origin",
    fetch: fetch as unknown as typeof globalThis.fetch,
    now: () => 500,
    online: () => true,
    random: () => 1,
    onError: (e) => errors.push(e),
    ...over,
  });
  const batch = (n = 1) => {
    for (let i = 0; i < n; i++) q.push({ t: i, k: "kd", z: "L3" });
    q.seal();
  };
  return { q, tx, calls, fetch, batch, errors };
}

// Lets the transport's promise chain (headers, fetch, status handling) run.
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe("transport", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("sends queued batches in order, one at a time, with auth headers", async () => {
    const { tx, q, calls, batch } = setup([202, 202], { headers: async () => ({ Authorization: "Bearer tok" }) });
    batch();
    batch();
    tx.kick();
    tx.kick(); // no second request while one is in flight
    await settle();
    await settle();
    expect(calls.length).toBe(2);
    expect(calls.map((c) => JSON.parse(c.init.body as string).seq)).toEqual([0, 1]);
    const h = calls[0]!.init.headers as Record<string, string>;
    expect(h.Authorization).toBe("Bearer tok");
    expect(h["Content-Type"]).toBe("application/json");
    expect(calls[0]!.init.keepalive).toBe(true);
    expect(JSON.parse(calls[0]!.init.body as string).clock).toEqual({ origin: 1_763_779_200_000, sent: 500 });
    expect(q.length).toBe(0);
    expect(tx.stats.sentBatches).toBe(2);
  });

  it("treats 409 (replay: delivered before) as delivered", async () => {
    const { tx, q, batch } = setup([409]);
    batch();
    tx.kick();
    await settle();
    expect(q.length).toBe(0);
    expect(tx.stats.retries).toBe(0);
  });

  it("retries 5xx and network errors with exponential backoff", async () => {
    const { tx, q, calls, batch } = setup([503, new TypeError("offline"), 500, 202]);
    batch();
    tx.kick();
    await settle();
    expect(calls.length).toBe(1);
    // random() = 1 -> delay = full exponential: 1000, 2000, 4000
    await vi.advanceTimersByTimeAsync(999);
    expect(calls.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.length).toBe(3);
    await vi.advanceTimersByTimeAsync(4000);
    expect(calls.length).toBe(4);
    expect(q.length).toBe(0);
    expect(tx.stats.retries).toBe(3);
  });

  it("caps the backoff at retryMaxMs and keeps at least half of it as jitter floor", () => {
    const { tx } = setup([], { random: () => 0 });
    const d = Array.from({ length: 8 }, () => tx.delay(503, null));
    expect(d).toEqual([500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]);
  });

  it("honours 429 Retry-After (seconds)", async () => {
    const { tx, calls, batch } = setup([[429, { "Retry-After": "7" }], 202]);
    batch();
    tx.kick();
    await settle();
    await vi.advanceTimersByTimeAsync(6999);
    expect(calls.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.length).toBe(2);
  });

  it("drops a batch the gateway rejects as invalid (400/413/415) and goes on", async () => {
    const { tx, q, calls, batch, errors } = setup([400, 202]);
    batch();
    batch();
    tx.kick();
    await settle();
    await settle();
    expect(calls.length).toBe(2);
    expect(q.length).toBe(0);
    expect(tx.stats.rejectedBatches).toBe(1);
    expect(errors[0]!.message).toMatch(/rejected with 400/);
  });

  it("does not send while offline", async () => {
    let online = false;
    const { tx, calls, batch } = setup([], { online: () => online });
    batch();
    tx.kick();
    await settle();
    expect(calls.length).toBe(0);
    online = true;
    tx.kick();
    await settle();
    expect(calls.length).toBe(1);
  });

  it("gzips with CompressionStream when asked", async () => {
    const { tx, calls, batch } = setup([202], { compress: true });
    batch(3);
    vi.useRealTimers();
    tx.kick();
    await vi.waitFor(() => expect(calls.length).toBe(1));
    const init = calls[0]!.init;
    expect((init.headers as Record<string, string>)["Content-Encoding"]).toBe("gzip");
    const json = JSON.parse(gunzipSync(Buffer.from(init.body as ArrayBuffer)).toString("utf8"));
    expect(json.events.length).toBe(3);
  });

  it("on page exit hands batches to sendBeacon synchronously when no auth header is needed", () => {
    const { tx, q, batch } = setup([]);
    batch();
    batch();
    const beacon = vi.fn(() => true);
    tx.flushOnExit(beacon);
    expect(beacon).toHaveBeenCalledTimes(2);
    expect(q.length).toBe(0);
    expect(tx.stats.beaconBatches).toBe(2);
  });

  it("on page exit uses keepalive fetch with the cached auth headers", async () => {
    const { tx, q, calls, batch } = setup([202], { headers: () => ({ Authorization: "Bearer x" }) });
    batch();
    tx.kick();
    await settle();
    batch();
    const beacon = vi.fn(() => true);
    tx.flushOnExit(beacon);
    expect(beacon).not.toHaveBeenCalled();
    expect(calls.length).toBe(2);
    expect(calls[1]!.init.keepalive).toBe(true);
    expect((calls[1]!.init.headers as Record<string, string>).Authorization).toBe("Bearer x");
    expect(q.length).toBe(0);
  });

  it("stops handing over at the 64 KiB keepalive budget", () => {
    const { tx, q, batch } = setup([]);
    for (let i = 0; i < 20; i++) batch(10);
    const beacon = vi.fn(() => true);
    tx.flushOnExit(beacon);
    expect(q.length).toBe(0);
    const big = setup([]);
    for (let i = 0; i < 3; i++) big.batch(9);
    for (let i = 0; i < 3; i++) big.q.seal();
    // a refused beacon keeps the batch queued
    big.tx.flushOnExit(() => false);
    expect(big.q.length).toBe(3);
  });
});
