/**
 * artstore-db as a library: every command of the CLI as a function that returns its result (never
 * prints, never exits) and throws a named ArtstoreError for bad input, whose message ends with the
 * fix. The CLI (src/cli/) is built on this surface alone.
 *
 *   import { deploy, verify } from 'artstore-db'
 *   const results = await deploy({ module: 'admin' })
 *   if (results.some((r) => r.status === 'failed')) throw new Error(results.map((r) => r.detail).join('\n'))
 *
 * Database URLs come from `env` (default process.env): DATABASE_URL, or ADMIN_DATABASE_URL,
 * STORAGE_ELEMENT_DATABASE_URL and QUERY_DATABASE_URL; with none, the embedded PostgreSQL is started
 * for the call and stopped after it.
 */
export type { CommandOptions, ModuleProgress } from './context.ts'
export { ArtstoreError, connectionLost, isArtstoreError } from './errors.ts'
export { modules, projectRoot, type ModuleInfo } from './modules.ts'
/** Every password and secret of a text replaced by ***, and the database variables a typo may have meant. */
export { maskSecrets, nearMissVariables } from './config/urls.ts'

export { info, type Info } from './info/info.ts'
export { deploy, type DeployOptions, type DeployStatus, type ModuleDeployResult } from './deploy/deploy.ts'
export { status, type ModuleStatus } from './status/status.ts'
export { verify, type VerifyReport } from './verify/verify.ts'
export type { CheckItem } from './catalog/compare.ts'
export { rollback, rollbackConfirmation, type RollbackOptions, type RollbackResult } from './rollback/rollback.ts'
export { resolve, type ResolveOptions, type ResolveResult } from './resolve/resolve.ts'
export { cycle, type CycleResult, type CycleStep } from './cycle/cycle.ts'
export { baseline, type BaselineOptions, type ModuleBaselineResult } from './baseline/baseline.ts'
export { migrateNew, type MigrateNewOptions, type MigrateNewResult, type NewMigration } from './migrate/new.ts'
export type { LintFinding } from './migrate/lint.ts'
export { migrateCheck, type MigrateCheckResult } from './migrate/check.ts'
export { adopt, adoptConfirmation, type AdoptOptions, type AdoptReport, type AdoptStatus } from './adopt/adopt.ts'
export { restore, type RestoreOptions, type RestoreResult } from './adopt/restore.ts'
export { archive, type ArchiveOptions, type ArchiveResult } from './archive/archive.ts'
export type { DatabaseVersionRecord } from './archive/manifest.ts'
export { verifyArchives, type ArchiveVerifyOptions, type ArchiveVerifyReport } from './archive/verify.ts'
export { rebuildCache, type CacheRebuildOptions, type CacheRebuildResult, type Progress } from './cache/rebuild.ts'
export { studio, type StudioOptions } from './studio/studio.ts'
/** Storage elements: every instance of an instances file, a few at a time, the first ones alone first. */
export { InstancesFileError, readInstancesFile, type FleetInstance } from './fleet/instances.ts'
export { instanceOptions, runFleet, type FleetReport, type InstanceOptions } from './fleet/run.ts'
