// Loads the legacy SQL fixtures (test/fixtures/legacy/<state>/<file>.sql): the admin, storage-element and
// query databases exactly as the old Alembic migrations left them at 8b9ca29 and d00e065.
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { quoteIdent } from '../../src/db/pg-config.ts'

export type LegacyState = 'gen1-8b9ca29' | 'gen2-d00e065'
export const legacyStates: readonly LegacyState[] = ['gen1-8b9ca29', 'gen2-d00e065']

/** The folder that holds one sub-folder per legacy state. */
export const legacyFixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/legacy')

export interface LegacyFixture {
  state: LegacyState
  /** File name without `.sql`, e.g. `admin` or `storage-element-with-app-tables`. */
  file: string
  /** The module the fixture belongs to. */
  module: 'admin' | 'storage-element' | 'query'
  /** Absolute path of the SQL file. */
  path: string
}

/** Every legacy fixture, by state then file name. */
export function legacyFixtureFiles(): LegacyFixture[] {
  const out: LegacyFixture[] = []
  for (const state of legacyStates) {
    const dir = path.join(legacyFixturesDir, state)
    for (const file of fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .map((f) => f.slice(0, -'.sql'.length))
      .sort()) {
      const module = file.startsWith('storage-element') ? 'storage-element' : file.startsWith('query') ? 'query' : 'admin'
      out.push({ state, file, module, path: path.join(dir, `${file}.sql`) })
    }
  }
  return out
}

/** The SQL text of one fixture (`file` with or without `.sql`). */
export function legacyFixtureSql(state: LegacyState, file: string): string {
  const name = file.endsWith('.sql') ? file : `${file}.sql`
  return fs.readFileSync(path.join(legacyFixturesDir, state, name), 'utf8')
}

/**
 * Runs one legacy fixture on the database at `url`, in one transaction. With `schema`, the schema is
 * created if missing and becomes the session's whole search_path, so every unqualified object lands
 * there; without it the fixture goes into `public`. A `?schema=` on the URL is ignored.
 */
export async function loadLegacyFixture(url: string, state: LegacyState, file: string, schema?: string): Promise<void> {
  const sql = legacyFixtureSql(state, file)
  const client = new pg.Client({ connectionString: url.replace(/[?&]schema=[^&]*/, '') })
  await client.connect()
  try {
    if (schema) await client.query(`create schema if not exists ${quoteIdent(schema)}`)
    await client.query(`set search_path to ${quoteIdent(schema ?? 'public')}`)
    await client.query('begin')
    try {
      await client.query(sql)
      await client.query('commit')
    } catch (error) {
      await client.query('rollback')
      throw new Error(`legacy fixture ${state}/${file} failed in schema ${schema ?? 'public'}: ${(error as Error).message}`, { cause: error })
    }
  } finally {
    await client.end()
  }
}

/**
 * The services' shared storage database as they left it (fact sheet §9.1): in `public`, instance 01 as
 * the Alembic migration made it (with storage_elem_01_alembic_version), 02 and 03 as the service's
 * create_all() made them at start-up (the same tables, no version table); all with rows.
 */
export async function loadServicesSharedDatabase(url: string): Promise<void> {
  await loadLegacyFixture(url, 'gen2-d00e065', 'storage-element', 'public')
  const sql = legacyFixtureSql('gen2-d00e065', 'storage-element')
  const client = new pg.Client({ connectionString: url.replace(/[?&]schema=[^&]*/, '') })
  await client.connect()
  try {
    await client.query('set search_path to public')
    for (const prefix of ['storage_elem_02', 'storage_elem_03']) {
      await client.query(
        sql.replaceAll('storage_elem_01', prefix).replace(/'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'/g, () => `'${randomUUID()}'`),
      )
      await client.query(`drop table public.${prefix}_alembic_version`)
    }
  } finally {
    await client.end()
  }
}
