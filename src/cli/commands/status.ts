import type { Command } from 'commander'
import { status, type ModuleStatus } from '../../index.ts'
import { report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { outcome } from '../exit-codes.ts'

const icon: Record<ModuleStatus['state'], string> = {
  'up-to-date': '✅',
  pending: '⏳',
  failed: '❌',
  modified: '❌',
  diverged: '❌',
}

function text(rows: ModuleStatus[]): string {
  return rows
    .map((s) => {
      const lines = [`${icon[s.state]} ${s.module}: ${s.state} — ${s.applied.length} applied, ${s.pending.length} pending  (${s.database})`]
      const instance = s.prefix ? ` --prefix ${s.prefix}` : ''
      if (s.pending.length) lines.push(`   pending: ${s.pending.join(', ')}  → npx artstore-db deploy --module ${s.module}${instance}`)
      for (const f of s.failed) {
        lines.push(
          `   failed: ${f}  → undo what it did, then npx artstore-db resolve --module ${s.module}${instance} --rolled-back ${f} (or, completed by hand, --applied ${f}); see README "Recovering from a failed migration"`,
        )
      }
      if (s.modified.length) lines.push(`   modified after being applied: ${s.modified.join(', ')}`)
      if (s.unknown.length) lines.push(`   in the database but not on disk: ${s.unknown.join(', ')}`)
      return lines.join('\n')
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('status')
      .description("compare each module's migrations folder with its _prisma_migrations table (exit 1 unless all are up to date)")
      .option(...MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option(...JSON_OPTION),
  ).action(async (opts: { module?: string; prefix?: string; json?: boolean } & FleetCliOptions) => {
    if (opts.instances) {
      return runFleetCommand(
        o,
        setExit,
        opts,
        async (_, base) => (await status(base))[0],
        (r) => r.state === 'up-to-date',
        (r) => `${r.state}: ${r.applied.length} applied, ${r.pending.length} pending${r.failed.length ? `, failed ${r.failed.join(', ')}` : ''}`,
      )
    }
    const rows = await status({ module: opts.module, prefix: opts.prefix })
    report(o, !!opts.json, rows, text)
    setExit(outcome(!rows.every((r) => r.state === 'up-to-date')))
  })
}
