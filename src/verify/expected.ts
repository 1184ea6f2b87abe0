import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { readCatalog, type Catalog } from '../catalog/read.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { runWhole } from '../backfill/run.ts'

/**
 * A migration script as it can run inside the rolled-back transaction below, with the same catalog as
 * a result: its own transaction control (Prisma wraps an enum change in BEGIN; … COMMIT;) and
 * CONCURRENTLY (which refuses to run in a transaction) are left out.
 */
export const forTransaction = (sql: string): string =>
  sql.replace(/^\s*(BEGIN|COMMIT)\s*;\s*$/gim, '').replace(/\b(CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX)\s+CONCURRENTLY\b/gi, '$1')

/**
 * What a module's schema must look like: its migration scripts (the baseline and every later one, in
 * order) applied to a scratch PostgreSQL schema inside a transaction that is always rolled back, then
 * read from the catalog. The checklist is thereby derived from the Prisma schema and the extras (which
 * the migrations are generated from), on the same server as the database it is compared with. Nothing
 * persists, even if the process dies.
 */
export async function expectedCatalog(c: pg.ClientBase, scripts: readonly string[]): Promise<Catalog> {
  // The same scripts on the same server give the same catalog: computed once per process (cycle
  // verifies every module twice).
  const { host, port } = c as unknown as { host?: string; port?: number }
  const key = `${host}:${port}\0${scripts.join('\0')}`
  let catalog = computed.get(key)
  if (!catalog) {
    catalog = computeExpectedCatalog(c, scripts)
    computed.set(key, catalog)
    catalog.catch(() => computed.delete(key))
  }
  return structuredClone(await catalog)
}

const computed = new Map<string, Promise<Catalog>>()

async function computeExpectedCatalog(c: pg.ClientBase, scripts: readonly string[]): Promise<Catalog> {
  const scratch = `artstore_expected_${randomBytes(6).toString('hex')}`
  await c.query('begin')
  try {
    await c.query(`create schema ${quoteIdent(scratch)}`)
    // The session's own path stays behind the scratch schema: an extension the history creates may be
    // installed already (in the module's schema), and its operator classes must resolve.
    const { rows } = await c.query<{ path: string }>("select current_setting('search_path') as path")
    await c.query(`select set_config('search_path', $1, true)`, [`${quoteIdent(scratch)}, ${rows[0].path}`])
    for (const sql of scripts) await runWhole(c, forTransaction(sql))
    return { ...(await readCatalog(c, scratch)), extensions: extensionsCreatedBy(scripts) }
  } finally {
    await c.query('rollback')
  }
}

/** The extensions a history leaves installed, from its CREATE EXTENSION and DROP EXTENSION statements. */
export function extensionsCreatedBy(scripts: readonly string[]): string[] {
  const present = new Set<string>()
  for (const sql of scripts) {
    for (const m of sql.matchAll(/^\s*(CREATE|DROP) EXTENSION (?:IF (?:NOT )?EXISTS )?"?([\w-]+)"?/gim)) {
      if (m[1].toUpperCase() === 'CREATE') present.add(m[2])
      else present.delete(m[2])
    }
  }
  present.delete('plpgsql')
  return [...present].sort()
}
