import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { runPrismaForModule } from '../prisma/run.ts'
import { moduleStatus } from '../status/status.ts'
import { assertOwnDatabase } from '../verify/isolation.ts'

export interface DeployOptions extends CommandOptions {
  /** Report what would be applied, and apply nothing. */
  dryRun?: boolean
}

export type DeployStatus = 'applied' | 'up-to-date' | 'would-apply' | 'failed' | 'not-run'

export interface ModuleDeployResult extends ReturnType<typeof describeTarget> {
  status: DeployStatus
  /** Migrations applied by this run (or, with dryRun, that would be). */
  migrations: string[]
  /** For a failure: Prisma's own explanation, passwords masked. */
  detail?: string
  durationMs?: number
}

/** The lines of Prisma's output that explain a failure (error code and message), without its banners. */
function failureDetail(stdout: string, stderr: string): string {
  const lines = `${stderr}\n${stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Loaded Prisma config|Prisma schema loaded|Datasource "|Environment variables loaded|\d+ migrations? found)/.test(l))
  return lines.slice(0, 8).join('\n')
}

async function deployOne(t: ModuleTarget, dryRun: boolean): Promise<ModuleDeployResult> {
  const before = await moduleStatus(t)
  if (dryRun) return { ...describeTarget(t), status: before.pending.length ? 'would-apply' : 'up-to-date', migrations: before.pending }
  const run = await runPrismaForModule(t, ['migrate', 'deploy'])
  const after = await moduleStatus(t)
  const migrations = after.applied.filter((m) => !before.applied.includes(m))
  if (run.exitCode !== 0) {
    return { ...describeTarget(t), status: 'failed', migrations, detail: failureDetail(run.stdout, run.stderr), durationMs: run.durationMs }
  }
  return { ...describeTarget(t), status: migrations.length ? 'applied' : 'up-to-date', migrations, durationMs: run.durationMs }
}

/**
 * `deploy`: `prisma migrate deploy` for each selected module, one after another. After a failure the
 * remaining modules are reported as not-run. Never throws for a failed migration: the result says so.
 */
export function deploy(opts: DeployOptions = {}): Promise<ModuleDeployResult[]> {
  return withCheckedTargets(opts, async (targets) => {
    // Every module's database is checked before any is changed (a URL may point at another module's).
    for (const t of targets) await withClient(t, (c) => assertOwnDatabase(c, t))
    const results: ModuleDeployResult[] = []
    for (const t of targets) {
      const failedBefore = results.some((r) => r.status === 'failed')
      results.push(failedBefore ? { ...describeTarget(t), status: 'not-run', migrations: [] } : await deployOne(t, !!opts.dryRun))
    }
    return results
  })
}
