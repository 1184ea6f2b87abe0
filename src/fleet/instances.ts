import fs from 'node:fs'
import { parsePgUrl } from '../config/urls.ts'
import { UsageError } from '../errors.ts'
import { sharedHistorySchema } from '../prefix/layout.ts'
import { validatePrefix } from '../prefix/prefix.ts'

/**
 * One storage-element instance of the fleet, as the instances file names it. No secret has to be in
 * the file: `urlEnv` names the environment variable that holds the URL.
 */
export interface FleetInstance {
  name: string
  /** The database URL, from `url` or from the variable `urlEnv`. */
  url: string
  /** The variable the URL was read from, when the entry gives `urlEnv`. */
  urlEnv?: string
  prefix: string
  /**
   * `shared` (the services' layout) or `schema`; default the file's own `layout`, else
   * STORAGE_ELEMENT_LAYOUT, else `schema`: the same default as a single command's.
   */
  layout: 'shared' | 'schema'
  /** The instance's attr.json root, for cache rebuild and check: a folder, or s3://<bucket>/<app folder>. */
  root?: string
  /** For the query module's cache: the storage element's id in it (default the name) and its URL. */
  elementId?: string
  elementUrl?: string
}

export class InstancesFileError extends UsageError {
  constructor(file: string, reason: string) {
    super(`${file} is not a usable instances file (${reason}): see README "A fleet of storage elements" for its format`)
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

/**
 * Reads and checks an instances file: `{ "layout"?, "instances": [ { "name", "url" | "urlEnv", "prefix",
 * "layout"?, "root"? } ] }`. Every instance is checked before anything runs; a bad file is one error,
 * and so is a file in which two entries are one target (see assertDistinctTargets).
 */
export function readInstancesFile(file: string, env: Record<string, string | undefined> = process.env): FleetInstance[] {
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    throw new InstancesFileError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not JSON')
  }
  const list = (raw as { instances?: unknown })?.instances
  if (!Array.isArray(list) || !list.length) throw new InstancesFileError(file, 'no "instances" array, or an empty one')
  const fileLayout = (raw as { layout?: unknown }).layout
  if (fileLayout !== undefined && fileLayout !== 'shared' && fileLayout !== 'schema')
    throw new InstancesFileError(file, 'the file\'s "layout" is shared or schema')
  const defaultLayout = fileLayout ?? env.STORAGE_ELEMENT_LAYOUT ?? 'schema'
  if (defaultLayout !== 'shared' && defaultLayout !== 'schema')
    throw new InstancesFileError(file, `STORAGE_ELEMENT_LAYOUT is "${defaultLayout}", not shared or schema`)
  const seen = new Set<string>()
  const instances = list.map((entry, i): FleetInstance => {
    const at = `instance ${i + 1}`
    const e = entry as Record<string, unknown>
    if (typeof e?.name !== 'string' || !NAME.test(e.name)) throw new InstancesFileError(file, `${at}: "name" must be letters, digits, . _ -`)
    if (seen.has(e.name)) throw new InstancesFileError(file, `${at}: the name ${e.name} is used twice`)
    seen.add(e.name)
    const known = ['name', 'url', 'urlEnv', 'prefix', 'layout', 'root', 'elementId', 'elementUrl']
    const unknown = Object.keys(e).find((k) => !known.includes(k))
    if (unknown) throw new InstancesFileError(file, `${e.name}: unknown field "${unknown}"`)
    if ((e.url === undefined) === (e.urlEnv === undefined)) throw new InstancesFileError(file, `${e.name}: give exactly one of "url" and "urlEnv"`)
    let url: string
    if (typeof e.urlEnv === 'string') {
      const v = env[e.urlEnv]
      if (!v) throw new InstancesFileError(file, `${e.name}: the variable ${e.urlEnv} is not set`)
      url = v
    } else if (typeof e.url === 'string') url = e.url
    else throw new InstancesFileError(file, `${e.name}: "url" and "urlEnv" are strings`)
    parsePgUrl(url, `the instances file entry ${entryOf({ name: e.name, urlEnv: e.urlEnv as string | undefined })}`)
    if (typeof e.prefix !== 'string') throw new InstancesFileError(file, `${e.name}: "prefix" is required`)
    validatePrefix(e.prefix)
    const layout = e.layout ?? defaultLayout
    if (layout !== 'shared' && layout !== 'schema') throw new InstancesFileError(file, `${e.name}: "layout" is shared or schema`)
    if (e.root !== undefined && typeof e.root !== 'string') throw new InstancesFileError(file, `${e.name}: "root" is a path`)
    for (const k of ['elementId', 'elementUrl'] as const)
      if (e[k] !== undefined && typeof e[k] !== 'string') throw new InstancesFileError(file, `${e.name}: "${k}" is a string`)
    return {
      name: e.name,
      url,
      ...(typeof e.urlEnv === 'string' ? { urlEnv: e.urlEnv } : {}),
      prefix: e.prefix,
      layout,
      ...(e.root ? { root: e.root as string } : {}),
      ...(e.elementId ? { elementId: e.elementId as string } : {}),
      ...(e.elementUrl ? { elementUrl: e.elementUrl as string } : {}),
    }
  })
  assertDistinctTargets(file, instances)
  return instances
}

/** Where an instance's URL comes from, as the file says it: `se-02 (urlEnv SE_DATABASE_URL)`, `se-03 (url)`. */
export const entryOf = (i: Pick<FleetInstance, 'name' | 'urlEnv'>) => `${i.name} (${i.urlEnv ? `urlEnv ${i.urlEnv}` : 'url'})`

/** The database of a URL, normalised: host (lower case), port (5432 when none), database; never the user or password. */
function databaseKey(url: string): string {
  const u = new URL(url)
  return `${decodeURIComponent(u.pathname.slice(1))} on ${u.hostname.toLowerCase()}:${u.port || '5432'}`
}

/**
 * Refuses two entries that are one target: the same database (host, port and database compared
 * normalised; user and password do not make another database) with the same tables (schema and
 * prefix) or the same history table (the schema layout: the tables' schema; the shared layout:
 * `artstore_<prefix>`). Each would take the other's tables or history for its own: a cache rebuild
 * with --prune of the second deletes the rows the first just wrote, a deploy of the second finds the
 * first's history.
 */
export function assertDistinctTargets(file: string, instances: readonly FleetInstance[]): void {
  const tables = new Map<string, FleetInstance>()
  const histories = new Map<string, FleetInstance>()
  for (const i of instances) {
    const db = databaseKey(i.url)
    const schema = new URL(i.url).searchParams.get('schema') ?? 'public'
    const historySchema = i.layout === 'shared' ? sharedHistorySchema(i.prefix) : schema
    const sameTables = tables.get(`${db}|${schema}|${i.prefix}`)
    if (sameTables) {
      throw new InstancesFileError(
        file,
        `${entryOf(sameTables)} and ${entryOf(i)} are one target (database ${db}, schema ${schema}, prefix ${i.prefix}): each would undo the other's work; remove one, or give it its own prefix or database`,
      )
    }
    const sameHistory = histories.get(`${db}|${historySchema}`)
    if (sameHistory) {
      const fix =
        i.layout === 'schema'
          ? `give each its own database or ?schema=, or "layout": "shared" (the services' layout: every instance in one schema, each history apart)`
          : 'give each its own prefix'
      throw new InstancesFileError(
        file,
        `${entryOf(sameHistory)} and ${entryOf(i)} would keep their histories in one table (${historySchema}._prisma_migrations of database ${db}): ${fix}`,
      )
    }
    tables.set(`${db}|${schema}|${i.prefix}`, i)
    histories.set(`${db}|${historySchema}`, i)
  }
}

/**
 * `cache rebuild --module query --instances`: every instance writes its rows into the one query cache
 * under its element id (`elementId`, default the name); two entries with one id would each take the
 * other's rows for its own (and --prune delete them). Refused, naming both.
 */
export function assertDistinctElements(file: string, instances: readonly FleetInstance[]): void {
  const seen = new Map<string, FleetInstance>()
  for (const i of instances) {
    const id = i.elementId ?? i.name
    const other = seen.get(id)
    if (other) {
      throw new InstancesFileError(
        file,
        `${other.name} and ${i.name} both write the storage element id ${id} into the query cache: give each its own "elementId"`,
      )
    }
    seen.set(id, i)
  }
}
