import fs from 'node:fs'
import type {
  ApplyMigrationsOutput,
  DiffParams,
  DiffResult,
  MarkMigrationAppliedOutput,
  SchemaEngine as WasmSchemaEngine,
  SchemaFilter,
} from '@prisma/schema-engine-wasm'
import type { LockRetrySettings } from '../db/lock-retry.ts'
import { createAdapterFactory } from './adapter.ts'
import { restoreDatabaseError, takeDatabaseError } from './database-error.ts'
import { engineMigrationsList } from './migrations-list.ts'
import { isPanic, sharedSchemaEngine, takePanicMessage } from './wasm.ts'

/**
 * Prisma's schema engine in this process: the same Wasm engine and adapter the bridge serves to the
 * Prisma CLI, called directly. One engine per database target, reused within a command, closed at its
 * end. Errors are SchemaEngineError with the native engine's code and message (P3018, P3009, …).
 */

export interface EngineTarget {
  /** The database the engine works on (its `?schema=` becomes the search_path); none for pure diffs. */
  url?: string
  /** An explicit shadow database; without one the engine makes a temporary database and drops it. */
  shadowUrl?: string
  /** Lock timeouts and retries of the migrations it applies; default: ARTSTORE_LOCK_TIMEOUT / ARTSTORE_LOCK_RETRY_FOR, else the defaults. */
  lockRetry?: LockRetrySettings
}

/** An error of the engine, as the native engine reports it: code (P…), message, meta. */
export class SchemaEngineError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly meta: Record<string, unknown> | undefined,
    readonly isPanic: boolean,
  ) {
    super(message)
    this.name = 'SchemaEngineError'
  }
}

/** Tables (and enums) that are not the module's, left out of every comparison. */
export type EngineFilters = Partial<SchemaFilter>

const filtersOf = (f: EngineFilters = {}): SchemaFilter => ({ externalTables: f.externalTables ?? [], externalEnums: f.externalEnums ?? [] })

export interface SchemaEngine {
  /** `migrate deploy`: applies every pending migration of the folder; names of those applied. */
  applyMigrations(migrationsDir: string, filters?: EngineFilters): Promise<ApplyMigrationsOutput>
  /** `migrate diff`: the script (or summary) and the exit code the CLI would give (2 = different with exitCode). */
  diff(
    params: Omit<DiffParams, 'filters' | 'exitCode' | 'script'> & { script?: boolean; exitCode?: boolean; filters?: EngineFilters },
  ): Promise<{ exitCode: number; output: string }>
  /** `migrate resolve --applied`. */
  markMigrationApplied(migrationsDir: string, migrationName: string): Promise<MarkMigrationAppliedOutput>
  /** `migrate resolve --rolled-back`. */
  markMigrationRolledBack(migrationName: string): Promise<unknown>
  /** Closes the engine's connections (and drops a temporary shadow database). Idempotent. */
  close(): Promise<void>
}

/** Schema files as the engine takes them: path and content. */
export const schemaFilesOf = (files: readonly string[]) => files.map((path) => ({ path, content: fs.readFileSync(path, 'utf8') }))

function engineError(err: unknown): SchemaEngineError {
  const panic = isPanic(err)
  const e = err as { message?: string; code?: unknown; meta?: Record<string, unknown> }
  const restored = restoreDatabaseError(
    (panic && takePanicMessage()) || String(e?.message ?? err),
    typeof e?.code === 'string' ? e.code : undefined,
    takeDatabaseError(),
  )
  return new SchemaEngineError(restored.message, restored.code, restored.meta ?? e?.meta, panic)
}

async function translated<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw engineError(err)
  }
}

/** Opens an engine on `target`. Prefer withSchemaEngine, which always closes it. */
export async function openSchemaEngine(target: EngineTarget = {}): Promise<SchemaEngine> {
  const glue = await sharedSchemaEngine()
  const adapter = createAdapterFactory(target.url, target.shadowUrl, target.lockRetry)
  let wasm: WasmSchemaEngine
  try {
    wasm = (await translated(() => glue.SchemaEngine.new({ datamodels: undefined }, () => undefined, adapter.factory))) as unknown as WasmSchemaEngine
  } catch (e) {
    await adapter.dispose()
    throw e
  }
  let closed = false
  // One call at a time: the Wasm engine refuses a call while another is in flight on it.
  let queue: Promise<unknown> = Promise.resolve()
  const call = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => translated(fn))
    queue = run.catch(() => undefined)
    return run
  }
  return {
    applyMigrations: (dir, filters) => call(() => wasm.applyMigrations({ migrationsList: engineMigrationsList(dir), filters: filtersOf(filters) })),
    diff: async ({ script = true, exitCode = false, filters, ...targets }) => {
      const result: DiffResult = await call(() => wasm.diff({ ...targets, script, exitCode: exitCode || null, filters: filtersOf(filters) }))
      return { exitCode: result.exitCode, output: result.stdout ?? '' }
    },
    markMigrationApplied: (dir, migrationName) => call(() => wasm.markMigrationApplied({ migrationsList: engineMigrationsList(dir), migrationName })),
    markMigrationRolledBack: (migrationName) => call(() => wasm.markMigrationRolledBack({ migrationName })),
    close: async () => {
      if (closed) return
      closed = true
      await queue
      try {
        wasm.free()
      } finally {
        await adapter.dispose()
      }
    },
  }
}

/** Runs `fn` with an engine on `target`, always closing it. */
export async function withSchemaEngine<T>(target: EngineTarget, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const engine = await openSchemaEngine(target)
  try {
    return await fn(engine)
  } finally {
    await engine.close()
  }
}
