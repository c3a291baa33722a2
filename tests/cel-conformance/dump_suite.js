// Writes the CEL conformance suite pinned by package-lock.json (@bufbuild/cel-spec) as one JSON
// document: {"name": "conformance", "suites": [{"name": file, "suites": [{"name": section,
// "tests": [SimpleTest in proto3 JSON form, ...]}]}]}.
// Usage: node dump_suite.js OUTPUT.json
"use strict";
const fs = require("fs");
const path = require("path");

const out = process.argv[2];
if (!out) {
  console.error("usage: node dump_suite.js OUTPUT.json");
  process.exit(2);
}
const { tests } = require("@bufbuild/cel-spec/testdata/conformance.js");
const version = JSON.parse(
  fs.readFileSync(path.join(__dirname, "node_modules/@bufbuild/cel-spec/package.json"), "utf8"),
).version;

const simplify = (suite) => ({
  name: suite.name,
  suites: (suite.suites ?? []).map(simplify),
  tests: (suite.tests ?? []).map((t) => t.original),
});
const doc = { version, ...simplify(tests) };
fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
fs.writeFileSync(out, JSON.stringify(doc));
let count = 0;
const walk = (s) => {
  count += s.tests.length;
  s.suites.forEach(walk);
};
walk(doc);
console.log(`dump_suite: ${count} cases from @bufbuild/cel-spec ${version} -> ${out}`);
