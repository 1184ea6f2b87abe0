import fs from 'node:fs'
import { parseArgs } from 'node:util'
import { createAdapterFactory, dropLeftoverShadowDatabases } from './adapter.ts'
import { restoreDatabaseError, takeDatabaseError } from './database-error.ts'
import { dispatch, UnsupportedMethodError } from './methods.ts'
import { runOneShot } from './oneshot.ts'
import { serveRpc } from './rpc.ts'
import { engineVersions, isPanic, loadSchemaEngine, takePanicMessage, type SchemaEngineApi } from './wasm.ts'

/**
 * The offline schema engine: a stand-in for Prisma's native `schema-engine` binary, spawned by the CLI
 * through PRISMA_SCHEMA_ENGINE_BINARY. Same command line, same stdio protocol, same exit codes
 * (0 done, 1 error, 101 panic); the work is done by Prisma's Wasm engine over adapter-pg.
 */

const writeLog = (level: 'INFO' | 'ERROR', fields: Record<string, unknown>) =>
  process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level, fields, target: 'schema_engine::logger' }) + '\n')
const debug = (message: string) => {
  if (process.env.ARTSTORE_ENGINE_DEBUG) writeLog('INFO', { message })
}

async function exit(code: number): Promise<never> {
  await dropLeftoverShadowDatabases()
  process.exit(code)
}

/** A JSON-RPC error in the native engine's shape: the CLI reads `data`. */
function toRpcError(err: unknown) {
  const e = err as { message?: string; code?: string; meta?: unknown; rpcCode?: number }
  const panic = isPanic(err)
  const restored = restoreDatabaseError(
    (panic && takePanicMessage()) || String(e?.message ?? err),
    typeof e?.code === 'string' ? e.code : undefined,
    takeDatabaseError(),
  )
  return {
    code: e?.rpcCode ?? 4466,
    message: 'An error happened. Check the data field for details.',
    data: { is_panic: panic, message: restored.message, error_code: restored.code, meta: restored.meta ?? e?.meta },
  }
}

// A panic raised inside a Wasm callback escapes the promise chain: report it like the native engine.
process.on('uncaughtException', (err) => {
  writeLog('ERROR', { is_panic: true, message: takePanicMessage() ?? String(err?.message ?? err), backtrace: String(err?.stack ?? '') })
  void exit(101)
})
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void exit(0))

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  strict: false,
  allowPositionals: true,
  options: {
    datamodels: { type: 'string', multiple: true },
    datasource: { type: 'string' },
    'enabled-preview-features': { type: 'string' },
    'extension-types': { type: 'string' },
    version: { type: 'boolean', short: 'V' },
  },
})
const datasource = JSON.parse((values.datasource as string | undefined) ?? '{}') as { url?: string; shadowDatabaseUrl?: string }

if (values.version) {
  process.stdout.write(`schema-engine-cli ${engineVersions().engineHash}\n`)
  await exit(0)
}

if (positionals[0] === 'cli') {
  const result = await runOneShot(positionals[1], datasource.url)
  writeLog(result.log.level, result.log.fields)
  if (result.stdout) process.stdout.write(result.stdout)
  await exit(result.exitCode)
}

let glue: Awaited<ReturnType<typeof loadSchemaEngine>>
try {
  glue = await loadSchemaEngine()
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`)
  writeLog('ERROR', { message: (err as Error).message })
  await exit(1)
}

const datamodels = ((values.datamodels as string[] | undefined) ?? []).map((f) => [f, fs.readFileSync(f, 'utf8')] as [string, string])
let engine: Promise<SchemaEngineApi> | undefined
const getEngine = () =>
  (engine ??= glue.SchemaEngine.new(
    { datamodels: datamodels.length ? datamodels : undefined },
    (m: string) => debug(String(m)),
    createAdapterFactory(datasource.url, datasource.shadowDatabaseUrl).factory,
  ))

await serveRpc(
  process.stdin,
  process.stdout,
  (method, params, peer) => {
    debug(`rpc ${method}`)
    return dispatch(getEngine, datasource.url, method, params, peer, datamodels)
  },
  (err) => {
    if (!(err instanceof UnsupportedMethodError)) debug(String((err as Error)?.stack ?? err))
    return toRpcError(err)
  },
)
await exit(0)
