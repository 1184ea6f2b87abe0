// `archive` and `archive verify` as library calls, on scratch copies of the fixtures (no database).
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { archive } from '../../src/archive/archive.ts'
import { InvalidPrefixError } from '../../src/prefix/prefix.ts'
import { ArchiveConflictError, ArchiveTamperedError, InvalidArchiveDateError, NothingToArchiveError, SeveralHeadsError } from '../../src/archive/errors.ts'
import { OptionForOtherModuleError } from '../../src/errors.ts'
import { renderManifestMd, type Manifest } from '../../src/archive/manifest.ts'
import { verifyArchives } from '../../src/archive/verify.ts'
import { projectRoot } from '../../src/modules.ts'
import { scratchCopy } from '../helpers/workdir.ts'

const DATE = '2025-11-16'
const fixtures = path.join(projectRoot, 'test', 'fixtures', 'alembic')
const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

/** The seed's "Existing Migrations Summary": module, then its files in chain order. */
const SEED = {
  admin: [
    '20251109_2139_0df874976374_initial_schema_users_and_storage_.py',
    '20251113_2127_add_service_accounts_table.py',
    '20251115_1600_add_jwt_key_rotation.py',
    '20251116_1200_add_audit_logging.py',
    '20251116_1630_add_password_policy_fields.py',
  ],
  'storage-element': ['20251114_1535_a0053fc7f95d_initial_tables_for_storage_element.py'],
  query: ['20250115_0001_initial_schema.py'],
} as const
type SeedModule = keyof typeof SEED

/** A scratch copy of a fixture folder, and an empty output root beside it (never the real prisma/). */
function scratch(name: string, fixture = 'legacy-8b9ca29') {
  const dir = scratchCopy(path.join('alembic', fixture), `archive-unit-${name}`)
  return { dir, root: path.join(dir, 'out') }
}

