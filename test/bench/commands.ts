import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { maskUrl } from '../../src/config/urls.ts'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'
import { projectRoot } from '../../src/modules.ts'

/** One median wall time and its ratio to F (`node -e 0`), both from the same run. */
export interface Timing {
  medianMs: number
  /** medianMs / F. */
  ratio: number
}

export interface CommandRow {
  name: string
  /** The checkout under test (this one). */
  after: Timing
  /** The `--before` checkout; absent for the shared baselines, which are measured once. */
  before?: Timing
  /** The goal, as text; absent for the baselines. */
  goal?: string
  /** Whether the after column meets the goal. */
  ok?: boolean
}

export interface CommandsBench {
  /** The server, password masked. */
  server: string
  runs: number
  /** F: median wall time of `node -e 0`, the reference of every ratio. */
  nodeMs: number
  /** How the raw baseline applied the SQL: `psql -f` when psql is on PATH, else a pg client. */
  rawLabel: 'psql -f' | 'pg client'
  afterDir: string
  beforeDir?: string
  rows: CommandRow[]
}

const DB = 'artstore_bench_cmd'
const FRESH_DB = 'artstore_bench_cmd_fresh'
const MODULES = [
  ['admin', 'admin'],
  ['storage-element', 'storage_element'],
  ['query', 'query'],
] as const
const STRIPPED = ['DATABASE_URL', 'ADMIN_DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL', 'STORAGE_ELEMENT_PREFIX']
const thisCheckout = projectRoot

/** The URL of `database` on the server, optionally with `?schema=`. */
function dbUrl(serverUrl: string, database: string, schema?: string): string {
  const u = new URL(serverUrl)
  u.pathname = `/${database}`
  u.searchParams.delete('schema')
  if (schema) u.searchParams.set('schema', schema)
  return u.toString()
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ARTSTORE_DOTENV: '0', ...extra }
  for (const k of STRIPPED) if (!(k in extra)) delete env[k]
  return env
}

interface Child {
  label: string
  command: string
  args: string[]
  cwd: string
  env?: Record<string, string>
  input?: string
}

/** Runs a child to completion; throws with the first lines of its stderr unless it exits 0. */
function run(c: Child): void {
  const r = spawnSync(c.command, c.args, { cwd: c.cwd, env: childEnv(c.env ?? {}), input: c.input, encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.error) throw new Error(`bench commands: ${c.label}: ${r.error.message}`)
  if (r.status !== 0) {
    const head = (r.stderr || r.stdout || '').trimEnd().split('\n').slice(0, 12).join('\n')
    throw new Error(`bench commands: ${c.label} (${c.cwd}) exited ${r.status ?? r.signal}:\n${head}`)
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Median wall time of `runs` timed calls after one warm-up; `prepare` runs before each, untimed. */
async function measure(runs: number, fn: () => void | Promise<void>, prepare?: () => Promise<unknown>): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i <= runs; i++) {
    await prepare?.()
    const t = performance.now()
    await fn()
    if (i > 0) samples.push(performance.now() - t)
  }
  return median(samples)
}

/** The `node <checkout>/scripts/artstore-db.mjs ...` child. */
function cli(dir: string, args: string[], env: Record<string, string> = {}): Child {
  return { label: `artstore-db ${args.join(' ')}`, command: process.execPath, args: [path.join(dir, 'scripts/artstore-db.mjs'), ...args], cwd: dir, env }
}

/** The admin module's `prisma migrate deploy` through the checkout's offline engine bridge. */
function prismaDeploy(dir: string, url: string): Child {
  return {
    label: 'prisma migrate deploy (admin)',
    command: process.execPath,
    args: [path.join(dir, 'node_modules/prisma/build/index.js'), 'migrate', 'deploy', '--config', path.join(dir, 'prisma/admin/prisma.config.ts')],
    cwd: dir,
    env: {
      PRISMA_SCHEMA_ENGINE_BINARY: path.join(dir, 'scripts/schema-engine.mjs'),
      ADMIN_DATABASE_URL: url,
      CHECKPOINT_DISABLE: '1',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  }
}

/** Each baseline prefixed with `create schema X; set search_path = X;`, as one script per module. */
function baselineScripts(dir: string): string[] {
  return MODULES.map(([name, schema]) => {
    const sql = fs.readFileSync(path.join(dir, 'prisma', name, 'migrations/0_baseline/migration.sql'), 'utf8')
    return `create schema ${schema}; set search_path = ${schema};\n${sql}`
  })
}

/** Fails fast when `dir` lacks the CLI or its own Prisma (a checkout without node_modules). */
function checkCheckout(dir: string): void {
  for (const f of ['scripts/artstore-db.mjs', 'node_modules/prisma/build/index.js']) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`bench commands: ${dir} is not an installed artstore-db checkout (no ${f})`)
  }
}

const hasPsql = () => !spawnSync('psql', ['--version']).error

