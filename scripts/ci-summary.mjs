#!/usr/bin/env node
// Adds up vitest JSON reports (one per CI run) and prints, last, each failed test with the first
// lines of its failure, then one plain closing line: "total: N passed, N failed, N skipped".
// Exits 1 if any test failed or no test ran. A report that is missing (its run never wrote one), or
// that says its run failed outside its tests, is named and counts as a failure.
import fs from 'node:fs'
import path from 'node:path'

let passed = 0
let failed = 0
let skipped = 0
let brokenRuns = 0
const failures = []
for (const file of process.argv.slice(2)) {
  if (!fs.existsSync(file)) {
    console.log(`no report: ${file} (that run ended before writing it; see its log)`)
    brokenRuns++
    continue
  }
  const r = JSON.parse(fs.readFileSync(file, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + r.numTodoTests
  const run = path.basename(file, '.json')
  // A run can fail outside its tests (its global set-up, an unhandled error): no test says so, the report does.
  if (r.success === false && !r.numFailedTests) {
    failures.push(`[${run}] the run failed outside its tests (${r.numTotalTests} tests ran): see its log`)
    brokenRuns++
  }
  for (const suite of r.testResults ?? []) {
    const where = path.relative(process.cwd(), suite.name)
    const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === 'failed')
    if (suite.status === 'failed' && failedTests.length === 0) failures.push(`[${run}] ${where}: ${firstLines(suite.message)}`)
    for (const t of failedTests)
      failures.push(`[${run}] ${where} > ${t.fullName} (${Math.round(t.duration ?? 0)} ms): ${firstLines(t.failureMessages?.join('\n'))}`)
  }
}
if (failures.length) console.log(`failed tests:\n${failures.map((f) => `  ${f}`).join('\n')}`)
console.log(`total: ${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed || brokenRuns || !passed ? 1 : 0)

function firstLines(text = '') {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '')
  return plain
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, 6)
    .join('\n      ')
}
