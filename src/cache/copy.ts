/**
 * PostgreSQL COPY text format, and a writer that batches lines into a COPY stream while honouring
 * its back-pressure, so that memory stays bounded however many rows go through.
 */
import { once } from 'node:events'
import type { Writable } from 'node:stream'

export type CopyValue = string | number | boolean | null | undefined

const SPECIAL = /[\\\t\n\r]/g
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/** One value in COPY text format (`\N` for NULL). */
export function copyField(v: CopyValue): string {
  if (v === null || v === undefined) return '\\N'
  if (typeof v !== 'string') return String(v)
  return v.replace(SPECIAL, (c) => ESCAPES[c])
}

/** One row in COPY text format, newline included. */
export const copyLine = (values: readonly CopyValue[]): string => `${values.map(copyField).join('\t')}\n`

/** A PostgreSQL array literal of text values (`{"a","b"}`), before COPY escaping. */
export const arrayLiteral = (values: readonly string[]): string => `{${values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`

/** Collects lines and writes them to `stream` in chunks of about `chunkBytes`. */
export class CopyWriter {
  private buffer: string[] = []
  private size = 0
  private drained: Promise<unknown> | undefined
  private failed: Error | undefined
  constructor(
    private readonly stream: Writable,
    private readonly chunkBytes = 256 * 1024,
  ) {
    // Without a listener an error between two writes would crash the process; keep it for the next call.
    stream.on('error', (e) => (this.failed ??= e))
  }

  /** Queues a line; waits only when the stream asks to slow down. */
  push(line: string): Promise<void> | undefined {
    this.buffer.push(line)
    this.size += line.length
    // No promise (and no turn of the event loop) for the lines that only fill the buffer.
    return this.size >= this.chunkBytes ? this.flush() : undefined
  }

  async flush(): Promise<void> {
    // Whoever finds the stream full waits for the same 'drain' as the others.
    while (this.drained) await this.drained
    if (this.failed) throw this.failed
    if (!this.buffer.length) return
    const chunk = this.buffer.join('')
    this.buffer = []
    this.size = 0
    if (!this.stream.write(chunk)) {
      this.drained = once(this.stream, 'drain').finally(() => (this.drained = undefined))
      await this.drained
    }
  }

  /** Writes what is left and ends the stream; resolves when PostgreSQL has acknowledged the COPY. */
  async end(): Promise<void> {
    await this.flush()
    if (this.failed) throw this.failed
    const finished = once(this.stream, 'finish')
    this.stream.end()
    await finished
  }
}
