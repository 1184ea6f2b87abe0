import { maskSecrets, type ModuleProgress } from '../index.ts'

/** Where a command writes; tests can capture it. */
export interface Output {
  out(text: string): void
  err(text: string): void
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
