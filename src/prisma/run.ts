import { spawn } from 'node:child_process'
import path from 'node:path'
import { createRequire } from 'node:module'
import { maskSecrets, passwordsOf } from '../config/urls.ts'
import { projectRoot } from '../modules.ts'
import type { ModuleTarget } from '../db/targets.ts'

const require = createRequire(import.meta.url)

/** The executable the CLI spawns instead of downloading a native schema engine. */
export const bridgeExecutable = path.join(projectRoot, 'scripts', 'schema-engine.mjs')
const prismaCli = path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js')

type Env = Record<string, string | undefined>

/**
 * True when the user opted out of the bridge (ARTSTORE_NATIVE_ENGINE=1) to let Prisma use its own
 * native engine, which it downloads unless PRISMA_SCHEMA_ENGINE_BINARY points at one.
 */
export const usesNativeEngine = (env: Env = process.env): boolean => /^(1|true|yes)$/i.test(env.ARTSTORE_NATIVE_ENGINE ?? '')

/** The environment every Prisma CLI process gets: the bridge, and no network calls of its own. */
export function prismaEnv(env: Env = process.env): Env {
  return {
    ...env,
    ...(usesNativeEngine(env) ? {} : { PRISMA_SCHEMA_ENGINE_BINARY: bridgeExecutable }),
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    PRISMA_DISABLE_WARNINGS: env.PRISMA_DISABLE_WARNINGS ?? '1',
  }
}

export interface PrismaRunOptions {
  /** prisma.config.ts to pass as --config. */
  configFile?: string
  /** Extra variables for the child (e.g. the module's resolved URL). */
  env?: Env
  cwd?: string
  /** Kill the child after this long; default 5 minutes. */
  timeoutMs?: number
}

export interface PrismaRun {
  args: string[]
  exitCode: number
  /** stdout and stderr, with every password of every URL in the environment masked. */
  stdout: string
  stderr: string
  durationMs: number
}

/** Spawns the Prisma CLI through the offline engine bridge; the caller owns the child process. */
export function spawnPrisma(args: readonly string[], opts: PrismaRunOptions = {}, stdio: 'pipe' | 'inherit' = 'pipe') {
  const env = prismaEnv({ ...process.env, ...opts.env })
  const fullArgs = [...args, ...(opts.configFile ? ['--config', opts.configFile] : [])]
  const secrets = passwordsOf(Object.values(env).filter((v): v is string => !!v && v.includes('://')))
  const child = spawn(process.execPath, [prismaCli, ...fullArgs], {
    cwd: opts.cwd ?? projectRoot,
    env: env as NodeJS.ProcessEnv,
    stdio: ['ignore', stdio, stdio],
    timeout: opts.timeoutMs,
  })
  return { child, args: fullArgs, mask: (text: string) => maskSecrets(text, secrets) }
}

/**
 * Runs one Prisma CLI command through the offline engine bridge and returns its exit code and output.
 * Never throws for a non-zero exit: the caller decides what that means.
 */
export function runPrisma(args: readonly string[], opts: PrismaRunOptions = {}): Promise<PrismaRun> {
  const { child, args: fullArgs, mask } = spawnPrisma(args, { timeoutMs: 300_000, ...opts })
  const started = performance.now()
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d))
    child.stderr!.on('data', (d: Buffer) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code, signal) =>
      resolve({
        args: fullArgs,
        exitCode: code ?? (signal ? 128 : 1),
        stdout: mask(stdout),
        stderr: mask(stderr),
        durationMs: Math.round(performance.now() - started),
      }),
    )
  })
}

/** The config file and environment of one module's Prisma processes. */
export function moduleRunOptions(target: ModuleTarget, opts: PrismaRunOptions = {}): PrismaRunOptions {
  return {
    ...opts,
    configFile: target.module.configFile,
    env: { ...target.module.prismaEnv, ...opts.env, [target.module.urlVariable]: target.url },
  }
}
