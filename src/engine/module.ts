import path from 'node:path'
import { HISTORY_PARAM } from '../config/urls.ts'
import type { ModuleTarget } from '../db/targets.ts'
import type { LockRetrySettings } from '../db/lock-retry.ts'
import { schemaFilesOf, withSchemaEngine, type SchemaEngine } from './engine.ts'
import { engineMigrationsList } from './migrations-list.ts'

/**
 * Runs `fn` with an engine on a module's database (its URL and `?schema=`), always closing it. Not
 * kept for later steps: the engine holds the database's migration lock (Prisma's advisory lock, one
 * key per database) from its first migration command until it is closed, so a kept engine would
 * block every other module's deploy on that database.
 */
export const withModuleEngine = <T>(t: ModuleTarget, fn: (engine: SchemaEngine) => Promise<T>, lockRetry?: LockRetrySettings): Promise<T> =>
  withSchemaEngine({ url: t.url, ...(lockRetry ? { lockRetry } : {}) }, fn)

/**
 * The target as the engine must see it to compare tables: in the shared layout, without the instance's
 * history schema (which the engine would otherwise take for the schema to introspect).
 */
export function tablesTarget(t: ModuleTarget): ModuleTarget {
  if (!t.module.historySchema) return t
  const u = new URL(t.url)
  u.searchParams.delete(HISTORY_PARAM)
  return { ...t, url: u.toString() }
}

export interface DriftOptions {
  /** A runnable SQL script (default) or Prisma's summary (`[+] Added tables …`). */
  script?: boolean
  /** Tables in the module's schema that are not the module's: left out of the comparison. */
  foreignTables?: readonly string[]
  /**
   * Compare with the state after these migration folders (replayed by the engine on a temporary shadow
   * database) instead of the schema file: what adopt aims at when later migrations follow the baseline.
   */
  upTo?: readonly string[]
}

/**
 * Prisma's drift diff (`migrate diff --from-config-datasource --to-schema <schema.prisma>`): what it
 * would take to bring the module's live database to its schema file. Empty when they match.
 */
export async function driftDiff(engine: SchemaEngine, t: ModuleTarget, opts: DriftOptions = {}): Promise<{ different: boolean; output: string }> {
  const files = schemaFilesOf([t.module.schemaFile])
  const list = engineMigrationsList(t.module.migrationsDir)
  const to = opts.upTo
    ? { tag: 'migrations' as const, ...list, migrationDirectories: list.migrationDirectories.filter((d) => opts.upTo!.includes(d.path)) }
    : { tag: 'schemaDatamodel' as const, files }
  const { exitCode, output } = await engine.diff({
    from: { tag: 'schemaDatasource', files, configDir: path.dirname(t.module.configFile) },
    to,
    script: opts.script ?? true,
    exitCode: true,
    filters: { externalTables: (opts.foreignTables ?? []).map((x) => `${t.pgSchema}.${x}`) },
  })
  return { different: exitCode === 2, output }
}
