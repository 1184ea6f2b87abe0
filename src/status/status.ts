import type pg from 'pg'
import { describeTarget, eachTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { compareHistory, readLocalMigrations, type HistoryComparison } from '../history/history.ts'
import { readOwnHistory } from '../history/owner.ts'

export interface ModuleStatus extends HistoryComparison, ReturnType<typeof describeTarget> {}

/** The migration state of one module's database: applied, pending, failed, modified, unknown. */
export async function moduleStatus(t: ModuleTarget, client?: pg.ClientBase): Promise<ModuleStatus> {
  const applied = client ? await readOwnHistory(client, t) : await withClient(t, (c) => readOwnHistory(c, t))
  return { ...describeTarget(t), ...compareHistory(readLocalMigrations(t.module.migrationsDir), applied) }
}

/** `status`: each selected module's state. Read-only. */
export function status(opts: CommandOptions = {}): Promise<ModuleStatus[]> {
  return withCheckedTargets(opts, async (targets) => {
    return eachTarget(targets, (t) => moduleStatus(t))
  })
}
