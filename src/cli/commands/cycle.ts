import type { Command } from 'commander'
import { cycle, type CycleResult } from '../../index.ts'
import { moduleProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { outcome } from '../exit-codes.ts'

function text(rows: CycleResult[]): string {
  return rows
    .map((r) =>
      [
        `${r.ok ? '✅' : '❌'} ${r.module}: ${r.steps.map((s) => `${s.name} ${s.ms} ms`).join(' → ')}  (${r.database}, dropped)`,
        ...r.steps.filter((s) => !s.ok).map((s) => `   ❌ ${s.name}: ${s.detail}`),
      ].join('\n'),
    )
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('cycle')
    .description('on a scratch database per module: deploy → verify → rollback → nothing left → deploy → verify, timed (exit 1 on any failure)')
    .option(...MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { module?: string; prefix?: string; json?: boolean }) => {
      const rows = await cycle({ module: opts.module, prefix: opts.prefix, onProgress: moduleProgress(o, opts.json, 'cycle') })
      report(o, !!opts.json, rows, text)
      setExit(outcome(!rows.every((r) => r.ok)))
    })
}
