// The modules' prisma.config.ts (prisma/config.ts configFor) select the module as the artstore-db commands
// do: STORAGE_ELEMENT_PREFIX and STORAGE_ELEMENT_LAYOUT, read from the environment Prisma's CLI runs in.
import path from 'node:path'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { configFor } from '../../prisma/config.ts'
import { modules } from '../../src/modules.ts'

const URL_ = 'postgresql://u@h:5432/artstore?schema=public'

afterEach(() => vi.unstubAllEnvs())

/** configFor of the storage element with these variables set (and no other URL variable). */
function storageConfig(env: Record<string, string | undefined>) {
  for (const v of ['DATABASE_URL', 'STORAGE_ELEMENT_PREFIX', 'STORAGE_ELEMENT_LAYOUT', 'PRISMA_SCHEMA_ENGINE_BINARY']) vi.stubEnv(v, undefined)
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v)
  return configFor('storage-element')
}

describe('configFor', () => {
  test("STORAGE_ELEMENT_LAYOUT=shared: the instance's history schema in the URL (artstore_history=artstore_<prefix>), its tables in the URL's schema", () => {
    const c = storageConfig({ STORAGE_ELEMENT_DATABASE_URL: URL_, STORAGE_ELEMENT_PREFIX: 'storage_elem_02', STORAGE_ELEMENT_LAYOUT: 'shared' })
    const u = new URL(c.datasource!.url)
    expect(Object.fromEntries(u.searchParams)).toEqual({ schema: 'public', artstore_history: 'artstore_storage_elem_02' })
    expect(path.basename(path.dirname(c.schema))).toMatch(/^storage_elem_02-/)
  })

  test('STORAGE_ELEMENT_LAYOUT=shared without a prefix: the default instance, its history in artstore_storage_elem_01', () => {
    const c = storageConfig({ STORAGE_ELEMENT_DATABASE_URL: URL_, STORAGE_ELEMENT_LAYOUT: 'shared' })
    expect(new URL(c.datasource!.url).searchParams.get('artstore_history')).toBe('artstore_storage_elem_01')
    expect(c.schema).toBe(modules['storage-element'].schemaFile)
  })

  test('DATABASE_URL with STORAGE_ELEMENT_LAYOUT=shared: the tables in public, as the commands put them', () => {
    const c = storageConfig({ DATABASE_URL: 'postgresql://u@h:5432/artstore', STORAGE_ELEMENT_PREFIX: 'storage_elem_03', STORAGE_ELEMENT_LAYOUT: 'shared' })
    expect(Object.fromEntries(new URL(c.datasource!.url).searchParams)).toEqual({ schema: 'public', artstore_history: 'artstore_storage_elem_03' })
  })

  test('the schema layout (unset or schema): the URL as given, no history schema', () => {
    for (const layout of [undefined, 'schema']) {
      const c = storageConfig({ STORAGE_ELEMENT_DATABASE_URL: URL_, STORAGE_ELEMENT_PREFIX: 'storage_elem_02', STORAGE_ELEMENT_LAYOUT: layout })
      expect(c.datasource!.url).toBe(URL_)
    }
  })

  test("an unknown STORAGE_ELEMENT_LAYOUT is refused with the commands' one line", () => {
    expect(() => storageConfig({ STORAGE_ELEMENT_DATABASE_URL: URL_, STORAGE_ELEMENT_LAYOUT: 'one-schema' })).toThrow(
      /^storage-element layout "one-schema" is not one of schema, shared: set STORAGE_ELEMENT_LAYOUT to shared/,
    )
  })

  test('the other modules: unchanged by the storage-element variables', () => {
    for (const v of ['DATABASE_URL', 'ADMIN_DATABASE_URL']) vi.stubEnv(v, undefined)
    vi.stubEnv('STORAGE_ELEMENT_LAYOUT', 'shared')
    vi.stubEnv('STORAGE_ELEMENT_PREFIX', 'storage_elem_02')
    vi.stubEnv('ADMIN_DATABASE_URL', 'postgresql://u@h:5432/adm')
    expect(configFor('admin')).toEqual({
      schema: modules.admin.schemaFile,
      migrations: { path: modules.admin.migrationsDir },
      datasource: { url: 'postgresql://u@h:5432/adm' },
    })
  })
})
