// Starts service-writer.mjs (the storage element's two-row transactions, in a process of its own) and
// stops it, for the tests and the benchmark of rebuilds beside the live service.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { projectRoot } from '../../src/modules.ts'

export interface WriterOptions {
  url: string
  /** The files table, e.g. storage_elem_01_files. */
  table: string
  /** Its key column; default file_id. */
  key?: string
  /** One list of [a, b] file_id pairs per connection: each transaction updates a, then b. */
  pairs: [string, string][][]
  /** Time between the two updates of a transaction, in ms (a service doing its work). */
  thinkMs?: number
}

export interface WriterReport {
  /** Every statement's latency (BEGIN, both UPDATEs, COMMIT), in ms. */
  latencies: number[]
  errors: { code: string | null; message: string }[]
  transactions: number
}

/** Starts the writer; resolves once its connections are open. `stop()` ends it and gives its report. */
export async function startServiceWriter(o: WriterOptions): Promise<{ stop: () => Promise<WriterReport> }> {
  const child = spawn(process.execPath, [path.join(projectRoot, 'test', 'helpers', 'service-writer.mjs'), JSON.stringify(o)], {
    cwd: projectRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const closed = new Promise<number | null>((r) => child.on('close', r))
  await new Promise<void>((resolve, reject) => {
    const check = () => (out.startsWith('started\n') ? resolve() : undefined)
    child.stdout.on('data', check)
    void closed.then((code) => reject(new Error(`the service writer exited (${code}) before it started: ${err}`)))
  })
  return {
    stop: async () => {
      child.stdin.end('stop\n')
      const code = await closed
      const last = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !last.startsWith('{')) throw new Error(`the service writer failed (${code}): ${err}`)
      return JSON.parse(last) as WriterReport
    },
  }
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}
