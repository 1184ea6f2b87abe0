// Reading Alembic revision files without Python, and ordering them by their revision graph.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { parseAlembicRevision } from '../../src/archive/alembic.ts'
import { orderChain } from '../../src/archive/chain.ts'
import { AlembicParseError, DuplicateRevisionError, MissingParentError, RevisionCycleError, SeveralHeadsError } from '../../src/archive/errors.ts'
import { orderSource, scanSource } from '../../src/archive/source.ts'
import { projectRoot } from '../../src/modules.ts'

const fixtures = path.join(projectRoot, 'test', 'fixtures', 'alembic')
const read = (rel: string) => fs.readFileSync(path.join(fixtures, rel), 'utf8')
const node = (file: string, revision: string, downRevisions: string[] = [], extra: Partial<{ dependsOn: string[]; branchLabels: string[] }> = {}) => ({
  file,
  revision,
  downRevisions,
  dependsOn: extra.dependsOn ?? [],
  branchLabels: extra.branchLabels ?? [],
  createDate: null,
})

describe('parseAlembicRevision', () => {
  test('the plain form: revision, down_revision, Create Date and message from the docstring', () => {
    const r = parseAlembicRevision(read('legacy-8b9ca29/admin/versions/20251113_2127_add_service_accounts_table.py'), 'x.py')
    expect(r).toEqual({
      revision: '20251113_2127_sa',
      downRevisions: ['0df874976374'],
      branchLabels: [],
      dependsOn: [],
      createDate: '2025-11-13 21:27:00.000000',
      message: 'add_service_accounts_table',
    })
  })

  test('a root revision (down_revision = None, empty "Revises:") and a Create Date with a zone', () => {
    const r = parseAlembicRevision(read('legacy-8b9ca29/storage-element/versions/20251114_1535_a0053fc7f95d_initial_tables_for_storage_element.py'), 'x.py')
    expect(r).toMatchObject({
      revision: 'a0053fc7f95d',
      downRevisions: [],
      createDate: '2025-11-14 15:35:06.705851+00:00',
      message: 'Initial tables for storage element',
    })
  })

  test('the typed form (revision: str = …, Union[…] annotations)', () => {
    const r = parseAlembicRevision(read('legacy-8b9ca29/query/versions/20250115_0001_initial_schema.py'), 'x.py')
    expect(r).toMatchObject({ revision: '20250115_0001', downRevisions: [], branchLabels: [], createDate: '2025-01-15 00:01:00.000000' })
    expect(r.message).toBe('Initial schema with Full-Text Search support')
  })

  test('double quotes, a branch label tuple, and a merge written as a multi-line tuple', () => {
    expect(parseAlembicRevision(read('merge-revision/versions/3b1e9d2a7c40_add_widget_color.py'), 'x.py')).toMatchObject({
      revision: '3b1e9d2a7c40',
      downRevisions: ['f00dcafe0001'],
      branchLabels: ['color'],
    })
    expect(parseAlembicRevision(read('merge-revision/versions/0e1d2c3b4a59_merge_color_and_size.py'), 'x.py').downRevisions).toEqual([
      '3b1e9d2a7c40',
      'a7c0ffee1234',
    ])
  })

  test('assignments inside strings are not code; comments, lists, parenthesised strings and CRLF are fine', () => {
    const src = [
      '"""message here',
      'revision = "from-the-docstring"',
      '"""',
      "SQL = '''",
      "down_revision = 'inside-a-string'",
      "'''",
      "revision = 'abc123'  # the id",
      "down_revision = ('p1')",
      'depends_on = [\'d1\', "d2",]',
      "branch_labels = ('b1',)",
      '',
    ].join('\r\n')
    expect(parseAlembicRevision(src, 'x.py')).toEqual({
      revision: 'abc123',
      downRevisions: ['p1'],
      branchLabels: ['b1'],
      dependsOn: ['d1', 'd2'],
      createDate: null,
      message: 'message here',
    })
  })

  test('an indented assignment is not the module variable', () => {
    const src = "revision = 'top'\ndef f():\n    revision = 'inner'\n"
    expect(parseAlembicRevision(src, 'x.py').revision).toBe('top')
  })

  test('no revision, or a value that is not a literal, is a named error', () => {
    expect(() => parseAlembicRevision('"""doc"""\ndown_revision = None\n', 'empty.py')).toThrow(AlembicParseError)
    expect(() => parseAlembicRevision('"""doc"""\ndown_revision = None\n', 'empty.py')).toThrow(
      /^empty\.py is not a readable Alembic revision \(no top-level revision/,
    )
    const computed = () => parseAlembicRevision("revision = 'a'\ndown_revision = get_parent()\n", 'computed.py')
    expect(computed).toThrow(/^computed\.py is not a readable Alembic revision \(line 2: down_revision is not a string, None or a tuple of strings\)/)
    expect(() => parseAlembicRevision("revision = ''\n", 'blank.py')).toThrow(/revision must be a non-empty string/)
  })
})

describe('orderChain', () => {
  test('orders parents first, not by file name; siblings of a merge by date then name', () => {
    const scan = scanSource(path.join(fixtures, 'merge-revision', 'versions'))
    expect(orderSource(scan).map((f) => f.revision)).toEqual(['f00dcafe0001', '3b1e9d2a7c40', 'a7c0ffee1234', '0e1d2c3b4a59', '5a5a5a5a5a5a'])
    expect(scan.files.map((f) => f.path).sort()[0]).toBe('0e1d2c3b4a59_merge_color_and_size.py') // name order would differ
  })

  test('the seed admin chain comes out in the seed order', () => {
    const files = orderSource(scanSource(path.join(fixtures, 'legacy-8b9ca29', 'admin', 'versions')))
    expect(files.map((f) => f.revision)).toEqual(['0df874976374', '20251113_2127_sa', '20251115_1600_jwt', '20251116_1200_audit', '20251116_1630_pwd_policy'])
  })

  test('several heads name every head file', () => {
    const run = () => orderSource(scanSource(path.join(fixtures, 'two-heads', 'versions')))
    expect(run).toThrow(SeveralHeadsError)
    expect(run).toThrow(
      'the history has 2 heads (2222bbbb0002_add_color.py (2222bbbb0002), 3333cccc0003_add_size.py (3333cccc0003)): merge them first (alembic merge heads), then archive',
    )
  })

  test('a missing parent names the file and the parent', () => {
    const run = () => orderSource(scanSource(path.join(fixtures, 'missing-parent', 'versions')))
    expect(run).toThrow(MissingParentError)
    expect(run).toThrow(
      '4444dddd0004_add_owner.py revises 9999ffff0009, which is not in the folder: add the missing revision file, or fix down_revision in 4444dddd0004_add_owner.py',
    )
  })

  test('a cycle names the files around it', () => {
    const run = () => orderSource(scanSource(path.join(fixtures, 'cycle', 'versions')))
    expect(run).toThrow(RevisionCycleError)
    expect(run).toThrow(
      'the revisions form a cycle (5555eeee0005_first.py → 6666ffff0006_second.py → 5555eeee0005_first.py): fix down_revision in one of these files',
    )
  })

  test('a duplicate revision id names both files', () => {
    expect(() => orderChain([node('a.py', 'r1'), node('b.py', 'r1')])).toThrow(DuplicateRevisionError)
    expect(() => orderChain([node('a.py', 'r1'), node('b.py', 'r1')])).toThrow(/revision r1 is declared by several files \(a\.py, b\.py\)/)
  })

  test('depends_on orders across branches (by revision or branch label) but does not merge heads', () => {
    const ordered = orderChain([
      node('m.py', 'm', ['a', 'b']),
      node('b.py', 'b', ['root'], { dependsOn: ['lbl'] }),
      node('a.py', 'a', ['root'], { branchLabels: ['lbl'] }),
      node('root.py', 'root'),
    ])
    expect(ordered.map((n) => n.revision)).toEqual(['root', 'a', 'b', 'm'])
    expect(() => orderChain([node('r.py', 'r'), node('x.py', 'x', ['r'], { dependsOn: ['nope'] })])).toThrow(
      /x\.py depends on nope, which is not in the folder/,
    )
    expect(() => orderChain([node('r.py', 'r'), node('x.py', 'x', ['r']), node('y.py', 'y', ['r'], { dependsOn: ['x'] })])).toThrow(SeveralHeadsError)
  })
})
