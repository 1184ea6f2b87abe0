import type { Command } from 'commander'
import { deploy, describeBlockers, type ModuleDeployResult, type RewriteRefusal } from '../../index.ts'
import { batchProgress, lockProgress, moduleProgress, report, turnProgress, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { EXIT, outcome } from '../exit-codes.ts'

const icon: Record<ModuleDeployResult['status'], string> = {
  applied: '✅',
  'up-to-date': '✅',
  'would-apply': '📝',
  failed: '❌',
  refused: '🛑',
  'not-run': '⏭️',
}

const allowedByText: Record<NonNullable<RewriteRefusal['allowedBy']>, string> = {
  header: "the migration's recorded allowance",
  option: '--allow-rewrite',
  env: 'ARTSTORE_ALLOW_REWRITE',
}

/** What a result names: the migrations applied, and apart from them the one that failed. */
function migrationsOf(r: ModuleDeployResult): string {
  if (r.status === 'refused') return `: ${[...new Set(r.refused?.map((x) => x.migration))].join(', ')} (rewrite guard)`
  if (r.status !== 'failed') return r.migrations.length ? `: ${r.migrations.join(', ')}` : ''
  const applied = r.migrations.length ? `; applied before it: ${r.migrations.join(', ')}` : ''
  return `${r.failedMigration ? `: ${r.failedMigration}` : ''}${applied}`
}

function recoveryLine(rec: NonNullable<ModuleDeployResult['recovered']>): string {
  const shows = rec.droppedInvalid?.length
    ? `had not finished building ${rec.droppedInvalid.join(', ')} (left INVALID): dropped, marked rolled back, and applied again`
    : rec.as === 'resumed'
      ? `is a batched backfill${rec.progress ? ` that had committed ${rec.progress.batches} batches (${rec.progress.walked} keys, up to ${rec.progress.lastKey})` : ' that had committed no batch'}: marked rolled back, and run again from there`
      : rec.as === 'applied'
        ? 'had committed: marked applied'
        : 'had not committed: marked rolled back, and applied again'
  return `   ${rec.migration} was left interrupted by an earlier deploy; the database shows it ${shows}`
}

function text(rows: ModuleDeployResult[]): string {
  return rows
    .map((r) => {
      const lines = [`${icon[r.status]} ${r.module}: ${r.status}${migrationsOf(r)}  (${r.database})`]
      if (r.recovered) lines.push(recoveryLine(r.recovered))
      if (r.lockWaits)
        lines.push(
          `   waited for locks: ${r.lockWaits.timedOut} ${r.lockWaits.timedOut === 1 ? 'try' : 'tries'} ran out of lock_timeout, blocked by ${describeBlockers(r.lockWaits.blockers)}`,
        )
      for (const b of r.backfills ?? [])
        lines.push(
          `   batched backfill ${b.migration ?? b.table}: ${b.done ? 'done' : 'stopped'}, ${b.changed} rows changed over ${b.walked} keys in ${b.batches} batches${b.resumed ? ' (went on from an earlier run)' : ''}`,
        )
      for (const a of r.allowedRewrites ?? [])
        lines.push(`   allowed rewrite (${allowedByText[a.allowedBy ?? 'option']}): ${a.migration}: ${a.table}, ${a.size}: ${a.statement}`)
      if (r.detail) lines.push(r.detail.replace(/^/gm, '   '))
      if (r.failure?.hint) lines.push(`   HINT: ${r.failure.hint}`)
      if (r.failure) lines.push(`   next: ${r.failure.next}`)
      return lines.join('\n')
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  withFleetOptions(
    program
      .command('deploy')
      .description('apply pending migrations (prisma migrate deploy) to each module, one after another')
      .option(...MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option('--dry-run', 'list the migrations that would be applied, change nothing')
      .option('--lock-timeout <duration>', 'longest wait of one try for a lock (e.g. 200ms, 2s; default ARTSTORE_LOCK_TIMEOUT, else 50ms)')
      .option('--lock-retry-for <duration>', 'how long a migration may keep trying for its locks (e.g. 30s, 10m; default ARTSTORE_LOCK_RETRY_FOR, else 3m)')
      .option(
        '--rewrite-threshold <size>',
        'a table larger than this is large for the rewrite guard (e.g. 10MB, 512kB; default ARTSTORE_REWRITE_THRESHOLD, else 10MB)',
      )
      .option(
        '--allow-rewrite <migrations>',
        'run these pending migrations (comma-separated) even where they rewrite or scan a large table (default ARTSTORE_ALLOW_REWRITE)',
      )
      .option(...JSON_OPTION),
  ).action(
    async (
      opts: {
        module?: string
        prefix?: string
        json?: boolean
        dryRun?: boolean
        lockTimeout?: string
        lockRetryFor?: string
        rewriteThreshold?: string
        allowRewrite?: string
      } & FleetCliOptions,
    ) => {
      const lock = { lockTimeout: opts.lockTimeout, lockRetryFor: opts.lockRetryFor, rewriteThreshold: opts.rewriteThreshold, allowRewrite: opts.allowRewrite }
      if (opts.instances) {
        return runFleetCommand(
          o,
          setExit,
          opts,
          async (_, base) => (await deploy({ ...base, ...lock, dryRun: opts.dryRun }))[0],
          (r) => r.status !== 'failed' && r.status !== 'refused',
          (r) => [`${r.status}${migrationsOf(r)}`, r.detail?.split('\n')[0]].filter(Boolean).join(' — '),
        )
      }
      const rows = await deploy({
        module: opts.module,
        prefix: opts.prefix,
        dryRun: opts.dryRun,
        ...lock,
        onLockWait: lockProgress(o, opts.json),
        onBatch: await batchProgress(o, opts.json),
        onProgress: moduleProgress(o, opts.json, 'deploy'),
        onTurnWait: turnProgress(o, opts.json),
      })
      report(o, !!opts.json, rows, text)
      // A refusal of the rewrite guard changed nothing: exit 2, as every refusal (a failure wins: something was tried).
      const failed = rows.some((r) => r.status === 'failed')
      setExit(!failed && rows.some((r) => r.status === 'refused') ? EXIT.badInput : outcome(failed))
    },
  )
}
