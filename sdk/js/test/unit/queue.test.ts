import { describe, expect, it } from "vitest";
import type { WireEvent } from "../../src/events.js";
import { BatchQueue } from "../../src/queue.js";

const mk = (over: Partial<ConstructorParameters<typeof BatchQueue>[0]> = {}) =>
  new BatchQueue({
    session: "s",
    origin: 1_763_779_200_000,
    zones: "fine",
    maxBatchEvents: 4,
    maxQueuedBatches: 3,
    maxBufferedEvents: 100,
    ...over,
  });
const mm = (t: number): WireEvent => ({ t, k: "mm", x: 1, y: 2 });

describe("batching", () => {
  it("signals a full batch at maxBatchEvents and seals with increasing seq", () => {
    const q = mk();
    expect([1, 2, 3].map((t) => q.push(mm(t)))).toEqual([false, false, false]);
    expect(q.push(mm(4))).toBe(true);
    q.seal();
    q.push(mm(5));
    q.seal();
    expect(q.length).toBe(2);
    expect(q.shift()!.seq).toBe(0);
    const b = q.shift()!;
    expect(b.seq).toBe(1);
    expect(b.events).toEqual([mm(5)]);
  });

  it("sorts events by time (event.timeStamp can be out of dispatch order)", () => {
    const q = mk({ maxBatchEvents: 10 });
    for (const t of [5, 3, 4, 1]) q.push(mm(t));
    q.seal();
    expect(q.peek()!.events.map((e) => e.t)).toEqual([1, 3, 4, 5]);
  });

  it("splits a buffer into batches of at most maxBatchEvents and at most 10 minutes", () => {
    const q = mk({ maxBatchEvents: 3, maxQueuedBatches: 10 });
    for (const t of [0, 1, 2, 3, 4]) q.push(mm(t));
    q.push(mm(11 * 60_000));
    q.seal();
    expect([q.shift(), q.shift(), q.shift()].map((b) => b!.events.length)).toEqual([3, 2, 1]);
  });

  it("sealing an empty buffer makes no batch", () => {
    const q = mk();
    q.seal();
    expect(q.length).toBe(0);
  });

  it("builds the wire batch with clock and optional fields", () => {
    const q = mk({ user: "alice", zones: "hands" });
    q.push(mm(1));
    q.seal({ w: 800, h: 600, dpr: 1 });
    const w = q.wire(q.peek()!, 42);
    expect(w).toEqual({
      v: 1,
      session: "s",
      seq: 0,
      user: "alice",
      zones: "hands",
      viewport: { w: 800, h: 600, dpr: 1 },
      clock: { origin: 1_763_779_200_000, sent: 42 },
      events: [mm(1)],
    });
  });
});

describe("bounded memory (offline)", () => {
  it("drops the oldest batches beyond maxQueuedBatches and reports the count in the next batch", () => {
    const q = mk({ maxBatchEvents: 2, maxQueuedBatches: 2 });
    for (let i = 0; i < 4; i++) {
      q.push(mm(i * 2));
      q.push(mm(i * 2 + 1));
      q.seal();
    }
    expect(q.length).toBe(2);
    expect(q.droppedTotal).toBe(4);
    q.push(mm(100));
    q.seal();
    // seq 0, 1 dropped when 2, 3 arrived; 2 dropped when 4 arrived. Each count
    // travels in the next batch sealed, so the gateway sees every drop once.
    const a = q.shift()!;
    const b = q.shift()!;
    expect([a.seq, a.dropped, b.seq, b.dropped]).toEqual([3, 2, 4, 2]);
    expect(q.droppedTotal).toBe(6);
    q.push(mm(200));
    q.seal();
    expect(q.shift()!.dropped).toBe(2); // batch 2's events, reported with the next batch
  });

  it("never holds more than maxBufferedEvents events in total", () => {
    const q = mk({ maxBatchEvents: 10, maxQueuedBatches: 1000, maxBufferedEvents: 25 });
    for (let i = 0; i < 1000; i++) {
      q.push(mm(i));
      if (i % 10 === 9) q.seal();
      expect(q.bufferedEvents).toBeLessThanOrEqual(25);
    }
    expect(q.droppedTotal).toBe(1000 - q.bufferedEvents);
  });

  it("drops open events when nothing is sealed and the bound is below a batch", () => {
    const q = mk({ maxBatchEvents: 100, maxBufferedEvents: 3 });
    for (let i = 0; i < 5; i++) q.push(mm(i));
    q.seal();
    const b = q.shift()!;
    expect(b.events.map((e) => e.t)).toEqual([2, 3, 4]);
    expect(b.dropped).toBe(2);
  });

  it("clear() discards everything", () => {
    const q = mk();
    q.push(mm(1));
    q.seal();
    q.push(mm(2));
    q.clear();
    expect(q.bufferedEvents).toBe(0);
    expect(q.length).toBe(0);
  });
});
