// The legacy fixtures (test/fixtures/legacy) rebuild each module's database as the old Alembic migrations
// left it at 8b9ca29 and at d00e065. Each one is loaded into a fresh database, once into a named schema and
// once into public, and its catalog is checked against the facts of the legacy schema fact sheet.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readCatalog, type Catalog } from '../../src/catalog/read.ts'
import { dropDatabase, freshDatabase } from '../helpers/db.ts'
import { legacyFixtureFiles, loadLegacyFixture, type LegacyFixture, type LegacyState } from '../helpers/legacy.ts'

const fixtures = legacyFixtureFiles()
const pgSchemaOf = { admin: 'admin', 'storage-element': 'storage_element', query: 'query' } as const

/** Runs `fn` on a client whose search_path is `schema` only, so that queries name tables bare. */
async function inSchema<T>(url: string, schema: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`set search_path to "${schema}"`)
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** A schema as loaded: its catalog (read as verify reads it) and the rows of each table. */
interface Loaded {
  catalog: Catalog
  rowCounts: Record<string, number>
}

const load = (url: string, schema: string): Promise<Loaded> =>
  inSchema(url, schema, async (c) => {
    const catalog = await readCatalog(c, schema)
    const rowCounts: Loaded['rowCounts'] = {}
    for (const t of catalog.tables) rowCounts[t] = Number((await c.query<{ n: string }>(`select count(*) as n from "${t}"`)).rows[0].n)
    return { catalog, rowCounts }
  })

// ---- Facts from the fact sheet -------------------------------------------------------------------------

const storageIndexes = (p: string) => ({
  [`${p}_config`]: [`${p}_config_pkey`],
  [`${p}_files`]: [
    `idx_${p}_filename`,
    `idx_${p}_metadata`,
    `idx_${p}_search_vector`,
    `idx_${p}_user_date`,
    `ix_${p}_files_created_by_id`,
    `ix_${p}_files_created_by_username`,
    `ix_${p}_files_file_id`,
    `ix_${p}_files_original_filename`,
    `ix_${p}_files_storage_filename`,
    `${p}_files_pkey`,
  ],
  [`${p}_wal`]: [
    `idx_${p}_wal_data`,
    `idx_${p}_wal_file`,
    `idx_${p}_wal_status_time`,
    `ix_${p}_wal_file_id`,
    `ix_${p}_wal_operation_type`,
    `ix_${p}_wal_status`,
    `ix_${p}_wal_user_id`,
    `${p}_wal_pkey`,
  ],
})

const adminIndexesCommon = {
  users: [
    'idx_user_ldap_lookup',
    'idx_user_status_role',
    'ix_users_email',
    'ix_users_ldap_dn',
    'ix_users_status',
    'ix_users_username',
    'uq_email',
    'uq_username',
    'users_pkey',
  ],
  storage_elements: [
    'idx_storage_mode_status',
    'idx_storage_status',
    'ix_storage_elements_mode',
    'ix_storage_elements_name',
    'ix_storage_elements_status',
    'storage_elements_pkey',
  ],
  alembic_version: ['alembic_version_pkc'],
}

