import type { Command } from 'commander'
import { adopt, adoptConfirmation, describeBlockers, restore, type AdoptReport, type RestoreResult } from '../../index.ts'
import { lockProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { EXIT, outcome } from '../exit-codes.ts'

const icon: Record<AdoptReport['status'], string> = {
  adopted: '✅',
  'would-adopt': '📝',
  'already-adopted': '✅',
  empty: '✅',
  refused: '❌',
  failed: '❌',
}

function describeClass(r: AdoptReport): string {
  const c = r.classification
  const legacy = c.kind === 'legacy' ? ` (Alembic ${c.versionTable} = ${c.revisions.join(', ')}, ${c.generation})` : ''
  return `${c.kind}${legacy}`
}

function text(rows: AdoptReport[], showSql: boolean): string {
  return rows
    .map((r) => {
      const lines = [`${icon[r.status]} ${r.module}: ${r.status} — database is ${describeClass(r)}  (${r.database})`]
      if (r.status === 'empty') lines.push(`   nothing to adopt: npx artstore-db deploy --module ${r.module}`)
      if (r.classification.foreignTables.length) lines.push(`   foreign, untouched: ${r.classification.foreignTables.join(', ')}`)
      for (const s of r.steps) lines.push(`   ${s.safety === 'safe' ? '·' : '⚠'} ${s.kind}${s.table ? ` ${s.table}` : ''}: ${s.reason}`)
      for (const p of r.proof) {
        lines.push(`   ${p.ok ? '✅' : '❌'} ${p.table}: ${p.before.rows} → ${p.after.rows} rows, content ${p.ok ? 'identical' : 'DIFFERS'}`)
      }
      for (const f of r.failedChecks) lines.push(`   ❌ ${f.category} ${f.name}: expected ${f.expected ?? 'present'}, found ${f.actual ?? 'nothing'}`)
      if (r.status === 'refused') lines.push(`   refused: ${r.steps.filter((s) => s.safety === 'dangerous').length} dangerous step(s); nothing was changed`)
      if (r.lockWaits)
        lines.push(
          `   waited for locks: ${r.lockWaits.timedOut} ${r.lockWaits.timedOut === 1 ? 'try' : 'tries'} ran out of lock_timeout, blocked by ${describeBlockers(r.lockWaits.blockers)}`,
        )
      if (r.locksNotGranted) lines.push(`   next: ${r.locksNotGranted.next}`)
      if (r.backup) lines.push(`   backup of the critical data: ${r.backup}`)
      if (r.archive) lines.push(`   retired Alembic revision recorded in ${r.archive}`)
      if (r.pending.length)
        lines.push(`   at 0_baseline; later migrations pending: ${r.pending.join(', ')}: apply them with npx artstore-db deploy --module ${r.module}`)
      if (showSql && r.sql) lines.push('', r.sql.replace(/^/gm, '   '), '')
      return lines.join('\n')
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('adopt')
      .description('bring an existing (Alembic-era) database onto the baseline in place, prove nothing was lost, and mark it applied')
      .option(...MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option('--dry-run', 'run the plan and its proof in a transaction that is rolled back, and print the SQL')
      .option('--yes', 'apply the plan')
      .option('--lock-timeout <duration>', 'longest wait of one try for a lock (e.g. 500ms, 2s; default ARTSTORE_LOCK_TIMEOUT, else 500ms)')
      .option('--lock-retry-for <duration>', 'how long the adoption may keep trying for its locks (e.g. 30s, 10m; default ARTSTORE_LOCK_RETRY_FOR, else 3m)')
      .option(...JSON_OPTION),
  ).action(
    async (
      opts: {
        module?: string
        prefix?: string
        dryRun?: boolean
        yes?: boolean
        json?: boolean
        lockTimeout?: string
        lockRetryFor?: string
      } & FleetCliOptions,
    ) => {
      const lock = { lockTimeout: opts.lockTimeout, lockRetryFor: opts.lockRetryFor }
      if (opts.instances) {
        if (!opts.yes && !opts.dryRun) throw adoptConfirmation()
        return runFleetCommand(
          o,
          setExit,
          opts,
          async (_, base) => (await adopt({ ...base, ...lock, yes: opts.yes, dryRun: opts.dryRun }))[0],
          (r) => r.status !== 'refused' && r.status !== 'failed',
          (r) =>
            `${r.status} — ${describeClass(r)}${r.proof.length ? `; ${r.proof.filter((p) => p.ok).length}/${r.proof.length} tables proved identical` : ''}`,
        )
      }
      const rows = await adopt({ ...opts, onLockWait: lockProgress(o, opts.json) })
      report(o, !!opts.json, rows, (r) => text(r, !!opts.dryRun))
      setExit(outcome(rows.some((r) => r.status === 'refused' || r.status === 'failed')))
    },
  )

  program
    .command('restore')
    .description('put back the rows of a backup that adopt wrote (by primary key, in one transaction)')
    .requiredOption('--from <dir>', 'required: the backup folder adopt printed (.artstore/backups/…)')
    .option('--dry-run', 'restore inside a transaction that is rolled back')
    .option('--yes', 'confirm the restore')
    .option('--other-target', 'restore into another database than the one the backup was taken from (it records which, and the instance)')
    .option(...JSON_OPTION)
    .action(async (opts: { from: string; dryRun?: boolean; yes?: boolean; otherTarget?: boolean; json?: boolean }) => {
      const r = await restore(opts)
      report(o, !!opts.json, r, (x: RestoreResult) =>
        [`✅ ${x.module}: ${x.status}  (${x.database})`, ...x.tables.map((t) => `   ${t.table}: ${t.rows} rows`)].join('\n'),
      )
      setExit(EXIT.ok)
    })
}
