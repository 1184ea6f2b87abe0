import { spawn } from 'node:child_process'
import path from 'node:path'
import { projectRoot } from '../../src/modules.ts'

export interface CliRun {
  exitCode: number
  stdout: string
  stderr: string
}

const DB_VARIABLES = ['DATABASE_URL', 'ADMIN_DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL']

/**
 * Starts `npx artstore-db …` as a user would: a child process with the given database variables only
 * (the developer's own are removed), so exit codes and output are the real ones. `child` is there for
 * the test to signal; `done` settles when it has exited (`signal`: what killed it, if anything).
 */
export function startCli(args: string[], env: Record<string, string> = {}) {
  const base = { ...process.env }
  for (const v of DB_VARIABLES) delete base[v]
  const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), ...args], {
    cwd: projectRoot,
    env: { ...base, ARTSTORE_DOTENV: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const done = new Promise<CliRun & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ exitCode: code ?? (signal === 'SIGTERM' ? 143 : -1), signal, stdout, stderr }))
  })
  return { child, done }
}

/** Runs `npx artstore-db …` to its end (see startCli). */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const { exitCode, stdout, stderr } = await startCli(args, env).done
  return { exitCode, stdout, stderr }
}
