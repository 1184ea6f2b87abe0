// What the schemas promise beyond names, on real databases: FK actions, server defaults for raw SQL,
// constraints, the full-text triggers and their GIN index. Deployed from the module folders as
// 0_baseline left them (test/fixtures/prisma-baseline): the users table and its FK are the baseline's,
// whatever later migrations do to them.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

let url: string

beforeAll(async () => {
  url = await freshDatabase('access')
  const run = await runCli(['deploy'], { DATABASE_URL: url, ARTSTORE_PRISMA_DIR: copyPrismaDir('access', { at: 'baseline' }) })
  if (run.exitCode !== 0) throw new Error(run.stderr)
})
afterAll(async () => {
  await dropDatabase('access')
})

/** The one row an INSERT … RETURNING gives back. */
const one = async (sql: string, params: unknown[] = []) => (await query(url, sql, params))[0]

describe('admin', () => {
  test('an audit row points at a user and a service account; deleting the user sets its FK to NULL', async () => {
    const user = await one(
      `insert into admin.users (username, email, first_name, role, status, is_system, failed_login_attempts)
            values ('a.ivanov', 'a.ivanov@example.org', 'Алексей', 'USER', 'ACTIVE', false, 0) returning id`,
    )
    const account = await one(
      `insert into admin.service_accounts (id, name, client_id, client_secret_hash, secret_expires_at)
            values (gen_random_uuid(), 'ingest', 'sa_prod_ingest_x1', '$2b$12$hash', now() + interval '90 days')
         returning id, role::text, status::text, rate_limit, is_system, secret_history`,
    )
    expect(account).toMatchObject({ role: 'USER', status: 'ACTIVE', rate_limit: 100, is_system: false, secret_history: [] })
    const event = await one(
      `insert into admin.audit_logs (event_type, actor_type, action, success, hmac_signature, user_id, service_account_id)
            values ('login_success', 'user', 'login', true, $1, $2, $3) returning id, severity`,
      ['f'.repeat(64), user.id, account.id],
    )
    expect(event.severity).toBe('info')
    await query(url, 'delete from admin.users where id = $1', [user.id])
    expect(await one('select user_id, service_account_id from admin.audit_logs where id = $1', [event.id])).toEqual({
      user_id: null,
      service_account_id: account.id,
    })
  })

  test('a JWT key and a storage element', async () => {
    const key = await one(
      `insert into admin.jwt_keys (version, private_key, public_key, expires_at)
            values ('7d3e0f2a-0000-4000-8000-000000000001', 'PEM', 'PEM', now() + interval '25 hours') returning algorithm, is_active, rotation_count`,
    )
    expect(key).toEqual({ algorithm: 'RS256', is_active: true, rotation_count: 0 })
    const element = await one(
      `insert into admin.storage_elements (name, mode, storage_type, base_path, api_url, status, used_bytes, file_count, is_replicated, replica_count)
            values ('se-01', 'EDIT', 'LOCAL', '/data', 'http://se-01:8010', 'ONLINE', 0, 0, false, 0) returning id`,
    )
    expect(await one(`select id, mode::text, used_bytes::text from admin.storage_elements where name = 'se-01'`)).toEqual({
      id: element.id,
      mode: 'EDIT',
      used_bytes: '0',
    })
  })

  test('raw SQL inserts get the restored server defaults', async () => {
    await query(url, `insert into admin.jwt_keys (version, private_key, public_key, expires_at) values ('v-raw', 'k', 'k', now() + interval '1 day')`)
    expect(
      await query(url, `select algorithm, is_active, rotation_count, created_at is not null as stamped from admin.jwt_keys where version = 'v-raw'`),
    ).toEqual([{ algorithm: 'RS256', is_active: true, rotation_count: 0, stamped: true }])
    await query(
      url,
      `insert into admin.service_accounts (id, name, client_id, client_secret_hash, secret_expires_at)
                      values (gen_random_uuid(), 'raw', 'sa_raw', 'h', now() + interval '90 days')`,
    )
    expect(await query(url, `select role::text, status::text, is_system, rate_limit, secret_history from admin.service_accounts where name = 'raw'`)).toEqual([
      { role: 'USER', status: 'ACTIVE', is_system: false, rate_limit: 100, secret_history: [] },
    ])
  })

  test('the constraints hold: unique username, enum labels, FK to a missing user', async () => {
    await query(
      url,
      `insert into admin.users (username, email, role, status, is_system, failed_login_attempts) values ('dup', 'dup1@example.org', 'USER', 'ACTIVE', false, 0)`,
    )
    await expect(
      query(
        url,
        `insert into admin.users (username, email, role, status, is_system, failed_login_attempts) values ('dup', 'dup2@example.org', 'USER', 'ACTIVE', false, 0)`,
      ),
    ).rejects.toThrow(/uq_username/)
    await expect(
      query(
        url,
        `insert into admin.users (username, email, role, status, is_system, failed_login_attempts) values ('x', 'x@example.org', 'user', 'ACTIVE', false, 0)`,
      ),
    ).rejects.toThrow(/invalid input value for enum (admin\.)?user_role_enum/)
    await expect(
      query(
        url,
        `insert into admin.audit_logs (event_type, actor_type, action, success, hmac_signature, user_id) values ('e', 'user', 'a', true, 'h', 999999)`,
      ),
    ).rejects.toThrow(/audit_logs_user_id_fkey/)
  })
})

