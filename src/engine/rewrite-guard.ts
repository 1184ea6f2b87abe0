import path from 'node:path'
import type pg from 'pg'
import type { MigrationList } from '@prisma/schema-engine-wasm'
import { pgConfigFromUrl, quoteIdent, withClientOf } from '../db/pg-config.ts'
import { lockRetrySettings } from '../db/lock-retry.ts'
import { guardRewrites, refusalLine, rewriteGuardSettings, type GuardedMigrations, type RewriteRefusal } from '../deploy/rewrite-guard.ts'
import { moduleFlags } from '../modules.ts'
import { bridgeModuleOf } from './bridge-module.ts'

/**
 * The rewrite guard of `artstore-db deploy` (src/deploy/rewrite-guard.ts) for the migrations the
 * Prisma CLI asks the bridge to apply (`prisma migrate deploy`, and the applying step of `migrate dev`
 * and `migrate reset`): the same statements weighed against the same live sizes, before the engine
 * touches anything. With no --allow-rewrite on Prisma's command line, a run allows a migration through
 * ARTSTORE_ALLOW_REWRITE; a recorded header allowance (`migrate allow`) counts as in deploy.
 */

type Env = Record<string, string | undefined>

/** The whole applyMigrations call refused: nothing applied, no history row written, the migrations still pending. */
export class RewritesRefusedError extends Error {
  constructor(
    readonly refused: RewriteRefusal[],
    thresholdBytes: number,
  ) {
    const migrations = [...new Set(refused.map((r) => r.migration))].join(', ')
    super(
      [
        `The rewrite guard refused ${migrations}: nothing was applied, and ${migrations} stays pending (not failed).`,
        ...refused.map((r) => refusalLine(r, thresholdBytes)),
      ].join('\n'),
    )
    this.name = 'RewritesRefusedError'
  }
}

/** The module whose migrations folder the CLI sent, for the `migrate allow` hint (see ./bridge-module.ts). */
function moduleArgs(baseDir: string, env: Env): string | undefined {
  const m = bridgeModuleOf(path.dirname(baseDir), env)
  return m && moduleFlags(m)
}

/** The migrations as the CLI sends them (the contents the engine will run), with the bridge's hints. */
function sentMigrations(list: MigrationList, schema: string, env: Env): GuardedMigrations {
  const sql = new Map(list.migrationDirectories.flatMap((d) => (d.migrationFile.content.tag === 'ok' ? [[d.path, d.migrationFile.content.value]] : [])))
  const target = moduleArgs(list.baseDir, env)
  return {
    schema,
    sqlOf: (migration) => sql.get(migration),
    allowHint: (migration) =>
      `ARTSTORE_ALLOW_REWRITE=${migration} in the environment of this one prisma migrate deploy, or record it before it is deployed anywhere: ${
        target
          ? `npx artstore-db migrate allow ${migration} ${target} --reason "<why>"`
          : `the migration's "--   rewrite:" header lines, as npx artstore-db migrate allow writes them`
      }`,
  }
}

/**
 * The migrations of the list the engine would apply: those without a finished, not rolled-back row in
 * the history the engine uses. Undefined when a migration is recorded failed: the engine then refuses
 * the call itself (P3009), and the guard has nothing to add.
 */
async function pendingOf(c: pg.ClientBase, historySchema: string, list: MigrationList): Promise<string[] | undefined> {
  const rel = `${quoteIdent(historySchema)}."_prisma_migrations"`
  const { rows: found } = await c.query<{ present: boolean }>('select to_regclass($1) is not null as present', [rel])
  const names = list.migrationDirectories.map((d) => d.path)
  if (!found[0].present) return names
  const { rows } = await c.query<{ name: string; finished: boolean; rolled_back: boolean }>(
    `select migration_name as name, finished_at is not null as finished, rolled_back_at is not null as rolled_back from ${rel}`,
  )
  if (rows.some((r) => !r.finished && !r.rolled_back)) return undefined
  const applied = new Set(rows.filter((r) => r.finished && !r.rolled_back).map((r) => r.name))
  return names.filter((n) => !applied.has(n))
}

/**
 * The rewrites of large tables the pending migrations of `list` would run and nothing allows, read on a
 * connection of its own to `url` (the datasource the engine got). The history is where the bridge's
 * adapter keeps it: a storage-element instance's history schema (`artstore_history`) if the URL names
 * one, else its `?schema=`, else public. Bad settings (ARTSTORE_REWRITE_THRESHOLD, ARTSTORE_LOCK_TIMEOUT) throw.
 */
export async function bridgeRewriteRefusals(url: string, list: MigrationList, env: Env = process.env): Promise<RewritesRefusedError | undefined> {
  const settings = rewriteGuardSettings({ env })
  const { lockTimeoutMs } = lockRetrySettings({ env })
  const { config, schema, history } = pgConfigFromUrl(url)
  const tables = schema ?? 'public'
  const refused = await withClientOf(config, async (c) => {
    const pending = await pendingOf(c, history ?? tables, list)
    if (!pending?.length) return []
    return (await guardRewrites(c, sentMigrations(list, tables, env), pending, settings, lockTimeoutMs)).refused
  })
  return refused.length ? new RewritesRefusedError(refused, settings.thresholdBytes) : undefined
}