/** Applies the three baselines to `url`: one psql process per file, or one pg client per file without psql. */
async function rawApply(url: string, scripts: string[], usePsql: boolean, cwd: string): Promise<void> {
  for (const input of scripts) {
    if (usePsql) {
      run({ label: 'psql -f', command: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', '-'], cwd, input })
      continue
    }
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      await c.query(input)
    } finally {
      await c.end()
    }
  }
}

interface CheckoutTimes {
  help: number
  status: number
  deployNoop: number
  verify: number
  cycle: number
  deployFresh: number
  prisma: number
}

/** Every CLI timing of one checkout; `artstore_bench_cmd` is (re)deployed with the checkout's own CLI first. */
async function measureCheckout(serverUrl: string, dir: string, runs: number): Promise<CheckoutTimes> {
  const env = { DATABASE_URL: await recreateDatabase(serverUrl, DB) }
  run(cli(dir, ['deploy'], env))
  const fresh = { DATABASE_URL: dbUrl(serverUrl, FRESH_DB) }
  const recreateFresh = () => recreateDatabase(serverUrl, FRESH_DB)
  const time = (c: Child, prepare?: () => Promise<unknown>) => measure(runs, () => run(c), prepare)
  return {
    help: await time(cli(dir, ['--help'])),
    status: await time(cli(dir, ['status'], env)),
    deployNoop: await time(cli(dir, ['deploy'], env)),
    verify: await time(cli(dir, ['verify'], env)),
    cycle: await time(cli(dir, ['cycle'], env)),
    deployFresh: await time(cli(dir, ['deploy'], fresh), recreateFresh),
    prisma: await time(prismaDeploy(dir, dbUrl(serverUrl, FRESH_DB, 'admin')), recreateFresh),
  }
}

function rowsOf(F: number, raw: number, rawLabel: string, after: CheckoutTimes, before?: CheckoutTimes): CommandRow[] {
  const t = (ms: number): Timing => ({ medianMs: Math.round(ms), ratio: ms / F })
  const row = (name: string, key: keyof CheckoutTimes, goal: string, meets: (x: CheckoutTimes) => boolean): CommandRow => ({
    name,
    after: t(after[key]),
    ...(before ? { before: t(before[key]) } : {}),
    goal,
    ok: meets(after),
  })
  return [
    { name: 'node -e 0 (F, reference)', after: t(F) },
    { name: `${rawLabel} (three baselines, fresh)`, after: t(raw) },
    row('--help', 'help', '≤ 2.5 F', (x) => x.help <= 2.5 * F),
    row('status', 'status', '≤ 3 F', (x) => x.status <= 3 * F),
    row('deploy (nothing pending)', 'deployNoop', '≤ 5 F', (x) => x.deployNoop <= 5 * F),
    row('verify', 'verify', '≤ 12 F', (x) => x.verify <= 12 * F),
    row('cycle', 'cycle', '≤ 25 F', (x) => x.cycle <= 25 * F),
    row('deploy (fresh, three modules)', 'deployFresh', `≤ raw + 5 F (${Math.round(raw + 5 * F)} ms)`, (x) => x.deployFresh <= raw + 5 * F),
    // This goal is about the fresh deploy above: three modules must beat Prisma's one.
    row('prisma migrate deploy (admin, fresh)', 'prisma', 'deploy fresh (three) < this', (x) => x.deployFresh < x.prisma),
  ]
}

/**
 * Wall time of the artstore-db CLI's commands as child processes (median of `runs`, default
 * BENCH_RUNS or 5, after one warm-up), as ratios to `node -e 0` measured in the same run, with the
 * raw `psql -f` of the three baselines and one module's `prisma migrate deploy` as the references of
 * the fresh deploy. `before` names another checkout of the project whose CLI is measured alongside.
 * Every database it creates on `serverUrl` is dropped at the end, also on failure.
 */
export async function benchCommands(serverUrl: string, opts: { runs?: number; before?: string } = {}): Promise<CommandsBench> {
  const runs = opts.runs ?? Number(process.env.BENCH_RUNS ?? 5)
  const afterDir = thisCheckout
  const beforeDir = opts.before === undefined ? undefined : path.resolve(opts.before)
  const usePsql = hasPsql()
  const rawLabel = usePsql ? 'psql -f' : 'pg client'
  for (const dir of [afterDir, beforeDir]) if (dir !== undefined) checkCheckout(dir)
  try {
    // F is sampled before, between and after the checkouts, and its median taken over all samples, so
    // that a busier moment of the machine does not skew every ratio one way.
    const nodeRun = () => run({ label: 'node -e 0', command: process.execPath, args: ['-e', '0'], cwd: afterDir })
    const fSamples: number[] = []
    const sampleF = async () => fSamples.push(await measure(runs, nodeRun))
    await sampleF()
    const scripts = baselineScripts(afterDir)
    const freshUrl = dbUrl(serverUrl, FRESH_DB)
    const raw = await measure(
      runs,
      () => rawApply(freshUrl, scripts, usePsql, afterDir),
      () => recreateDatabase(serverUrl, FRESH_DB),
    )
    const after = await measureCheckout(serverUrl, afterDir, runs)
    await sampleF()
    const before = beforeDir === undefined ? undefined : await measureCheckout(serverUrl, beforeDir, runs)
    if (before) await sampleF()
    const F = median(fSamples)
    return { server: maskUrl(serverUrl), runs, nodeMs: Math.round(F), rawLabel, afterDir, beforeDir, rows: rowsOf(F, raw, rawLabel, after, before) }
  } finally {
    await dropDatabase(serverUrl, DB)
    await dropDatabase(serverUrl, FRESH_DB)
  }
}
