import type { Command } from 'commander'
import { verify, type CheckItem, type VerifyReport } from '../../index.ts'
import { moduleProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { outcome } from '../exit-codes.ts'

function line(i: CheckItem): string {
  const detail = i.ok
    ? i.expected && i.expected !== 'exists'
      ? `: ${i.expected}`
      : ''
    : `: expected ${i.expected ?? 'present'}, found ${i.actual ?? 'nothing'}`
  return `  ${i.ok ? '✅' : '❌'} ${i.category} ${i.name}${detail}`
}

function text(rows: VerifyReport[]): string {
  return rows
    .map((r) => {
      const failed = r.items.filter((i) => !i.ok).length
      const head = `${r.ok ? '✅' : '❌'} ${r.module}: ${r.items.length - failed}/${r.items.length} checks pass  (${r.database})`
      return [head, ...r.items.map(line)].join('\n')
    })
    .join('\n\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('verify')
      .description(
        'post-migration checklist: every table, column, key, index, enum, check, trigger and function of the whole history, isolation and drift (exit 1 on any ❌)',
      )
      .option(...MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option(...JSON_OPTION),
  ).action(async (opts: { module?: string; prefix?: string; json?: boolean } & FleetCliOptions) => {
    if (opts.instances) {
      return runFleetCommand(
        o,
        setExit,
        opts,
        async (_, base) => (await verify(base))[0],
        (r) => r.ok,
        (r) => {
          const failing = r.items.filter((i) => !i.ok)
          const first = failing.slice(0, 2).map((i) => `${i.category} ${i.name}${i.actual ? ` (${i.actual})` : ''}`)
          return `${r.items.length - failing.length}/${r.items.length} checks pass${failing.length ? `: ${first.join('; ')}` : ''}`
        },
      )
    }
    const rows = await verify({ module: opts.module, prefix: opts.prefix, onProgress: moduleProgress(o, opts.json, 'verify') })
    report(o, !!opts.json, rows, text)
    setExit(outcome(!rows.every((r) => r.ok)))
  })
}
