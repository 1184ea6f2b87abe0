import { maskSecrets } from '../config/urls.ts'

/** Where a command writes; tests can capture it. */
export interface Output {
  out(text: string): void
  err(text: string): void
}

export const processOutput: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
}

/** Prints a report as JSON (--json) or as text; everything printed passes through the password mask. */
export function report<T>(o: Output, json: boolean, value: T, text: (v: T) => string): void {
  o.out(maskSecrets(json ? JSON.stringify(value, null, 2) : text(value)))
}
