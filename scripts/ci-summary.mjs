#!/usr/bin/env node
// Adds up vitest JSON reports (one per CI run) and prints one plain closing line:
// "total: N passed, N failed, N skipped". Exits 1 if any test failed or no test ran.
import fs from 'node:fs'

let passed = 0
let failed = 0
let skipped = 0
for (const file of process.argv.slice(2)) {
  const r = JSON.parse(fs.readFileSync(file, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + r.numTodoTests
}
console.log(`total: ${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed || !passed ? 1 : 0)
