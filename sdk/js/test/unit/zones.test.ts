import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { zoneOf } from "../../src/zones.js";

// Generated from the Rust table by crates/shroud-telemetry/tests/zone_table.rs:
// both sides of the wire must map every KeyboardEvent.code identically.
const fixture = JSON.parse(
  readFileSync(new URL("../../../../crates/shroud-telemetry/tests/fixtures/zone-table.json", import.meta.url), "utf8"),
) as { fine: Record<string, string>; hands: Record<string, string> };

describe("zone table parity with Rust", () => {
  it("covers the spec's codes", () => {
    expect(Object.keys(fixture.fine).length).toBeGreaterThan(150);
  });
  for (const mode of ["fine", "hands"] as const) {
    it(`maps every code like Zone::from_dom_code (${mode})`, () => {
      const mismatches = Object.entries(fixture[mode]).filter(([code, zone]) => zoneOf(code, mode) !== zone);
      expect(mismatches).toEqual([]);
    });
  }
  it("never returns a prototype member for hostile codes", () => {
    expect(zoneOf("constructor")).toBe("OT");
    expect(zoneOf("__proto__")).toBe("OT");
  });
});