/** Every index of every table (constraint-backed ones included), per fixture. */
const expectedIndexes: Record<string, Record<string, string[]>> = {
  'gen1-8b9ca29/admin': {
    ...adminIndexesCommon,
    service_accounts: [
      'idx_service_account_client_id',
      'idx_service_account_secret_expiry',
      'idx_service_account_status_role',
      'idx_service_accounts_password_expiry',
      'idx_service_accounts_secret_changed_at',
      'ix_service_accounts_name',
      'ix_service_accounts_status',
      'service_accounts_pkey',
      'uq_service_account_client_id',
      'uq_service_account_name',
    ],
    jwt_keys: [
      'idx_jwt_keys_active',
      'idx_jwt_keys_active_expires',
      'idx_jwt_keys_active_version',
      'idx_jwt_keys_expires_at',
      'jwt_keys_pkey',
      'uq_jwt_key_version',
    ],
    audit_logs: [
      'audit_logs_pkey',
      'idx_audit_logs_actor_time',
      'idx_audit_logs_event_type',
      'idx_audit_logs_request_id',
      'idx_audit_logs_resource',
      'idx_audit_logs_security',
      'idx_audit_logs_service_account_id',
      'idx_audit_logs_severity',
      'idx_audit_logs_success',
      'idx_audit_logs_user_id',
      'ix_audit_logs_created_at',
    ],
  },
  'gen2-d00e065/admin': {
    ...adminIndexesCommon,
    service_accounts: [
      'idx_service_account_client_id',
      'idx_service_account_secret_expiry',
      'idx_service_account_status_role',
      'ix_service_accounts_client_id',
      'ix_service_accounts_name',
      'ix_service_accounts_status',
      'service_accounts_pkey',
      'uq_service_account_client_id',
      'uq_service_account_name',
    ],
    jwt_keys: ['ix_jwt_keys_is_active', 'ix_jwt_keys_version', 'jwt_keys_pkey'],
    audit_logs: [
      'audit_logs_pkey',
      'ix_audit_logs_created_at',
      'ix_audit_logs_event_type',
      'ix_audit_logs_request_id',
      'ix_audit_logs_service_account_id',
      'ix_audit_logs_severity',
      'ix_audit_logs_success',
      'ix_audit_logs_user_id',
    ],
  },
  'gen1-8b9ca29/storage-element': { ...storageIndexes('test_storage'), storage_elem_01_alembic_version: ['storage_elem_01_alembic_version_pkc'] },
  'gen2-d00e065/storage-element': { ...storageIndexes('storage_elem_01'), storage_elem_01_alembic_version: ['storage_elem_01_alembic_version_pkc'] },
  'gen1-8b9ca29/storage-element-with-app-tables': {
    ...storageIndexes('test_storage'),
    ...storageIndexes('storage_elem_01'),
    storage_elem_01_alembic_version: ['storage_elem_01_alembic_version_pkc'],
  },
  'gen1-8b9ca29/query': {
    file_metadata_cache: [
      'file_metadata_cache_pkey',
      'file_metadata_cache_sha256_hash_key',
      'idx_file_metadata_created_at',
      'idx_file_metadata_file_size',
      'idx_file_metadata_filename',
      'idx_file_metadata_mime_type',
      'idx_file_metadata_search_vector',
      'idx_file_metadata_sha256',
      'idx_file_metadata_storage_elem',
      'idx_file_metadata_tags',
      'idx_file_metadata_updated_at',
      'idx_file_metadata_username',
      'idx_file_metadata_username_created',
    ],
    search_history: [
      'idx_search_history_created',
      'idx_search_history_mode',
      'idx_search_history_username',
      'idx_search_history_username_created',
      'search_history_pkey',
    ],
    download_statistics: [
      'download_statistics_pkey',
      'idx_download_stats_created',
      'idx_download_stats_file_created',
      'idx_download_stats_file_id',
      'idx_download_stats_storage_created',
      'idx_download_stats_username',
      'idx_download_stats_username_created',
    ],
    alembic_version: ['alembic_version_pkc'],
  },
  'gen2-d00e065/query': {
    file_metadata_cache: [
      'file_metadata_cache_pkey',
      'idx_file_metadata_file_size',
      'idx_file_metadata_mime_type',
      'idx_file_metadata_search_vector',
      'idx_file_metadata_storage_elem',
      'idx_file_metadata_tags',
      'idx_file_metadata_username_created',
      'ix_file_metadata_cache_created_at',
      'ix_file_metadata_cache_filename',
      'ix_file_metadata_cache_mime_type',
      'ix_file_metadata_cache_sha256_hash',
      'ix_file_metadata_cache_storage_element_id',
      'ix_file_metadata_cache_updated_at',
      'ix_file_metadata_cache_username',
    ],
    search_history: [
      'idx_search_history_created',
      'idx_search_history_mode',
      'idx_search_history_username_created',
      'ix_search_history_created_at',
      'ix_search_history_username',
      'search_history_pkey',
    ],
    download_statistics: [
      'download_statistics_pkey',
      'idx_download_stats_file_created',
      'idx_download_stats_storage_created',
      'idx_download_stats_username_created',
      'ix_download_statistics_created_at',
      'ix_download_statistics_file_id',
      'ix_download_statistics_storage_element_id',
      'ix_download_statistics_username',
    ],
    alembic_version: ['alembic_version_pkc'],
  },
}

