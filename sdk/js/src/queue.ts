/**
 * Batching with bounded memory: events go into an open buffer; the buffer is
 * sealed into a batch (sequence number assigned, events time-sorted, split so
 * no batch spans too long) when it is full or on the flush timer. Sealed
 * batches wait in a queue until delivered. When the queue would exceed its
 * bounds (offline, gateway down), the OLDEST batches are dropped and their
 * events counted; the count is reported in the next sealed batch's `dropped`.
 */

import { MAX_SPAN_MS, type WireBatch, type WireEvent } from "./events.js";
import type { ZoneMode } from "./zones.js";

export interface QueueOptions {
  session: string;
  origin: number;
  user?: string;
  zones: ZoneMode;
  maxBatchEvents: number;
  maxQueuedBatches: number;
  maxBufferedEvents: number;
}

/** A sealed batch waiting for delivery (without `clock.sent`, set per attempt). */
export type SealedBatch = Omit<WireBatch, "clock" | "viewport"> & { viewport?: WireBatch["viewport"] };

export class BatchQueue {
  private open: WireEvent[] = [];
  private readonly sealed: SealedBatch[] = [];
  private queuedEvents = 0;
  private nextSeq = 0;
  private droppedSinceSeal = 0;
  /** Events dropped because of the memory bound, since start. */
  droppedTotal = 0;

  constructor(private readonly o: QueueOptions) {}

  /** Adds an event; returns true when the open buffer reached a full batch. */
  push(e: WireEvent): boolean {
    this.open.push(e);
    // The open buffer counts against the bound too: never hold more than
    // maxBufferedEvents events in total, whatever the network does.
    if (this.open.length + this.queuedEvents > this.o.maxBufferedEvents) this.dropOldest();
    return this.open.length >= this.o.maxBatchEvents;
  }

  /** Events buffered, open and sealed. */
  get bufferedEvents(): number {
    return this.open.length + this.queuedEvents;
  }

  /** Sealed batches waiting. */
  get length(): number {
    return this.sealed.length;
  }

  /** The oldest waiting batch. */
  peek(): SealedBatch | undefined {
    return this.sealed[0];
  }

  /** Removes the oldest batch (delivered, or rejected for good). */
  shift(): SealedBatch | undefined {
    const b = this.sealed.shift();
    if (b) this.queuedEvents -= b.events.length;
    return b;
  }

  /** Removes every waiting batch and the open buffer (consent withdrawn). */
  clear(): void {
    this.open = [];
    this.sealed.length = 0;
    this.queuedEvents = 0;
  }

  /** Seals the open buffer into one or more batches. */
  seal(viewport?: WireBatch["viewport"]): void {
    if (this.open.length === 0) return;
    const evs = this.open;
    this.open = [];
    // Handlers record `event.timeStamp`, which can be slightly out of dispatch
    // order (coalesced pointer events); the wire wants non-decreasing t.
    // The sort is stable and the array nearly sorted, so this is cheap.
    evs.sort((a, b) => a.t - b.t);
    let start = 0;
    for (let i = 1; i <= evs.length; i++) {
      if (i === evs.length || i - start >= this.o.maxBatchEvents || evs[i]!.t - evs[start]!.t > MAX_SPAN_MS) {
        this.enqueue(evs.slice(start, i), viewport);
        start = i;
      }
    }
  }

  private enqueue(events: WireEvent[], viewport?: WireBatch["viewport"]): void {
    const b: SealedBatch = { v: 1, session: this.o.session, seq: this.nextSeq++, events };
    if (this.o.user !== undefined) b.user = this.o.user;
    if (this.o.zones === "hands") b.zones = "hands";
    if (this.droppedSinceSeal > 0) {
      b.dropped = this.droppedSinceSeal;
      this.droppedSinceSeal = 0;
    }
    if (viewport) b.viewport = viewport;
    this.sealed.push(b);
    this.queuedEvents += events.length;
    while (this.sealed.length > this.o.maxQueuedBatches) this.dropOldest();
  }

  private dropOldest(): void {
    let n: number;
    const b = this.sealed.shift();
    if (b) {
      n = b.events.length;
      this.queuedEvents -= n;
      // The dropped batch may itself carry a count of earlier drops.
      this.droppedSinceSeal += b.dropped ?? 0;
    } else {
      // Nothing sealed: drop the oldest open event.
      this.open.shift();
      n = 1;
    }
    this.droppedSinceSeal += n;
    this.droppedTotal += n;
  }

  /** The wire batch of a sealed one, with `clock.sent` = now. */
  wire(b: SealedBatch, sent: number): WireBatch {
    const { events, ...head } = b;
    return { ...head, clock: { origin: this.o.origin, sent }, events } as WireBatch;
  }
}
