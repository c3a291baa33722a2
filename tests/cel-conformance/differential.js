// Evaluates every expression of differential.txt with the reference evaluator @bufbuild/cel
// (with its strings extension) and writes the results as JSON for the C++ runner:
// [{"expr": "...", "value": <cel.expr.Value JSON>} | {"expr": "...", "error": "..."}].
// Usage: node differential.js INPUT.txt OUTPUT.json
"use strict";
const fs = require("fs");
const cel = require("@bufbuild/cel");
const ext = require("@bufbuild/cel/ext");

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node differential.js INPUT.txt OUTPUT.json");
  process.exit(2);
}

function toJson(v) {
  if (v === null) return { nullValue: null };
  switch (typeof v) {
    case "boolean":
      return { boolValue: v };
    case "bigint":
      return { int64Value: v.toString() };
    case "number":
      return { doubleValue: Number.isFinite(v) ? v : String(v).replace("Infinity", "Infinity") };
    case "string":
      return { stringValue: v };
  }
  if (cel.isCelUint(v)) return { uint64Value: v.value.toString() };
  if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString("base64") };
  if (cel.isCelList(v)) {
    const values = [];
    for (const e of v) values.push(toJson(e));
    return { listValue: { values } };
  }
  if (cel.isCelMap(v)) {
    const entries = [];
    for (const [k, val] of v.entries()) entries.push({ key: toJson(k), value: toJson(val) });
    return { mapValue: { entries } };
  }
  if (cel.isCelType(v)) return { typeValue: v.name };
  throw new Error("unsupported result " + String(v));
}

const results = [];
for (const line of fs.readFileSync(input, "utf8").split("\n")) {
  const expr = line.trim();
  if (!expr || expr.startsWith("#")) continue;
  try {
    const v = cel.run(expr, {}, { funcs: ext.strings });
    if (cel.isCelError(v)) {
      results.push({ expr, error: v.message });
    } else {
      results.push({ expr, value: toJson(v) });
    }
  } catch (err) {
    results.push({ expr, error: String(err.message ?? err) });
  }
}
fs.writeFileSync(output, JSON.stringify(results, null, 1));
console.log(`differential: ${results.length} expressions evaluated by @bufbuild/cel -> ${output}`);
