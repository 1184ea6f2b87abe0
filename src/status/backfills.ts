import { createHash } from 'node:crypto'
import type pg from 'pg'
import { historySchemaOf, PROGRESS_TABLE } from '../backfill/progress.ts'
import type { InterruptedVerdict } from '../deploy/recover.ts'
import { quoteIdent } from '../db/pg-config.ts'
import type { HistoryComparison, MigrationFolder } from '../history/history.ts'
import { batchedDeclaration, type BatchedDeclaration } from '../migrate/header.ts'

/**
 * What a batched backfill that is pending or unfinished has done so far, from its progress row in
 * artstore.batched_backfills (written in each batch's transaction), and where the next run goes on.
 */
export interface BackfillStatus {
  migration: string
  /** The table walked and its key column, as the header names them. */
  table: string
  key: string
  /** The last key of the last committed batch: the next run goes on after it. */
  lastKey?: string
  /** The table's greatest key now, read from a btree index on the key (absent without one, or when it could not be read at once). */
  maxKey?: string
  /** Batches committed, by every run so far. */
  batches: number
  /** Keys walked (rows in the ranges done). */
  walked: number
  /** Rows the statement changed. */
  changed: number
  /** The table's rows as the planner estimates them (pg_class.reltuples; absent before the first ANALYZE). */
  estimatedRows?: number
  /** When the first run started, and when the last batch committed (ISO 8601, the server's clock). */
  startedAt: string
  lastBatchAt: string
  /** Seconds since the last batch committed, by the server's clock. */
  secondsSinceLastBatch: number
  /**
   * What the next `deploy` does with it: `resumes` after lastKey (pending, or interrupted: killed with
   * its history row unfinished and no error logged, which deploy settles itself); `resumes-after-resolve`
   * (a batch failed: resolve --rolled-back first); `running` (a deploy holds the migration lock now);
   * `restarts` (the progress is of another version of migration.sql: the next run starts from the first key).
   */
  next: 'resumes' | 'resumes-after-resolve' | 'running' | 'restarts'
  /** With `running`: the backend that holds the migration lock. */
  runningPid?: number
}

interface ProgressRow {
  checksum: string
  last_key: string | null
  batches: number
  walked: string
  changed: string
  started_at: Date
  updated_at: Date
  since: number
}

/** The table's greatest key, when an index leads with it (the planner reads it off the index's end, no scan), within a short bound. */
async function maxKeyOf(c: pg.ClientBase, d: BatchedDeclaration): Promise<{ maxKey?: string; estimatedRows?: number }> {
  const table = d.table.map(quoteIdent).join('.')
  const { rows } = await c.query<{ found: boolean; indexed: boolean; estimate: number | null }>(
    `select to_regclass($1) is not null as found,
            exists (select 1 from pg_index i join pg_class ic on ic.oid = i.indexrelid join pg_am am on am.oid = ic.relam
                      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                     where i.indrelid = to_regclass($1) and i.indisvalid and am.amname = 'btree' and a.attname = $2 and i.indpred is null) as indexed,
            (select reltuples::float8 from pg_class where oid = to_regclass($1)) as estimate`,
    [table, d.key],
  )
  const r = rows[0]
  if (!r.found) return {}
  const estimatedRows = r.estimate !== null && r.estimate >= 0 ? { estimatedRows: Math.round(r.estimate) } : {}
  if (!r.indexed) return estimatedRows
  // A read-only transaction that waits for no lock (an ALTER TABLE holding the table) and runs briefly.
  try {
    await c.query(`begin read only; set local lock_timeout = '100ms'; set local statement_timeout = '1s'`)
    const { rows: max } = await c.query<{ max: string | null }>(`select max(${quoteIdent(d.key)})::text as max from ${table}`)
    await c.query('commit')
    return { ...estimatedRows, ...(max[0].max !== null ? { maxKey: max[0].max } : {}) }
  } catch {
    await c.query('rollback').catch(() => undefined)
    return estimatedRows
  }
}

/**
 * The progress of each pending or unfinished migration of `history` that is a batched backfill with a
 * progress row. Read-only: the progress table, the catalog, and (with an index on the key) the key's
 * greatest value. `interrupted` is what deploy makes of the unfinished migration (foreseeRecovery).
 */
export async function backfillsOf(
  c: pg.ClientBase,
  history: readonly MigrationFolder[],
  s: HistoryComparison,
  interrupted?: InterruptedVerdict,
): Promise<BackfillStatus[]> {
  const candidates = history
    .filter((m) => s.pending.includes(m.name) || s.failed.includes(m.name))
    .map((m) => {
      try {
        return { m, d: batchedDeclaration(m.up) }
      } catch {
        return { m, d: undefined } // a header the lint refuses: deploy reports it, there is no progress to show
      }
    })
    .filter((x): x is { m: MigrationFolder; d: BatchedDeclaration } => x.d !== undefined)
  if (!candidates.length) return []
  const { rows: there } = await c.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [PROGRESS_TABLE])
  if (!there[0].present) return []
  const historySchema = await historySchemaOf(c)
  const out: BackfillStatus[] = []
  for (const { m, d } of candidates) {
    const { rows } = await c.query<ProgressRow>(
      `select checksum, last_key, batches, rows_walked::text as walked, rows_changed::text as changed, started_at, updated_at,
              extract(epoch from now() - updated_at)::float8 as since
         from ${PROGRESS_TABLE} where history = $1 and migration = $2 order by updated_at desc limit 1`,
      [historySchema, m.name],
    )
    const p = rows[0]
    if (!p || !p.batches) continue
    out.push({
      migration: m.name,
      table: d.table.join('.'),
      key: d.key,
      ...(p.last_key !== null ? { lastKey: p.last_key } : {}),
      ...(await maxKeyOf(c, d)),
      batches: p.batches,
      walked: Number(p.walked),
      changed: Number(p.changed),
      startedAt: p.started_at.toISOString(),
      lastBatchAt: p.updated_at.toISOString(),
      secondsSinceLastBatch: Math.max(0, Math.round(p.since)),
      ...nextOf(m, p, s, interrupted),
    })
  }
  return out
}

/** What the next deploy does with a backfill's progress, as deploy decides it (src/deploy/recover.ts, src/backfill/run.ts). */
function nextOf(m: MigrationFolder, p: ProgressRow, s: HistoryComparison, interrupted?: InterruptedVerdict): Pick<BackfillStatus, 'next' | 'runningPid'> {
  // The run keys its progress by the script's checksum; another one is deleted and the walk starts anew.
  if (p.checksum !== createHash('sha256').update(m.up).digest('hex')) return { next: 'restarts' }
  if (!s.failed.includes(m.name)) return { next: 'resumes' }
  if (interrupted?.migration === m.name && interrupted.verdict === 'running')
    return { next: 'running', ...(interrupted.pid !== undefined ? { runningPid: interrupted.pid } : {}) }
  // Deploy settles an unfinished row itself only when it judges it interrupted (see judgeInterrupted).
  return { next: interrupted?.migration === m.name && interrupted.verdict === 'settles' ? 'resumes' : 'resumes-after-resolve' }
}
