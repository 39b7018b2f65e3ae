// Runs api/web/static/verify.js under node for tests/web/test_verify_js.py.
// stdin: {"op": "canonical", "values": [...]} -> hex of each value's canonical bytes;
//        {"op": "inclusion"|"consistency", "cases": [...]} -> whether each proof verifies;
//        {"op": "bundles", "key": "...", "bundles": [...]} -> each verifyBundle result.
"use strict";
const path = require("path");
const V = require(path.resolve(__dirname, "../../api/web/static/verify.js"));

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const b64 = (x) => V.fromBase64(x, "hash");
  let out;
  if (input.op === "canonical") {
    out = input.values.map((v) => V.hex(V.canonicalBytes(v)));
  } else if (input.op === "inclusion") {
    out = [];
    for (const c of input.cases) {
      try {
        await V.verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof || []).map(b64), b64(c.root));
        out.push(true);
      } catch (e) { out.push(false); }
    }
  } else if (input.op === "consistency") {
    out = [];
    for (const c of input.cases) {
      try {
        await V.verifyConsistency(c.size1, c.size2, (c.proof || []).map(b64), b64(c.root1), b64(c.root2));
        out.push(true);
      } catch (e) { out.push(false); }
    }
  } else if (input.op === "bundles") {
    out = [];
    for (const b of input.bundles) out.push(await V.verifyBundle(b, input.key, input.witnesses));
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
