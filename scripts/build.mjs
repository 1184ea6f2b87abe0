#!/usr/bin/env node
// npm run build — also run by `npm ci` / `npm install` (`prepare`) and before `npm test`: bundles the command line
// (src/cli/main.ts), the offline schema engine (src/engine/main.ts) and the library entry (src/index.ts,
// the package's `exports`) into dist/ as plain JavaScript, so that no command and no program that
// imports the package pays for transpiling TypeScript (nor needs tsx). Each command's code is a chunk
// of its own, loaded only when that command runs.
//
// --types also writes the library's type declarations into dist/types/ (tsc, without type checking:
// `npm run typecheck` checks): `npm run build` and `npm pack` (prepack) do, while `prepare` and
// `pretest` leave them out, which would double their time.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { BUILD_INFO, builtIsFresh, DIST, newestMtime, projectRoot } from './entry.mjs'

// --if-stale (npm ci, npm test, npm pack) builds only when dist/ is missing or older than its sources, so
// that two test runs started side by side never rebuild it under each other's feet. Declarations
// found in a fresh dist/ are current: every rebuild starts from an empty dist/.
if (process.argv.includes('--if-stale') && builtIsFresh()) {
  if (process.argv.includes('--types') && !fs.existsSync(path.join(projectRoot, DIST, 'types', 'index.d.ts'))) emitTypes()
  process.exit(0)
}
const started = performance.now()
fs.rmSync(path.join(projectRoot, DIST), { recursive: true, force: true })
const { metafile } = await build({
  metafile: true,
  absWorkingDir: projectRoot,
  entryPoints: { cli: 'src/cli/main.ts', 'schema-engine': 'src/engine/main.ts', index: 'src/index.ts' },
  outdir: DIST,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Packages stay in node_modules, except commander, pg and the adapter that drives pg: bundled, they
  // start in a third of the time (no resolution of some thirty small CommonJS files one by one), and
  // the engine's adapter shares the one pg the rest of the code loads. CommonJS inside the bundle
  // gets a `require` of its own (the banner).
  plugins: [
    externalPackagesExcept([
      'pg',
      'pg-pool',
      'pg-protocol',
      'pg-types',
      'pg-connection-string',
      'pgpass',
      'pg-int8',
      'postgres-array',
      'postgres-bytea',
      'postgres-date',
      'postgres-interval',
      'split2',
      'xtend',
      'commander',
      '@prisma/adapter-pg',
      '@prisma/driver-adapter-utils',
      '@prisma/debug',
    ]),
  ],
  banner: { js: "import { createRequire as __artstoreCreateRequire } from 'node:module'; const require = __artstoreCreateRequire(import.meta.url);" },
  logLevel: 'warning',
})
// The project's own files the bundle was made from, and the newest of their times: the executables
// take dist/ only while none of them is newer (see entry.mjs).
const sources = Object.keys(metafile.inputs).filter((f) => !f.includes('node_modules/'))
fs.writeFileSync(path.join(projectRoot, DIST, BUILD_INFO), JSON.stringify({ sourcesMtimeMs: newestMtime(sources), sources }) + '\n')
if (process.argv.includes('--types')) emitTypes()
if (process.argv[1] === fileURLToPath(import.meta.url) && !process.argv.includes('--quiet')) {
  console.log(`built ${DIST}/ in ${Math.round(performance.now() - started)} ms`)
}

/** An esbuild plugin: every bare import is external (left to node_modules) except the listed packages. */
function externalPackagesExcept(bundled) {
  return {
    name: 'external-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0]
        return bundled.includes(name) ? undefined : { path: args.path, external: true }
      })
    },
  }
}

/** The library's declarations (tsconfig.build.json: src/index.ts and what it reaches) into dist/types/. */
function emitTypes() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: projectRoot, encoding: 'utf8' })
  if (run.status !== 0) {
    process.stderr.write(`${run.stdout}${run.stderr}`)
    throw new Error(`tsc could not write the type declarations (exit ${run.status}): fix the errors above, then npm run build`)
  }
}
