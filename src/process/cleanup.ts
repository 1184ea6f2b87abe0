/**
 * What must be undone when a command is interrupted (Ctrl-C, TERM) before its own `finally` blocks
 * can run: the embedded server it started, above all. Whoever starts such a thing registers its
 * stop here and takes it off again when it stops it normally; the command line's signal handler runs
 * what is left before it exits.
 */
const pending = new Set<() => Promise<unknown>>()

/** Registers `stop`; returns the function that takes it off again. */
export function onInterrupt(stop: () => Promise<unknown>): () => void {
  pending.add(stop)
  return () => void pending.delete(stop)
}

/** Runs every registered stop at once, waiting at most `timeoutMs` for them. */
export async function runInterruptCleanups(timeoutMs = 10_000): Promise<void> {
  const stops = [...pending]
  pending.clear()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))
  await Promise.race([Promise.allSettled(stops.map((s) => s())), late])
  clearTimeout(timer)
}
