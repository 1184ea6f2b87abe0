/**
 * What must be undone when a command is interrupted (Ctrl-C, TERM) before its own `finally` blocks
 * can run: the scratch databases it created and the embedded server it started. Whoever makes such a
 * thing registers its undoing here and takes it off again when it undoes it normally; the command
 * line's signal handler runs what is left before it exits.
 */
const pending: (() => Promise<unknown>)[] = []

/** Registers `stop`; returns the function that takes it off again. */
export function onInterrupt(stop: () => Promise<unknown>): () => void {
  pending.push(stop)
  return () => {
    const i = pending.lastIndexOf(stop)
    if (i >= 0) pending.splice(i, 1)
  }
}

/**
 * Runs every registered stop, newest first, each after the one before has settled (as `finally`
 * blocks unwind: a scratch database on the embedded server is dropped before the server stops),
 * waiting at most `timeoutMs` for them all.
 */
export async function runInterruptCleanups(timeoutMs = 10_000): Promise<void> {
  const stops = pending.splice(0).reverse()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))
  const all = (async () => {
    for (const stop of stops)
      await Promise.resolve()
        .then(stop)
        .catch(() => undefined)
  })()
  await Promise.race([all, late])
  clearTimeout(timer)
}
