/**
 * Delivery of sealed batches: one request in flight, oldest batch first;
 * gzip via CompressionStream where the browser has it; `fetch` with
 * `keepalive` for small bodies; exponential backoff with jitter on failures,
 * `Retry-After` honoured on 429; 202 and 409 (a replay: delivered before)
 * both count as delivered; 400/413/415 drop the batch for good (retrying
 * cannot fix it). On page hide, what is left goes out synchronously with
 * keepalive fetch (when auth headers are needed) or `sendBeacon`.
 */

import type { BatchQueue } from "./queue.js";

/** Headers to attach to every request (e.g. `Authorization: Bearer ...`). */
export type HeadersHook = () => Record<string, string> | Promise<Record<string, string>>;

export interface TransportOptions {
  endpoint: string;
  headers?: HeadersHook;
  compress: boolean;
  retryBaseMs: number;
  retryMaxMs: number;
  credentials: RequestCredentials;
  fetch: typeof fetch;
  now: () => number;
  onError?: (err: Error) => void;
  /** Whether the browser is online (navigator.onLine). */
  online: () => boolean;
  random: () => number;
}

/** Browsers refuse keepalive bodies above 64 KiB (summed over in-flight keepalive requests). */
const KEEPALIVE_BUDGET = 60 * 1024;

export interface TransportStats {
  sentBatches: number;
  sentEvents: number;
  rejectedBatches: number;
  retries: number;
  beaconBatches: number;
}

export class Transport {
  inFlight = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastHeaders: Record<string, string> = {};
  private stopped = false;
  readonly stats: TransportStats = { sentBatches: 0, sentEvents: 0, rejectedBatches: 0, retries: 0, beaconBatches: 0 };

  constructor(private readonly q: BatchQueue, private readonly o: TransportOptions) {}

  /** True while waiting for a backoff / Retry-After delay. */
  get waiting(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Sends waiting batches until the queue is empty or a failure schedules a retry. */
  kick(): void {
    if (this.stopped || this.inFlight || this.timer !== undefined || this.q.length === 0) return;
    if (!this.o.online()) return; // the collector kicks again on the `online` event
    this.inFlight = true;
    void this.sendOne();
  }

  private async sendOne(): Promise<void> {
    const b = this.q.peek();
    if (!b) {
      this.inFlight = false;
      return;
    }
    let status = 0;
    let retryAfter: string | null = null;
    try {
      const hdrs = this.o.headers ? await this.o.headers() : {};
      this.lastHeaders = hdrs;
      const json = JSON.stringify(this.q.wire(b, this.o.now()));
      const headers: Record<string, string> = { "Content-Type": "application/json", ...hdrs };
      let body: BodyInit = json;
      let size = json.length;
      if (this.o.compress && typeof CompressionStream === "function") {
        const gz = await new Response(new Blob([json]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
        body = gz;
        size = gz.byteLength;
        headers["Content-Encoding"] = "gzip";
      }
      const res = await this.o.fetch(this.o.endpoint, {
        method: "POST",
        body,
        headers,
        keepalive: size <= KEEPALIVE_BUDGET,
        credentials: this.o.credentials,
      });
      status = res.status;
      retryAfter = res.headers.get("Retry-After");
    } catch (e) {
      status = 0; // network failure: retry
      this.o.onError?.(e instanceof Error ? e : new Error(String(e)));
    }
    this.inFlight = false;
    if (this.stopped) return;
    if ((status >= 200 && status < 300) || status === 409) {
      if (this.q.peek() === b) this.q.shift();
      this.stats.sentBatches++;
      this.stats.sentEvents += b.events.length;
      this.attempt = 0;
      this.kick();
      return;
    }
    if (status === 400 || status === 413 || status === 415 || status === 422) {
      if (this.q.peek() === b) this.q.shift();
      this.stats.rejectedBatches++;
      this.o.onError?.(new Error(`shroud: batch ${b.seq} rejected with ${status}`));
      this.attempt = 0;
      this.kick();
      return;
    }
    // 429, 5xx, 401/403 (token may be refreshed by the headers hook), network errors.
    this.stats.retries++;
    this.schedule(this.delay(status, retryAfter));
  }

  /** The wait before the next attempt, ms. */
  delay(status: number, retryAfter: string | null): number {
    if (status === 429 && retryAfter !== null) {
      const secs = Number(retryAfter);
      let ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - Date.now();
      if (Number.isFinite(ms)) {
        ms = Math.max(0, Math.min(ms, 10 * this.o.retryMaxMs));
        this.attempt++;
        return ms;
      }
    }
    const exp = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** this.attempt);
    this.attempt++;
    // "Equal jitter": at least half the exponential delay, so retries stay spread
    // out but never hammer the gateway.
    return exp / 2 + (this.o.random() * exp) / 2;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
  }

  /**
   * Page is going away: hand every waiting batch to the browser now, without
   * awaiting anything (no compression, cached headers). Batches handed over are
   * removed from the queue; a duplicate delivery is answered 409 and harmless.
   */
  flushOnExit(beacon: ((url: string, data: BodyInit) => boolean) | undefined): void {
    let budget = KEEPALIVE_BUDGET;
    const useFetch = Object.keys(this.lastHeaders).length > 0 || !beacon;
    while (this.q.length > 0) {
      const b = this.q.peek()!;
      const json = JSON.stringify(this.q.wire(b, this.o.now()));
      if (json.length > budget) break;
      let ok = false;
      if (useFetch) {
        try {
          void this.o
            .fetch(this.o.endpoint, {
              method: "POST",
              body: json,
              headers: { "Content-Type": "application/json", ...this.lastHeaders },
              keepalive: true,
              credentials: this.o.credentials,
            })
            .catch(() => undefined);
          ok = true;
        } catch {
          ok = false;
        }
      } else {
        ok = beacon!(this.o.endpoint, new Blob([json], { type: "application/json" }));
      }
      if (!ok) break;
      budget -= json.length;
      this.q.shift();
      this.stats.beaconBatches++;
    }
  }
}