const versionTable: Record<string, [string, string]> = {
  'gen1-8b9ca29/admin': ['alembic_version', '20251116_1630_pwd_policy'],
  'gen2-d00e065/admin': ['alembic_version', '4c7e84fcc6b9'],
  'gen1-8b9ca29/storage-element': ['storage_elem_01_alembic_version', 'a0053fc7f95d'],
  'gen2-d00e065/storage-element': ['storage_elem_01_alembic_version', '100779395dad'],
  'gen1-8b9ca29/storage-element-with-app-tables': ['storage_elem_01_alembic_version', 'a0053fc7f95d'],
  'gen1-8b9ca29/query': ['alembic_version', '20250115_0001'],
  'gen2-d00e065/query': ['alembic_version', '16c6973431df'],
}

const serviceAccountColumns: Record<LegacyState, string[]> = {
  'gen1-8b9ca29': [
    'id',
    'name',
    'description',
    'client_id',
    'client_secret_hash',
    'role',
    'status',
    'is_system',
    'rate_limit',
    'secret_expires_at',
    'last_used_at',
    'created_at',
    'updated_at',
    'secret_history',
    'secret_changed_at',
  ],
  'gen2-d00e065': [
    'id',
    'name',
    'description',
    'client_id',
    'client_secret_hash',
    'secret_history',
    'secret_changed_at',
    'role',
    'status',
    'is_system',
    'rate_limit',
    'secret_expires_at',
    'last_used_at',
    'created_at',
    'updated_at',
  ],
}

const enumLabels = {
  user_role_enum: ['ADMIN', 'OPERATOR', 'USER'],
  user_status_enum: ['ACTIVE', 'INACTIVE', 'LOCKED', 'DELETED'],
  storage_mode_enum: ['EDIT', 'RW', 'RO', 'AR'],
  storage_type_enum: ['LOCAL', 'S3'],
  storage_status_enum: ['ONLINE', 'OFFLINE', 'DEGRADED', 'MAINTENANCE'],
  service_account_role_enum: ['ADMIN', 'USER', 'AUDITOR', 'READONLY'],
  service_account_status_enum: ['ACTIVE', 'SUSPENDED', 'EXPIRED', 'DELETED'],
}

const key = (f: LegacyFixture) => `${f.state}/${f.file}`
const dbName = (f: LegacyFixture) => `legacy_${f.state.slice(0, 4)}_${f.file.replace(/-/g, '_')}`
const columnNames = (cat: Catalog, table: string) => cat.columns.filter((c) => c.table === table).map((c) => c.name)
const column = (cat: Catalog, table: string, name: string) => {
  const found = cat.columns.find((c) => c.table === table && c.name === name)
  if (!found) throw new Error(`no column ${table}.${name}`)
  return found
}
const commentOf = (cat: Catalog, table: string, name: string | null) => cat.comments.find((c) => c.table === table && c.column === name)?.text ?? null
const index = (cat: Catalog, table: string, name: string) => {
  const found = cat.indexes.find((i) => i.table === table && i.name === name)
  if (!found) throw new Error(`no index ${name} on ${table}`)
  return found
}
const enumsOf = (cat: Catalog) => Object.fromEntries(cat.enums.map((e) => [e.name, e.labels]))
/** Each sequence's type and owning column, as `table.column`. */
const sequencesOf = (cat: Catalog) => Object.fromEntries(cat.sequences.map((x) => [x.name, { type: x.type, owner: x.owner && `${x.owner}.${x.ownerColumn}` }]))

test('there are seven fixtures: three modules in each state, plus the storage element with the app tables', () => {
  expect(fixtures.map(key)).toEqual([
    'gen1-8b9ca29/admin',
    'gen1-8b9ca29/query',
    'gen1-8b9ca29/storage-element',
    'gen1-8b9ca29/storage-element-with-app-tables',
    'gen2-d00e065/admin',
    'gen2-d00e065/query',
    'gen2-d00e065/storage-element',
  ])
})

