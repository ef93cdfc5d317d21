/** Wire shapes of schema v1 (docs/telemetry.md). Only timings and shapes. */

import type { Zone, ZoneMode } from "./zones.js";

/** One event as sent: `t` ms since `clock.origin`, `k` its kind, then its fields. */
export type WireEvent =
  | { t: number; k: "kd"; z: Zone; r?: true }
  | { t: number; k: "ku"; z: Zone }
  | { t: number; k: "mm"; x: number; y: number; b?: number }
  | { t: number; k: "md" | "mu"; x: number; y: number; b: number }
  | { t: number; k: "wh"; dx: number; dy: number; m: number; x?: number; y?: number }
  | { t: number; k: "sc"; sx: number; sy: number }
  | { t: number; k: "ts" | "tm" | "te"; id: number; x: number; y: number; p?: number; rx?: number; ry?: number }
  | { t: number; k: "cb"; op: "copy" | "cut" | "paste" }
  | { t: number; k: "fc"; s: FocusState; el?: string }
  | { t: number; k: "dw"; el: string; ms: number };

/** Values of `fc` events' `s`. */
export type FocusState = "win_focus" | "win_blur" | "visible" | "hidden" | "field_focus" | "field_blur";

/** A batch as sent (`clock.sent` is filled in at each send attempt). */
export interface WireBatch {
  v: 1;
  session: string;
  user?: string;
  seq: number;
  zones?: ZoneMode;
  dropped?: number;
  clock: { origin: number; sent: number };
  viewport?: { w: number; h: number; dpr: number };
  events: WireEvent[];
}

/** Limits of the wire format that the collector must respect. */
export const MAX_COORD = 100_000;
export const MAX_SCROLL = 100_000_000;
export const MAX_SPAN_MS = 10 * 60_000; // below the gateway's 15 min default

const LABEL = /^[A-Za-z0-9._:-]{1,64}$/;

/** A site label as the wire accepts it, or undefined (never guessed or repaired into a different name). */
export function label(v: string | null | undefined): string | undefined {
  return v != null && LABEL.test(v) ? v : undefined;
}

/** Rounds to 0.1 (CSS px or ms): finer than any input device, and a third shorter on the wire. */
export const r1 = (v: number): number => Math.round(v * 10) / 10;

/** Clamps a coordinate into the wire's range (non-finite becomes 0). */
export function coord(v: number, max = MAX_COORD): number {
  if (!Number.isFinite(v)) return 0;
  return r1(v < -max ? -max : v > max ? max : v);
}
