import type { Command } from 'commander'
import { rollback, rollbackConfirmation, type RollbackResult } from '../../index.ts'
import { report, type Output } from '../output.ts'
import { JSON_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION, wholeNumber } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { EXIT } from '../exit-codes.ts'

function text(r: RollbackResult): string {
  const which = r.migrations.join(', ')
  if (r.status === 'would-roll-back') return `📝 ${r.module}: would roll back ${which}, each in one transaction with its history row  (${r.database})\n${r.sql}`
  if (r.status === 'not-applied') return `✅ ${r.module}: nothing applied to roll back  (${r.database})`
  return `✅ ${r.module}: rolled back ${which} (each down.sql with its history row)  (${r.database})`
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('rollback')
      .description("revert one module's migrations, newest first: each one's down.sql and history row in one transaction (the whole history by default)")
      .option(...ONE_MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option('--steps <n>', 'only the last n applied migrations', wholeNumber(0, '--steps 1'))
      .option('--to <migration>', 'only the migrations applied after this one (it stays applied)')
      .option('--yes', 'confirm (the whole history drops every table of the module, with its data)')
      .option('--dry-run', 'print the SQL that would run, change nothing')
      .option(...JSON_OPTION),
  ).action(
    async (opts: { module?: string; prefix?: string; steps?: number; to?: string; yes?: boolean; dryRun?: boolean; json?: boolean } & FleetCliOptions) => {
      if (opts.instances) {
        if (!opts.yes && !opts.dryRun) throw rollbackConfirmation('storage-element')
        const { module: _m, instances: _i, concurrency: _c, canary: _k, json: _j, ...range } = opts
        return runFleetCommand(
          o,
          setExit,
          opts,
          (_, base) => rollback({ ...range, ...base }),
          () => true,
          (r) => (r.status === 'not-applied' ? 'nothing applied to roll back' : `${r.status}: ${r.migrations.join(', ')}`),
        )
      }
      report(o, !!opts.json, await rollback(opts), text)
      setExit(EXIT.ok)
    },
  )
}
