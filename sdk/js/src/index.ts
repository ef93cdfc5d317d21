/**
 * `@shroud/collector`: Shroud's browser collector. Records behavioral timings
 * and shapes (never content) and sends them to the Shroud gateway in the
 * wire format of docs/telemetry.md (schema v1).
 *
 * ```ts
 * import { createCollector } from "@shroud/collector";
 * const c = createCollector({
 *   endpoint: "/v1/telemetry",
 *   headers: () => ({ Authorization: `Bearer ${token}` }),
 *   requireConsent: true,
 * });
 * consentButton.onclick = () => c.consent(true);
 * ```
 */
export { createCollector, type Collector, type CollectorOptions, type CollectorStats } from "./collector.js";
export { zoneOf, type Zone, type ZoneMode } from "./zones.js";
export type { WireBatch, WireEvent, FocusState } from "./events.js";
export type { HeadersHook } from "./transport.js";
