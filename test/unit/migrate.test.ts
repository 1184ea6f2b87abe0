import { describe, expect, test } from 'vitest'
import type { Catalog } from '../../src/catalog/read.ts'
import { dataLossFindings, lintMigration, recordedAllowance, squawk } from '../../src/migrate/lint.ts'
import { nextFolderName } from '../../src/migrate/new.ts'
import { forTransaction } from '../../src/verify/expected.ts'

const catalog = (columns: Catalog['columns']): Catalog => ({
  tables: [...new Set(columns.map((c) => c.table))],
  columns,
  constraints: [],
  foreignKeys: [],
  indexes: [],
  enums: [],
  triggers: [],
  functions: [],
  sequences: [],
  comments: [],
  extensions: [],
})

describe('the next folder name', () => {
  test('a UTC timestamp and the name, sorting after every existing folder even when the clock lags', () => {
    const now = new Date('2026-11-27T15:40:33.512Z')
    expect(nextFolderName(['0_baseline'], 'add_priority', now)).toBe('20261127154033_add_priority')
    expect(nextFolderName(['0_baseline', '20261127154033_zzz'], 'add_priority', now)).toBe('20261127154034_add_priority')
    expect(nextFolderName(['0_baseline', '20270101000000_later'], 'x', now)).toBe('20270101000001_x')
  })
})

describe('the data-loss rules', () => {
  const before = catalog([
    { table: 'audit_logs', name: 'user_id', type: 'integer', notNull: false, default: null },
    { table: 'audit_logs', name: 'note', type: 'character varying(200)', notNull: false, default: null },
  ])

  test('drop column, narrowing, NOT NULL over an existing column, a NOT NULL column without default, drop table, removed enum labels', async () => {
    const sql = [
      '-- AlterTable\nALTER TABLE "audit_logs" DROP COLUMN "user_id",\nALTER COLUMN "note" SET DATA TYPE VARCHAR(50),\nALTER COLUMN "note" SET NOT NULL,\nADD COLUMN     "actor" TEXT NOT NULL;',
      '-- DropTable\nDROP TABLE "jwt_keys";',
      '-- AlterEnum\nBEGIN;\nCREATE TYPE "role_new" AS ENUM (\'a\');\nALTER TYPE "role" RENAME TO "role_old";\nCOMMIT;',
    ].join('\n\n')
    const messages = (await dataLossFindings(sql, before)).map((f) => `${f.level} ${f.message}`)
    expect(messages).toEqual([
      'error audit_logs: drops column user_id and its data',
      'error audit_logs: type change character varying(200) → VARCHAR(50) may not preserve data',
      'error audit_logs: NOT NULL on existing column note: fails if a row holds NULL there (backfill first)',
      'error audit_logs: new NOT NULL column actor without a default',
      'error DropTable: drops a table of the module, with its rows',
      'error AlterEnum: removes or reorders enum labels',
      expect.stringMatching(/^error audit_logs: drops user_id and adds actor: if this is a rename, Prisma can only see drop \+ add/),
    ])
  })

  test('safe steps find nothing: a column with a default, widening, a new table, index and enum label', async () => {
    const sql = [
      '-- AlterTable\nALTER TABLE "audit_logs" ADD COLUMN     "priority" INTEGER NOT NULL DEFAULT 100,\nALTER COLUMN "note" SET DATA TYPE TEXT;',
      '-- CreateTable\nCREATE TABLE "admin_users" ("id" UUID NOT NULL);',
      '-- CreateIndex\nCREATE INDEX "i" ON "audit_logs"("priority");',
      '-- AlterEnum\nALTER TYPE "role" ADD VALUE \'auditor\';',
    ].join('\n\n')
    expect(await dataLossFindings(sql, before)).toEqual([])
  })
})

describe('Squawk, offline, with the project settings', () => {
  test('a dropped column fails; a blocking index build is a warning; the rules .squawk.toml leaves out stay out', () => {
    const findings = squawk('ALTER TABLE "a" DROP COLUMN "b";\nCREATE INDEX "i" ON "a"("c");\nALTER TABLE "a" ADD COLUMN "d" INTEGER;\n')
    expect(findings.map((f) => [f.rule, f.level, f.line])).toEqual([
      ['ban-drop-column', 'error', 1],
      ['require-concurrent-index-creation', 'warning', 2],
    ])
  })

  test('errors first, both linters', async () => {
    const findings = await lintMigration(
      '-- AlterTable\nALTER TABLE "t" DROP COLUMN "x";\n',
      catalog([{ table: 't', name: 'x', type: 'integer', notNull: false, default: null }]),
    )
    expect(findings.map((f) => `${f.source} ${f.rule} ${f.level}`)).toEqual(['artstore-db data-loss error', 'squawk ban-drop-column error'])
  })
})

describe('migration text helpers', () => {
  test('the recorded allowance is read from the header', () => {
    expect(recordedAllowance('-- 2026_x: …\n-- Dangerous steps allowed: user_id replaced\n--   data-loss: …\n')).toBe('user_id replaced')
    expect(recordedAllowance('-- AlterTable\nALTER TABLE "t" DROP COLUMN "x";\n')).toBeUndefined()
  })

  test('a script for the rolled-back scratch transaction loses its own BEGIN/COMMIT and CONCURRENTLY, nothing else', () => {
    expect(
      forTransaction('BEGIN;\nCREATE TYPE "x" AS ENUM (\'a\');\nCOMMIT;\nCREATE INDEX CONCURRENTLY "i" ON "t"("c");\nDROP INDEX CONCURRENTLY "j";\n'),
    ).toBe('\nCREATE TYPE "x" AS ENUM (\'a\');\n\nCREATE INDEX "i" ON "t"("c");\nDROP INDEX "j";\n')
  })
})
