// The range of a rollback: how far back it goes is always said, and going past 0_baseline only by name.
import { UsageError } from '../errors.ts'

const RANGES =
  'give one of --steps N (the last N migrations after 0_baseline), --to <migration> (those applied after it; --to 0_baseline keeps the baseline) or --all (the whole history, 0_baseline too: every table of the module goes, with its rows)'

export class InvalidRollbackRangeError extends UsageError {
  constructor(reason: string) {
    super(`${reason}: ${RANGES}`)
  }
}

/** `--steps N` with fewer migrations than N after 0_baseline: going past the baseline is asked for by name only. */
export class StepsPastBaselineError extends UsageError {
  constructor(module: string, steps: number, later: readonly string[]) {
    super(
      `--steps ${steps} would go past 0_baseline: the ${module} module has ${later.length} migration${later.length === 1 ? '' : 's'} applied after it${
        later.length ? ` (${later.join(', ')})` : ''
      }: ${later.length ? `give --steps ${later.length} or fewer, or ` : 'give '}--all to revert 0_baseline as well (every table of the module goes, with its rows)`,
    )
  }
}

/** Refuses a range that cannot mean anything, before any connection is made. */
export function checkRollbackRange(opts: { steps?: number; to?: string; all?: boolean }): void {
  const given = [opts.steps !== undefined && '--steps', opts.to !== undefined && '--to', opts.all && '--all'].filter(Boolean)
  // No range is no default: the whole history would drop every table of the module.
  if (!given.length) throw new InvalidRollbackRangeError('rollback was given no range')
  if (given.length > 1) throw new InvalidRollbackRangeError(`${given.join(' and ')} were given together`)
  if (opts.steps !== undefined && (!Number.isInteger(opts.steps) || opts.steps < 1))
    throw new InvalidRollbackRangeError(`--steps ${opts.steps} is not a positive whole number`)
}
