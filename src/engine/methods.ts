import type { MigrationList } from '@prisma/schema-engine-wasm'
import { ensureBridgeHistory, sharedLayoutResetRefusal } from './history.ts'
import { createDatabase } from './oneshot.ts'
import { bridgeResetRefusal, tablesOfCreationScript } from './reset-guard.ts'
import { bridgeRewriteRefusals } from './rewrite-guard.ts'
import type { RpcPeer } from './rpc.ts'
import type { SchemaEngineApi } from './wasm.ts'

export class UnsupportedMethodError extends Error {
  readonly rpcCode = -32601
  constructor(method: string) {
    super(`Unsupported method ${method}`)
  }
}

interface MigrationsParams {
  migrationsList: unknown
  filters?: unknown
}

/**
 * Maps one JSON-RPC request of the CLI onto the Wasm SchemaEngine. Most methods are 1:1; the exceptions
 * are handled here and documented where they are. `schemaFiles` are the CLI's `--datamodels` (path, content).
 */
export async function dispatch(
  engine: () => Promise<SchemaEngineApi>,
  datasourceUrl: string | undefined,
  method: string,
  params: unknown,
  peer: RpcPeer,
  schemaFiles: readonly (readonly [path: string, content: string])[] = [],
): Promise<unknown> {
  switch (method) {
    case 'createDatabase': {
      // Not in the Wasm engine.
      if (!datasourceUrl) throw new Error('createDatabase needs a datasource URL')
      return { databaseName: await createDatabase(datasourceUrl) }
    }
    case 'getDatabaseVersion':
      return (await engine()).version(params ?? null)
    case 'diff': {
      // The Wasm engine returns the script; the native one prints it through the CLI's `print` method.
      const { stdout, ...rest } = (await (await engine()).diff(params)) as { stdout?: string }
      if (stdout) await peer.request('print', { content: stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout })
      return rest
    }
    case 'createMigration':
    case 'evaluateDataLoss': {
      // These two get no shadow-database factory in the Wasm engine: they read a cache of the
      // migrations' schema that diagnoseMigrationHistory fills. Warm it with the same list first,
      // or `migrate dev` after `--create-only` fails ("shadow DB must be provided…").
      const e = await engine()
      const p = params as MigrationsParams
      await e.diagnoseMigrationHistory({ migrationsList: p.migrationsList, optInToShadowDatabase: true, filters: p.filters })
      return e[method](params)
    }
    case 'applyMigrations': {
      // As `artstore-db deploy`: a storage-element instance's history in its history schema first
      // (see ./history.ts), then the rewrite guard, before the engine applies anything: a refusal is
      // the whole call's error, and nothing is applied or recorded (see ./rewrite-guard.ts).
      await ensureBridgeHistory(datasourceUrl)
      const refused = datasourceUrl ? await bridgeRewriteRefusals(datasourceUrl, (params as MigrationsParams).migrationsList as MigrationList) : undefined
      if (refused) throw refused
      return (await (await engine()).applyMigrations(params as never)) ?? {}
    }
    case 'markMigrationApplied':
      // `migrate resolve --applied` records into a history the engine creates when missing (see ./history.ts).
      await ensureBridgeHistory(datasourceUrl)
      return (await (await engine()).markMigrationApplied(params as never)) ?? {}
    case 'reset': {
      // A storage-element instance in the shared layout is never reset: its schema is the other
      // instances' and the services' too (see ./history.ts). Any other URL is reset by the engine, its
      // `?schema=` emptied whole, once the schema holds nothing but the module's own relations or
      // ARTSTORE_ALLOW_RESET=1 lets the reset drop the others (see ./reset-guard.ts).
      const files = schemaFiles.map(([file]) => file)
      const refused =
        sharedLayoutResetRefusal(datasourceUrl) ??
        (datasourceUrl ? await bridgeResetRefusal(datasourceUrl, files, () => declaredTables(engine, schemaFiles)) : undefined)
      if (refused) throw refused
      return (await (await engine()).reset(params as never)) ?? {}
    }
    case 'introspect':
      return (await engine()).introspect({ namespaces: null, ...(params as object) })
    default: {
      const e = await engine()
      if (method === 'free' || typeof e[method] !== 'function') throw new UnsupportedMethodError(method)
      return (await e[method](params)) ?? {}
    }
  }
}

/** The tables the schema files declare: the engine's creation script for them, from an empty database. */
async function declaredTables(engine: () => Promise<SchemaEngineApi>, files: readonly (readonly [string, string])[]): Promise<string[]> {
  const e = await engine()
  const { stdout } = (await e.diff({
    from: { tag: 'empty' },
    to: { tag: 'schemaDatamodel', files: files.map(([path, content]) => ({ path, content })) },
    script: true,
    exitCode: null,
    filters: { externalTables: [], externalEnums: [] },
  })) as { stdout?: string }
  return tablesOfCreationScript(stdout ?? '')
}