describe.each(fixtures.map((f) => [key(f), f] as const))('%s', (_name, fixture) => {
  const named = pgSchemaOf[fixture.module]
  let url: string
  const loaded: Record<string, Loaded> = {}

  beforeAll(async () => {
    url = await freshDatabase(dbName(fixture))
    // The named schema first, so that public is still empty then and any leak would show.
    await loadLegacyFixture(url, fixture.state, fixture.file, named)
    loaded.publicBefore = await load(url, 'public')
    await loadLegacyFixture(url, fixture.state, fixture.file)
    loaded[named] = await load(url, named)
    loaded.public = await load(url, 'public')
  })
  afterAll(async () => {
    await dropDatabase(dbName(fixture))
  })

  test('loads into a named schema without touching public, and gives the same catalog in public', () => {
    expect(loaded.publicBefore.catalog.tables).toEqual([])
    expect(loaded.publicBefore.catalog.enums).toEqual([])
    expect(loaded.publicBefore.catalog.functions).toEqual([])
    expect(loaded[named].catalog.tables.length).toBeGreaterThan(0)
    expect(loaded.public.catalog).toEqual(loaded[named].catalog)
    expect(loaded.public.rowCounts).toEqual(loaded[named].rowCounts)
  })

  describe.each(['public', named])('in %s', (schema) => {
    const cat = () => loaded[schema].catalog
    const rowCounts = () => loaded[schema].rowCounts

    test('tables and every index name, per table', () => {
      const expected = expectedIndexes[key(fixture)]
      expect(cat().tables).toEqual(Object.keys(expected).sort())
      for (const [table, names] of Object.entries(expected)) {
        expect(
          cat()
            .indexes.filter((i) => i.table === table)
            .map((i) => i.name),
          table,
        ).toEqual([...names].sort())
      }
    })

    test('the Alembic version table, its key and the head revision', async () => {
      const [table, revision] = versionTable[key(fixture)]
      expect(column(cat(), table, 'version_num')).toMatchObject({ type: 'character varying(32)', notNull: true, default: null })
      expect(cat().constraints.filter((k) => k.table === table)).toEqual([{ table, name: `${table}_pkc`, kind: 'p', definition: 'PRIMARY KEY (version_num)' }])
      const rows = await inSchema(url, schema, async (c) => (await c.query(`select version_num from ${table}`)).rows)
      expect(rows).toEqual([{ version_num: revision }])
    })

    test('every table holds rows', () => {
      for (const [table, n] of Object.entries(rowCounts())) expect(n, table).toBeGreaterThan(0)
    })

    test('every timestamp is timestamp with time zone, without precision', () => {
      const types = cat().columns.map((c) => c.type)
      expect(types.filter((t) => t.startsWith('timestamp')).every((t) => t === 'timestamp with time zone')).toBe(true)
    })

    if (fixture.module === 'admin') {
      const gen1 = fixture.state === 'gen1-8b9ca29'

      test('enum types and their labels, in order', () => {
        expect(enumsOf(cat())).toEqual(enumLabels)
        expect(column(cat(), 'users', 'role').type).toBe('user_role_enum')
        expect(column(cat(), 'service_accounts', 'status').type).toBe('service_account_status_enum')
      })

      test('service_accounts: column order, secret_history type and server defaults of this state', () => {
        expect(columnNames(cat(), 'service_accounts')).toEqual(serviceAccountColumns[fixture.state])
        const history = column(cat(), 'service_accounts', 'secret_history')
        if (gen1) {
          expect(history).toMatchObject({ type: 'jsonb', notNull: true, default: "'[]'::jsonb" })
          expect(column(cat(), 'service_accounts', 'role').default).toBe("'USER'::service_account_role_enum")
          expect(column(cat(), 'service_accounts', 'secret_changed_at').default).toBe('now()')
          expect(column(cat(), 'jwt_keys', 'algorithm').default).toBe("'RS256'::character varying")
          expect(column(cat(), 'audit_logs', 'severity').default).toBe("'info'::character varying")
        } else {
          expect(history).toMatchObject({ type: 'json', notNull: false, default: null })
          // No server default at all in admin at d00e065, except the serial ids.
          const defaults = cat()
            .columns.filter((c) => c.default !== null)
            .map((c) => `${c.table}.${c.name}: ${c.default}`)
          expect(defaults.sort()).toEqual([
            "audit_logs.id: nextval('audit_logs_id_seq'::regclass)",
            "jwt_keys.id: nextval('jwt_keys_id_seq'::regclass)",
            "storage_elements.id: nextval('storage_elements_id_seq'::regclass)",
            "users.id: nextval('users_id_seq'::regclass)",
          ])
        }
      })

      test('idx_service_account_client_id is unique only at 8b9ca29; the partial indexes and their predicates', () => {
        expect(index(cat(), 'service_accounts', 'idx_service_account_client_id').unique).toBe(gen1)
        expect(index(cat(), 'users', 'idx_user_ldap_lookup').predicate).toBe('ldap_dn IS NOT NULL')
        const partial = cat()
          .indexes.filter((i) => i.predicate !== null)
          .map((i) => [i.name, i.predicate])
        if (gen1) {
          expect(index(cat(), 'service_accounts', 'idx_service_accounts_password_expiry').definition).toBe(
            "CREATE INDEX idx_service_accounts_password_expiry ON service_accounts USING btree (status, secret_changed_at) WHERE (status = 'ACTIVE'::service_account_status_enum)",
          )
          expect(partial).toHaveLength(2)
        } else {
          expect(index(cat(), 'service_accounts', 'ix_service_accounts_client_id').unique).toBe(true)
          expect(partial).toEqual([['idx_user_ldap_lookup', 'ldap_dn IS NOT NULL']])
        }
      })

      test('foreign keys: names of this state, ON DELETE SET NULL; unique constraints', () => {
        const fks = cat().constraints.filter((k) => k.kind === 'f')
        const [userFk, saFk] = gen1
          ? ['fk_audit_logs_user', 'fk_audit_logs_service_account']
          : ['audit_logs_user_id_fkey', 'audit_logs_service_account_id_fkey']
        expect(fks.map((k) => [k.name, k.definition]).sort()).toEqual(
          [
            [userFk, 'FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL'],
            [saFk, 'FOREIGN KEY (service_account_id) REFERENCES service_accounts(id) ON DELETE SET NULL'],
          ].sort(),
        )
        expect(column(cat(), 'audit_logs', 'service_account_id').type).toBe('uuid')
        const uniques = cat()
          .constraints.filter((k) => k.kind === 'u')
          .map((k) => k.name)
        expect(uniques).toEqual(
          gen1
            ? ['uq_jwt_key_version', 'uq_service_account_client_id', 'uq_service_account_name', 'uq_email', 'uq_username']
            : ['uq_service_account_client_id', 'uq_service_account_name', 'uq_email', 'uq_username'],
        )
        expect(cat().constraints.filter((k) => k.kind === 'c')).toEqual([])
      })

      test('serial sequences: audit_logs_id_seq is bigint, the others integer', () => {
        expect(sequencesOf(cat())).toEqual({
          audit_logs_id_seq: { type: 'bigint', owner: 'audit_logs.id' },
          jwt_keys_id_seq: { type: 'integer', owner: 'jwt_keys.id' },
          storage_elements_id_seq: { type: 'integer', owner: 'storage_elements.id' },
          users_id_seq: { type: 'integer', owner: 'users.id' },
        })
        expect(column(cat(), 'audit_logs', 'id').type).toBe('bigint')
      })

      test('rows: audit events of a service account and with no user, non-ASCII text, json kept verbatim at d00e065', async () => {
        expect(rowCounts().audit_logs).toBe(50)
        await inSchema(url, schema, async (c) => {
          const one = async (sql: string) => (await c.query(sql)).rows[0]
          expect(
            Number((await one(`select count(*) as n from audit_logs a join service_accounts s on s.id = a.service_account_id where s.is_system`)).n),
          ).toBeGreaterThan(0)
          expect(Number((await one(`select count(*) as n from audit_logs where user_id is null and service_account_id is null`)).n)).toBeGreaterThan(0)
          expect((await one(`select first_name from users where username = 'a.ivanov'`)).first_name).toBe('Алексей')
          expect(Number((await one(`select max(capacity_bytes) as m from storage_elements`)).m)).toBeGreaterThan(2 ** 31)
          if (!gen1) {
            const history = (await c.query(`select name, secret_history::text as h from service_accounts order by name`)).rows
            expect(history.find((r) => r.name === 'аудитор-безопасности').h).toBeNull()
            expect(history.find((r) => r.name === 'legacy-exporter').h).toContain('"hash": "$2b$12$first", "hash":  "$2b$12$second"')
          }
        })
      })

      test('comments: users.id has none, the other users columns have one', () => {
        expect(commentOf(cat(), 'users', 'id')).toBeNull()
        expect(columnNames(cat(), 'users').filter((name) => name !== 'id' && !commentOf(cat(), 'users', name))).toEqual([])
        expect(commentOf(cat(), 'jwt_keys', 'id') === null).toBe(!gen1)
      })
    }

    if (fixture.module === 'storage-element') {
      const prefixes =
        fixture.file === 'storage-element-with-app-tables'
          ? ['test_storage', 'storage_elem_01']
          : [fixture.state === 'gen1-8b9ca29' ? 'test_storage' : 'storage_elem_01']
      const migrationPrefix = fixture.state === 'gen1-8b9ca29' ? 'test_storage' : 'storage_elem_01'

      test('the three tables per prefix, with the same columns; GIN indexes; the unique storage filename', () => {
        for (const p of prefixes) {
          expect(columnNames(cat(), `${p}_files`)).toEqual([
            'file_id',
            'original_filename',
            'storage_filename',
            'file_size',
            'content_type',
            'created_at',
            'updated_at',
            'created_by_id',
            'created_by_username',
            'created_by_fullname',
            'description',
            'version',
            'storage_path',
            'checksum',
            'search_vector',
            'metadata_json',
          ])
          expect(column(cat(), `${p}_files`, 'search_vector').type).toBe('tsvector')
          expect(column(cat(), `${p}_files`, 'metadata_json').type).toBe('jsonb')
          expect(column(cat(), `${p}_files`, 'created_at').default).toBe('now()')
          expect(columnNames(cat(), `${p}_wal`)).toEqual([
            'transaction_id',
            'operation_type',
            'status',
            'file_id',
            'operation_data',
            'error_message',
            'started_at',
            'completed_at',
            'duration_ms',
            'user_id',
          ])
          const gin = cat()
            .indexes.filter((i) => i.method === 'gin' && i.name.startsWith(`idx_${p}_`))
            .map((i) => i.name)
          expect(gin.sort()).toEqual([`idx_${p}_metadata`, `idx_${p}_search_vector`, `idx_${p}_wal_data`])
          expect(index(cat(), `${p}_files`, `ix_${p}_files_storage_filename`).unique).toBe(true)
          expect(index(cat(), `${p}_files`, `ix_${p}_files_file_id`).unique).toBe(false)
          expect(column(cat(), `${p}_config`, 'total_size_bytes').type).toBe('integer')
        }
        expect(cat().constraints.filter((k) => k.kind !== 'p')).toEqual([])
        expect(cat().enums).toEqual([])
        expect(cat().triggers).toEqual([])
      })

      test("<prefix>_config.id: a serial in the migration's table, a plain integer in the app's own", () => {
        expect(column(cat(), `${migrationPrefix}_config`, 'id')).toMatchObject({
          type: 'integer',
          notNull: true,
          default: `nextval('${migrationPrefix}_config_id_seq'::regclass)`,
        })
        expect(sequencesOf(cat())).toEqual({ [`${migrationPrefix}_config_id_seq`]: { type: 'integer', owner: `${migrationPrefix}_config.id` } })
        if (prefixes.length === 2) expect(column(cat(), 'storage_elem_01_config', 'id')).toMatchObject({ type: 'integer', notNull: true, default: null })
      })

      test('rows: a file larger than 2^31 bytes, a NULL metadata_json, search_vector never filled', async () => {
        await inSchema(url, schema, async (c) => {
          const p = migrationPrefix
          const r = (
            await c.query(
              `select max(file_size) as big, count(*) filter (where metadata_json is null) as nulls, count(search_vector) as vectors from ${p}_files`,
            )
          ).rows[0]
          expect(Number(r.big)).toBeGreaterThan(2 ** 31)
          expect(Number(r.nulls)).toBeGreaterThan(0)
          expect(Number(r.vectors)).toBe(0)
          expect((await c.query(`select id from ${p}_config`)).rows).toEqual([{ id: 1 }])
        })
      })
    }

    if (fixture.module === 'query') {
      const gen1 = fixture.state === 'gen1-8b9ca29'

      test('columns, the tags array type, GIN indexes, check constraints, sha256 uniqueness of this state', () => {
        expect(columnNames(cat(), 'file_metadata_cache')).toEqual([
          'id',
          'filename',
          'storage_filename',
          'file_size',
          'mime_type',
          'sha256_hash',
          'username',
          'tags',
          'description',
          'storage_element_id',
          'storage_element_url',
          'created_at',
          'updated_at',
          'cache_updated_at',
          'search_vector',
        ])
        expect(column(cat(), 'file_metadata_cache', 'tags').type).toBe('character varying(50)[]')
        expect(column(cat(), 'file_metadata_cache', 'cache_updated_at').default).toBe('now()')
        expect(column(cat(), 'search_history', 'results_count').default).toBeNull()
        const gin = cat()
          .indexes.filter((i) => i.method === 'gin')
          .map((i) => i.name)
        expect(gin.sort()).toEqual(['idx_file_metadata_search_vector', 'idx_file_metadata_tags'])
        expect(
          cat()
            .constraints.filter((k) => k.kind === 'c')
            .map((k) => [k.name, k.definition]),
        ).toEqual([
          ['check_bytes_positive', 'CHECK ((bytes_transferred >= 0))'],
          ['check_download_time_positive', 'CHECK ((download_time_ms >= 0))'],
          ['check_file_size_positive', 'CHECK ((file_size >= 0))'],
          ['check_tags_count', 'CHECK ((array_length(tags, 1) <= 50))'],
          ['check_response_time_positive', 'CHECK ((response_time_ms >= 0))'],
          ['check_results_count_positive', 'CHECK ((results_count >= 0))'],
        ])
        expect(
          cat()
            .constraints.filter((k) => k.kind === 'u')
            .map((k) => k.name),
        ).toEqual(gen1 ? ['file_metadata_cache_sha256_hash_key'] : [])
        expect(index(cat(), 'file_metadata_cache', gen1 ? 'idx_file_metadata_sha256' : 'ix_file_metadata_cache_sha256_hash').unique).toBe(true)
        expect(cat().constraints.filter((k) => k.kind === 'f')).toEqual([])
        expect(cat().comments.filter((c) => c.column === null)).toHaveLength(3)
      })

      test(`the full-text trigger ${gen1 ? "exists and computes the sheet's vector" : 'does not exist'}`, async () => {
        expect(cat().triggers.map((t) => t.definition)).toEqual(
          gen1
            ? [
                'CREATE TRIGGER trigger_update_search_vector BEFORE INSERT OR UPDATE OF filename, description, tags ON file_metadata_cache FOR EACH ROW EXECUTE FUNCTION update_file_metadata_search_vector()',
              ]
            : [],
        )
        expect(cat().functions.map((f) => f.name)).toEqual(gen1 ? ['update_file_metadata_search_vector'] : [])
        await inSchema(url, schema, async (c) => {
          await c.query('begin')
          try {
            const row = await c.query(
              `insert into file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, tags, description, storage_element_id, storage_element_url, created_at, updated_at)
               values ('11111111-2222-4333-8444-555555555555', 'отчеты.pdf', 'x.pdf', 1, repeat('0', 64), 'test', '{финансы}', 'годовые отчеты', 'se-01', 'http://se', now(), now())
               returning search_vector::text as v`,
            )
            expect(row.rows[0].v).toBe(gen1 ? "'pdf':2A 'годов':3B 'отчет':1A,4B 'финанс':5C" : null)
          } finally {
            await c.query('rollback')
          }
          const filled = Number((await c.query(`select count(search_vector) as n from file_metadata_cache`)).rows[0].n)
          if (gen1) expect(filled).toBe(rowCounts().file_metadata_cache)
          else expect(filled).toBeLessThan(rowCounts().file_metadata_cache)
        })
      })

      test('rows: big byte counts, NULL and non-ASCII tags', async () => {
        await inSchema(url, schema, async (c) => {
          const r = (await c.query(`select max(bytes_transferred) as big from download_statistics`)).rows[0]
          expect(Number(r.big)).toBeGreaterThan(2 ** 31)
          const tags = (await c.query(`select tags from file_metadata_cache order by id`)).rows.map((x) => x.tags)
          expect(tags).toContainEqual(null)
          expect(tags).toContainEqual(['финансы'])
        })
      })
    }
  })
})
