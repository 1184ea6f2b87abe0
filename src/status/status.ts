import path from 'node:path'
import type pg from 'pg'
import { describeInvalidIndex, historyObjects, readInvalidIndexes, type InvalidIndex } from '../catalog/validity.ts'
import { describeTarget, eachTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { compareHistory, readLocalMigrations, readMigrationFolders, type HistoryComparison } from '../history/history.ts'
import { readOwnHistory } from '../history/owner.ts'
import { moduleFlags, projectRoot } from '../modules.ts'
import { foreseeRecovery, undecidedNext, type InterruptedVerdict, type UndecidableReason } from '../deploy/recover.ts'
import { backfillsOf, type BackfillStatus } from './backfills.ts'

export interface ModuleStatus extends HistoryComparison, ReturnType<typeof describeTarget> {}

/** What `status` reports of one module: its history's state, the indexes left INVALID, and the next command. */
export interface StatusReport extends ModuleStatus {
  /** The module's indexes that PostgreSQL keeps but never uses (an interrupted or failed CONCURRENTLY build), each with its fix. */
  invalidIndexes: InvalidIndex[]
  /** The batched backfills among the pending or unfinished migrations that have committed batches: how far each got, and what the next deploy does. */
  backfills: BackfillStatus[]
  /**
   * The unfinished migration when the next deploy settles it itself (killed mid-way, no error logged),
   * or when a deploy is running it now; absent for a failure that is a person's to settle.
   */
  interrupted?: InterruptedStatus
  /**
   * The unfinished migration (no error logged) that deploy leaves to a person because nothing in the
   * database shows what of it ran: `reason` as judgeInterrupted gives it.
   */
  undecided?: { migration: string; reason: UndecidableReason }
  /** The next command for this state; absent when the history is up to date and every index valid. */
  next?: string
}

/** What the next deploy does with an unfinished migration, as deploy judges it (judgeInterrupted). */
export interface InterruptedStatus {
  migration: string
  /**
   * `applied`: its transaction had committed, deploy marks it applied; `rolled-back`: none of it shows,
   * deploy marks it rolled back and runs it again (dropping `dropsInvalid` first, the indexes its
   * CONCURRENTLY build left INVALID); `resumed`: a batched backfill, which deploy runs again from its
   * recorded progress (from its first key when no batch had committed); `running`: a deploy holds the
   * migration lock now (backend `runningPid`).
   */
  deploy: 'applied' | 'rolled-back' | 'resumed' | 'running'
  dropsInvalid?: string[]
  runningPid?: number
}

/** The verdict as status and verify report it: none for a failure that is a person's. */
export function interruptedStatus(v: InterruptedVerdict | undefined): InterruptedStatus | undefined {
  if (v?.verdict === 'running') return { migration: v.migration, deploy: 'running', ...(v.pid !== undefined ? { runningPid: v.pid } : {}) }
  if (v?.verdict !== 'settles') return undefined
  const drops = v.settle.droppedInvalid?.length ? { dropsInvalid: v.settle.droppedInvalid } : {}
  return { migration: v.migration, deploy: v.settle.as, ...drops }
}

/** The migration state of one module's database: applied, pending, failed, modified, unknown. */
export async function moduleStatus(t: ModuleTarget, client?: pg.ClientBase): Promise<ModuleStatus> {
  const applied = client ? await readOwnHistory(client, t) : await withClient(t, (c) => readOwnHistory(c, t))
  return { ...describeTarget(t), ...compareHistory(readLocalMigrations(t.module.migrationsDir), applied) }
}

const flags = (t: ModuleTarget) => moduleFlags(t.module)

/**
 * The next command for a state, as deploy will take it: deploy only for pending migrations of a
 * history it accepts (it refuses a diverged or modified one, and a failed one until it is settled),
 * or for a migration left interrupted, which it settles itself.
 */
function nextCommand(
  t: ModuleTarget,
  s: ModuleStatus,
  invalid: readonly InvalidIndex[],
  interrupted?: InterruptedStatus,
  undecided?: StatusReport['undecided'],
): string | undefined {
  const dir = path.relative(projectRoot, t.module.migrationsDir)
  switch (s.state) {
    case 'failed': {
      // Killed mid-way: deploy settles its unfinished row itself and goes on (see judgeInterrupted).
      if (interrupted?.deploy === 'running')
        return `a deploy is running ${interrupted.migration} now (backend pid ${interrupted.runningPid} holds this database's migration lock or deploy turn): when it has ended, npx artstore-db status ${flags(t)}`
      if (interrupted) return `npx artstore-db deploy ${flags(t)}`
      if (undecided) return undecidedNext(undecided.migration, undecided.reason, flags(t))
      return `undo what ${s.failed[0]} did, then npx artstore-db resolve ${flags(t)} --rolled-back ${s.failed[0]} (or, completed by hand, --applied ${s.failed[0]}); see README "Recovering from a failed migration"`
    }
    case 'diverged':
      return `deploy refuses this history (${s.unknown.join(', ')} applied here, not in ${dir}): run artstore-db from the checkout that has these migrations (a newer branch, or an archived history), then npx artstore-db status ${flags(t)}`
    case 'modified':
      return `restore ${s.modified.map((m) => `${dir}/${m}/migration.sql`).join(', ')} as it was deployed (git checkout <commit> -- <file>; every database holds its checksum); a wanted change goes in a new migration: npx artstore-db migrate new --module ${t.module.name} --name <change>`
    case 'pending':
      return `npx artstore-db deploy ${flags(t)}`
    default:
      return invalid[0]?.fix
  }
}

/** `status` of one module on an open client: the history, the module's invalid indexes and the next command. */
async function statusReport(t: ModuleTarget, c: pg.ClientBase): Promise<StatusReport> {
  const rows = await readOwnHistory(c, t)
  const history = readMigrationFolders(t.module.migrationsDir)
  const s: ModuleStatus = { ...describeTarget(t), ...compareHistory(history, rows) }
  const verdict = s.state === 'failed' ? await foreseeRecovery(c, t, s) : undefined
  const interrupted = interruptedStatus(verdict)
  const undecided = verdict?.verdict === 'person' && verdict.reason ? { migration: verdict.migration, reason: verdict.reason } : undefined
  // In a shared schema, only what this module's history creates is its own.
  const own = historyObjects(history)
  const invalidIndexes = (await readInvalidIndexes(c, t.pgSchema))
    .filter((i) => own.indexes.has(i.name) || own.tables.has(i.table))
    .map((i) => describeInvalidIndex(t, i, history, rows, interrupted?.dropsInvalid))
  const backfills = await backfillsOf(c, history, s, verdict)
  const next = nextCommand(t, s, invalidIndexes, interrupted, undecided)
  return { ...s, invalidIndexes, backfills, ...(interrupted ? { interrupted } : {}), ...(undecided ? { undecided } : {}), ...(next ? { next } : {}) }
}

/** `status`: each selected module's state. Read-only. */
export function status(opts: CommandOptions = {}): Promise<StatusReport[]> {
  return withCheckedTargets(opts, async (targets) => {
    return eachTarget(targets, (t) => withClient(t, (c) => statusReport(t, c)))
  })
}
