import { once } from 'node:events'
import { withCheckedTargets, type CommandOptions } from '../context.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { EnvironmentError, FailureError, ModuleRequiredError } from '../errors.ts'
import { portAnswers } from '../net/port.ts'
import { moduleRunOptions, spawnPrisma } from '../prisma/run.ts'

export class StudioPortTakenError extends EnvironmentError {
  constructor(port: number) {
    super(`port ${port} on 127.0.0.1 is already in use (another Studio, or another program): choose a free one with --port`)
  }
}

export class StudioStartError extends FailureError {
  constructor(port: number, detail: string) {
    super(`Prisma Studio did not start on port ${port} (${detail || 'no output'}): check the module's URL with npx artstore-db info`)
  }
}

export interface StudioHandle {
  /** Where Studio serves its page (always 127.0.0.1). */
  url: string
  /** Resolves with Studio's exit code. */
  exited: Promise<number>
  stop(): Promise<void>
}

/**
 * Starts Prisma Studio for one module on 127.0.0.1:`port` and resolves once it serves its page.
 * Studio runs until `stop()` (or until it exits by itself).
 */
export async function startStudio(t: ModuleTarget, port: number, timeoutMs = 60_000): Promise<StudioHandle> {
  // A taken port would make the page below another program's (another module's Studio, even).
  if (await portAnswers(port)) throw new StudioPortTakenError(port)
  const { child, mask } = spawnPrisma(['studio', '--port', String(port), '--browser', 'none'], moduleRunOptions(t))
  // Studio never outlives the process that started it, however that process ends (Ctrl-C, TERM, an error).
  const orphaned = () => void (child.exitCode === null && child.kill('SIGTERM'))
  process.once('exit', orphaned)
  void once(child, 'close').then(() => process.off('exit', orphaned))
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d))
  child.stderr!.on('data', (d: Buffer) => (output += d))
  const exited = once(child, 'close').then(([code]) => (code as number | null) ?? 0)
  const url = `http://127.0.0.1:${port}/`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill()
      throw new StudioStartError(port, mask(output).trim().split('\n').slice(-3).join(' '))
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  return {
    url,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

export interface StudioOptions extends CommandOptions {
  /** Port on 127.0.0.1; default 5555. */
  port?: number
  /** Called once Studio serves its page, with where it is and which database it shows (the URL masked). */
  onReady?: (r: { module: string; database: string; url: string }) => void
}

/** `studio`: Prisma Studio for one module's database, until it exits (Ctrl-C); resolves with its exit code. */
export function studio(opts: StudioOptions): Promise<number> {
  if (!opts.module) throw new ModuleRequiredError('Studio opens one module at a time', ' (or npm run studio:admin)')
  return withCheckedTargets(opts, async ([t]) => {
    const handle = await startStudio(t, opts.port ?? 5555)
    opts.onReady?.({ module: t.module.name, database: t.display, url: handle.url })
    return handle.exited
  })
}
