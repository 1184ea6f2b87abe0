import { maskUrl } from '../config/urls.ts'
import { originKey } from '../config/origin.ts'
import { isArtstoreError } from '../errors.ts'
import { entryOf, type FleetInstance } from './instances.ts'

/** The outcome of one instance. */
export interface FleetRow<T> {
  instance: string
  prefix: string
  /** The database, masked. */
  database: string
  /**
   * `ok`, `failed` (the operation failed or threw) or `skipped` (a canary failed first); in the report
   * of an interrupted run also `interrupted` (it was running) and `not-started`.
   */
  status: 'ok' | 'failed' | 'skipped' | 'interrupted' | 'not-started'
  /** What the operation returned, for a report. */
  result?: T
  /** Why it failed, one line. */
  error?: string
  durationMs: number
}

export interface FleetReport<T> {
  rows: FleetRow<T>[]
  ok: number
  failed: number
  skipped: number
  /** Only in the report of an interrupted run (see FleetOptions.onRun): instances that were running, and those not started. */
  interrupted?: number
  notStarted?: number
}

export interface FleetOptions {
  /** Instances run at once (default 4). */
  concurrency?: number
  /** The first N instances run first, alone; if any of them fails, the rest are skipped. */
  canary?: number
  /** Called as each instance finishes (a progress bar). */
  onDone?: (done: number, total: number) => void
  /**
   * Called once, before any instance starts, with a function that reports the run as it stands: what
   * finished as it finished, what is running as `interrupted`, the rest as `not-started`. For a
   * command that is interrupted (SIGINT, SIGTERM) and reports what it did before it ends.
   */
  onRun?: (current: () => FleetReport<unknown>) => void
}

/** The command options that run one instance: the storage element, its prefix and layout, its URL. */
export type InstanceOptions = ReturnType<typeof instanceOptions>

export const instanceOptions = (i: FleetInstance) => ({
  module: 'storage-element',
  prefix: i.prefix,
  layout: i.layout,
  // Errors name the file's entry, not the variable the URL is handed over in.
  env: { STORAGE_ELEMENT_DATABASE_URL: i.url, [originKey('STORAGE_ELEMENT_DATABASE_URL')]: `the instances file entry ${entryOf(i)}` },
})

/**
 * Runs `op` for every instance, at most `concurrency` at once, the canary first. A failing instance is
 * reported and the others go on (each instance's work is its own: one failing never leaves another
 * half done); `ok(result)` says whether a result counts as success.
 */
export async function runFleet<T>(
  instances: readonly FleetInstance[],
  op: (i: FleetInstance) => Promise<T>,
  ok: (result: T) => boolean,
  o: FleetOptions = {},
): Promise<FleetReport<T>> {
  const rows: FleetRow<T>[] = instances.map((i) => ({ instance: i.name, prefix: i.prefix, database: maskUrl(i.url), status: 'skipped', durationMs: 0 }))
  let done = 0
  const running = new Map<number, number>()
  const finished = new Set<number>()
  o.onRun?.(() => {
    const now = performance.now()
    const at = rows.map((r, k): FleetRow<T> => {
      if (finished.has(k)) return r
      const since = running.get(k)
      return since === undefined ? { ...r, status: 'not-started' } : { ...r, status: 'interrupted', durationMs: Math.round(now - since) }
    })
    return { ...count(at), interrupted: at.filter((r) => r.status === 'interrupted').length, notStarted: at.filter((r) => r.status === 'not-started').length }
  })
  const one = async (k: number) => {
    const started = performance.now()
    running.set(k, started)
    try {
      const result = await op(instances[k])
      rows[k] = { ...rows[k], status: ok(result) ? 'ok' : 'failed', result }
    } catch (e) {
      const message = isArtstoreError(e) ? e.message : String((e as Error)?.message ?? e)
      rows[k] = { ...rows[k], status: 'failed', error: message.split('\n')[0] }
    }
    rows[k].durationMs = Math.round(performance.now() - started)
    running.delete(k)
    finished.add(k)
    o.onDone?.(++done, instances.length)
  }
  const pool = async (indexes: number[]) => {
    let next = 0
    const width = Math.max(1, Math.min(o.concurrency ?? 4, indexes.length))
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < indexes.length) await one(indexes[next++])
      }),
    )
  }
  const all = instances.map((_, k) => k)
  const canary = Math.max(0, Math.min(o.canary ?? 0, all.length))
  await pool(all.slice(0, canary))
  if (!rows.slice(0, canary).some((r) => r.status === 'failed')) await pool(all.slice(canary))
  return count(rows)
}

const count = <T>(rows: FleetRow<T>[]): FleetReport<T> => ({
  rows,
  ok: rows.filter((r) => r.status === 'ok').length,
  failed: rows.filter((r) => r.status === 'failed').length,
  skipped: rows.filter((r) => r.status === 'skipped').length,
})
