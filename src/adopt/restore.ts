import { describeTarget, modulesFor, withCheckedTargets, type CommandOptions } from '../context.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { withMigrationTransaction, withTransaction } from '../db/lock.ts'
import { withClient } from '../db/targets.ts'
import { ConfirmationRequiredError, RefusalError } from '../errors.ts'
import { baselineTables } from '../baseline/baseline.ts'
import { criticalTables, readBackup, sourceOf, type BackupSource } from './backup.ts'

export class RestoreTargetError extends RefusalError {
  constructor(recorded: BackupSource, target: BackupSource) {
    const where = (s: BackupSource) => `${s.server}/${s.database} schema ${s.pgSchema}`
    super(
      `the backup was taken from ${where(recorded)}, not ${where(target)}: point the module's URL at that database, or add --other-target to restore it here on purpose`,
    )
  }
}

export interface RestoreOptions extends CommandOptions {
  from: string
  yes?: boolean
  dryRun?: boolean
  /** Restore into a database other than the one the backup was taken from. */
  otherTarget?: boolean
}

export interface RestoreResult extends ReturnType<typeof describeTarget> {
  status: 'restored' | 'would-restore'
  tables: { table: string; rows: number }[]
}

/**
 * Puts a backup's rows back, by primary key (insert, or update the row that has the key), in one
 * transaction under the migration lock. Columns are matched by name, so a backup taken before
 * adoption restores into the adopted tables (json becomes jsonb on the way). Only an authentic backup
 * (see readBackup), only the module's backed-up tables, and only into the database it was taken from
 * (unless `otherTarget`).
 */
export function restore(opts: RestoreOptions): Promise<RestoreResult> {
  if (!opts.yes && !opts.dryRun) throw new ConfirmationRequiredError(`restore overwrites the rows in ${opts.from} by primary key`, 'see what it would do')
  const allowed = (module: string, prefix?: string) => {
    const [m] = modulesFor({ ...opts, module, prefix })
    return criticalTables(m, baselineTables(m))
  }
  // The tables allowed are those of the module and instance the (authenticated) manifest names.
  const { manifest, data } = readBackup(opts.from, (m) => allowed(m.module, m.source?.prefix))
  const prefix = manifest.source?.prefix
  return withCheckedTargets({ ...opts, module: manifest.module, prefix }, async ([t]) =>
    withClient(t, async (c) => {
      const here = sourceOf(t.url, t.pgSchema, t.module)
      const from = manifest.source
      if (!opts.otherTarget && (from.server !== here.server || from.database !== here.database || from.pgSchema !== here.pgSchema))
        throw new RestoreTargetError(from, here)
      const tables: RestoreResult['tables'] = []
      const run = async () => {
        for (const [table, rows] of data) {
          tables.push({ table, rows: rows.length })
          if (!rows.length) continue // an empty table has nothing to put back
          const { rows: cols } = await c.query<{ name: string; pk: boolean }>(
            `select a.attname as name, coalesce(a.attnum = any(i.indkey), false) as pk
               from pg_attribute a join pg_class t on t.oid = a.attrelid join pg_namespace n on n.oid = t.relnamespace
               left join pg_index i on i.indrelid = t.oid and i.indisprimary
              where n.nspname = $1 and t.relname = $2 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
            [t.pgSchema, table],
          )
          const keys = new Set(rows.flatMap((r) => Object.keys(r)))
          const use = cols.filter((col) => keys.has(col.name))
          const list = use.map((col) => quoteIdent(col.name)).join(', ')
          const pk = use.filter((col) => col.pk).map((col) => quoteIdent(col.name))
          const updates = use.filter((col) => !col.pk).map((col) => `${quoteIdent(col.name)} = excluded.${quoteIdent(col.name)}`)
          const target = `${quoteIdent(t.pgSchema)}.${quoteIdent(table)}`
          await c.query(
            `insert into ${target} (${list}) select ${list} from jsonb_populate_recordset(null::${target}, $1::jsonb)
             on conflict (${pk.join(', ')}) do ${updates.length ? `update set ${updates.join(', ')}` : 'nothing'}`,
            [JSON.stringify(rows)],
          )
          // Rows came back with their ids: move each serial sequence past them.
          for (const col of use) {
            const { rows: seq } = await c.query<{ seq: string | null }>('select pg_get_serial_sequence($1, $2) as seq', [target, col.name])
            if (!seq[0].seq) continue
            await c.query(
              `select setval($1, m) from (select max(${quoteIdent(col.name)})::bigint as m from ${target}) x
                where m is not null and m > (select coalesce(last_value, 0) from pg_sequences where format('%I.%I', schemaname, sequencename)::regclass = $1::regclass)`,
              [seq[0].seq],
            )
          }
        }
      }
      if (opts.dryRun) {
        await withTransaction(c, run, { commit: false })
        return { ...describeTarget(t), status: 'would-restore' as const, tables }
      }
      await withMigrationTransaction(c, run)
      return { ...describeTarget(t), status: 'restored' as const, tables }
    }),
  )
}
