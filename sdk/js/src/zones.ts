/**
 * The key-zone table of telemetry schema v1 (docs/telemetry.md, "Key zones"),
 * the same table as `Zone::from_dom_code` in the Rust crate `shroud-telemetry`
 * (a shared fixture keeps them equal). Only the physical key position
 * (`KeyboardEvent.code`) is looked at, never `key` or the character.
 */

/** A zone code as sent on the wire. */
export type Zone =
  | "L5" | "L4" | "L3" | "L2" | "L1" | "R1" | "R2" | "R3" | "R4" | "R5"
  | "SP" | "BS" | "EN" | "TB" | "MO" | "NV" | "NP" | "FN" | "OT" | "LH" | "RH";

/** Key-zone granularity: the 10 finger zones, or only left/right hand. */
export type ZoneMode = "fine" | "hands";

// A Map, not an object: a code such as "constructor" must not hit the prototype.
const TABLE = new Map<string, Zone>();
const add = (zone: Zone, codes: string) => {
  for (const c of codes.split(" ")) TABLE.set(c, zone);
};
add("L5", "Backquote Digit1 KeyQ KeyA KeyZ IntlBackslash");
add("L4", "Digit2 KeyW KeyS KeyX");
add("L3", "Digit3 KeyE KeyD KeyC");
add("L2", "Digit4 KeyR KeyF KeyV");
add("L1", "Digit5 KeyT KeyG KeyB");
add("R1", "Digit6 KeyY KeyH KeyN");
add("R2", "Digit7 KeyU KeyJ KeyM");
add("R3", "Digit8 KeyI KeyK Comma");
add("R4", "Digit9 KeyO KeyL Period");
add("R5", "Digit0 Minus Equal KeyP BracketLeft BracketRight Backslash Semicolon Quote Slash IntlRo IntlYen");
add("SP", "Space");
add("BS", "Backspace Delete");
add("EN", "Enter NumpadEnter");
add("TB", "Tab");
add("MO", "ShiftLeft ShiftRight ControlLeft ControlRight AltLeft AltRight MetaLeft MetaRight CapsLock");
add("NV", "ArrowUp ArrowDown ArrowLeft ArrowRight Home End PageUp PageDown Insert");
add("FN", "Escape");

/** Maps a `KeyboardEvent.code` to its zone (unknown codes are `OT`). */
export function zoneOf(code: string, mode: ZoneMode = "fine"): Zone {
  let z = TABLE.get(code);
  if (!z) {
    if (code.startsWith("Numpad")) z = "NP";
    else if (/^F[0-9]+$/.test(code)) z = "FN";
    else z = "OT";
  }
  if (mode === "hands" && /^[LR][1-5]$/.test(z)) return z.startsWith("L") ? "LH" : "RH";
  return z;
}
