// Prints the collector's size (raw, minified+gzip, minified+brotli) and fails
// when minified+gzip exceeds the 8 KB budget of issue 7.
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const BUDGET = 8 * 1024;
const js = readFileSync(new URL("../dist/collector.js", import.meta.url));
const gz = gzipSync(js, { level: 9 }).length;
const br = brotliCompressSync(js, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
console.log("| file | minified | min+gzip | min+brotli | budget (gzip) |");
console.log("|---|---|---|---|---|");
console.log(`| dist/collector.js | ${js.length} B | ${gz} B | ${br} B | ${BUDGET} B |`);
if (gz > BUDGET) {
  console.error(`size budget exceeded: ${gz} B > ${BUDGET} B`);
  process.exit(1);
}
