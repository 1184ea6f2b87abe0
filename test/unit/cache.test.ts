// attr.json reading and validation, the field mapping, COPY encoding, the folder walk and the tree
// generator, without a database.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { beforeEach, describe, expect, test } from 'vitest'
import { isIsoTimestamp, MAX_ATTR_BYTES, parseAttr, readAttr, uuidOfStorageFilename, type AttrDocument } from '../../src/cache/attr.ts'
import { arrayLiteral, copyField, copyLine } from '../../src/cache/copy.ts'
import { attrRelPath, generateAttrs, renderAttr, storageFilename, writeAttrTree } from '../helpers/attr-tree.ts'
import { cacheTags, charLength, queryRow, storageRow } from '../../src/cache/map.ts'
import { walkAttrFiles, type WalkEntry } from '../../src/cache/walk.ts'
import { projectRoot } from '../../src/modules.ts'

// legacy-schema.md §7.4, byte for byte (the sheet's example of a file the storage element wrote).
const EXAMPLE = `{
  "file_id": "9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f",
  "original_filename": "Smeta 2025 v2.xlsx",
  "storage_filename": "Smeta 2025 v2_a.ivanov_20251203T142755_9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f.xlsx",
  "file_size": 734512,
  "content_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "created_at": "2025-12-03T14:27:55.804211+00:00",
  "updated_at": "2025-12-03T15:02:10.117930+00:00",
  "created_by_id": "17",
  "created_by_username": "a.ivanov",
  "created_by_fullname": "Алексей Иванов",
  "description": "Смета на 2025 год, вторая редакция",
  "version": "2",
  "storage_path": "2025/12/03/14/",
  "checksum": "5d41c0a9e3b27f8864aa10f3c2b9d7e6a1f0c4b8e2d9735c6a0b1f2e3d4c5b6a",
  "metadata": {
    "project": "budget-2025",
    "tags": [
      "finance",
      "estimate"
    ]
  }
}`
const EXAMPLE_AT = { folder: '2025/12/03/14/', name: 'Smeta 2025 v2_a.ivanov_20251203T142755_9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f.xlsx' }
const V1_FIELDS = [
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
  'metadata',
]

const example = (): Record<string, unknown> => JSON.parse(EXAMPLE)
const check = (doc: unknown, at = EXAMPLE_AT) => parseAttr(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), at)
const reasonOf = (doc: unknown, at = EXAMPLE_AT) => {
  const r = check(doc, at)
  if (r.ok) throw new Error('expected a bad file')
  return { code: r.code, reason: r.reason, claim: r.claim }
}

