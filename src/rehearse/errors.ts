import { RefusalError, UsageError } from '../errors.ts'

/** The default bound of a rehearsal: what the module's tables may take on the target (1 GiB). */
export const DEFAULT_REHEARSE_MAX_BYTES = 1024 ** 3
export const MAX_BYTES_VARIABLE = 'ARTSTORE_REHEARSE_MAX_BYTES'

const human = (bytes: number) => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`)

/** The module's tables take more than the bound on the target: nothing is copied. */
export class RehearsalTooLargeError extends RefusalError {
  constructor(module: string, bytes: number, max: number, prefixArg: string) {
    super(
      `${module}: its tables take ${human(bytes)} on the target (${bytes} bytes, pg_total_relation_size), more than the rehearsal bound of ${human(max)} (${max} bytes); nothing was copied: if the scratch server has the room, raise the bound: npx artstore-db rehearse --module ${module}${prefixArg} --max-bytes ${bytes} (or ${MAX_BYTES_VARIABLE}=${bytes})`,
    )
  }
}

/** The target's history is not one the pending migrations can follow (failed, modified, diverged). */
export class RehearsalHistoryError extends RefusalError {
  constructor(module: string, state: string, names: readonly string[], prefixArg: string) {
    super(
      `${module}: the target's history is ${state} (${names.join(', ')}), so there is nothing to rehearse on it: settle it first, see npx artstore-db status --module ${module}${prefixArg}`,
    )
  }
}

/** The target's tables are not those its applied history builds: the rows cannot be copied into that structure. */
export class RehearsalDriftError extends RefusalError {
  constructor(module: string, differences: readonly string[], prefixArg: string) {
    super(
      `${module}: the target's tables differ from what its applied history builds (${differences.slice(0, 3).join('; ')}), so its rows cannot be copied into that structure: find out with npx artstore-db verify --module ${module}${prefixArg}`,
    )
  }
}

export class MaxBytesError extends UsageError {
  constructor(given: string, where: string) {
    super(`${where} "${given}" is not a whole number of bytes: give one, e.g. --max-bytes 2147483648 (2 GiB)`)
  }
}

/** The bound of a rehearsal: the option, else ARTSTORE_REHEARSE_MAX_BYTES, else 1 GiB. */
export function maxBytesOf(given: number | string | undefined, env: Record<string, string | undefined>): number {
  const [raw, where] = given !== undefined ? [String(given), '--max-bytes'] : [env[MAX_BYTES_VARIABLE], MAX_BYTES_VARIABLE]
  if (raw === undefined || raw === '') return DEFAULT_REHEARSE_MAX_BYTES
  if (!/^\d+$/.test(raw.trim())) throw new MaxBytesError(raw, where)
  return Number(raw.trim())
}
