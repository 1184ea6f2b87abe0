import fs from 'node:fs'
import { parsePgUrl } from '../config/urls.ts'
import { UsageError } from '../errors.ts'
import { validatePrefix } from '../prefix/prefix.ts'

/**
 * One storage-element instance of the fleet, as the instances file names it. No secret has to be in
 * the file: `urlEnv` names the environment variable that holds the URL.
 */
export interface FleetInstance {
  name: string
  /** The database URL, from `url` or from the variable `urlEnv`. */
  url: string
  prefix: string
  /** `shared` (the services' layout) or `schema`; default `shared`. */
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
 * Reads and checks an instances file: `{ "instances": [ { "name", "url" | "urlEnv", "prefix",
 * "layout"?, "root"? } ] }`. Every instance is checked before anything runs; a bad file is one error.
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
  const seen = new Set<string>()
  return list.map((entry, i): FleetInstance => {
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
    parsePgUrl(url, e.urlEnv ? String(e.urlEnv) : `${e.name}'s url`)
    if (typeof e.prefix !== 'string') throw new InstancesFileError(file, `${e.name}: "prefix" is required`)
    validatePrefix(e.prefix)
    const layout = e.layout ?? 'shared'
    if (layout !== 'shared' && layout !== 'schema') throw new InstancesFileError(file, `${e.name}: "layout" is shared or schema`)
    if (e.root !== undefined && typeof e.root !== 'string') throw new InstancesFileError(file, `${e.name}: "root" is a path`)
    for (const k of ['elementId', 'elementUrl'] as const)
      if (e[k] !== undefined && typeof e[k] !== 'string') throw new InstancesFileError(file, `${e.name}: "${k}" is a string`)
    return {
      name: e.name,
      url,
      prefix: e.prefix,
      layout,
      ...(e.root ? { root: e.root as string } : {}),
      ...(e.elementId ? { elementId: e.elementId as string } : {}),
      ...(e.elementUrl ? { elementUrl: e.elementUrl as string } : {}),
    }
  })
}
