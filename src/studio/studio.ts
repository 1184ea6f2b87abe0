import { once } from 'node:events'
import type { ModuleTarget } from '../db/targets.ts'
import { moduleRunOptions, spawnPrisma } from '../prisma/run.ts'

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
  const { child, mask } = spawnPrisma(['studio', '--port', String(port), '--browser', 'none'], moduleRunOptions(t))
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d))
  child.stderr!.on('data', (d: Buffer) => (output += d))
  const exited = once(child, 'close').then(([code]) => (code as number | null) ?? 0)
  const url = `http://127.0.0.1:${port}/`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await fetch(url).then((r) => r.ok, () => false)
    if (ok) break
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill()
      throw new Error(`Prisma Studio did not start on port ${port}: ${mask(output).trim().split('\n').slice(-3).join(' ')}`)
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
