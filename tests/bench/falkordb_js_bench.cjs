// The reference peer of scripts/bench.sh for FalkorDB (DESIGN §10): the official JavaScript
// client (`falkordb` on npm, installed under .run/tools by scripts/install-deps.sh) running
// one query from CLIENTS concurrent async loops on Node for SECONDS.
//
//   node falkordb_js_bench.cjs HOST PORT GRAPH QUERY CLIENTS SECONDS [--ro]
//
// Prints {"throughput_per_second", "p50_ms", "p99_ms", "errors"} as one JSON line.
"use strict";
const path = require("path");
const { FalkorDB } = require(path.join(__dirname, "../../.run/tools/node_modules/falkordb"));

async function main() {
  const [host, port, graphName, query, clientsText, secondsText, mode] = process.argv.slice(2);
  const clients = Number(clientsText);
  const seconds = Number(secondsText);
  const db = await FalkorDB.connect({ socket: { host, port: Number(port) } });
  const graph = db.selectGraph(graphName);
  const run = mode === "--ro" ? (q) => graph.roQuery(q) : (q) => graph.query(q);
  await run(query);  // warm-up: connection and the server's plan cache

  const latencies = [];
  let errors = 0;
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  async function loop() {
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      try {
        await run(query);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (e) {
        errors += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, loop));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null;
  console.log(JSON.stringify({
    requests: latencies.length,
    throughput_per_second: latencies.length / elapsed,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    errors,
  }));
  await db.close();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
