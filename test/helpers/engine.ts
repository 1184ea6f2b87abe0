import { spawn } from 'node:child_process'
import { bridgeExecutable } from '../../src/prisma/run.ts'

export interface EngineRun {
  exitCode: number
  stdout: string
  stderr: string
  /** The JSON lines the engine wrote to stdout (RPC responses and requests). */
  messages: Record<string, any>[] // eslint-disable-line @typescript-eslint/no-explicit-any -- arbitrary JSON-RPC payloads, read field by field in the tests
  /** The JSON log lines on stderr. */
  logs: Record<string, any>[] // eslint-disable-line @typescript-eslint/no-explicit-any -- arbitrary JSON log lines
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))

/**
 * Spawns the bridge as the Prisma CLI does, sends the given JSON-RPC requests, answers its `print`
 * requests, closes stdin once every request has its response, and collects everything.
 */
export function runEngine(args: string[], requests: { method: string; params: unknown }[] = [], env: Record<string, string> = {}): Promise<EngineRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(bridgeExecutable, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    let answered = 0
    child.stdout.on('data', (d) => {
      stdout += d
      const lines = stdout
        .split('\n')
        .slice(0, -1)
        .filter((l) => l.startsWith('{'))
      const msgs = lines.map((l) => JSON.parse(l))
      for (const m of msgs.slice(answered)) {
        answered++
        if (m.method === 'print') child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: {} }) + '\n')
      }
      if (msgs.filter((m) => m.method === undefined).length >= requests.length) child.stdin.end()
    })
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ exitCode: code ?? -1, stdout, stderr, messages: jsonLines(stdout), logs: jsonLines(stderr) }))
    requests.forEach((r, i) => child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: i + 1, ...r }) + '\n'))
    if (!requests.length) child.stdin.end()
  })
}
