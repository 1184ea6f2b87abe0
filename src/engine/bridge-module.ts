import path from 'node:path'
import { moduleNames, type ModuleName } from '../modules.ts'
import { DEFAULT_PREFIX } from '../prefix/prefix.ts'

type Env = Record<string, string | undefined>

/** The module of the files the Prisma CLI hands the bridge; `prefix` only for a rendered storage-element instance. */
export interface BridgeModule {
  name: ModuleName
  prefix?: string
}

/**
 * The module whose folder the CLI's config points at (the folder of its schema file, or of its
 * migrations folder): `prisma/<module>/` (a scratch copy's too), or a storage-element instance's
 * rendered folder (STORAGE_ELEMENT_PREFIX set, as the storage element's prisma.config.ts renders it);
 * none for a folder of another project.
 */
export function bridgeModuleOf(folder: string, env: Env): BridgeModule | undefined {
  const name = moduleNames.find((n) => n === path.basename(folder))
  if (name) return { name }
  const prefix = env.STORAGE_ELEMENT_PREFIX
  return prefix ? { name: 'storage-element', ...(prefix === DEFAULT_PREFIX ? {} : { prefix }) } : undefined
}
