import type pg from 'pg'

/**
 * Where batched backfills keep their progress: one row per migration being run, in a schema of the
 * tool's own (`artstore`, beside the modules' schemas: no module's catalog, verify or rollback sees
 * it). The row is written in each batch's transaction, and deleted in the last one.
 */
export const PROGRESS_SCHEMA = 'artstore'
export const PROGRESS_TABLE = `${PROGRESS_SCHEMA}.batched_backfills`

/** What names a run's progress: the schema of its history table, the migration (both '' without a history row) and its checksum. */
export interface ProgressKey {
  history: string
  migration: string
  checksum: string
}

/** The schema of the `_prisma_migrations` the session finds ('' for none): the `history` of the runs' progress rows. */
export async function historySchemaOf(c: pg.ClientBase): Promise<string> {
  const { rows } = await c.query<{ schema: string }>(
    `select n.nspname as schema from pg_class x join pg_namespace n on n.oid = x.relnamespace where x.oid = to_regclass('_prisma_migrations')`,
  )
  return rows[0]?.schema ?? ''
}

/** Creates the progress table if it is missing (concurrent creations are a success). */
export async function ensureProgressTable(c: pg.ClientBase): Promise<void> {
  const { rows } = await c.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [PROGRESS_TABLE])
  if (rows[0].present) return
  const ignoreRace = (e: { code?: string }) => {
    // 42P06 duplicate_schema, 42P07 duplicate_table, 23505 unique_violation: made by another run a moment ago.
    if (e.code !== '42P06' && e.code !== '42P07' && e.code !== '23505') throw e
  }
  await c.query(`create schema if not exists ${PROGRESS_SCHEMA}`).catch(ignoreRace)
  await c
    .query(
      `create table if not exists ${PROGRESS_TABLE} (
         history text not null, migration text not null, checksum text not null,
         last_key text, rows_walked bigint not null default 0, rows_changed bigint not null default 0,
         batches integer not null default 0, started_at timestamptz not null default now(),
         updated_at timestamptz not null default now(), primary key (history, migration, checksum))`,
    )
    .catch(ignoreRace)
}

/** The progress an interrupted or failed run of `migration` left (none when it never committed a batch, or finished). */
export async function progressOf(
  c: pg.ClientBase,
  historySchema: string,
  migration: string,
): Promise<{ batches: number; walked: number; changed: number; lastKey?: string } | undefined> {
  const { rows: there } = await c.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [PROGRESS_TABLE])
  if (!there[0].present) return undefined
  const { rows } = await c.query<{ batches: number; walked: string; changed: string; last_key: string | null }>(
    `select batches, rows_walked::text as walked, rows_changed::text as changed, last_key from ${PROGRESS_TABLE}
      where history = $1 and migration = $2 order by updated_at desc limit 1`,
    [historySchema, migration],
  )
  const r = rows[0]
  if (!r || !r.batches) return undefined
  return { batches: r.batches, walked: Number(r.walked), changed: Number(r.changed), ...(r.last_key !== null ? { lastKey: r.last_key } : {}) }
}
