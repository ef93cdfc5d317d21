// A loopback HTTP server for the browser test and bench: serves the test
// page and the built collector, and records every telemetry request.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { gunzipSync, brotliDecompressSync } from "node:zlib";

const dist = new URL("../../dist/", import.meta.url);

export async function startServer({ answer } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (req.method === "GET" && url.pathname === "/") {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(readFileSync(new URL("page.html", import.meta.url)));
    } else if (req.method === "GET" && url.pathname === "/collector.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(readFileSync(new URL("collector.js", dist)));
    } else if (req.method === "POST" && url.pathname === "/v1/telemetry") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks);
        const enc = req.headers["content-encoding"] ?? "identity";
        const json = enc === "gzip" ? gunzipSync(raw) : enc === "br" ? brotliDecompressSync(raw) : raw;
        const batch = JSON.parse(json.toString("utf8"));
        const r = { raw, json, batch, headers: req.headers, encoding: enc };
        requests.push(r);
        const [status, headers] = answer ? answer(r, requests.length) : [202, {}];
        res.writeHead(status, { "Content-Type": "application/json", ...headers });
        res.end(status === 202 ? JSON.stringify({ accepted: batch.events.length, seq: batch.seq }) : "{}");
      });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections(); // keep-alive sockets would hold the process open
      }),
  };
}
