import path from 'node:path'
import type pg from 'pg'
import { pgConfigFromUrl, withClientOf } from '../db/pg-config.ts'
import { readMigrationFolders } from '../history/history.ts'
import { DEFAULT_PREFIX } from '../prefix/prefix.ts'
import { expectedCatalog } from '../verify/expected.ts'
import { instanceOwnership } from '../verify/extra.ts'
import { bridgeModuleOf, type BridgeModule } from './bridge-module.ts'

/**
 * The bridge's guard of `reset` for a URL without a history schema: the engine empties the URL's whole
 * schema, so the reset is refused while the schema holds a table, view or materialized view that is not
 * the module's (an app's, another storage-element instance's). ARTSTORE_ALLOW_RESET=1 lets it drop them.
 */

type Env = Record<string, string | undefined>

export const ALLOW_RESET = 'ARTSTORE_ALLOW_RESET'

/** A relation of the schema a reset would drop. */
export interface SchemaRelation {
  name: string
  kind: 'table' | 'view' | 'materialized view'
}

/** Whose relations the reset may drop: the module of the CLI's schema file, its history and its schema's tables. */
export interface ResetOwner {
  /** None for a folder of another project: then only what its migrations and schema create is its own. */
  module?: BridgeModule
  /** The migrations folder beside the schema file (where every module folder and rendered instance keeps it). */
  migrationsDir?: string
  /** The tables the schema file declares (what `db push` makes). */
  schemaTables: readonly string[]
}

/** The reset refused: the schema holds relations that are not the module's. Nothing has been changed when this is thrown. */
export class ForeignRelationsResetError extends Error {
  constructor(
    readonly schema: string,
    readonly foreign: readonly SchemaRelation[],
    owner: ResetOwner,
  ) {
    const shown = foreign.slice(0, 5).map((r) => (r.kind === 'table' ? r.name : `${r.name} (${r.kind})`))
    const more = foreign.length > shown.length ? ` and ${foreign.length - shown.length} more` : ''
    const one = foreign.length === 1
    const them = one ? 'it' : 'them'
    super(
      `reset refused: schema "${schema}" holds ${one ? '1 relation' : `${foreign.length} relations`} that ${whose(owner, one)}, which the reset would drop: ${shown.join(', ')}${more}; nothing was changed. Drop or move ${them} yourself, or, to drop ${them} with the reset, run the command again with ${ALLOW_RESET}=1`,
    )
    this.name = 'ForeignRelationsResetError'
  }
}

function whose(owner: ResetOwner, one: boolean): string {
  const m = owner.module
  const is = one ? 'is' : 'are'
  if (!m) return `neither the schema file nor the migrations in ${owner.migrationsDir ?? 'its folder'} create`
  if (m.name !== 'storage-element') return `${is} not the ${m.name} module's`
  return `${is} not storage-element instance ${m.prefix ?? DEFAULT_PREFIX}'s`
}

export class AllowResetValueError extends Error {
  constructor(given: string) {
    super(`${ALLOW_RESET} is "${given}": set it to 1 to let a reset drop relations that are not the module's, or unset it`)
    this.name = 'AllowResetValueError'
  }
}

/** ARTSTORE_ALLOW_RESET: `1` allows, unset, empty or `0` does not; anything else throws. */
export function resetAllowed(env: Env): boolean {
  const given = env[ALLOW_RESET]
  if (given === undefined || given === '' || given === '0') return false
  if (given === '1') return true
  throw new AllowResetValueError(given)
}

const KINDS: Record<string, SchemaRelation['kind']> = { r: 'table', p: 'table', v: 'view', m: 'materialized view' }

async function relationsOf(c: pg.ClientBase, schema: string): Promise<SchemaRelation[]> {
  const { rows } = await c.query<{ name: string; kind: string }>(
    `select c.relname as name, c.relkind as kind from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm') order by 1`,
    [schema],
  )
  return rows.map((r) => ({ name: r.name, kind: KINDS[r.kind] }))
}

/** Views and materialized views a history creates (the expected catalog reads tables only). */
const viewsCreatedBy = (scripts: readonly string[]): string[] =>
  scripts.flatMap((sql) =>
    [...sql.matchAll(/^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"?[\w$]+"?\.)?"?([\w$]+)"?/gim)].map((m) => m[1]),
  )

/**
 * The relations of `schema` that are not the owner's, nor `_prisma_migrations`. The owner's: what its
 * history leaves (its migrations applied to a scratch schema in a rolled-back transaction, as verify
 * derives them) and the views it creates, the tables its schema file declares, and for a storage-element
 * instance every name with its prefix (verify's rule: in a shared schema an instance owns its prefix's names).
 * Unlike verify, a table of the admin or query schema that nothing of the module creates is not counted
 * as the module's: verify names it and its DROP, a reset would drop it unasked.
 */
export async function foreignRelations(c: pg.ClientBase, schema: string, owner: ResetOwner): Promise<SchemaRelation[]> {
  const present = await relationsOf(c, schema)
  if (!present.some((r) => r.name !== '_prisma_migrations')) return []
  const scripts = owner.migrationsDir ? readMigrationFolders(owner.migrationsDir).map((m) => m.up) : []
  const created = new Set([...(scripts.length ? (await expectedCatalog(c, scripts)).tables : []), ...viewsCreatedBy(scripts), ...owner.schemaTables])
  const m = owner.module
  const byPrefix =
    m?.name === 'storage-element'
      ? instanceOwnership(
          m.prefix ?? DEFAULT_PREFIX,
          present.map((r) => r.name),
          [...created],
        )
      : () => false
  return present.filter((r) => r.name !== '_prisma_migrations' && !created.has(r.name) && !byPrefix(r.name))
}

/** The tables a `schemaDatamodel` creation script makes (`CREATE TABLE "x"` or `"schema"."x"`). */
export const tablesOfCreationScript = (script: string): string[] => [...script.matchAll(/^CREATE TABLE (?:"[^"]+"\.)?"([^"]+)"/gm)].map((m) => m[1])

/**
 * The refusal of the engine's reset of `url` (a URL without a history schema; see ./history.ts for the
 * other), or undefined when the schema holds only the module's relations or ARTSTORE_ALLOW_RESET=1.
 * `schemaFiles` are the CLI's `--datamodels`; `schemaTables` reads the tables they declare.
 */
export async function bridgeResetRefusal(
  url: string,
  schemaFiles: readonly string[],
  schemaTables: () => Promise<string[]>,
  env: Env = process.env,
): Promise<ForeignRelationsResetError | undefined> {
  if (resetAllowed(env)) return undefined
  const { config, schema } = pgConfigFromUrl(url)
  const tables = schema ?? 'public'
  const folder = schemaFiles.length ? path.dirname(schemaFiles[0]) : undefined
  const module = folder ? bridgeModuleOf(folder, env) : undefined
  const owner: ResetOwner = {
    ...(module ? { module } : {}),
    ...(folder ? { migrationsDir: path.join(folder, 'migrations') } : {}),
    schemaTables: schemaFiles.length ? await schemaTables() : [],
  }
  const foreign = await withClientOf(config, (c) => foreignRelations(c, tables, owner))
  return foreign.length ? new ForeignRelationsResetError(tables, foreign, owner) : undefined
}
