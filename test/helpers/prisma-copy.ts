import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { readCatalog, type Catalog } from '../../src/catalog/read.ts'
import { projectRoot } from '../../src/modules.ts'
import { scratchRoot } from './workdir.ts'

/**
 * A scratch copy of the project's module folders (schemas, extras, migrations), for tests that change
 * schemas: commands take it as `prismaDir` (or ARTSTORE_PRISMA_DIR), and the committed ones stay as
 * they are. Returns its path.
 *
 * `at: 'baseline'` copies the modules as 0_baseline left them instead: its frozen schemas and extras
 * (test/fixtures/prisma-baseline/) and 0_baseline alone, whatever later migrations the project has. A
 * test that edits a schema by its text, or expects a history, starts there and stays green when the
 * committed schemas change.
 */
export function copyPrismaDir(name: string, o: { at?: 'head' | 'baseline' } = {}): string {
  const dir = path.join(scratchRoot, name, 'prisma')
  fs.rmSync(path.dirname(dir), { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  for (const m of ['admin', 'storage-element', 'query']) {
    const live = path.join(projectRoot, 'prisma', m)
    const source = o.at === 'baseline' ? path.join(projectRoot, 'test', 'fixtures', 'prisma-baseline', m) : live
    for (const part of ['schema.prisma', 'prisma.config.ts', 'sql', 'migrations']) {
      const from = path.join(part === 'prisma.config.ts' || part === 'migrations' ? live : source, part)
      if (!fs.existsSync(from)) continue
      const to = path.join(dir, m, part)
      if (part === 'migrations' && o.at === 'baseline') {
        for (const keep of ['0_baseline', 'migration_lock.toml']) fs.cpSync(path.join(from, keep), path.join(to, keep), { recursive: true })
      } else fs.cpSync(from, to, { recursive: true })
    }
  }
  return dir
}

/** Replaces `from` by `to` in a file, failing loudly when `from` is not there (a test edit that silently does nothing would prove nothing). */
export function edit(file: string, from: string | RegExp, to: string): void {
  const text = fs.readFileSync(file, 'utf8')
  const next = text.replace(from, to)
  if (next === text) throw new Error(`edit of ${file}: ${String(from)} not found`)
  fs.writeFileSync(file, next)
}

/** The catalog of one schema of a database (our own reader: tables, columns, constraints, indexes, enums, triggers, functions, sequences). */
export async function catalogOf(url: string, schema: string): Promise<Catalog> {
  const c = new pg.Client({ connectionString: url.replace(/[?&]schema=[^&]*/, '') })
  await c.connect()
  try {
    return await readCatalog(c, schema)
  } finally {
    await c.end()
  }
}

/**
 * `pg_dump --schema-only` of one schema, when this machine's pg_dump is of the server's major version
 * (PostgreSQL 15 here; the embedded 17 ships no pg_dump), else undefined. The random `\restrict` key
 * lines of recent pg_dump releases are left out, so that two dumps of one schema compare equal.
 */
export async function schemaDump(url: string, schema: string): Promise<string | undefined> {
  const u = new URL(url)
  u.search = ''
  const c = new pg.Client({ connectionString: u.toString() })
  await c.connect()
  const serverMajor = Number((await c.query<{ v: string }>("select current_setting('server_version_num') as v")).rows[0].v.slice(0, 2))
  await c.end()
  const version = spawnSync('pg_dump', ['--version'], { encoding: 'utf8' })
  const localMajor = Number(/(\d+)\.\d+/.exec(version.stdout ?? '')?.[1])
  if (version.status !== 0 || localMajor !== serverMajor) return undefined
  const dump = spawnSync('pg_dump', ['--schema-only', '--no-owner', `--schema=${schema}`, u.toString()], { encoding: 'utf8' })
  if (dump.status !== 0) throw new Error(`pg_dump failed: ${dump.stderr}`)
  return dump.stdout
    .split('\n')
    .filter((l) => !/^\\(un)?restrict /.test(l))
    .join('\n')
}

/**
 * A scratch copy of the modules as 0_baseline left them, and a Prisma config of the test's own for
 * them: the storage-element instance of STORAGE_ELEMENT_PREFIX (rendered from the copy), its URL from
 * BRIDGE_TEST_URL. For tests that run Prisma's CLI through the bridge on instances.
 */
export function instanceProject(name: string): { prismaDir: string; configFile: string } {
  const prismaDir = copyPrismaDir(name, { at: 'baseline' })
  const configFile = path.join(prismaDir, 'storage-element-instance.config.ts')
  const src = (f: string) => JSON.stringify(path.join(projectRoot, 'src', f))
  fs.writeFileSync(
    configFile,
    `import { defineConfig } from 'prisma/config'
import { modulesAt } from ${src('modules.ts')}
import { storageElementInstance } from ${src('prefix/prefix.ts')}

const m = storageElementInstance(process.env.STORAGE_ELEMENT_PREFIX!, modulesAt(${JSON.stringify(prismaDir)})['storage-element'])
export default defineConfig({ schema: m.schemaFile, migrations: { path: m.migrationsDir }, datasource: { url: process.env.BRIDGE_TEST_URL } })
`,
  )
  return { prismaDir, configFile }
}
