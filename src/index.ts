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
 *
 * Each command's code loads when it is first called (one command of a CLI process loads one part of
 * the library: start-up stays short); what is here besides is small and has no I/O.
 */
export type { CommandOptions, ModuleProgress } from './context.ts'
export { adoptConfirmation, ArtstoreError, connectionLost, isArtstoreError, rollbackConfirmation } from './errors.ts'
export { EnvironmentError, FailureError, RefusalError, UsageError, type ErrorKind } from './errors.ts'
export { modules, projectRoot, type ModuleInfo } from './modules.ts'
/** Every password and secret of a text replaced by ***, and the database variables a typo may have meant. */
export { maskSecrets, nearMissVariables } from './config/urls.ts'
/** For a caller that handles SIGINT or SIGTERM itself: stops what a command started (the embedded server) before it exits. */
export { onInterrupt, runInterruptCleanups } from './process/cleanup.ts'
/** Storage elements: every instance of an instances file, a few at a time, the first ones alone first. */
export { assertDistinctElements, InstancesFileError, readInstancesFile, type FleetInstance } from './fleet/instances.ts'
export { instanceOptions, runFleet, type FleetReport, type InstanceOptions } from './fleet/run.ts'

export type { Info } from './info/info.ts'
export type { DeployFailure, DeployOptions, DeployStatus, LockWaits, ModuleDeployResult } from './deploy/deploy.ts'
/** Lock timeouts with retries: whom a try waited for, in words. */
export { describeBlockers, type Blocker, type LockWait } from './db/lock-retry.ts'
export type { BatchProgress } from './backfill/run.ts'
export type { RewriteRefusal } from './deploy/rewrite-guard.ts'
export type { InterruptedStatus, ModuleStatus, StatusReport } from './status/status.ts'
export type { BackfillStatus } from './status/backfills.ts'
export type { InvalidIndex } from './catalog/validity.ts'
export type { VerifyReport } from './verify/verify.ts'
export type { CheckItem } from './catalog/compare.ts'
export type { RollbackFailure, RollbackOptions, RollbackResult, RowsLost } from './rollback/rollback.ts'
export type { TurnHolder, TurnWait } from './db/lock.ts'
export { checkRollbackRange } from './rollback/range.ts'
export type { ResolveOptions, ResolveResult } from './resolve/resolve.ts'
export type { CycleResult, CycleStep } from './cycle/cycle.ts'
export type { BaselineOptions, ModuleBaselineResult } from './baseline/baseline.ts'
export type { MigrateNewOptions, MigrateNewResult, NewMigration } from './migrate/new.ts'
export type { LintFinding } from './migrate/lint.ts'
export type { MigrateCheckResult } from './migrate/check.ts'
export type { MigrateAllowOptions, MigrateAllowResult } from './migrate/allow.ts'
export type { AdoptOptions, AdoptReport, AdoptStatus } from './adopt/adopt.ts'
export type { RestoreOptions, RestoreResult } from './adopt/restore.ts'
export type { ArchiveOptions, ArchiveResult } from './archive/archive.ts'
export type { DatabaseVersionRecord } from './archive/manifest.ts'
export type { ArchiveVerifyOptions, ArchiveVerifyReport } from './archive/verify.ts'
export type { CacheRebuildOptions, CacheRebuildResult, Progress } from './cache/rebuild.ts'
export type { CacheCheckOptions, CacheCheckResult } from './cache/check.ts'
export type { StudioOptions } from './studio/studio.ts'
export type { RehearseOptions, RehearseResult, RehearseStep, RehearseTable } from './rehearse/rehearse.ts'

/** A command whose module loads on its first call; its result is always a promise. */
const lazy =
  <A extends unknown[], R>(load: () => Promise<(...args: A) => R>) =>
  (...args: A): Promise<Awaited<R>> =>
    load().then((fn) => fn(...args) as Awaited<R>)

export const info = lazy(async () => (await import('./info/info.ts')).info)
export const deploy = lazy(async () => (await import('./deploy/deploy.ts')).deploy)
export const status = lazy(async () => (await import('./status/status.ts')).status)
export const verify = lazy(async () => (await import('./verify/verify.ts')).verify)
export const rollback = lazy(async () => (await import('./rollback/rollback.ts')).rollback)
export const resolve = lazy(async () => (await import('./resolve/resolve.ts')).resolve)
export const cycle = lazy(async () => (await import('./cycle/cycle.ts')).cycle)
export const baseline = lazy(async () => (await import('./baseline/baseline.ts')).baseline)
export const migrateNew = lazy(async () => (await import('./migrate/new.ts')).migrateNew)
export const migrateCheck = lazy(async () => (await import('./migrate/check.ts')).migrateCheck)
export const migrateAllow = lazy(async () => (await import('./migrate/allow.ts')).migrateAllow)
export const adopt = lazy(async () => (await import('./adopt/adopt.ts')).adopt)
export const restore = lazy(async () => (await import('./adopt/restore.ts')).restore)
export const archive = lazy(async () => (await import('./archive/archive.ts')).archive)
export const verifyArchives = lazy(async () => (await import('./archive/verify.ts')).verifyArchives)
export const rebuildCache = lazy(async () => (await import('./cache/rebuild.ts')).rebuildCache)
export const checkCache = lazy(async () => (await import('./cache/check.ts')).checkCache)
export const studio = lazy(async () => (await import('./studio/studio.ts')).studio)
export const rehearse = lazy(async () => (await import('./rehearse/rehearse.ts')).rehearse)
