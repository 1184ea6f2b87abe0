import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { readCatalog, type Catalog } from '../catalog/read.ts'
import { quoteIdent } from '../db/pg-config.ts'

/**
 * What a module's schema must look like: its baseline script applied to a scratch PostgreSQL schema
 * inside a transaction that is always rolled back, then read from the catalog. The checklist is
 * thereby derived from the Prisma schema and the extras (which the baseline is generated from), on the
 * same server as the database it is compared with. Nothing persists, even if the process dies.
 */
export async function expectedCatalog(c: pg.ClientBase, baselineSql: string): Promise<Catalog> {
  // The same script on the same server gives the same catalog: computed once per process (cycle
  // verifies every module twice).
  const { host, port } = c as unknown as { host?: string; port?: number }
  const key = `${host}:${port}\0${baselineSql}`
  let catalog = computed.get(key)
  if (!catalog) {
    catalog = computeExpectedCatalog(c, baselineSql)
    computed.set(key, catalog)
    catalog.catch(() => computed.delete(key))
  }
  return structuredClone(await catalog)
}

const computed = new Map<string, Promise<Catalog>>()

async function computeExpectedCatalog(c: pg.ClientBase, baselineSql: string): Promise<Catalog> {
  const scratch = `artstore_expected_${randomBytes(6).toString('hex')}`
  await c.query('begin')
  try {
    await c.query(`create schema ${quoteIdent(scratch)}`)
    await c.query(`set local search_path = ${quoteIdent(scratch)}`)
    await c.query(baselineSql)
    return await readCatalog(c, scratch)
  } finally {
    await c.query('rollback')
  }
}
