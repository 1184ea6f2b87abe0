#!/usr/bin/env node
// npm run build — also run by `npm ci` / `npm install` (the `prepare` script): bundles the command line
// (src/cli/main.ts) and the offline schema engine (src/engine/main.ts) into dist/ as plain JavaScript,
// so that no command pays for transpiling TypeScript at start. Each command's code is a chunk of its
// own, loaded only when that command runs. Packages stay in node_modules (not bundled).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { BUILD_INFO, DIST, newestSourceMtime, projectRoot } from './entry.mjs'

const started = performance.now()
const sourcesMtimeMs = newestSourceMtime()
fs.rmSync(path.join(projectRoot, DIST), { recursive: true, force: true })
await build({
  absWorkingDir: projectRoot,
  entryPoints: { cli: 'src/cli/main.ts', 'schema-engine': 'src/engine/main.ts' },
  outdir: DIST,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  packages: 'external',
  logLevel: 'warning',
})
fs.writeFileSync(path.join(projectRoot, DIST, BUILD_INFO), JSON.stringify({ sourcesMtimeMs }) + '\n')
if (process.argv[1] === fileURLToPath(import.meta.url) && !process.argv.includes('--quiet')) {
  console.log(`built ${DIST}/ in ${Math.round(performance.now() - started)} ms`)
}
