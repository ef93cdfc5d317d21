// Builds dist/collector.js (ESM, minified, no runtime dependencies) with
// esbuild and dist/*.d.ts with tsc (which also type-checks the sources).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: [root + "src/index.ts"],
  outfile: root + "dist/collector.js",
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  platform: "browser",
  sourcemap: true,
  legalComments: "none",
});
execFileSync(process.execPath, [root + "node_modules/typescript/bin/tsc", "-p", root], { stdio: "inherit" });
console.log("built dist/collector.js and dist/*.d.ts");