describe('the generator writes attr.json as the storage element does (§7.1, §7.2)', () => {
  test('the §7.4 example, rendered from its fields, is the same bytes', () => {
    const r = check(EXAMPLE)
    expect(r.ok).toBe(true)
    if (r.ok) expect(renderAttr(r.doc)).toBe(EXAMPLE)
    expect(storageFilename('Smeta 2025 v2.xlsx', 'a.ivanov', new Date('2025-12-03T14:27:55Z'), '9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f')).toBe(EXAMPLE_AT.name)
  })

  test('2-space indent, non-ASCII literal, no trailing newline, fields in model order; v2 adds schema_version first and custom_attributes', () => {
    const docs = [...generateAttrs({ count: 200, seed: 7 })]
    const v2 = docs.filter((g) => g.doc.schema_version === '2.0')
    expect(v2.length).toBeGreaterThan(10)
    expect(docs.filter((g) => g.s3).length).toBeGreaterThan(10)
    for (const g of docs) {
      const text = renderAttr(g.doc)
      expect(text.endsWith('}')).toBe(true)
      expect(text).not.toMatch(/\\u[0-9a-f]{4}/)
      expect(text.split('\n')[1]).toMatch(/^ {2}"[a-z_]+": /)
      const keys = Object.keys(JSON.parse(text))
      expect(keys).toEqual(g.doc.schema_version ? ['schema_version', ...V1_FIELDS, 'custom_attributes'] : V1_FIELDS)
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ATTR_BYTES)
      expect(g.doc.storage_filename).toMatch(/^.+_[a-z.]+_\d{8}T\d{6}_[0-9a-f-]{36}(\.[a-z.]+)?$/)
      expect(uuidOfStorageFilename(g.doc.storage_filename)).toBe(g.doc.file_id)
      expect(g.rel).toBe(`${g.doc.storage_path}${g.s3 ? '.attrs/' : ''}${g.doc.storage_filename}.attr.json`)
      // Every generated file is a good one.
      expect(check(text, { folder: g.doc.storage_path, name: g.doc.storage_filename }).ok).toBe(true)
    }
    expect(docs.some((g) => /[^\x00-\x7f]/.test(renderAttr(g.doc)))).toBe(true)
    expect(docs.some((g) => g.doc.original_filename.includes(' '))).toBe(true)
  })

  test('storage filenames: spaces and unicode kept, forbidden characters become one _, empty stem is file, 200 characters at most', () => {
    const at = new Date('2025-01-02T03:04:05Z')
    const id = '00000000-0000-4000-8000-000000000001'
    expect(storageFilename('отчёт за год.pdf', 'u', at, id)).toBe(`отчёт за год_u_20250102T030405_${id}.pdf`)
    expect(storageFilename('a<>:"|?*b.txt', 'u', at, id)).toBe(`a_b_u_20250102T030405_${id}.txt`)
    expect(storageFilename('???.txt', 'u', at, id)).toBe(`file_u_20250102T030405_${id}.txt`)
    expect(storageFilename('.env', 'u', at, id)).toBe(`.env_u_20250102T030405_${id}`)
    const long = storageFilename(`${'я'.repeat(300)}.pdf`, 'u', at, id)
    expect(charLength(long)).toBe(200)
    expect(long).toMatch(new RegExp(`^я+\\.\\.\\._u_20250102T030405_${id}\\.pdf$`))
  })

  test('the same seed gives the same tree', () => {
    const a = [...generateAttrs({ count: 20, seed: 3 })].map((g) => renderAttr(g.doc))
    const b = [...generateAttrs({ count: 20, seed: 3 })].map((g) => renderAttr(g.doc))
    expect(a).toEqual(b)
    expect([...generateAttrs({ count: 20, seed: 4 })].map((g) => renderAttr(g.doc))).not.toEqual(a)
  })
})