/** Every file under `dir` with its sha256: equal snapshots mean nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!fs.existsSync(dir)) return out
  for (const f of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (f.isFile()) out[path.relative(dir, path.join(f.parentPath, f.name))] = sha(fs.readFileSync(path.join(f.parentPath, f.name)))
  }
  return out
}

const archiveDir = (root: string, module: string, name = `${DATE}-alembic`) => path.join(root, module, 'archive', name)
const readManifest = (root: string, module: string, name?: string): Manifest =>
  JSON.parse(fs.readFileSync(path.join(archiveDir(root, module, name), 'manifest.json'), 'utf8'))

async function archiveSeed(dir: string, root: string) {
  const out = []
  for (const m of Object.keys(SEED) as SeedModule[]) out.push(await archive({ module: m, from: path.join(dir, m, 'versions'), root, date: DATE }))
  return out
}

describe('archiving the three legacy histories', () => {
  test('moves exactly the seed files, byte-exact, in the seed order, and leaves the sources without them', async () => {
    const { dir, root } = scratch('seed')
    const results = await archiveSeed(dir, root)
    expect(results.map((r) => [r.module, r.status, r.migrations])).toEqual([
      ['admin', 'archived', 5],
      ['storage-element', 'archived', 1],
      ['query', 'archived', 1],
    ])
    for (const m of Object.keys(SEED) as SeedModule[]) {
      const manifest = readManifest(root, m)
      expect(manifest.entries.map((e) => e.path)).toEqual(SEED[m])
      expect(manifest.entries.map((e) => e.order)).toEqual(SEED[m].map((_, i) => i + 1))
      for (const e of manifest.entries) {
        const original = fs.readFileSync(path.join(fixtures, 'legacy-8b9ca29', m, 'versions', e.path))
        const archived = fs.readFileSync(path.join(archiveDir(root, m), e.path))
        expect(archived.equals(original)).toBe(true)
        expect(e.sha256).toBe(sha(original))
        expect(e.size).toBe(original.length)
        expect(fs.existsSync(path.join(dir, m, 'versions', e.path))).toBe(false)
      }
    }
    // __init__.py and __pycache__ stay, and are recorded as skipped.
    expect(fs.readdirSync(path.join(dir, 'admin', 'versions')).sort()).toEqual(['__init__.py', '__pycache__'])
    expect(readManifest(root, 'admin').skipped.map((s) => s.path)).toEqual(['__init__.py', '__pycache__/'])
  })

  test('manifest.json: revisions, parents, dates, messages, and a chain hash over path and sha256', async () => {
    const { dir, root } = scratch('manifest')
    await archiveSeed(dir, root)
    const m = readManifest(root, 'admin')
    expect(m).toMatchObject({ format: 'artstore-archive/1', module: 'admin', source: 'alembic', name: `${DATE}-alembic`, archivedOn: DATE, migrations: 5 })
    expect(m.entries.map((e) => [e.revision, e.downRevisions])).toEqual([
      ['0df874976374', []],
      ['20251113_2127_sa', ['0df874976374']],
      ['20251115_1600_jwt', ['20251113_2127_sa']],
      ['20251116_1200_audit', ['20251115_1600_jwt']],
      ['20251116_1630_pwd_policy', ['20251116_1200_audit']],
    ])
    expect(m.entries[0]).toMatchObject({ createDate: '2025-11-09 21:39:17.028966', message: 'initial_schema_users_and_storage_elements' })
    // Recompute the chain independently: seed from format + module, then prev + path + sha256.
    let chain = sha(`artstore-archive/1\nadmin\n`)
    for (const e of m.entries) {
      chain = sha(`${chain}\n${e.path}\n${e.sha256}\n`)
      expect(e.chain).toBe(chain)
    }
    expect(m.sum).toBe(chain)
    const md = fs.readFileSync(path.join(archiveDir(root, 'admin'), 'MANIFEST.md'), 'utf8')
    expect(md).toContain('## Admin Module (5 migrations)')
    expect(md).toContain(
      '| 2 | `20251113_2127_sa` | `0df874976374` | 2025-11-13 21:27:00.000000 | add_service_accounts_table | `20251113_2127_add_service_accounts_table.py` |',
    )
    expect(md).toContain('- `__pycache__/`: Python bytecode cache')
  })

  test('ARCHIVE.md indexes every module with the seed counts and files, in order', async () => {
    const { dir, root } = scratch('index')
    await archiveSeed(dir, root)
    const index = fs.readFileSync(path.join(root, 'ARCHIVE.md'), 'utf8')
    const sections = index
      .split(/^## /m)
      .slice(1)
      .map((s) => {
        const head = /^(.+) \((\d+) migrations?\)\n/.exec(s)!
        return { title: head[1], count: Number(head[2]), files: [...s.matchAll(/^\d+\. `(.+)`$/gm)].map((f) => f[1]) }
      })
    expect(sections).toEqual([
      { title: 'Admin Module', count: 5, files: SEED.admin },
      { title: 'Storage Element', count: 1, files: SEED['storage-element'] },
      { title: 'Query Module', count: 1, files: SEED.query },
    ])
    expect(index).toMatch(/^\| admin \| 5 \| \[admin\/archive\/2025-11-16-alembic\]/m)
    expect(index).toMatch(/^\| query \| 1 \| /m)
  })

  test('a second identical run reports already archived and changes nothing', async () => {
    const { dir, root } = scratch('again')
    await archiveSeed(dir, root)
    const before = snapshot(dir)
    const again = await archive({ module: 'admin', from: path.join(dir, 'admin', 'versions'), root, date: DATE })
    expect(again).toMatchObject({ status: 'already-archived', moves: [], leftovers: [], migrations: 5 })
    expect(again.archive).toMatch(/admin\/archive\/2025-11-16-alembic$/)
    // Even on another day: the files are already in an archive.
    expect((await archive({ module: 'admin', from: path.join(dir, 'admin', 'versions'), root, date: '2025-12-01' })).status).toBe('already-archived')
    expect(snapshot(dir)).toEqual(before)
  })

  test('an interrupted move (archive complete, sources still there) is finished by the next run', async () => {
    const { dir, root } = scratch('interrupted')
    await archiveSeed(dir, root)
    const src = path.join(dir, 'admin', 'versions')
    for (const f of SEED.admin.slice(2)) fs.copyFileSync(path.join(fixtures, 'legacy-8b9ca29', 'admin', 'versions', f), path.join(src, f))
    const archived = snapshot(archiveDir(root, 'admin'))
    const r = await archive({ module: 'admin', from: src, root, date: DATE })
    expect(r.status).toBe('already-archived')
    expect(r.leftovers).toEqual(SEED.admin.slice(2))
    expect(fs.readdirSync(src).sort()).toEqual(['__init__.py', '__pycache__'])
    expect(snapshot(archiveDir(root, 'admin'))).toEqual(archived)
  })

  test('other files under an existing archive name: refused, exit 2, nothing changed', async () => {
    const { dir, root } = scratch('conflict')
    await archiveSeed(dir, root)
    const src = path.join(dir, 'admin', 'versions')
    for (const f of SEED.admin) fs.copyFileSync(path.join(fixtures, 'legacy-8b9ca29', 'admin', 'versions', f), path.join(src, f))
    fs.appendFileSync(path.join(src, SEED.admin[2]), '# edited after archiving\n')
    const before = snapshot(dir)
    const run = archive({ module: 'admin', from: src, root, date: DATE })
    await expect(run).rejects.toThrow(ArchiveConflictError)
    await expect(archive({ module: 'admin', from: src, root, date: DATE })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(
        /^\.artstore\/tmp\/archive-unit-conflict\/out\/admin\/archive\/2025-11-16-alembic already exists with different files \(20251115_1600_add_jwt_key_rotation\.py differs\): nothing was changed; archive under another --date, or check it with npx artstore-db archive verify --module admin$/,
      ),
    })
    expect(snapshot(dir)).toEqual(before)
  })

  test('--dry-run returns the same plan and manifest as the real run, and writes nothing', async () => {
    const { dir, root } = scratch('dry')
    const src = path.join(dir, 'admin', 'versions')
    const before = snapshot(dir)
    const plan = await archive({ module: 'admin', from: src, root, date: DATE, dryRun: true })
    expect(plan.status).toBe('would-archive')
    expect(plan.moves.map((m) => path.basename(m.to))).toEqual(SEED.admin)
    expect(plan.moves[0].from).toBe(`.artstore/tmp/archive-unit-dry/admin/versions/${SEED.admin[0]}`)
    expect(snapshot(dir)).toEqual(before)
    expect(fs.existsSync(root)).toBe(false)
    const real = await archive({ module: 'admin', from: src, root, date: DATE })
    expect(real.manifest).toEqual(plan.manifest)
    expect(fs.readFileSync(path.join(archiveDir(root, 'admin'), 'MANIFEST.md'), 'utf8')).toBe(plan.manifestMd)
  })

  test('a Prisma migrations folder: folders by name, migration_lock.toml last, emptied folders removed', async () => {
    const { dir, root } = scratch('prisma', 'prisma-migrations')
    const src = path.join(dir, 'migrations')
    const r = await archive({ module: 'query', from: src, root, date: DATE })
    expect(r).toMatchObject({ status: 'archived', source: 'prisma', migrations: 2 })
    const m = readManifest(root, 'query', `${DATE}-prisma`)
    expect(m.entries.map((e) => [e.path, e.revision, e.downRevisions])).toEqual([
      ['20251120093000_init/migration.sql', '20251120093000_init', []],
      ['20251121120000_add_widget_index/migration.sql', '20251121120000_add_widget_index', ['20251120093000_init']],
      ['migration_lock.toml', null, []],
    ])
    expect(m.entries[0]).toMatchObject({ createDate: '2025-11-20 09:30:00', message: 'init' })
    expect(fs.readdirSync(src)).toEqual([])
    const lock = fs.readFileSync(path.join(fixtures, 'prisma-migrations', 'migrations', 'migration_lock.toml'))
    expect(fs.readFileSync(path.join(archiveDir(root, 'query', `${DATE}-prisma`), 'migration_lock.toml')).equals(lock)).toBe(true)
    expect(verifyArchives({ root }).ok).toBe(true)
  })

  test('a merge revision keeps its tuple of parents, in chain order', async () => {
    const { dir, root } = scratch('merge', 'merge-revision')
    await archive({ module: 'admin', from: path.join(dir, 'versions'), root, date: DATE })
    const m = readManifest(root, 'admin')
    expect(m.entries.map((e) => e.revision)).toEqual(['f00dcafe0001', '3b1e9d2a7c40', 'a7c0ffee1234', '0e1d2c3b4a59', '5a5a5a5a5a5a'])
    expect(m.entries[3].downRevisions).toEqual(['3b1e9d2a7c40', 'a7c0ffee1234'])
    expect(m.entries[1].branchLabels).toEqual(['color'])
    expect(fs.readFileSync(path.join(archiveDir(root, 'admin'), 'MANIFEST.md'), 'utf8')).toContain('| 4 | `0e1d2c3b4a59` | `3b1e9d2a7c40`, `a7c0ffee1234` |')
  })
})

describe('bad input is refused before anything moves', () => {
  test.each([
    ['two-heads', SeveralHeadsError, /^the history has 2 heads/],
    ['missing-parent', Error, /^4444dddd0004_add_owner\.py revises 9999ffff0009, which is not in the folder/],
    ['cycle', Error, /^the revisions form a cycle \(5555eeee0005_first\.py → 6666ffff0006_second\.py/],
  ])('%s', async (fixture, cls, message) => {
    const { dir, root } = scratch(`bad-${fixture}`, fixture)
    const before = snapshot(dir)
    const run = archive({ module: 'admin', from: path.join(dir, 'versions'), root, date: DATE })
    await expect(run).rejects.toBeInstanceOf(cls)
    await expect(archive({ module: 'admin', from: path.join(dir, 'versions'), root, date: DATE })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(message),
    })
    expect(snapshot(dir)).toEqual(before)
  })

  test('dates, prefixes and empty folders', async () => {
    const { dir, root } = scratch('inputs')
    const from = path.join(dir, 'storage-element', 'versions')
    await expect(archive({ module: 'storage-element', from, root, date: '2025-02-30' })).rejects.toThrow(InvalidArchiveDateError)
    await expect(archive({ module: 'storage-element', from, root, date: DATE, prefix: 'Bad-Prefix' })).rejects.toThrow(InvalidPrefixError)
    await expect(archive({ module: 'storage-element', from, root, date: DATE, prefix: `a${'b'.repeat(41)}` })).rejects.toThrow(InvalidPrefixError)
    await expect(archive({ module: 'query', from, root, date: DATE, prefix: 'storage_elem_02' })).rejects.toThrow(OptionForOtherModuleError)
    fs.mkdirSync(path.join(dir, 'empty'))
    await expect(archive({ module: 'query', from: path.join(dir, 'empty'), root, date: DATE })).rejects.toThrow(NothingToArchiveError)
    await expect(archive({ module: 'billing', from, root, date: DATE })).rejects.toThrow(/^unknown module "billing"/)
    expect(fs.existsSync(root)).toBe(false)
  })
})

describe('archive verify', () => {
  async function archived(name: string) {
    const { dir, root } = scratch(`verify-${name}`)
    await archiveSeed(dir, root)
    expect(verifyArchives({ root }).ok).toBe(true)
    return { dir, root, admin: archiveDir(root, 'admin') }
  }
  const firstProblem = (root: string, module = 'admin') => {
    const r = verifyArchives({ root, module })
    expect(r.ok).toBe(false)
    return r.archives[0].problems[0]
  }

  test('passes on an untouched archive, with the ARCHIVE.md index', async () => {
    const { root } = await archived('ok')
    const r = verifyArchives({ root })
    expect(r.archives.map((a) => [a.module, a.ok, a.files, a.migrations])).toEqual([
      ['admin', true, 5, 5],
      ['storage-element', true, 1, 1],
      ['query', true, 1, 1],
    ])
    expect(r.index).toMatchObject({ ok: true })
  })

  test('a file edited after archiving', async () => {
    const { root, admin } = await archived('edit')
    fs.appendFileSync(path.join(admin, SEED.admin[3]), '\n')
    expect(firstProblem(root)).toMatchObject({ kind: 'differs', file: SEED.admin[3] })
  })

  test('a file removed', async () => {
    const { root, admin } = await archived('remove')
    fs.rmSync(path.join(admin, SEED.admin[1]))
    expect(firstProblem(root)).toMatchObject({ kind: 'missing', file: SEED.admin[1] })
  })

  test('an extra file', async () => {
    const { root, admin } = await archived('extra')
    fs.writeFileSync(path.join(admin, '20251117_0000_sneaked_in.py'), "revision = 'x'\n")
    expect(firstProblem(root)).toMatchObject({ kind: 'extra', file: '20251117_0000_sneaked_in.py' })
  })

  test('entries reordered in manifest.json', async () => {
    const { root, admin } = await archived('reorder')
    const m: Manifest = JSON.parse(fs.readFileSync(path.join(admin, 'manifest.json'), 'utf8'))
    ;[m.entries[1], m.entries[2]] = [m.entries[2], m.entries[1]]
    m.entries.forEach((e, i) => (e.order = i + 1))
    fs.writeFileSync(path.join(admin, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`)
    expect(firstProblem(root)).toMatchObject({ kind: 'chain', file: SEED.admin[2] })
  })

  test('a reordering with a recomputed chain still contradicts the revision graph', async () => {
    const { root, admin } = await archived('forged')
    const m: Manifest = JSON.parse(fs.readFileSync(path.join(admin, 'manifest.json'), 'utf8'))
    ;[m.entries[1], m.entries[2]] = [m.entries[2], m.entries[1]]
    let chain = sha('artstore-archive/1\nadmin\n')
    m.entries.forEach((e, i) => {
      e.order = i + 1
      chain = sha(`${chain}\n${e.path}\n${e.sha256}\n`)
      e.chain = chain
    })
    m.sum = chain
    fs.writeFileSync(path.join(admin, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`)
    expect(firstProblem(root)).toMatchObject({ kind: 'order', file: SEED.admin[2] })
  })

  test('MANIFEST.md edited, and a stale ARCHIVE.md', async () => {
    const { root, admin } = await archived('md')
    fs.appendFileSync(path.join(root, 'ARCHIVE.md'), 'hand edit\n')
    const r = verifyArchives({ root })
    expect(r.archives.every((a) => a.ok)).toBe(true)
    expect(r).toMatchObject({ ok: false, index: { ok: false } })
    fs.appendFileSync(path.join(admin, 'MANIFEST.md'), 'hand edit\n')
    expect(firstProblem(root)).toMatchObject({ kind: 'manifest-md', file: 'MANIFEST.md' })
  })

  test('archiving again over a tampered archive: exit 1, nothing changed', async () => {
    const { dir, root, admin } = await archived('tampered-rerun')
    fs.appendFileSync(path.join(admin, SEED.admin[0]), '# x\n')
    const before = snapshot(dir)
    await expect(archive({ module: 'admin', from: path.join(dir, 'admin', 'versions'), root, date: DATE })).rejects.toThrow(ArchiveTamperedError)
    await expect(archive({ module: 'admin', from: path.join(dir, 'admin', 'versions'), root, date: DATE })).rejects.toMatchObject({ exitCode: 1 })
    expect(snapshot(dir)).toEqual(before)
  })

  test('a module without an archive is bad input; no archives at all is an empty report', async () => {
    const { root } = scratch('verify-none')
    expect(() => verifyArchives({ root, module: 'query' })).toThrow(
      /^module query has no archive under .*: run npx artstore-db archive --module query --from <versions dir> first$/,
    )
    expect(verifyArchives({ root })).toEqual({ ok: true, archives: [], index: null })
  })
})

describe('archive never takes archived or live history as its source (attack: archive deletes archived history)', () => {
  test('an archive reached through a symbolic link: refused, exit 2, every archived file still there and verifying', async () => {
    const { dir, root } = scratch('symlink-attack')
    await archiveSeed(dir, root)
    const before = snapshot(archiveDir(root, 'admin'))
    const link = path.join(dir, 'link-to-archive')
    fs.symlinkSync(archiveDir(root, 'admin'), link)
    await expect(archive({ module: 'admin', from: link, root, date: DATE })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('is inside an archive'),
    })
    expect(snapshot(archiveDir(root, 'admin'))).toEqual(before)
  })

  test('an archive given with --root elsewhere: refused, nothing moved out of it', async () => {
    const { dir, root } = scratch('root-elsewhere')
    await archiveSeed(dir, root)
    const before = snapshot(archiveDir(root, 'admin'))
    await expect(archive({ module: 'admin', from: archiveDir(root, 'admin'), root: path.join(dir, 'other'), date: DATE })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('is inside an archive'),
    })
    await expect(
      archive({ module: 'admin', from: path.join(archiveDir(root, 'admin'), 'deeper', '..'), root: path.join(dir, 'other'), date: DATE }),
    ).rejects.toMatchObject({ exitCode: 2 })
    expect(snapshot(archiveDir(root, 'admin'))).toEqual(before)
    expect(fs.existsSync(path.join(dir, 'other'))).toBe(false)
  })

  test("a module's live migrations folder (another module's, even): refused, the baseline stays", async () => {
    const { root } = scratch('live-migrations')
    const live = path.join(projectRoot, 'prisma', 'admin', 'migrations')
    const before = snapshot(live)
    // A dry run: were the guard ever lost, this test fails without moving the project's baseline.
    await expect(archive({ module: 'query', from: live, root, date: DATE, dryRun: true })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/is the admin module's live migrations folder: deploy reads it/),
    })
    expect(snapshot(live)).toEqual(before)
  })
})

describe('archive verify catches every manifest edit (attack: edits the chain does not cover)', () => {
  const edits: [string, (m: Manifest & Record<string, unknown>) => void, RegExp][] = [
    ['format', (m) => void ((m as { format: string }).format = 'artstore-archive/9'), /format "artstore-archive\/9" is not artstore-archive\/1/],
    ['name', (m) => void (m.name = '2020-01-01-alembic'), /name "2020-01-01-alembic" is not the archive folder's/],
    ['branchLabels', (m) => void (m.entries[0].branchLabels = ['release']), /position 1: its branch labels, dependencies, date or message/],
    ['dependsOn', (m) => void (m.entries[1].dependsOn = ['0df874976374']), /position 2: its branch labels, dependencies, date or message/],
    ['an extra field', (m) => void (m.note = 'harmless?'), /field "note" is not part of the manifest format/],
    [
      'an extra entry field',
      (m) => void ((m.entries[0] as unknown as Record<string, unknown>).signedBy = 'me'),
      /entry 1: field "signedBy" is not part of the manifest format/,
    ],
  ]
  for (const [what, edit, expected] of edits) {
    test(`an edited ${what}, MANIFEST.md re-rendered to match: reported`, async () => {
      const { dir, root } = scratch(`verify-edit-${what.replace(/\W+/g, '-')}`)
      await archiveSeed(dir, root)
      const file = path.join(archiveDir(root, 'admin'), 'manifest.json')
      const m = JSON.parse(fs.readFileSync(file, 'utf8'))
      edit(m)
      fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`)
      fs.writeFileSync(path.join(archiveDir(root, 'admin'), 'MANIFEST.md'), renderManifestMd(m))
      const report = verifyArchives({ module: 'admin', root })
      expect(report.ok).toBe(false)
      expect(report.archives[0].problems.map((p) => p.detail).join('\n')).toMatch(expected)
    })
  }
})

describe('one archive run per module at a time (attack: two concurrent runs)', () => {
  test("a live run holds the module: refused (exit 2), nothing moved; a killed run's lock is taken over", async () => {
    const { dir, root } = scratch('lock')
    const src = path.join(dir, 'admin', 'versions')
    const lock = path.join(root, 'admin', 'archive', '.lock')
    fs.mkdirSync(path.dirname(lock), { recursive: true })
    fs.writeFileSync(lock, String(process.pid)) // this very process: alive
    const before = snapshot(src)
    await expect(archive({ module: 'admin', from: src, root, date: DATE })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/^another archive run \(pid \d+\) is moving files of the admin module/),
    })
    expect(snapshot(src)).toEqual(before)
    fs.writeFileSync(lock, '2147483646') // no such process
    expect((await archive({ module: 'admin', from: src, root, date: DATE })).status).toBe('archived')
    expect(fs.existsSync(lock)).toBe(false)
  })
})
