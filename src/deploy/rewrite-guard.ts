import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { UsageError } from '../errors.ts'
import { readMigrationHeader } from '../migrate/header.ts'
import { allowanceLine } from '../migrate/lint.ts'
import { moduleFlags } from '../modules.ts'
import {
  databaseVolatility,
  rewriteFindings,
  rewriteLintFinding,
  RewriteState,
  type RewriteFinding,
  type RewriteProbe,
  type TableFacts,
} from '../migrate/rewrites.ts'

/**
 * The rewrite guard of `deploy`: before the pending migrations run, each statement that rewrites or
 * scans an existing table under a lock that stops the services (see src/migrate/rewrites.ts) is
 * weighed against the table's live size. On a table larger than the threshold it is refused, unless
 * the migration's header records it as allowed (`migrate allow`) or the deploy names the migration
 * (`--allow-rewrite`, or ARTSTORE_ALLOW_REWRITE). Read on the connection that holds the deploy turn: no
 * connection of its own. The offline engine bridge runs the same guard before `prisma migrate deploy`
 * applies anything (see src/engine/rewrite-guard.ts).
 */

/** The default threshold: a table above 10 MiB (pg_total_relation_size: heap, indexes and TOAST). */
export const DEFAULT_REWRITE_THRESHOLD_BYTES = 10 * 1024 ** 2

export interface RewriteGuardSettings {
  /** A table larger than this (bytes, pg_total_relation_size) is large. */
  thresholdBytes: number
  /** Migrations whose rewrites this deploy allows (`--allow-rewrite`, else ARTSTORE_ALLOW_REWRITE). */
  allow: string[]
  /** Where `allow` came from, for the messages: the option or the variable; absent when empty. */
  allowFrom?: '--allow-rewrite' | 'ARTSTORE_ALLOW_REWRITE'
}

/** A rewrite of a large table, as the report gives it. */
export interface RewriteRefusal {
  migration: string
  kind: RewriteFinding['kind']
  table: string
  /** The table's size (pg_total_relation_size), in bytes; `estimated` when read from pg_class because a lock was in the way. */
  bytes: number
  /** The same in words (`24 MB`, as pg_size_pretty). */
  size: string
  estimated?: boolean
  /** pg_class.reltuples, when the table was ever analysed. */
  rows?: number
  statement: string
  does: string
  safe: string
  line: number
  /** The commands that allow it. */
  allow: string
  /** For an allowed one: by the migration's header, by --allow-rewrite (`option`) or by ARTSTORE_ALLOW_REWRITE (`env`). */
  allowedBy?: 'header' | 'option' | 'env'
}

export class InvalidRewriteThresholdError extends UsageError {
  constructor(what: string, given: string) {
    super(`${what} "${given}" is not a size: give bytes or a number with kB, MB or GB (e.g. 10MB, 512kB)`)
  }
}

/** Bytes of a size as PostgreSQL writes it (`512kB`, `10MB`, `1GB`, units of 1024; a bare number is bytes). */
export function parseSizeBytes(given: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*$/i.exec(given)
  if (!m) throw new InvalidRewriteThresholdError(what, given)
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }[(m[2] ?? 'b').toLowerCase() as 'b']
  return Math.round(Number(m[1]) * unit)
}

/**
 * The settings of a deploy: `--rewrite-threshold`, else ARTSTORE_REWRITE_THRESHOLD, else 10 MB;
 * `--allow-rewrite`, else ARTSTORE_ALLOW_REWRITE (each comma-separated). Bad input throws.
 */
