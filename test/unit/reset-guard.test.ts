// The bridge's reset guard without a database: the ARTSTORE_ALLOW_RESET values, and the refusal's one
// line for each kind of owner (module, storage-element instance, a folder of another project).
import { describe, expect, test } from 'vitest'
import { ForeignRelationsResetError, resetAllowed, tablesOfCreationScript, type SchemaRelation } from '../../src/engine/reset-guard.ts'

const tables = (...names: string[]): SchemaRelation[] => names.map((name) => ({ name, kind: 'table' }))

describe('ARTSTORE_ALLOW_RESET', () => {
  test('1 allows; unset, empty and 0 do not', () => {
    expect([undefined, '', '0', '1'].map((v) => resetAllowed({ ARTSTORE_ALLOW_RESET: v }))).toEqual([false, false, false, true])
  })

  test('any other value is refused with one line naming the variable and its values', () => {
    expect(() => resetAllowed({ ARTSTORE_ALLOW_RESET: 'yes' })).toThrow(
      'ARTSTORE_ALLOW_RESET is "yes": set it to 1 to let a reset drop relations that are not the module\'s, or unset it',
    )
  })
})

describe('the refusal', () => {
  test('names the module, up to five relations and how many more, and the two ways out', () => {
    const e = new ForeignRelationsResetError('admin', [...tables('a', 'b', 'c', 'd'), { name: 'e', kind: 'materialized view' }, ...tables('f', 'g')], {
      module: { name: 'admin' },
      migrationsDir: 'prisma/admin/migrations',
      schemaTables: [],
    })
    expect(e.message).toBe(
      'reset refused: schema "admin" holds 7 relations that are not the admin module\'s, which the reset would drop: a, b, c, d, e (materialized view) and 2 more; nothing was changed. Drop or move them yourself, or, to drop them with the reset, run the command again with ARTSTORE_ALLOW_RESET=1',
    )
  })

  test('a storage-element instance of the module folder is the default prefix', () => {
    const e = new ForeignRelationsResetError('storage_element', tables('app_notes'), { module: { name: 'storage-element' }, schemaTables: [] })
    expect(e.message).toContain(
      "holds 1 relation that is not storage-element instance storage_elem_01's, which the reset would drop: app_notes; nothing was changed. Drop or move it yourself",
    )
  })
})

test("the tables of the engine's creation script, schema-qualified or not", () => {
  expect(
    tablesOfCreationScript(
      '-- CreateTable\nCREATE TABLE "notes" (\n  "id" INTEGER\n);\n\nCREATE TABLE "app"."tags" (\n"id" INTEGER);\nCREATE INDEX "x" ON "notes"("id");\n',
    ),
  ).toEqual(['notes', 'tags'])
})
