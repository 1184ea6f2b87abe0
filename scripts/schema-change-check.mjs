#!/usr/bin/env node
// The repo stays green through an additive schema change: in a scratch copy of the project, add a
// table, a column and an enum label to every module (plus, in the query module, a plain index), write
// their migrations with `migrate new`, then run the type check and a selection of the test suite there.
// Nothing of this checkout changes. Slow (minutes): not part of `npm test`; see README "Set up and test".
//
//   [TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres] node scripts/schema-change-check.mjs [--keep] [test files…]
//
// Without test files it runs DEFAULT_TESTS. `migrate new` replays the history on, and the tests run on,
// TEST_DATABASE_URL's server (its user must be allowed to create databases), else on an embedded
// PostgreSQL of the copy's own (ARTSTORE_EMBEDDED_PORT, as for npm test).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** The files that pinned the live schema before they were made to read it (issue 20), and the cache rebuild's. */
const DEFAULT_TESTS = [
  'test/db/cli.test.ts',
  'test/db/deploy-engine.test.ts',
  'test/db/resolve.test.ts',
  'test/db/search.test.ts',
  'test/db/schemas.test.ts',
  'test/db/cache.test.ts',
  'test/db/cache-query.test.ts',
  'test/db/cache-shape.test.ts',
  'test/db/access.test.ts',
  'test/unit',
]

const args = process.argv.slice(2)
const keep = args.includes('--keep')
const tests = args.filter((a) => !a.startsWith('--'))
const base = process.env.TEST_DATABASE_URL

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-schema-change-'))
// Readable by others: the embedded server's initdb runs as the postgres user when started by root.
fs.chmodSync(dir, 0o755)
const skip = new Set(['node_modules', '.git', '.artstore', 'generated', 'dist'])
for (const entry of fs.readdirSync(root)) if (!skip.has(entry)) fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true })
fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'))

/** Adds a line at the top of the first model, a model of its own and (admin) a label to the first enum. */
function editSchema(module, extra = '') {
  const file = path.join(dir, 'prisma', module, 'schema.prisma')
  let text = fs.readFileSync(file, 'utf8')
  const first = /^model \w+ \{\n/m.exec(text)
  if (!first) throw new Error(`${file}: no model to add a column to`)
  text = text.replace(first[0], `${first[0]}  schemaChangeProbe String? @map("schema_change_probe") @db.VarChar(20)\n`)
  // A label at the end of the first enum (a label before others would be a reordering).
  text = text.replace(/^(enum \w+ \{\n(?: {2}\w+\n)+)/m, '$1  SCHEMA_CHANGE_PROBE\n')
  // Named after the module: verify reports a table of one module's that another module's schema also has.
  const table = `${module === 'storage-element' ? 'storage_elem_01' : module}_schema_change_probe`
  text += `\nmodel SchemaChangeProbe {\n  id   Int    @id @default(autoincrement())\n  note String @db.VarChar(50)\n${extra}\n  @@map("${table}")\n}\n`
  fs.writeFileSync(file, text)
}
editSchema('admin')
editSchema('storage-element')
editSchema('query', '  @@index([note], map: "idx_query_schema_change_probe_note")')

const run = (label, cmd, cmdArgs, env = {}) => {
  console.log(`== ${label}`)
  const r = spawnSync(cmd, cmdArgs, { cwd: dir, stdio: 'inherit', env: { ...process.env, ARTSTORE_DOTENV: '0', ...env } })
  if (r.status !== 0) {
    console.error(`❌ ${label} failed (exit ${r.status}); the copy is kept in ${dir}`)
    process.exit(1)
  }
}
// migrate new and check make scratch databases of their own on the server of DATABASE_URL (or the embedded one).
const server = base ? { DATABASE_URL: Object.assign(new URL(base), { pathname: '/postgres' }).toString() } : {}
for (const module of ['admin', 'storage-element', 'query']) {
  run(
    `migrate new --module ${module}`,
    process.execPath,
    ['scripts/artstore-db.mjs', 'migrate', 'new', '--module', module, '--name', 'schema_change_probe'],
    server,
  )
}
run('migrate check', process.execPath, ['scripts/artstore-db.mjs', 'migrate', 'check'], server)
run('npm run typecheck', 'npm', ['run', '--silent', 'typecheck'])
run('npm test (selection)', 'npm', ['test', '--', ...(tests.length ? tests : DEFAULT_TESTS)])
console.log(`✅ after an additive change to every schema, the type check and the selected tests pass`)
if (keep) console.log(`the copy: ${dir}`)
else fs.rmSync(dir, { recursive: true, force: true })