describe('storage element', () => {
  test('a file row; the trigger fills search_vector from the name (A) and description (B)', async () => {
    const fileId = '9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f'
    await query(
      url,
      `insert into storage_element.storage_elem_01_files (file_id, original_filename, storage_filename, file_size, content_type, created_by_id,
                                                          created_by_username, description, storage_path, checksum, metadata_json)
            values ($1, 'годовые отчеты.pdf', $2, 734512, 'application/pdf', '17', 'a.ivanov', 'смета', '2025/12/03/14/', $3, $4)`,
      [
        fileId,
        `годовые отчеты_a.ivanov_20251203T142755_${fileId}.pdf`,
        '5d41c0a9e3b27f8864aa10f3c2b9d7e6a1f0c4b8e2d9735c6a0b1f2e3d4c5b6a',
        JSON.stringify({ tags: ['finance'] }),
      ],
    )
    expect(await one('select search_vector::text as v from storage_element.storage_elem_01_files where file_id = $1', [fileId])).toEqual({
      v: "'pdf':3A 'годов':1A 'отчет':2A 'смет':4B",
    })
    const [row] = await query(
      url,
      `select file_size::text, total from (select file_size, count(*) over () as total from storage_element.storage_elem_01_files) x`,
    )
    expect(row).toEqual({ file_size: '734512', total: '1' })
  })

  test('total_size_bytes holds more than 2 GiB', async () => {
    await query(
      url,
      `insert into storage_element.storage_elem_01_config (current_mode, is_master, total_files, total_size_bytes) values ('edit', true, 1, 5000000000)`,
    )
    expect(await one('select total_size_bytes::text as b from storage_element.storage_elem_01_config')).toEqual({ b: '5000000000' })
  })
})

describe('query', () => {
  test("a cache row is found by full-text search through the trigger (the fact sheet's example vector)", async () => {
    await query(
      url,
      `insert into query.file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, tags, description,
                                             storage_element_id, storage_element_url, created_at, updated_at)
            values ('0b8f1a52-0000-4000-8000-000000000001', 'отчеты.pdf', 'отчеты_u_20251203T142755_0b8f1a52-0000-4000-8000-000000000001.pdf', 10, $1,
                    'u', array['финансы'], 'годовые отчеты', 'se-01', 'http://se-01:8010', now(), now())`,
      ['a'.repeat(64)],
    )
    const [v] = await query(url, `select search_vector::text as v from query.file_metadata_cache`)
    expect(v).toEqual({ v: "'pdf':2A 'годов':3B 'отчет':1A,4B 'финанс':5C" })
    // As the query service searches (legacy-schema.md §9.3), best match first.
    const search = (text: string) =>
      query(
        url,
        `select filename from query.file_metadata_cache where search_vector @@ plainto_tsquery('russian', $1)
          order by ts_rank(search_vector, plainto_tsquery('russian', $1)) desc, id`,
        [text],
      )
    expect(await search('финансы')).toEqual([{ filename: 'отчеты.pdf' }])
    expect(await search('бюджет')).toEqual([])
  })

  test('on 10 000 rows the search uses the GIN index', async () => {
    await query(
      url,
      `insert into query.file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, tags, description,
                                             storage_element_id, storage_element_url, created_at, updated_at)
       select 'bulk-' || g, 'документ ' || g || '.txt', 'doc_' || g, g, md5(g::text) || md5((g + 1)::text), 'u', array['архив'], 'заметка номер ' || g,
              'se-01', 'http://se-01:8010', now(), now()
         from generate_series(1, 10000) g`,
    )
    // As autovacuum would: merge the GIN pending list that a bulk insert leaves, and refresh statistics.
    await query(url, 'vacuum analyze query.file_metadata_cache')
    const plan = (
      await query<{ 'QUERY PLAN': string }>(
        url,
        `explain select id from query.file_metadata_cache where search_vector @@ plainto_tsquery('russian', 'финансы')`,
      )
    )
      .map((r) => r['QUERY PLAN'])
      .join('\n')
    expect(plan).toContain('idx_file_metadata_search_vector')
  })

  test('the check constraints hold: more than 50 tags, a negative size', async () => {
    const base = `insert into query.file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, tags, storage_element_id, storage_element_url, created_at, updated_at)`
    await expect(query(url, `${base} select 't1', 'f', 's', 1, 'b', 'u', array_fill('x'::varchar, array[51]), 'se', 'u', now(), now()`)).rejects.toThrow(
      /check_tags_count/,
    )
    await expect(query(url, `${base} values ('t2', 'f', 's', -1, 'c', 'u', null, 'se', 'u', now(), now())`)).rejects.toThrow(/check_file_size_positive/)
  })
})
