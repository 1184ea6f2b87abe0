import type pg from 'pg'
import { databaseOf, withPgClient } from '../db/pg-config.ts'

/** The outcome of a one-shot `cli` subcommand: what to print, the JSON log line, and the exit code. */
export interface OneShotResult {
  exitCode: number
  stdout?: string
  log: { level: 'INFO' | 'ERROR'; fields: Record<string, string> }
}

const serverOf = (url: string) => {
  const u = new URL(url)
  return `${u.hostname}:${u.port || 5432}`
}

/** The native engine's error codes for a failed connection: P1003 missing database, P1000 bad credentials, P1001 unreachable. */
function connectionErrorFields(err: unknown, url: string): Record<string, string> {
  const code = (err as { code?: string }).code
  if (code === '3D000') {
    return {
      error_code: 'P1003',
      message: `Database \`${databaseOf(url)}\` does not exist on the database server at \`${serverOf(url)}\`.`,
    }
  }
  if (code === '28P01' || code === '28000') {
    return {
      error_code: 'P1000',
      message: `Authentication failed against database server at \`${serverOf(url)}\`, the provided database credentials for \`${decodeURIComponent(new URL(url).username)}\` are not valid.`,
    }
  }
  return {
    error_code: 'P1001',
    message: `Can't reach database server at \`${serverOf(url)}\`\n\nPlease make sure your database server is running at \`${serverOf(url)}\`.`,
  }
}

const withClient = <T>(url: string, fn: (c: pg.Client) => Promise<T>) => withPgClient(url, fn, 10_000)

/** createDatabase is not in the Wasm engine: create it through the server's `postgres` database. */
export async function createDatabase(url: string): Promise<string> {
  const name = databaseOf(url)
  const maintenance = new URL(url)
  maintenance.pathname = '/postgres'
  maintenance.searchParams.delete('schema')
  await withClient(maintenance.toString(), (c) => c.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`))
  return name
}

/** `<engine> --datasource {...} cli can-connect-to-database | create-database`, as the native binary answers it. */
export async function runOneShot(subcommand: string | undefined, url: string | undefined): Promise<OneShotResult> {
  if (!url) {
    return { exitCode: 1, log: { level: 'ERROR', fields: { message: 'no datasource URL was given (--datasource)' } } }
  }
  try {
    if (subcommand === 'can-connect-to-database') {
      await withClient(url, async () => undefined)
      return { exitCode: 0, log: { level: 'INFO', fields: { message: 'Connection successful' } } }
    }
    if (subcommand === 'create-database') {
      const name = await createDatabase(url)
      return {
        exitCode: 0,
        stdout: `Database '${name}' was successfully created.\n`,
        log: { level: 'INFO', fields: { message: `Created database ${name}` } },
      }
    }
    return { exitCode: 1, log: { level: 'ERROR', fields: { message: `unsupported cli subcommand ${subcommand}` } } }
  } catch (err) {
    return { exitCode: 1, log: { level: 'ERROR', fields: connectionErrorFields(err, url) } }
  }
}