describe('validation: every bad file is a reason, never an exception', () => {
  test('v1 (no version), 1.0 and 2.0 are accepted; other versions refused', () => {
    expect(check({ ...example(), schema_version: '1.0' }).ok).toBe(true)
    expect(check({ schema_version: '2.0', ...example(), custom_attributes: { a: 1 } }).ok).toBe(true)
    expect(reasonOf({ schema_version: '3.0', ...example() })).toMatchObject({ code: 'unsupported-version', claim: '9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f' })
    expect(reasonOf({ schema_version: 2, ...example() }).code).toBe('unsupported-version')
    expect(reasonOf({ schema_version: '2.0', ...example(), custom_attributes: [] }).reason).toBe('custom_attributes is array, expected an object')
  })

  test('metadata defaults to {}; optional strings may be null or missing', () => {
    const { metadata: _m, created_by_fullname: _f, ...rest } = example()
    const r = check({ ...rest, description: null })
    expect(r.ok && r.doc.metadata).toEqual({})
  })

  test.each([
    ['invalid JSON', '{"file_id": ', 'invalid-json', /^invalid JSON \(it ends early\)$/],
    ['not an object', '[1, 2]', 'invalid-json', /^the document is array, expected an object$/],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'invalid-json', /^not valid UTF-8$/],
  ])('%s', (_name, bytes, code, reason) => {
    const r = parseAttr(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, EXAMPLE_AT)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.code).toBe(code)
      expect(r.reason).toMatch(reason)
    }
  })

  test.each<[string, (d: Record<string, unknown>) => void, string, string, typeof EXAMPLE_AT?]>([
    ['a required field missing', (d) => delete d.checksum, 'invalid-field', 'required field checksum is missing'],
    ['a string of the wrong type', (d) => (d.created_by_id = 17), 'invalid-field', 'created_by_id is number, expected a string'],
    ['file_size as a string', (d) => (d.file_size = '734512'), 'invalid-field', 'file_size is string, expected an integer'],
    ['file_size not an integer', (d) => (d.file_size = 1.5), 'invalid-field', 'file_size 1.5 is not an integer'],
    ['a nullable field of the wrong type', (d) => (d.version = 2), 'invalid-field', 'version is number, expected a string or null'],
    ['metadata not an object', (d) => (d.metadata = ['x']), 'invalid-field', 'metadata is array, expected an object'],
    ['file_id not a uuid', (d) => (d.file_id = 'not-a-uuid'), 'bad-file-id', 'file_id "not-a-uuid" is not a uuid (lower-case 8-4-4-4-12 hex)'],
    [
      'file_id in upper case',
      (d) => (d.file_id = String(d.file_id).toUpperCase()),
      'bad-file-id',
      'file_id "9C1E7D2A-4B3F-4E8A-A1D5-6F0B2C3D4E5F" is not a uuid (lower-case 8-4-4-4-12 hex)',
    ],
    ['checksum of 63 hex digits', (d) => (d.checksum = String(d.checksum).slice(1)), 'bad-checksum', 'checksum is not 64 hex digits (63 characters)'],
    ['checksum with a non-hex digit', (d) => (d.checksum = `z${String(d.checksum).slice(1)}`), 'bad-checksum', 'checksum is not 64 hex digits (64 characters)'],
    ['file_size 0', (d) => (d.file_size = 0), 'bad-file-size', 'file_size is 0, must be > 0'],
    ['file_size negative', (d) => (d.file_size = -5), 'bad-file-size', 'file_size is -5, must be > 0'],
    [
      'a timestamp without offset',
      (d) => (d.created_at = '2025-12-03T14:27:55'),
      'invalid-field',
      'created_at "2025-12-03T14:27:55" is not an ISO-8601 timestamp with offset',
    ],
    [
      'an impossible date',
      (d) => (d.updated_at = '2025-02-30T00:00:00+00:00'),
      'invalid-field',
      'updated_at "2025-02-30T00:00:00+00:00" is not an ISO-8601 timestamp with offset',
    ],
    [
      'storage_path of another folder',
      (d) => (d.storage_path = '2025/12/03/15/'),
      'wrong-folder',
      'storage_path "2025/12/03/15/" does not match the file\'s folder 2025/12/03/14/',
    ],
    [
      'storage_path that is no date and hour',
      (d) => (d.storage_path = '2025/13/45/99/'),
      'wrong-folder',
      'storage_path "2025/13/45/99/" is not a date and hour (YYYY/MM/DD/HH/, as the storage element names its folders)',
      { folder: '2025/13/45/99/', name: EXAMPLE_AT.name },
    ],
    [
      'storage_path without trailing slash',
      (d) => (d.storage_path = '2025/12/03/14'),
      'wrong-folder',
      'storage_path "2025/12/03/14" does not match the file\'s folder 2025/12/03/14/',
    ],
    [
      'file_id not the uuid of storage_filename',
      (d) => (d.file_id = '11111111-2222-4333-8444-555555555555'),
      'file-id-mismatch',
      'file_id 11111111-2222-4333-8444-555555555555 does not match the uuid 9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f in storage_filename',
    ],
    [
      'a NUL character',
      (d) => (d.description = 'a\u0000b'),
      'invalid-field',
      'the document.description contains a NUL character (\\u0000), which PostgreSQL cannot store',
    ],
    [
      'an unpaired surrogate in metadata',
      (d) => (d.metadata = { k: 'x\ud800' }),
      'invalid-field',
      'the document.metadata.k contains an unpaired UTF-16 surrogate, which PostgreSQL cannot store',
    ],
  ])('%s', (_name, spoil, code, reason, at) => {
    const d = example()
    spoil(d)
    expect(reasonOf(d, at)).toMatchObject({ code, reason })
  })

  test('a file not named after its storage_filename', () => {
    expect(reasonOf(EXAMPLE, { ...EXAMPLE_AT, name: 'renamed' })).toMatchObject({ code: 'name-mismatch' })
  })

  test('the claim is the file_id whenever it is a well-formed uuid, even in a bad file', () => {
    expect(reasonOf({ ...example(), file_size: 0 }).claim).toBe('9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f')
    expect(reasonOf({ ...example(), file_id: 'x' }).claim).toBeUndefined()
  })

  test('timestamps: offsets, fractions up to microseconds, calendar', () => {
    for (const ok of ['2025-12-03T14:27:55.804211+00:00', '2025-12-03T14:27:55Z', '2024-02-29T23:59:59.1-05:30', '2025-12-03 14:27:55Z'])
      expect(isIsoTimestamp(ok), ok).toBe(true)
    for (const bad of [
      '2025-02-29T00:00:00Z',
      '2025-12-03t14:27:55Z',
      '2025-12-03  14:27:55Z',
      '2025-12-03T24:00:00Z',
      '2025-12-03T14:27:55.1234567Z',
      '2025-12-03T14:27:55+16:00',
    ])
      expect(isIsoTimestamp(bad), bad).toBe(false)
  })
})

