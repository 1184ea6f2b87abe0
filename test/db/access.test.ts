// The generated clients and the typed access layer on real databases, and what the schemas promise
// beyond names: FK actions, server defaults for raw SQL, the full-text triggers and their GIN index.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { addJwtKey, createServiceAccount, createUser, openAdmin, recordAuditEvent, registerStorageElement, type AdminDb } from '../../src/access/admin.ts'
import { cacheFile, openQuery, searchFiles, type QueryDb } from '../../src/access/query.ts'
import { openStorageElement, searchVectorOf, upsertFile, type StorageElementDb } from '../../src/access/storage-element.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let url: string
const withSchema = (schema: string) => {
  const u = new URL(url)
  u.searchParams.set('schema', schema)
  return u.toString()
}
let admin: AdminDb
let storage: StorageElementDb
let q: QueryDb

beforeAll(async () => {
  url = await freshDatabase('access')
  const run = await runCli(['deploy'], { DATABASE_URL: url })
  if (run.exitCode !== 0) throw new Error(run.stderr)
  admin = openAdmin(withSchema('admin'))
  storage = openStorageElement(withSchema('storage_element'))
  q = openQuery(withSchema('query'))
})
afterAll(async () => {
  await Promise.all([admin?.$disconnect(), storage?.$disconnect(), q?.$disconnect()])
  await dropDatabase('access')
})

describe('admin', () => {
  test('an audit row points at a user and a service account; deleting the user sets its FK to NULL', async () => {
    const user = await createUser(admin, { username: 'a.ivanov', email: 'a.ivanov@example.org', firstName: 'Алексей' })
    const account = await createServiceAccount(admin, { name: 'ingest', clientId: 'sa_prod_ingest_x1', clientSecretHash: '$2b$12$hash' })
    expect(account).toMatchObject({ role: 'USER', status: 'ACTIVE', rateLimit: 100, isSystem: false, secretHistory: [] })
    const event = await recordAuditEvent(admin, {
      eventType: 'login_success',
      actorType: 'user',
      action: 'login',
      success: true,
      hmacSignature: 'f'.repeat(64),
      userId: user.id,
      serviceAccountId: account.id,
    })
    expect(event.severity).toBe('info')
    await admin.user.delete({ where: { id: user.id } })
    const after = await admin.auditLog.findUniqueOrThrow({ where: { id: event.id } })
    expect(after.userId).toBeNull()
    expect(after.serviceAccountId).toBe(account.id)
  })

  test('a JWT key and a storage element, through the client', async () => {
    const key = await addJwtKey(admin, { version: '7d3e0f2a-0000-4000-8000-000000000001', privateKey: 'PEM', publicKey: 'PEM' })
    expect(key).toMatchObject({ algorithm: 'RS256', isActive: true, rotationCount: 0 })
    const element = await registerStorageElement(admin, { name: 'se-01', basePath: '/data', apiUrl: 'http://se-01:8010' })
    expect(await admin.storageElement.findUniqueOrThrow({ where: { name: 'se-01' } })).toMatchObject({ id: element.id, mode: 'EDIT', usedBytes: 0n })
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
    await createUser(admin, { username: 'dup', email: 'dup1@example.org' })
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
    await upsertFile(storage, {
      fileId,
      originalFilename: 'годовые отчеты.pdf',
      storageFilename: `годовые отчеты_a.ivanov_20251203T142755_${fileId}.pdf`,
      fileSize: 734512n,
      contentType: 'application/pdf',
      createdById: '17',
      createdByUsername: 'a.ivanov',
      description: 'смета',
      storagePath: '2025/12/03/14/',
      checksum: '5d41c0a9e3b27f8864aa10f3c2b9d7e6a1f0c4b8e2d9735c6a0b1f2e3d4c5b6a',
      metadataJson: { tags: ['finance'] },
    })
    expect(await searchVectorOf(storage, fileId)).toBe("'pdf':3A 'годов':1A 'отчет':2A 'смет':4B")
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
    expect(await storage.storageConfig.findFirstOrThrow()).toMatchObject({ totalSizeBytes: 5000000000n })
  })
})

describe('query', () => {
  test("a cache row is found by full-text search through the trigger (the fact sheet's example vector)", async () => {
    await cacheFile(q, {
      id: '0b8f1a52-0000-4000-8000-000000000001',
      filename: 'отчеты.pdf',
      storageFilename: 'отчеты_u_20251203T142755_0b8f1a52-0000-4000-8000-000000000001.pdf',
      fileSize: 10n,
      sha256Hash: 'a'.repeat(64),
      username: 'u',
      tags: ['финансы'],
      description: 'годовые отчеты',
      storageElementId: 'se-01',
      storageElementUrl: 'http://se-01:8010',
      createdAt: new Date(),
      updatedAt: new Date(),
    })
    const [v] = await query(url, `select search_vector::text as v from query.file_metadata_cache`)
    expect(v).toEqual({ v: "'pdf':2A 'годов':3B 'отчет':1A,4B 'финанс':5C" })
    expect((await searchFiles(q, 'финансы')).map((r) => r.filename)).toEqual(['отчеты.pdf'])
    expect(await searchFiles(q, 'бюджет')).toEqual([])
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
