import type { Command } from 'commander'
import type { RollbackResult } from '../../rollback/rollback.ts'
import { report, type Output } from '../output.ts'
import { JSON_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION } from '../options.ts'

function text(r: RollbackResult): string {
  if (r.status === 'would-roll-back') return `📝 ${r.module}: would run, in one transaction  (${r.database})\n${r.sql}`
  if (r.status === 'not-applied') return `✅ ${r.module}: the baseline is not applied; nothing to roll back  (${r.database})`
  return `✅ ${r.module}: rolled back (down.sql, baseline history row removed)  (${r.database})`
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('rollback')
    .description("revert one module's baseline: run its down.sql and remove the baseline's history row, in one transaction")
    .option(...ONE_MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option('--yes', 'confirm: every table of the module is dropped, with its data')
    .option('--dry-run', 'print the SQL that would run, change nothing')
    .option(...JSON_OPTION)
    .action(async (opts: { module?: string; prefix?: string; yes?: boolean; dryRun?: boolean; json?: boolean }) => {
      report(o, !!opts.json, await (await import('../../rollback/rollback.ts')).rollback(opts), text)
      setExit(0)
    })
}