// The bucket writer (legacy-schema.md §9.5): json.dumps(model_dump(), indent=2, ensure_ascii=False,
// default=str), as Python 3 prints it for this document (updated_at with microseconds 0).
const BUCKET_EXAMPLE = `{
  "file_id": "9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f",
  "original_filename": "Smeta 2025 v2.xlsx",
  "storage_filename": "Smeta 2025 v2_a.ivanov_20251203T142755_9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f.xlsx",
  "file_size": 734512,
  "content_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "created_at": "2025-12-03 14:27:55.804211+00:00",
  "updated_at": "2025-12-03 15:02:10+00:00",
  "created_by_id": "17",
  "created_by_username": "a.ivanov",
  "created_by_fullname": "Алексей Иванов",
  "description": "Смета на 2025 год, вторая редакция",
  "version": null,
  "storage_path": "2025/12/03/14/",
  "checksum": "5d41c0a9e3b27f8864aa10f3c2b9d7e6a1f0c4b8e2d9735c6a0b1f2e3d4c5b6a",
  "metadata": {}
}`

describe('the bucket writer (issue 22)', () => {
  test('its exact output is good: str(datetime) with a space, no fraction when the microseconds are 0', () => {
    const r = check(BUCKET_EXAMPLE)
    expect(r.ok, JSON.stringify(r)).toBe(true)
    if (!r.ok) return
    expect(r.doc).toMatchObject({ created_at: '2025-12-03 14:27:55.804211+00:00', updated_at: '2025-12-03 15:02:10+00:00', version: null, metadata: {} })
    // Into both caches as written: PostgreSQL reads the space as it reads the T.
    expect(storageRow(r.doc)).toMatchObject({ ok: true })
    expect(queryRow(r.doc)).toMatchObject({ ok: true })
  })

  test('an edited file holds one of each: created_at str(datetime), updated_at isoformat()', () => {
    const edited = BUCKET_EXAMPLE.replace('"2025-12-03 15:02:10+00:00"', '"2025-12-04T09:00:01.250000+00:00"')
    expect(check(edited).ok).toBe(true)
  })

  test('still refused: no offset, a lower-case t, two spaces, a bad date', () => {
    for (const at of ['2025-12-03 14:27:55', '2025-12-03t14:27:55+00:00', '2025-12-03  14:27:55+00:00', '2025-02-30 14:27:55+00:00']) {
      const r = reasonOf(BUCKET_EXAMPLE.replace('"2025-12-03 14:27:55.804211+00:00"', JSON.stringify(at)))
      expect(r, at).toMatchObject({ code: 'invalid-field', reason: `created_at ${JSON.stringify(at)} is not an ISO-8601 timestamp with offset` })
    }
  })
})

