// The fleet options (--instances, --concurrency, --canary) every fleet-aware command shares, and the
// one way their per-instance table, summary and exit code are printed.
import type { Command } from 'commander'
import { wholeNumber } from './options.ts'
import {
  assertDistinctElements,
  instanceOptions,
  onInterrupt,
  readInstancesFile,
  runFleet,
  UsageError,
  type FleetInstance,
  type FleetReport,
  type InstanceOptions,
} from '../index.ts'
import { report, unmuted, type Output } from './output.ts'
import { outcome } from './exit-codes.ts'

export class FleetUsageError extends UsageError {
  constructor() {
    super(
      '--instances runs every storage-element instance of the file, each with its own prefix: drop --prefix (and --module, or give --module storage-element)',
    )
  }
}

export interface FleetCliOptions {
  instances?: string
  concurrency?: number
  canary?: number
  json?: boolean
}

/** Adds the fleet options to a command. */
export function withFleetOptions(c: Command): Command {
  return c
    .option('--instances <file>', 'run for every storage-element instance of this JSON file (see README "A fleet of storage elements")')
    .option('--concurrency <n>', 'with --instances: instances at once (default 4)', wholeNumber(1, '--concurrency 4'))
    .option('--canary <n>', 'with --instances: the first n instances first, alone; stop if any fails', wholeNumber(1, '--canary 1'))
}

const icon = { ok: '✅', failed: '❌', skipped: '⏭️', interrupted: '⛔', 'not-started': '⏸️' } as const

/** One line per instance and a summary line; for an interrupted run, what was running and what was not started too. */
function fleetText<T>(x: FleetReport<T>, line: (result: T) => string): string {
  const what = (row: FleetReport<T>['rows'][number]) =>
    row.status === 'skipped'
      ? 'skipped: a canary failed'
      : row.status === 'interrupted'
        ? 'interrupted: what it had not committed is rolled back'
        : row.status === 'not-started'
          ? 'not started'
          : (row.error ?? line(row.result as T))
  const stopped = x.interrupted !== undefined ? `, ${x.interrupted} interrupted, ${x.notStarted} not started` : ''
  return [
    ...x.rows.map(
      (row) =>
        `${icon[row.status]} ${row.instance} (${row.prefix}): ${what(row)}  (${row.database}${row.status === 'not-started' ? '' : `, ${row.durationMs} ms`})`,
    ),
    `${x.rows.length} instance(s): ${x.ok} ok, ${x.failed} failed, ${x.skipped} skipped${stopped}`,
  ].join('\n')
}

/**
 * Runs `op` for each instance of the file and prints one line per instance and a summary line (or
 * JSON). Exit 0 only when every instance succeeded, 1 when any failed or was skipped.
 */
export async function runFleetCommand<T>(
  o: Output,
  setExit: (code: number) => void,
  opts: FleetCliOptions,
  op: (i: FleetInstance, base: InstanceOptions) => Promise<T>,
  ok: (result: T) => boolean,
  line: (result: T) => string,
  modules: readonly string[] = ['storage-element'],
): Promise<void> {
  const given = opts as FleetCliOptions & { module?: string; prefix?: string }
  if (given.prefix !== undefined || (given.module !== undefined && !modules.includes(given.module))) {
    throw new FleetUsageError()
  }
  const instances = readInstancesFile(opts.instances!)
  // The query module's cache is one table for every storage element: each writes its rows under its element id.
  if (given.module === 'query') assertDistinctElements(opts.instances!, instances)
  let bar: { update(n: number): void; stop(): void } | undefined
  if (process.stderr.isTTY && !opts.json) {
    const { default: progress } = await import('cli-progress')
    const b = new progress.SingleBar({ format: 'instances {bar} {value}/{total}', stream: process.stderr }, progress.Presets.shades_classic)
    b.start(instances.length, 0)
    bar = { update: (n) => b.update(n), stop: () => b.stop() }
  }
  let r: FleetReport<T>
  // Ctrl-C or TERM mid-fleet: the per-instance report of what finished, what was running and what had
  // not started is printed before the command ends (exit 130/143, see main).
  // The report is taken as the signal arrives (what the clean-up stops after it must not count as failed).
  let current: (() => FleetReport<unknown>) | undefined
  let atSignal: FleetReport<unknown> | undefined
  const freeze = () => (atSignal ??= current?.())
  process.once('SIGINT', freeze).once('SIGTERM', freeze)
  const offInterrupt = onInterrupt(async () => {
    bar?.stop()
    const r = freeze()
    if (r) report(unmuted(o), !!opts.json, r as FleetReport<T>, (x) => fleetText(x, line))
  })
  try {
    r = await runFleet(instances, (i) => op(i, instanceOptions(i)), ok, {
      concurrency: opts.concurrency,
      canary: opts.canary,
      onDone: (n) => bar?.update(n),
      onRun: (c) => (current = c),
    })
  } finally {
    offInterrupt()
    process.off('SIGINT', freeze).off('SIGTERM', freeze)
    bar?.stop()
  }
  report(o, !!opts.json, r, (x) => fleetText(x, line))
  setExit(outcome(r.failed > 0 || r.skipped > 0))
}
