import { describeBlockers, maskSecrets, type BatchProgress, type LockWait, type ModuleProgress, type TurnWait } from '../index.ts'

/** Where a command writes; tests can capture it. */
export interface Output {
  out(text: string): void
  err(text: string): void
}

const behind = new WeakMap<Output, Output>()

/**
 * `o`, silent while `quiet()` holds: once a command is interrupted, what its run still writes (the
 * errors of connections the clean-up ended) is not shown. What an interrupt clean-up reports itself
 * (an interrupted fleet's rows) goes to `unmuted(…)` of it.
 */
export function muted(o: Output, quiet: () => boolean): Output {
  const m: Output = { out: (t) => void (quiet() || o.out(t)), err: (t) => void (quiet() || o.err(t)) }
  behind.set(m, o)
  return m
}

/** The output behind a muted one (itself for any other). */
export function unmuted(o: Output): Output {
  return behind.get(o) ?? o
}

export const processOutput: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
}

/** `3 files`, `1 file`. */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** Prints a report as JSON (--json) or as text; everything printed passes through the password mask. */
export function report<T>(o: Output, json: boolean, value: T, text: (v: T) => string): void {
  o.out(maskSecrets(json ? JSON.stringify(value, null, 2) : text(value)))
}

/**
 * Each module's start and end on stderr, for a command that can take a while: only on a terminal,
 * and never with --json (whose stdout must stay one JSON document).
 */
export function moduleProgress(
  o: Output,
  json: boolean | undefined,
  verb: string,
  terminal = !!process.stderr.isTTY,
): ((e: ModuleProgress) => void) | undefined {
  if (json || !terminal) return undefined
  return (e) => {
    const who = e.prefix ? `${e.module} (${e.prefix})` : e.module
    o.err(e.phase === 'start' ? `… ${verb} ${who}` : `${e.phase === 'done' ? '✔' : '✖'} ${verb} ${who}: ${((e.ms ?? 0) / 1000).toFixed(1)} s`)
  }
}

/** On a terminal (never with --json): each try that ran out of its lock_timeout, and whom it waited for. */
export function lockProgress(o: Output, json: boolean | undefined, terminal = !!process.stderr.isTTY): ((w: LockWait) => void) | undefined {
  if (json || !terminal) return undefined
  return (w) =>
    o.err(
      `… ${w.migration ?? w.what ?? 'a migration'}: try ${w.attempt} waited ${w.lockTimeoutMs} ms for its locks, held by ${describeBlockers(w.blockers)} — ${
        w.gaveUp
          ? 'giving up (ARTSTORE_LOCK_RETRY_FOR)'
          : `next try in ${w.nextTryInMs} ms (${Math.round(w.waitedMs / 1000)} s of ${Math.round(w.retryForMs / 1000)} s)`
      }`,
    )
}

/**
 * What a deploy or rollback waits for while another holds the database's deploy turn, on stderr: only
 * on a terminal, never with --json. Shown as the wait starts and whenever another session takes the turn.
 */
export function turnProgress(o: Output, json: boolean | undefined, terminal = !!process.stderr.isTTY): ((w: TurnWait) => void) | undefined {
  if (json || !terminal) return undefined
  return (w) => {
    const h = w.holder
    const who = h
      ? `backend pid ${h.pid}${h.application ? ` (${h.application})` : ''}${h.address ? ` from ${h.address}` : ''}`
      : 'a session that has just let go'
    o.err(`… waiting for this database's deploy turn, held by ${who}: up to ${w.waitSeconds} s (ARTSTORE_TURN_TIMEOUT)`)
  }
}

const BAR_WIDTH = 24

/**
 * A batched backfill's progress on stderr: a bar of the keys walked against the table's estimated
 * rows, the batches and their size, redrawn after each batch; one line when it ends. Only on a
 * terminal, never with --json.
 */
export async function batchProgress(
  o: Output,
  json: boolean | undefined,
  terminal = !!process.stderr.isTTY,
): Promise<((p: BatchProgress) => void) | undefined> {
  if (json || !terminal) return undefined
  const { default: cliProgress } = await import('cli-progress')
  let bar: InstanceType<typeof cliProgress.SingleBar> | undefined
  return (p) => {
    const name = p.migration ?? p.table
    if (!bar) {
      bar = new cliProgress.SingleBar({
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
        format: (_o, params, payload: { batches: number; size: number }) => {
          const full = Math.round(Math.min(1, params.progress) * BAR_WIDTH)
          return `backfill ${name}  ${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)} ${params.value}/~${params.total} rows, ${payload.batches} batches (next ${payload.size})`
        },
      })
      bar.start(Math.max(p.estimatedRows, p.walked, 1), p.walked, { batches: p.batches, size: p.size })
      if (p.resumed) o.err(`… ${name}: going on after key ${p.lastKey} (${plural(p.batches, 'batch', 'batches')} committed earlier)`)
    }
    bar.setTotal(Math.max(p.estimatedRows, p.walked, 1))
    bar.update(p.walked, { batches: p.batches, size: p.size })
    if (p.done) {
      bar.stop()
      bar = undefined
      o.err(`✔ ${name}: ${plural(p.changed, 'row')} changed over ${plural(p.walked, 'key')}, ${plural(p.batches, 'batch', 'batches')} in all`)
    }
  }
}
