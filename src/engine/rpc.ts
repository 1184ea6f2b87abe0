import readline from 'node:readline'
import type { Readable, Writable } from 'node:stream'

/** A JSON-RPC 2.0 message as the Prisma CLI and the schema engine exchange them, one per line. */
interface RpcMessage {
  jsonrpc: '2.0'
  id?: number | string
  method?: string
  params?: unknown
  result?: unknown
  error?: unknown
}

export interface RpcPeer {
  /** Sends a request to the other side (the CLI) and resolves with its result. */
  request(method: string, params: unknown): Promise<unknown>
}

export type RpcHandler = (method: string, params: unknown, peer: RpcPeer) => Promise<unknown>

/**
 * Serves newline-delimited JSON-RPC on `input`/`output`. Requests are handled one at a time, in order,
 * as the native engine does; responses to our own requests (e.g. `print`) are matched by id.
 * Resolves when the input closes and the last request has been answered.
 */
export function serveRpc(input: Readable, output: Writable, handle: RpcHandler, toError: (err: unknown) => unknown): Promise<void> {
  const send = (msg: RpcMessage) => output.write(JSON.stringify(msg) + '\n')
  const pending = new Map<number | string, (result: unknown) => void>()
  let nextId = 1_000_000
  const peer: RpcPeer = {
    request: (method, params) =>
      new Promise((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        send({ jsonrpc: '2.0', id, method, params })
      }),
  }

  let queue = Promise.resolve()
  const lines = readline.createInterface({ input, crlfDelay: Infinity })
  lines.on('line', (line) => {
    if (!line.trim()) return
    const msg = JSON.parse(line) as RpcMessage
    if (msg.method === undefined) {
      // A response to one of our requests.
      if (msg.id !== undefined) pending.get(msg.id)?.(msg.result)
      if (msg.id !== undefined) pending.delete(msg.id)
      return
    }
    const { id, method, params } = msg
    queue = queue.then(async () => {
      try {
        const result = await handle(method, params, peer)
        if (id !== undefined) send({ jsonrpc: '2.0', id, result: result ?? null })
      } catch (err) {
        if (id !== undefined) send({ jsonrpc: '2.0', id, error: toError(err) })
      }
    })
  })
  return new Promise((resolve) => lines.on('close', () => void queue.then(resolve)))
}