test("docs/attr-json.md: every example, each writer's among them, parses good at the place the page gives it", () => {
  const page = fs.readFileSync(path.join(projectRoot, 'docs', 'attr-json.md'), 'utf8')
  const examples = [...page.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => {
    const before = page.slice(0, m.index)
    const where = [...before.matchAll(/`([^`\n]*\.attr\.json)`/g)].at(-1)![1]
    const at = /(\d{4}\/\d{2}\/\d{2}\/\d{2}\/)(?:\.attrs\/)?([^/]+)\.attr\.json$/.exec(where)!
    return { where, text: m[1], at: { folder: at[1], name: at[2] } }
  })
  expect(examples.map((e) => e.where.split('/')[0])).toEqual(['<root>', '<root>', 'storage_element_01'])
  for (const e of examples) {
    const r = parseAttr(Buffer.from(e.text), e.at)
    expect(r, e.where).toMatchObject({ ok: true })
    // The local writer's bytes are what the generator renders; the bucket writer's are the unit example above.
    if (e.where.startsWith('<root>') && r.ok) expect(renderAttr(r.doc)).toBe(e.text)
  }
  expect(examples[2].text).toBe(BUCKET_EXAMPLE)
})

describe('reading files', () => {
  const dir = path.join(projectRoot, '.artstore', 'tmp', 'cache-unit-read')
  beforeEach(() => {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true })
  })
  const entry = (name: string) => ({ kind: 'file' as const, rel: name, abs: path.join(dir, name), folder: EXAMPLE_AT.folder, name: EXAMPLE_AT.name })

  test('exactly 4096 bytes is read; 4097 is too large', async () => {
    const d = example()
    d.description = ''
    const base = Buffer.byteLength(JSON.stringify(d, null, 2))
    d.description = 'x'.repeat(MAX_ATTR_BYTES - base)
    fs.writeFileSync(path.join(dir, 'max.attr.json'), JSON.stringify(d, null, 2))
    expect(fs.statSync(path.join(dir, 'max.attr.json')).size).toBe(MAX_ATTR_BYTES)
    expect(readAttr(entry('max.attr.json')).ok).toBe(true)
    d.description += 'y'
    fs.writeFileSync(path.join(dir, 'big.attr.json'), JSON.stringify(d, null, 2))
    expect(readAttr(entry('big.attr.json'))).toEqual({ ok: false, code: 'too-large', reason: 'larger than 4096 bytes (4097 bytes)' })
  })

  test('a file that exists but cannot be read (a folder of that name) is unreadable', async () => {
    fs.mkdirSync(path.join(dir, 'folder.attr.json'))
    expect(readAttr(entry('folder.attr.json'))).toEqual({ ok: false, code: 'unreadable', reason: 'could not be read (a folder, not a regular file)' })
    expect(readAttr(entry('missing.attr.json'))).toEqual({ ok: false, code: 'unreadable', reason: 'could not be read (ENOENT)' })
  })
})

describe('walking a storage folder', () => {
  const root = path.join(projectRoot, '.artstore', 'tmp', 'cache-unit-walk')
  const collect = async () => {
    const out: WalkEntry[] = []
    for await (const e of walkAttrFiles(root)) out.push(e)
    return out
  }

  test('local and .attrs files of every hour folder, nothing else', async () => {
    fs.rmSync(root, { recursive: true, force: true })
    const written: string[] = []
    await writeAttrTree(root, { count: 120, perHour: 30, s3Share: 0.5, seed: 11 }, (g) => written.push(g.rel))
    // Noise the walk must ignore: data files, temp files, other folders, a misplaced attr.json.
    fs.writeFileSync(path.join(root, '2025/01/01/00/data.bin'), 'x')
    fs.writeFileSync(path.join(root, '2025/01/01/00/.tmp_attr_123.json'), '{}')
    fs.mkdirSync(path.join(root, 'lost+found'), { recursive: true })
    fs.writeFileSync(path.join(root, 'top.attr.json'), '{}')
    fs.mkdirSync(path.join(root, '2025/01/01/00/deeper'), { recursive: true })
    fs.writeFileSync(path.join(root, '2025/01/01/00/deeper/x.attr.json'), '{}')
    const found = await collect()
    expect(found.every((e) => e.kind === 'file')).toBe(true)
    expect(found.map((e) => e.rel).sort()).toEqual(written.sort())
    const s3 = found.find((e) => e.kind === 'file' && e.rel.includes('/.attrs/'))
    expect(s3).toMatchObject({ folder: expect.stringMatching(/^\d{4}\/\d{2}\/\d{2}\/\d{2}\/$/) })
    expect(s3 && s3.kind === 'file' && s3.rel).toBe(s3 && s3.kind === 'file' && attrRelPath({ storage_path: s3.folder, storage_filename: s3.name }, true))
  })

  test('a date folder that cannot be listed is reported', async () => {
    fs.rmSync(root, { recursive: true, force: true })
    fs.mkdirSync(path.join(root, '2025/01/01'), { recursive: true })
    fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, '2025/01/01/07'))
    expect(await collect()).toEqual([{ kind: 'folder-error', rel: '2025/01/01/07/', reason: 'folder could not be listed (ENOENT)' }])
  })
})

describe('mapping to the cache rows', () => {
  const doc = (): AttrDocument => {
    const r = check(EXAMPLE)
    if (!r.ok) throw new Error(r.reason)
    return r.doc
  }

  test('storage element: every §7.2 field to its column, metadata to metadata_json', () => {
    const r = storageRow(doc())
    expect(r).toEqual({
      ok: true,
      notes: [],
      values: [
        '9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f',
        'Smeta 2025 v2.xlsx',
        EXAMPLE_AT.name,
        734512,
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        '2025-12-03T14:27:55.804211+00:00',
        '2025-12-03T15:02:10.117930+00:00',
        '17',
        'a.ivanov',
        'Алексей Иванов',
        'Смета на 2025 год, вторая редакция',
        '2',
        '2025/12/03/14/',
        '5d41c0a9e3b27f8864aa10f3c2b9d7e6a1f0c4b8e2d9735c6a0b1f2e3d4c5b6a',
        '{"project":"budget-2025","tags":["finance","estimate"]}',
      ],
    })
  })

  test('query: a checksum in upper case is cached in lower case (sha256_hash is unique: one digest, one spelling)', () => {
    const r = queryRow({ ...doc(), checksum: doc().checksum.toUpperCase() })
    expect(r.ok && r.values[5]).toBe(doc().checksum.toLowerCase())
  })

  test('query: file_id as id, content_type as mime_type, checksum as sha256_hash, username, tags from metadata.tags', () => {
    const r = queryRow(doc())
    expect(r.ok && r.values).toEqual([
      '9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f',
      'Smeta 2025 v2.xlsx',
      EXAMPLE_AT.name,
      734512,
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      '5d41c0a9e3b27f8864aa10f3c2b9d7e6a1f0c4b8e2d9735c6a0b1f2e3d4c5b6a',
      'a.ivanov',
      '{"finance","estimate"}',
      'Смета на 2025 год, вторая редакция',
      '2025-12-03T14:27:55.804211+00:00',
      '2025-12-03T15:02:10.117930+00:00',
    ])
  })

  test('values longer than the column are a skipped file, counted in characters', () => {
    expect(storageRow({ ...doc(), original_filename: 'я'.repeat(500) }).ok).toBe(true)
    expect(storageRow({ ...doc(), original_filename: 'я'.repeat(501) })).toEqual({
      ok: false,
      reason: 'original_filename is 501 characters, the cache column holds 500',
    })
    expect(queryRow({ ...doc(), original_filename: '🎨'.repeat(256) })).toEqual({
      ok: false,
      reason: 'original_filename is 256 characters, file_metadata_cache holds 255',
    })
  })

  test('tags: at most 50, each at most 50 characters, and a note for each cut', () => {
    const many = Array.from({ length: 60 }, (_, i) => `t${i}`)
    const long = `${'ж'.repeat(49)}🎨🎨tail`
    expect(cacheTags({ tags: [...many.slice(0, 2), long] })).toEqual({
      tags: ['t0', 't1', `${'ж'.repeat(49)}🎨`],
      notes: [`tag "${'ж'.repeat(49)}🎨"… cut to 50 characters (was 55)`],
    })
    const r = cacheTags({ tags: many })
    expect(r.tags).toEqual(many.slice(0, 50))
    expect(r.notes).toEqual(['60 tags, kept the first 50'])
    expect(cacheTags({ tags: ['a', 3, null] })).toEqual({ tags: ['a'], notes: ['2 tag(s) that are not strings dropped'] })
    expect(cacheTags({ tags: 'a,b' })).toEqual({ tags: null, notes: ['metadata.tags is string, not a list: no tags cached'] })
    expect(cacheTags({})).toEqual({ tags: null, notes: [] })
    expect(cacheTags({ tags: [] })).toEqual({ tags: [], notes: [] })
  })
})

describe('COPY text format', () => {
  test('escapes backslash, tab, newline and carriage return; NULL is \\N', () => {
    expect(copyField('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re')
    expect(copyField(null)).toBe('\\N')
    expect(copyField(undefined)).toBe('\\N')
    expect(copyField(12)).toBe('12')
    expect(copyField(true)).toBe('true')
    expect(copyLine(['x', null, 3])).toBe('x\t\\N\t3\n')
  })

  test('array literals quote every element and escape quotes and backslashes', () => {
    expect(arrayLiteral([])).toBe('{}')
    expect(arrayLiteral(['a b', 'say "hi"', 'c\\d', 'NULL', '{x,y}'])).toBe('{"a b","say \\"hi\\"","c\\\\d","NULL","{x,y}"}')
  })
})

describe('hostile files (attacks on cache rebuild)', () => {
  const root = path.join(projectRoot, '.artstore', 'tmp', 'cache-unit-hostile')
  const hour = path.join(root, '2025', '12', '03', '14')
  const outside = path.join(projectRoot, '.artstore', 'tmp', 'cache-unit-outside')
  beforeEach(() => {
    for (const d of [root, outside]) fs.rmSync(d, { recursive: true, force: true })
    fs.mkdirSync(hour, { recursive: true })
    fs.mkdirSync(outside, { recursive: true })
  })
  const collect = async () => {
    const out: WalkEntry[] = []
    for await (const e of walkAttrFiles(root)) out.push(e)
    return out
  }
  const files = (entries: WalkEntry[]) => entries.filter((e): e is Extract<WalkEntry, { kind: 'file' }> => e.kind === 'file')

  test('attack: a FIFO named x.attr.json is skipped at once, never opened for a blocking read', async () => {
    const fifo = path.join(hour, `${EXAMPLE_AT.name}.attr.json`)
    execFileSync('mkfifo', [fifo])
    const [e] = files(await collect())
    expect(readAttr(e)).toEqual({ ok: false, code: 'unreadable', reason: 'could not be read (a FIFO, not a regular file)' })
  })

  test('attack: an attr.json that links out of the root is not read; one that links inside it is', async () => {
    fs.writeFileSync(path.join(outside, 'secret.attr.json'), EXAMPLE)
    fs.symlinkSync(path.join(outside, 'secret.attr.json'), path.join(hour, `${EXAMPLE_AT.name}.attr.json`))
    const [e] = files(await collect())
    expect(readAttr(e)).toEqual({ ok: false, code: 'outside-root', reason: 'is a link out of the root: not read' })
    fs.rmSync(e.abs)
    fs.writeFileSync(path.join(root, 'real.json'), EXAMPLE)
    fs.symlinkSync(path.join(root, 'real.json'), e.abs)
    expect(readAttr(files(await collect())[0]).ok).toBe(true)
  })

  test('attack: a date folder that links out of the root is reported, not walked', async () => {
    fs.mkdirSync(path.join(outside, '15'), { recursive: true })
    fs.writeFileSync(path.join(outside, '15', `${EXAMPLE_AT.name}.attr.json`), EXAMPLE)
    fs.symlinkSync(path.join(outside, '15'), path.join(root, '2025', '12', '03', '15'))
    const found = await collect()
    expect(files(found)).toEqual([])
    expect(found).toEqual([{ kind: 'folder-error', rel: '2025/12/03/15', reason: 'is a link out of the root: not followed' }])
  })

  test('attack: numbers that cannot be kept exactly (1e400, 30 digits) skip the file; ordinary ones pass', () => {
    for (const n of ['1e400', '123456789012345678901234567890']) {
      const r = reasonOf(EXAMPLE.replace('"project": "budget-2025"', `"project": ${n}`))
      expect(r.code, n).toBe('inexact-number')
      expect(r.reason).toMatch(/^the number at byte \d+ cannot be kept exactly/)
      expect(r.claim).toBe('9c1e7d2a-4b3f-4e8a-a1d5-6f0b2c3d4e5f')
    }
    for (const n of ['0.1', '1.50', '100', '-7', '2.5e-10', '9007199254740991'])
      expect(check(EXAMPLE.replace('"project": "budget-2025"', `"project": ${n}`)).ok, n).toBe(true)
  })

  test("attack: a parse error reports where, never the file's bytes (passwd.attr.json)", () => {
    const r = reasonOf('root:x:0:0:root:/root:/bin/bash')
    expect(r).toEqual({ code: 'invalid-json', reason: 'invalid JSON (an unexpected character)', claim: undefined })
    expect(r.reason).not.toContain('root')
  })
})

test('attack: an attr.json whose name is not UTF-8 is reported as such, not as a missing file', async () => {
  const root = path.join(projectRoot, '.artstore', 'tmp', 'cache-unit-latin1')
  const hour = path.join(root, '2025', '12', '03', '14')
  fs.rmSync(root, { recursive: true, force: true })
  fs.mkdirSync(hour, { recursive: true })
  fs.writeFileSync(Buffer.concat([Buffer.from(`${hour}/caf`), Buffer.from([0xe9]), Buffer.from('.attr.json')]), '{}')
  const found: WalkEntry[] = []
  for await (const e of walkAttrFiles(root)) found.push(e)
  const [e] = found.filter((x): x is Extract<WalkEntry, { kind: 'file' }> => x.kind === 'file')
  expect(readAttr(e)).toEqual({ ok: false, code: 'unreadable', reason: 'could not be read (its name is not valid UTF-8: rename the file)' })
})

describe('sources (issue 22)', () => {
  test('s3:// roots: the bucket and the app folder, matched whole; bad ones named', async () => {
    const { parseS3Root } = await import('../../src/cache/source-s3.ts')
    expect(parseS3Root('s3://artstore-files/storage_element_01')).toEqual({ bucket: 'artstore-files', prefix: 'storage_element_01/' })
    expect(parseS3Root('s3://artstore-files/storage_element_01/')).toEqual({ bucket: 'artstore-files', prefix: 'storage_element_01/' })
    expect(parseS3Root('s3://artstore-files')).toEqual({ bucket: 'artstore-files', prefix: '' })
    expect(() => parseS3Root('s3://Bad_Bucket/x')).toThrow(/names the bucket "Bad_Bucket", which is not a valid bucket name/)
    expect(() => parseS3Root('s3://artstore-files/a//b')).toThrow(/has an empty, \. or \.\. part in its folder/)
    expect(() => parseS3Root('s3://artstore-files/../x')).toThrow(/has an empty, \. or \.\. part in its folder/)
  })

  test('retried: throttling, 5xx, dropped and refused connections; not retried: 4xx answers', async () => {
    const { isTransient } = await import('../../src/cache/source-s3.ts')
    const status = (n: number, name = 'Error') => Object.assign(new Error('x'), { name, $metadata: { httpStatusCode: n } })
    for (const e of [
      status(503, 'SlowDown'),
      status(500),
      status(429),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    ])
      expect(isTransient(e), String(e)).toBe(true)
    for (const e of [status(404, 'NoSuchKey'), status(403, 'InvalidAccessKeyId'), status(404, 'NoSuchBucket'), new Error('bad')])
      expect(isTransient(e), e.name).toBe(false)
  })

  test('readEntries: every entry once, at most twice the concurrency held, gone ones counted; a listing that fails is raised', async () => {
    const { readEntries, newStats } = await import('../../src/cache/source.ts')
    let inFlight = 0
    let most = 0
    const source = (n: number, failAt?: number) => ({
      label: 'fake',
      concurrency: 4,
      stats: newStats(),
      open: async () => undefined,
      close: async () => undefined,
      has: async () => false,
      async *list() {
        for (let i = 0; i < n; i++) {
          if (i === failAt) throw new Error('listing failed')
          yield { kind: 'file' as const, rel: `f${i}`, folder: '2025/01/01/00/', name: `f${i}` }
        }
      },
      async read(e: { rel: string }) {
        most = Math.max(most, ++inFlight)
        await new Promise((r) => setTimeout(r, Number(e.rel.slice(1)) % 3))
        inFlight--
        return e.rel.endsWith('7') ? { gone: true as const } : { ok: false as const, code: 'unreadable' as const, reason: e.rel }
      },
    })
    const s = source(100)
    const seen: string[] = []
    for await (const item of readEntries(s)) if (item.kind === 'file') seen.push(item.entry.rel)
    expect(seen.sort()).toEqual(
      Array.from({ length: 100 }, (_, i) => `f${i}`)
        .filter((r) => !r.endsWith('7'))
        .sort(),
    )
    expect(s.stats.gone).toBe(10)
    expect(most).toBeLessThanOrEqual(4 * 2)
    await expect(
      (async () => {
        for await (const _ of readEntries(source(50, 20)));
      })(),
    ).rejects.toThrow('listing failed')
  })
})
