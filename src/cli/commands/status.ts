import type { Command } from 'commander'
import { status, type BackfillStatus, type InterruptedStatus, type StatusReport } from '../../index.ts'
import { plural, report, type Output } from '../output.ts'
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

/** A backfill's progress in words: `key id at 1200 of 3000, 1200 of ~3000 rows walked, 60 batches, 1200 rows changed, last batch committed 2026-… (12 s ago)`. */
function describeBackfill(b: BackfillStatus): string {
  const at = b.lastKey !== undefined ? `key ${b.key} at ${b.lastKey}${b.maxKey !== undefined ? ` of ${b.maxKey}` : ''}` : `key ${b.key}`
  const share = b.estimatedRows ? ` (${Math.min(100, Math.floor((100 * b.walked) / b.estimatedRows))} %)` : ''
  const of = b.estimatedRows !== undefined ? ` of ~${b.estimatedRows}` : ''
  return `${at}, ${b.walked}${of} rows walked${share}, ${plural(b.batches, 'batch', 'batches')}, ${b.changed} rows changed, last batch committed ${b.lastBatchAt} (${b.secondsSinceLastBatch} s ago)`
}

/** What the next deploy does, in words. */
function describeBackfillNext(b: BackfillStatus): string {
  const after = b.lastKey !== undefined ? ` after key ${b.lastKey}` : ''
  switch (b.next) {
    case 'resumes':
      return `the next deploy goes on${after}`
    case 'resumes-after-resolve':
      return `once the failed migration is settled (resolve --rolled-back), deploy goes on${after}`
    case 'running':
      return `a deploy is running it now (backend pid ${b.runningPid} holds this database's migration lock or deploy turn)`
    case 'restarts':
      return 'recorded for another version of its migration.sql: the next deploy starts again from the first key'
  }
}

/** An unfinished migration deploy settles itself, and how: `interrupted (no error logged), …: deploy …`. */
function describeInterrupted(i: InterruptedStatus, backfill?: BackfillStatus): string {
  if (i.deploy === 'running') return `${backfill ? `a batched backfill of ${backfill.table} ` : ''}being run by a deploy now`
  if (backfill) return `a batched backfill of ${backfill.table} interrupted (no error logged)`
  const interrupted = 'interrupted (no error logged)'
  switch (i.deploy) {
    case 'resumed':
      return `a batched backfill ${interrupted} before its first batch committed: deploy settles it and runs it from its first key`
    case 'applied':
      return `${interrupted}, the database shows all of it (its transaction had committed): deploy settles it (marks it applied) and goes on`
    default:
      return i.dropsInvalid
        ? `${interrupted}, its CREATE INDEX CONCURRENTLY left ${i.dropsInvalid.join(', ')} INVALID: deploy settles it (drops ${i.dropsInvalid.length === 1 ? 'it' : 'them'}, marks it rolled back) and runs it again`
        : `${interrupted}, the database shows none of it: deploy settles it (marks it rolled back) and runs it again`
  }
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
        if (s.interrupted?.migration === f) {
          lines.push(
            `   unfinished: ${f}, ${describeInterrupted(
              s.interrupted,
              s.backfills.find((b) => b.migration === f),
            )}  → ${s.next}`,
          )
          continue
        }
        if (s.undecided?.migration === f) {
          lines.push(`   unfinished: ${f}, interrupted (no error logged)  → ${s.next}`)
          continue
        }
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
      for (const b of s.backfills) lines.push(`   backfill ${b.migration}: ${describeBackfill(b)}; ${describeBackfillNext(b)}`)
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
          `${r.state}: ${r.applied.length} applied, ${r.pending.length} pending${r.failed.length ? `, ${r.interrupted ? 'interrupted' : 'failed'} ${r.failed.join(', ')}` : ''}${
            r.invalidIndexes.length ? `, INVALID ${r.invalidIndexes.map((i) => i.name).join(', ')}` : ''
          }${r.backfills.map((b) => `, backfill ${b.migration} at ${b.lastKey ?? 'its start'}${b.maxKey !== undefined ? ` of ${b.maxKey}` : ''} (${plural(b.batches, 'batch', 'batches')}, last ${b.secondsSinceLastBatch} s ago)`).join('')}${r.next ? ` → ${r.next}` : ''}`,
      )
    }
    const rows = await status({ module: opts.module, prefix: opts.prefix })
    report(o, !!opts.json, rows, text)
    setExit(outcome(!rows.every(green)))
  })
}
