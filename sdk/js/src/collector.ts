/**
 * The browser collector: listens (passively, never blocking input) to the
 * page's keyboard, pointer, wheel, scroll, touch, clipboard, focus and
 * visibility events and to the visibility of `data-shroud-sensitive`
 * elements, and records timings and shapes only — key ZONES from
 * `KeyboardEvent.code`, never `key`, `code` or characters; clipboard
 * operation counts, never content; no field values, no URLs.
 */

import { coord, label, MAX_SCROLL, r1, type FocusState, type WireEvent } from "./events.js";
import { BatchQueue } from "./queue.js";
import { Transport, type HeadersHook, type TransportStats } from "./transport.js";
import { zoneOf, type ZoneMode } from "./zones.js";

/** Options of {@link createCollector}. Only `endpoint` is required. */
export interface CollectorOptions {
  /** URL of the gateway's `POST /v1/telemetry`. */
  endpoint: string;
  /** Called before every request; returns headers to add (e.g. `{ Authorization: "Bearer ..." }`). May be async. */
  headers?: HeadersHook;
  /** `fetch` credentials mode (cookies). Default `"same-origin"`. */
  credentials?: RequestCredentials;
  /** When true, nothing is collected (no listener is attached) until `consent(true)`. Default false. */
  requireConsent?: boolean;
  /** Fraction of sessions (page loads) collected, in [0, 1]. Default 1. */
  sampleRate?: number;
  /** Key-zone granularity: `"fine"` (finger zones, default) or `"hands"` (LH/RH only; more private). */
  zones?: ZoneMode;
  /** The user id as the page knows it (informational; the gateway trusts authentication). */
  user?: string;
  /** A batch is sealed when it has this many events. Default 500. */
  maxBatchEvents?: number;
  /** ...or this long after its first event, ms. Default 5000. */
  flushIntervalMs?: number;
  /** Most sealed batches kept waiting for delivery (offline). Default 32. */
  maxQueuedBatches?: number;
  /** Most events kept in memory in total; beyond it the oldest are dropped and counted. Default 10000. */
  maxBufferedEvents?: number;
  /** Gzip bodies with CompressionStream when the browser has it. Default true. */
  compress?: boolean;
  /** First retry delay, ms (doubles per failure, with jitter). Default 1000. */
  retryBaseMs?: number;
  /** Longest retry delay, ms. Default 60000. */
  retryMaxMs?: number;
  /** Smallest interval between two recorded scroll positions, ms. Default 50. */
  scrollIntervalMs?: number;
  /** Called on delivery errors and rejected batches (never throws into the page). */
  onError?: (err: Error) => void;
  /** The document to observe. Default `document`. */
  document?: Document;
  /** `fetch` to use. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** Counters for monitoring the collector itself. */
export interface CollectorStats extends TransportStats {
  session: string;
  collecting: boolean;
  bufferedEvents: number;
  queuedBatches: number;
  droppedEvents: number;
  recordedEvents: number;
  /** A request is in flight. */
  inFlight: boolean;
  /** Waiting for a retry delay. */
  waiting: boolean;
}

/** A running collector. */
export interface Collector {
  /** The random id of this session (one per page load). */
  readonly session: string;
  /** Gives or withdraws consent. Withdrawing stops collection and discards everything not yet sent. */
  consent(granted: boolean): void;
  /** Seals what is buffered and starts sending it now. */
  flush(): void;
  /** Stops collecting and sending (what is buffered is discarded). */
  stop(): void;
  /** Counters. */
  stats(): CollectorStats;
}

const FIELD = "input, textarea, select, [contenteditable], [contenteditable=''], [contenteditable='true']";

function randomId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Does the event come from inside an element marked `data-shroud-ignore`? */
function ignored(t: EventTarget | null): boolean {
  const el = t as Element | null;
  return !!el && typeof el.closest === "function" && el.closest("[data-shroud-ignore]") !== null;
}

/**
 * Creates and starts a collector. With `requireConsent`, it records nothing
 * until `consent(true)`; a session not drawn by `sampleRate` records nothing ever.
 */
export function createCollector(options: CollectorOptions): Collector {
  const doc = options.document ?? document;
  // Typed loosely: the observers are read off the document's own window (iframes, tests).
  const win = (doc.defaultView ?? globalThis) as Window & typeof globalThis;
  const perf = win.performance ?? performance;
  const session = randomId();
  const zones: ZoneMode = options.zones === "hands" ? "hands" : "fine";
  const sampled = Math.random() < (options.sampleRate ?? 1);
  const flushMs = options.flushIntervalMs ?? 5000;
  const scrollMs = options.scrollIntervalMs ?? 50;
  const origin = perf.timeOrigin;
  const q = new BatchQueue({
    session,
    origin,
    user: options.user,
    zones,
    maxBatchEvents: Math.max(1, options.maxBatchEvents ?? 500),
    maxQueuedBatches: Math.max(1, options.maxQueuedBatches ?? 32),
    maxBufferedEvents: Math.max(1, options.maxBufferedEvents ?? 10000),
  });
  const fetchFn = options.fetch ?? win.fetch?.bind(win) ?? globalThis.fetch;
  const tx = new Transport(q, {
    endpoint: options.endpoint,
    headers: options.headers,
    compress: options.compress ?? true,
    retryBaseMs: options.retryBaseMs ?? 1000,
    retryMaxMs: options.retryMaxMs ?? 60000,
    credentials: options.credentials ?? "same-origin",
    fetch: fetchFn,
    now: () => perf.now(),
    onError: options.onError,
    online: () => win.navigator?.onLine !== false,
    random: Math.random,
  });

  let collecting = false;
  let consented = !options.requireConsent;
  let recorded = 0;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const off: Array<() => void> = [];

  /** Event time: the event's own timestamp (when it happened), not when the handler ran. */
  const ts = (e?: Event): number => {
    const t = e && e.timeStamp > 0 && e.timeStamp <= perf.now() + 1000 ? e.timeStamp : perf.now();
    return r1(t);
  };

  const viewport = () => {
    const w = win.innerWidth, h = win.innerHeight, dpr = win.devicePixelRatio || 1;
    return w > 0 && h > 0 && w <= 100000 && h <= 100000 && dpr > 0 && dpr <= 16 ? { w, h, dpr } : undefined;
  };

  const flushNow = () => {
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    q.seal(viewport());
    tx.kick();
  };

  const rec = (e: WireEvent) => {
    recorded++;
    if (q.push(e)) {
      // Full batch: seal and send off the current input task.
      if (flushTimer !== undefined) clearTimeout(flushTimer);
      flushTimer = setTimeout(flushNow, 0);
    } else if (flushTimer === undefined) {
      flushTimer = setTimeout(flushNow, flushMs);
    }
  };

  const on = <K extends string>(target: EventTarget, type: K, fn: (e: any) => void, capture = true) => {
    const opts: AddEventListenerOptions = { capture, passive: true };
    target.addEventListener(type, fn, opts);
    off.push(() => target.removeEventListener(type, fn, opts));
  };

  // Dwell on sensitive elements: visible (>= half in view) while the page is visible.
  const since = new Map<Element, number>();
  const inView = new Set<Element>();
  let io: IntersectionObserver | undefined;
  let mo: MutationObserver | undefined;
  const endDwell = (el: Element, t: number) => {
    const s = since.get(el);
    since.delete(el);
    const name = label(el.getAttribute("data-shroud-sensitive"));
    if (s === undefined || !name) return;
    const ms = r1(Math.min(t - s, 86_400_000));
    if (ms > 0) rec({ t, k: "dw", el: name, ms });
  };
  const observe = (root: ParentNode) => {
    if (!io) return;
    if ((root as Element).matches?.("[data-shroud-sensitive]")) io.observe(root as Element);
    root.querySelectorAll?.("[data-shroud-sensitive]").forEach((el) => io!.observe(el));
  };

  const startListening = () => {
    if (collecting || !sampled || !consented) return;
    collecting = true;

    on(doc, "keydown", (e: KeyboardEvent) => {
      if (ignored(e.target)) return;
      // IME composition: the physical key says little, and code may be empty.
      const z = e.isComposing ? "OT" : zoneOf(e.code, zones);
      rec(e.repeat ? { t: ts(e), k: "kd", z, r: true } : { t: ts(e), k: "kd", z });
    });
    on(doc, "keyup", (e: KeyboardEvent) => {
      if (ignored(e.target)) return;
      rec({ t: ts(e), k: "ku", z: e.isComposing ? "OT" : zoneOf(e.code, zones) });
    });

    let lastX = NaN, lastY = NaN;
    on(doc, "pointermove", (e: PointerEvent) => {
      if (e.pointerType === "touch" || ignored(e.target)) return; // touch comes with pressure/radius below
      const x = coord(e.clientX), y = coord(e.clientY);
      if (x === lastX && y === lastY) return;
      lastX = x;
      lastY = y;
      rec(e.buttons ? { t: ts(e), k: "mm", x, y, b: e.buttons & 31 } : { t: ts(e), k: "mm", x, y });
    });
    const button = (k: "md" | "mu") => (e: PointerEvent) => {
      if (e.pointerType === "touch" || ignored(e.target) || e.button < 0 || e.button > 5) return;
      rec({ t: ts(e), k, x: coord(e.clientX), y: coord(e.clientY), b: e.button });
    };
    on(doc, "pointerdown", button("md"));
    on(doc, "pointerup", button("mu"));

    on(doc, "wheel", (e: WheelEvent) => {
      if (ignored(e.target)) return;
      const m = e.deltaMode >= 0 && e.deltaMode <= 2 ? e.deltaMode : 0;
      rec({ t: ts(e), k: "wh", dx: coord(e.deltaX), dy: coord(e.deltaY), m, x: coord(e.clientX), y: coord(e.clientY) });
    });

    let scrollTimer: ReturnType<typeof setTimeout> | undefined;
    let lastScroll = -Infinity;
    const scrollSample = () => {
      scrollTimer = undefined;
      lastScroll = perf.now();
      rec({ t: r1(lastScroll), k: "sc", sx: coord(win.scrollX, MAX_SCROLL), sy: coord(win.scrollY, MAX_SCROLL) });
    };
    on(win, "scroll", () => {
      // At most one sample per scrollIntervalMs, and always the final position.
      if (scrollTimer !== undefined) return;
      const wait = Math.max(0, lastScroll + scrollMs - perf.now());
      scrollTimer = setTimeout(scrollSample, wait);
    }, false);
    off.push(() => scrollTimer !== undefined && clearTimeout(scrollTimer));

    const touch = (k: "ts" | "tm" | "te") => (e: TouchEvent) => {
      if (ignored(e.target)) return;
      const t = ts(e);
      for (let i = 0; i < e.changedTouches.length; i++) {
        const c = e.changedTouches[i]!;
        const ev: WireEvent = { t, k, id: c.identifier, x: coord(c.clientX), y: coord(c.clientY) };
        if (c.force > 0 && c.force <= 1) ev.p = Math.round(c.force * 1000) / 1000;
        if (c.radiusX > 0) ev.rx = coord(Math.min(c.radiusX, 10000));
        if (c.radiusY > 0) ev.ry = coord(Math.min(c.radiusY, 10000));
        rec(ev);
      }
    };
    on(doc, "touchstart", touch("ts"));
    on(doc, "touchmove", touch("tm"));
    on(doc, "touchend", touch("te"));
    on(doc, "touchcancel", touch("te"));

    for (const op of ["copy", "cut", "paste"] as const) {
      on(doc, op, (e: ClipboardEvent) => {
        if (!ignored(e.target)) rec({ t: ts(e), k: "cb", op }); // never e.clipboardData
      });
    }

    const fc = (s: FocusState, e?: Event, el?: string) => rec(el ? { t: ts(e), k: "fc", s, el } : { t: ts(e), k: "fc", s });
    on(win, "focus", (e: FocusEvent) => e.target === win && fc("win_focus", e), false);
    on(win, "blur", (e: FocusEvent) => e.target === win && fc("win_blur", e), false);
    const field = (s: FocusState) => (e: FocusEvent) => {
      const el = e.target as Element | null;
      if (!el || typeof el.matches !== "function" || !el.matches(FIELD) || ignored(el)) return;
      fc(s, e, label(el.closest("[data-shroud-id]")?.getAttribute("data-shroud-id")));
    };
    on(doc, "focusin", field("field_focus"));
    on(doc, "focusout", field("field_blur"));
    on(doc, "visibilitychange", (e: Event) => {
      const t = ts(e);
      if (doc.visibilityState === "hidden") {
        fc("hidden", e);
        for (const el of Array.from(since.keys())) endDwell(el, t);
        flushNow(); // the page may never come back: send while we still can
      } else {
        fc("visible", e);
        for (const el of inView) since.set(el, t);
      }
    });
    on(win, "pagehide", () => {
      const t = r1(perf.now());
      for (const el of Array.from(since.keys())) endDwell(el, t);
      q.seal(viewport());
      const nav = win.navigator;
      tx.flushOnExit(typeof nav?.sendBeacon === "function" ? nav.sendBeacon.bind(nav) : undefined);
    }, false);
    on(win, "online", () => tx.kick(), false);

    if (typeof win.IntersectionObserver === "function") {
      io = new win.IntersectionObserver(
        (entries: IntersectionObserverEntry[]) => {
          for (const en of entries) {
            const t = r1(en.time > 0 ? en.time : perf.now());
            if (en.isIntersecting && en.intersectionRatio >= 0.5) {
              inView.add(en.target);
              if (doc.visibilityState !== "hidden" && !since.has(en.target)) since.set(en.target, t);
            } else {
              inView.delete(en.target);
              endDwell(en.target, t);
            }
          }
        },
        { threshold: [0, 0.5, 1] },
      );
      observe(doc);
      if (typeof win.MutationObserver === "function") {
        const m = new win.MutationObserver((muts: MutationRecord[]) => {
          for (const r of muts) r.addedNodes.forEach((n: Node) => n.nodeType === 1 && observe(n as Element));
        });
        m.observe(doc.documentElement, { childList: true, subtree: true });
        mo = m;
      }
    }
  };

  const stopListening = () => {
    while (off.length) off.pop()!();
    io?.disconnect();
    mo?.disconnect();
    io = mo = undefined;
    since.clear();
    inView.clear();
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    collecting = false;
  };

  startListening();

  return {
    session,
    consent(granted: boolean) {
      consented = granted;
      if (granted) startListening();
      else {
        stopListening();
        q.clear();
      }
    },
    flush: flushNow,
    stop() {
      stopListening();
      tx.stop();
      q.clear();
    },
    stats() {
      return {
        ...tx.stats,
        session,
        collecting,
        bufferedEvents: q.bufferedEvents,
        queuedBatches: q.length,
        droppedEvents: q.droppedTotal,
        recordedEvents: recorded,
        inFlight: tx.inFlight,
        waiting: tx.waiting,
      };
    },
  };
}
