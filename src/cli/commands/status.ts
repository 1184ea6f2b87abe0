import type { Command } from 'commander'
import { status, type StatusReport } from '../../index.ts'
import { report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { outcome } from '../exit-codes.ts'

const icon: Record<StatusReport['state'], string> = {
  'up-to-date': '✅',
  pending: '⏳',
  failed: '❌',
  modified: '❌',
  diverged: '❌',
}

/** Up to date and every index valid: what exit 0 means. */
const green = (s: StatusReport) => s.state === 'up-to-date' && !s.invalidIndexes.length

function text(rows: StatusReport[]): string {
  return rows
    .map((s) => {
      const invalid = s.invalidIndexes.length ? `, ${s.invalidIndexes.length} INVALID ${s.invalidIndexes.length === 1 ? 'index' : 'indexes'}` : ''
      const lines = [
        `${green(s) ? icon[s.state] : '❌'} ${s.module}: ${s.state} — ${s.applied.length} applied, ${s.pending.length} pending${invalid}  (${s.database})`,
      ]
      for (const f of s.failed) {
        const instance = s.prefix ? ` --prefix ${s.prefix}` : ''
        lines.push(
          `   failed: ${f}  → undo what it did, then npx artstore-db resolve --module ${s.module}${instance} --rolled-back ${f} (or, completed by hand, --applied ${f}); see README "Recovering from a failed migration"`,
        )
      }
      if (s.modified.length) lines.push(`   modified after being applied: ${s.modified.join(', ')}${s.state === 'modified' ? `  → ${s.next}` : ''}`)
      if (s.unknown.length) lines.push(`   in the database but not on disk: ${s.unknown.join(', ')}${s.state === 'diverged' ? `  → ${s.next}` : ''}`)
      for (const i of s.invalidIndexes) {
        lines.push(
          `   INVALID index: ${i.name} on ${i.table}${i.migration ? ` (from ${i.migration}, ${i.migrationState})` : ''}, never used by a query  → ${i.fix}`,
        )
      }
      // deploy is the next command only for a pending history it accepts; otherwise the state's own comes first.
      if (s.pending.length)
        lines.push(`   pending: ${s.pending.join(', ')}${s.state === 'pending' ? `  → ${s.next}` : ' (deploy applies them once the above is put right)'}`)
      return lines.join('\n')
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('status')
      .description(
        "compare each module's migrations folder with its _prisma_migrations table, and name indexes left INVALID (exit 1 unless all are up to date and valid)",
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
        async (_, base) => (await status(base))[0],
        green,
        (r) =>
          `${r.state}: ${r.applied.length} applied, ${r.pending.length} pending${r.failed.length ? `, failed ${r.failed.join(', ')}` : ''}${
            r.invalidIndexes.length ? `, INVALID ${r.invalidIndexes.map((i) => i.name).join(', ')}` : ''
          }${r.next ? ` → ${r.next}` : ''}`,
      )
    }
    const rows = await status({ module: opts.module, prefix: opts.prefix })
    report(o, !!opts.json, rows, text)
    setExit(outcome(!rows.every(green)))
  })
}