export function rewriteGuardSettings(
  o: { rewriteThreshold?: string; allowRewrite?: string | string[]; env?: Record<string, string | undefined> } = {},
): RewriteGuardSettings {
  const env = o.env ?? process.env
  const thresholdBytes =
    o.rewriteThreshold !== undefined
      ? parseSizeBytes(o.rewriteThreshold, '--rewrite-threshold')
      : env.ARTSTORE_REWRITE_THRESHOLD
        ? parseSizeBytes(env.ARTSTORE_REWRITE_THRESHOLD, 'ARTSTORE_REWRITE_THRESHOLD')
        : DEFAULT_REWRITE_THRESHOLD_BYTES
  const given = o.allowRewrite ?? env.ARTSTORE_ALLOW_REWRITE ?? []
  const allow = [given]
    .flat()
    .flatMap((a) => a.split(','))
    .map((a) => a.trim().replace(/\/+$/, ''))
    .filter(Boolean)
  if (!allow.length) return { thresholdBytes, allow }
  return { thresholdBytes, allow, allowFrom: o.allowRewrite !== undefined ? '--allow-rewrite' : 'ARTSTORE_ALLOW_REWRITE' }
}

/** A size in words, as pg_size_pretty gives it. */
export function sizeText(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB']
  let v = bytes
  let u = 0
  while (v >= 10 * 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${Math.round(v)} ${units[u]}`
}

/** The facts of live tables, read on `c` (the turn's connection); an unqualified name is in the module's schema. */
function liveProbe(c: pg.ClientBase, schema: string): RewriteProbe {
  return {
    table: async (s, name) => {
      const rel = `${quoteIdent(s ?? schema)}.${quoteIdent(name)}`
      const { rows: columns } = await c.query<{ name: string; type: string; not_null: boolean }>(
        `select attname as name, format_type(atttypid, atttypmod) as type, attnotnull as not_null from pg_attribute
          where attrelid = to_regclass($1) and attnum > 0 and not attisdropped`,
        [rel],
      )
      if (!columns.length) return undefined
      const { rows: checks } = await c.query<{ name: string; definition: string; validated: boolean }>(
        `select conname as name, pg_get_constraintdef(oid) as definition, convalidated as validated from pg_constraint where conrelid = to_regclass($1) and contype = 'c'`,
        [rel],
      )
      const facts: TableFacts = {
        columns: new Map(columns.map((r) => [r.name, { type: r.type, notNull: r.not_null }])),
        checks: new Map(checks.map((r) => [r.name, { definition: r.definition, validated: r.validated }])),
      }
      return facts
    },
    volatility: databaseVolatility(c),
  }
}

/**
 * A table's size: pg_total_relation_size, which takes ACCESS SHARE for a moment, waiting at most
 * `lockTimeoutMs` (behind a session that holds ACCESS EXCLUSIVE it would wait as long as that one);
 * then, without a lock, pg_class's page counts (as of the last VACUUM or ANALYZE).
 */
async function tableSize(c: pg.ClientBase, rel: string, lockTimeoutMs: number): Promise<{ bytes: number; rows?: number; estimated?: boolean }> {
  const rowsOf = (r: { rows: string | null }) => (r.rows !== null && Number(r.rows) >= 0 ? { rows: Number(r.rows) } : {})
  await c.query('begin')
  try {
    await c.query(`set local lock_timeout = '${Math.max(1, Math.round(lockTimeoutMs))}ms'`)
    const { rows } = await c.query<{ bytes: string; rows: string | null }>(
      'select pg_total_relation_size(c.oid)::text as bytes, c.reltuples::bigint::text as rows from pg_class c where c.oid = to_regclass($1)',
      [rel],
    )
    await c.query('commit')
    return { bytes: Number(rows[0]?.bytes ?? 0), ...(rows[0] ? rowsOf(rows[0]) : {}) }
  } catch (e) {
    await c.query('rollback').catch(() => undefined)
    if ((e as { code?: string }).code !== '55P03') throw e
  }
  const { rows } = await c.query<{ bytes: string; rows: string | null }>(
    `select ((c.relpages + coalesce(t.relpages, 0) + coalesce((select sum(i.relpages) from pg_index x join pg_class i on i.oid = x.indexrelid where x.indrelid = c.oid), 0))
             * current_setting('block_size')::bigint)::text as bytes, c.reltuples::bigint::text as rows
       from pg_class c left join pg_class t on t.oid = c.reltoastrelid where c.oid = to_regclass($1)`,
    [rel],
  )
  return { bytes: Number(rows[0]?.bytes ?? 0), estimated: true, ...(rows[0] ? rowsOf(rows[0]) : {}) }
}

const targetArgs = (t: ModuleTarget) => moduleFlags(t.module)

/** The pending migrations the guard weighs, wherever they are read from: a module's folder, or what the Prisma CLI sends the bridge. */
export interface GuardedMigrations {
  /** The schema of an unqualified table name (the first of the search_path). */
  schema: string
  /** A migration's migration.sql, exactly as it will run; undefined when it has none. */
  sqlOf: (migration: string) => string | undefined
  /** The commands that allow a migration's rewrites, as its refusal names them. */
  allowHint: (migration: string) => string
}

/** A module target's pending migrations, read from its folder, with the hints of `artstore-db deploy`. */
export function moduleMigrations(t: ModuleTarget): GuardedMigrations {
  return {
    schema: t.pgSchema,
    sqlOf: (migration) => {
      const file = path.join(t.module.migrationsDir, migration, 'migration.sql')
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined
    },
    allowHint: (migration) =>
      `npx artstore-db migrate allow ${migration} --module ${t.module.name} --reason "<why>" (before it is deployed anywhere), or npx artstore-db deploy ${targetArgs(t)} --allow-rewrite ${migration}`,
  }
}

/**
 * The rewrites of large tables in the pending migrations, in order: `refused` (neither recorded in the
 * migration's header nor named by --allow-rewrite / ARTSTORE_ALLOW_REWRITE) and `allowed`. A table's
 * state carries from one migration to the next, as they will run.
 */
export async function guardRewrites(
  c: pg.ClientBase,
  m: GuardedMigrations,
  pending: readonly string[],
  settings: RewriteGuardSettings,
  lockTimeoutMs: number,
): Promise<{ refused: RewriteRefusal[]; allowed: RewriteRefusal[] }> {
  const state = new RewriteState(liveProbe(c, m.schema))
  const sizes = new Map<string, Awaited<ReturnType<typeof tableSize>>>()
  const refused: RewriteRefusal[] = []
  const allowed: RewriteRefusal[] = []
  const allowedBy = settings.allowFrom === 'ARTSTORE_ALLOW_REWRITE' ? 'env' : 'option'
  for (const migration of pending) {
    const sql = m.sqlOf(migration)
    if (sql === undefined) continue
    const recorded = readMigrationHeader(sql).allowance?.findings ?? []
    for (const f of await rewriteFindings(sql, state)) {
      const rel = `${quoteIdent(f.schema ?? m.schema)}.${quoteIdent(f.name)}`
      if (!sizes.has(rel)) sizes.set(rel, await tableSize(c, rel, lockTimeoutMs))
      const size = sizes.get(rel)!
      if (size.bytes <= settings.thresholdBytes) continue
      const { kind, table, statement, does, safe, line } = f
      const r: RewriteRefusal = { migration, kind, table, ...size, size: sizeText(size.bytes), statement, does, safe, line, allow: m.allowHint(migration) }
      if (recorded.includes(allowanceLine(rewriteLintFinding(f)))) allowed.push({ ...r, allowedBy: 'header' })
      else if (settings.allow.includes(migration)) allowed.push({ ...r, allowedBy })
      else refused.push(r)
    }
  }
  return { refused, allowed }
}

/** One refusal as one line: the migration, the table and its size, the statement, what it does, the safe form and how to allow it. */
export const refusalLine = (r: RewriteRefusal, thresholdBytes: number) =>
  `${r.migration} (line ${r.line}): ${r.table} is ${r.estimated ? 'about ' : ''}${r.size}${r.rows !== undefined ? ` (about ${r.rows} rows)` : ''}, above the rewrite threshold of ${sizeText(thresholdBytes)}: ${r.statement} ${r.does}; safe form: ${r.safe}; to allow it: ${r.allow}`
