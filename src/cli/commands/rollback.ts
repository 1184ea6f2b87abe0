import type { Command } from 'commander'
import { checkRollbackRange, rollback, rollbackConfirmation, type RollbackResult, type RowsLost } from '../../index.ts'
import { lockProgress, plural, report, turnProgress, type Output } from '../output.ts'
import { JSON_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION, wholeNumber } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { outcome } from '../exit-codes.ts'

function lostLine(l: RowsLost): string {
  if (!l.columns) return `   ${l.table}: ${plural(l.rows, 'row')} (${l.migration} drops the table)`
  return `   ${l.table}: the values of ${l.columns.join(', ')} in ${plural(l.rows, 'row')} (${l.migration} drops ${l.columns.length === 1 ? 'the column' : 'the columns'})`
}

function failureText(r: RollbackResult): string {
  const f = r.failure!
  const lines = [`❌ ${r.module}: rolling back ${f.migration} failed: ${f.sqlState} ${f.message}  (${r.database})`]
  if (f.detail) lines.push(`   DETAIL: ${f.detail}`)
  if (f.hint) lines.push(`   HINT: ${f.hint}`)
  if (f.line) lines.push(`   at line ${f.line} of its down.sql`)
  if (r.migrations.length) lines.push(`   rolled back before it: ${r.migrations.join(', ')}`)
  lines.push(`   still applied: ${(r.notRun ?? []).join(', ')}`, `   ${f.next}`)
  return lines.join('\n')
}

function text(r: RollbackResult): string {
  const which = r.migrations.join(', ')
  if (r.status === 'failed') return failureText(r)
  if (r.status === 'would-roll-back') {
    const lost = r.rowsLost ?? []
    const rows = lost.length ? ['rows that would go (counted now, exactly):', ...lost.map(lostLine)] : ['no table or column with rows is dropped']
    return `📝 ${r.module}: would roll back ${which}, each in one transaction with its history row  (${r.database})\n${rows.join('\n')}\n${r.sql}`
  }
  if (r.status === 'not-applied') return `✅ ${r.module}: nothing applied to roll back  (${r.database})`
  return `✅ ${r.module}: rolled back ${which} (each down.sql with its history row)  (${r.database})`
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('rollback')
      .description("revert one module's migrations, newest first: each one's down.sql and history row in one transaction (--steps, --to or --all says how far)")
      .option(...ONE_MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option('--steps <n>', 'the last n applied migrations (never 0_baseline)', wholeNumber(0, '--steps 1'))
      .option('--to <migration>', 'the migrations applied after this one (it stays applied; --to 0_baseline keeps the baseline)')
      .option('--all', 'the whole history, 0_baseline included: drops every table of the module, with its data')
      .option('--yes', 'confirm (rolled back tables and columns lose their data)')
      .option('--dry-run', 'print the SQL that would run and the rows that would go, change nothing')
      .option('--lock-timeout <duration>', 'longest wait of one try for a lock (e.g. 200ms, 2s; default ARTSTORE_LOCK_TIMEOUT, else 50ms)')
      .option('--lock-retry-for <duration>', 'how long a step may keep trying for its locks (e.g. 30s, 10m; default ARTSTORE_LOCK_RETRY_FOR, else 3m)')
      .option(...JSON_OPTION),
  ).action(
    async (
      opts: {
        module?: string
        prefix?: string
        steps?: number
        to?: string
        all?: boolean
        yes?: boolean
        dryRun?: boolean
        json?: boolean
        lockTimeout?: string
        lockRetryFor?: string
      } & FleetCliOptions,
    ) => {
      if (opts.instances) {
        if (!opts.yes && !opts.dryRun) throw rollbackConfirmation('storage-element')
        checkRollbackRange(opts)
        const { module: _m, instances: _i, concurrency: _c, canary: _k, json: _j, ...range } = opts
        return runFleetCommand(
          o,
          setExit,
          opts,
          (_, base) => rollback({ ...range, ...base }),
          (r) => r.status !== 'failed',
          (r) =>
            r.status === 'not-applied'
              ? 'nothing applied to roll back'
              : r.failure
                ? `failed: ${r.failure.migration}: ${r.failure.sqlState} ${r.failure.message}${r.migrations.length ? `; rolled back: ${r.migrations.join(', ')}` : ''}`
                : `${r.status}: ${r.migrations.join(', ')}`,
        )
      }
      const r = await rollback({ ...opts, onTurnWait: turnProgress(o, opts.json), onLockWait: lockProgress(o, opts.json) })
      report(o, !!opts.json, r, text)
      setExit(outcome(r.status === 'failed'))
    },
  )
}
