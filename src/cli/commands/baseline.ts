import type { Command } from 'commander'
import { baseline, type ModuleBaselineResult } from '../../index.ts'
import { moduleProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { outcome } from '../exit-codes.ts'

const icon = { same: '✅', written: '📝', differs: '❌', frozen: '✅' } as const

function text(rows: ModuleBaselineResult[], showDiff: boolean): string {
  return rows
    .map((r) => {
      const line = `${icon[r.status]} ${r.module}: ${
        r.status === 'same'
          ? 'baseline is what the schema and extras produce'
          : r.status === 'frozen'
            ? 'baseline unchanged since it was recorded (later migrations carry the schema changes: npx artstore-db migrate check)'
            : r.status === 'written'
              ? `wrote ${r.files.join(', ')}`
              : 'committed baseline differs from regeneration'
      }`
      return showDiff && r.diff ? `${line}\n${r.diff}` : line
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('baseline')
    .description("regenerate each module's migrations/0_baseline (migration.sql and down.sql) from its schema and sql/ extras")
    .option(...MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option('--check', 'write nothing; exit 1 and print the difference when the committed files are not what regeneration produces')
    .option('--dry-run', 'print what would change, write nothing')
    .option(...JSON_OPTION)
    .action(async (opts: { module?: string; prefix?: string; check?: boolean; dryRun?: boolean; json?: boolean }) => {
      const rows = await baseline({
        module: opts.module,
        prefix: opts.prefix,
        check: opts.check,
        dryRun: opts.dryRun,
        onProgress: moduleProgress(o, opts.json, opts.check ? 'check baseline of' : 'baseline'),
      })
      report(o, !!opts.json, rows, (r) => text(r, !!(opts.check || opts.dryRun)))
      setExit(outcome(!!opts.check && rows.some((r) => r.status === 'differs')))
    })
}
