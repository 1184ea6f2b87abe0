import { describe, expect, test } from 'vitest'
import type { Catalog } from '../../src/catalog/read.ts'
import { NO_TRANSACTION_LINE, readMigrationHeader, runsOutsideTransaction, withAllowanceBlock } from '../../src/migrate/header.ts'
import { allowanceDifference, dataLossFindings, lintMigration, recordedAllowance, squawk, transactionFindings } from '../../src/migrate/lint.ts'
import { restoreDefaultPrecision, withoutTransactionControl } from '../../src/migrate/generate.ts'
import { parseStatements } from '../../src/migrate/statements.ts'
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

  test('after the last folder whatever its name: a hand-named folder without a full timestamp', () => {
    const now = new Date('2026-11-27T15:40:33.512Z')
    // Prisma applies by name: each new name must sort after the last folder.
    for (const last of ['20991231_hand', '3_manual', '20991231000000_x', '2099-12-31_x']) {
      const next = nextFolderName(['0_baseline', last], 'x', now)
      expect([last, next].sort().at(-1), `${last} → ${next}`).toBe(next)
      expect(next).toMatch(/^\d{14}_x$/)
    }
    expect(nextFolderName(['0_baseline', '20991231_hand'], 'x', now)).toBe('20991232000000_x')
    expect(() => nextFolderName(['0_baseline', 'zz_manual'], 'x', now)).toThrow(/no timestamped folder name sorts after the migration folder zz_manual/)
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
      '-- AlterEnum\nBEGIN;\nCREATE TYPE "role_new" AS ENUM (\'a\');\nALTER TABLE "audit_logs" ALTER COLUMN "role" TYPE "role_new" USING ("role"::text::"role_new");\nALTER TYPE "role" RENAME TO "role_old";\nALTER TYPE "role_new" RENAME TO "role";\nDROP TYPE "role_old";\nCOMMIT;',
    ].join('\n\n')
    const withEnum = {
      ...before,
      enums: [{ name: 'role', labels: ['a', 'b'] }],
      columns: [...before.columns, { table: 'audit_logs', name: 'role', type: 'role', notNull: false, default: null }],
    }
    const messages = (await dataLossFindings(sql, withEnum)).map((f) => `${f.level} ${f.message}`)
    expect(messages).toEqual([
      "error enum role: removes label(s) 'b': a row holding one fails the migration, and clients that use it break",
      'error audit_logs: drops column user_id and its data',
      'error audit_logs: type change character varying(200) → VARCHAR(50) may not preserve data',
      'error audit_logs: NOT NULL on existing column note: fails if a row holds NULL there (backfill first)',
      'error audit_logs: new NOT NULL column actor without a default',
      'error jwt_keys: drops the table, with its rows',
      expect.stringMatching(/^error audit_logs: drops user_id and adds actor: if this is a rename, Prisma can only see drop \+ add/),
    ])
  })

  test('the statements themselves, whatever header stands above them: hand-written SQL under a -- CreateIndex header', async () => {
    const sql = [
      '-- CreateIndex',
      'CREATE INDEX "i" ON "audit_logs"("note");',
      'alter table audit_logs alter note set not null;',
      '-- CreateIndex\nALTER TABLE public.audit_logs ALTER COLUMN note TYPE varchar(20) USING note::varchar(20), DROP COLUMN IF EXISTS user_id;',
      "DO $$ BEGIN UPDATE audit_logs SET note = 'a;b'; END $$;",
      'DELETE FROM audit_logs WHERE note IS NULL;',
      'TRUNCATE audit_logs;',
      'DROP TYPE "x" CASCADE;',
    ].join('\n')
    const messages = (await dataLossFindings(sql, before)).map((f) => `${f.level} ${f.line} ${f.message}`)
    expect(messages).toEqual([
      'error 3 audit_logs: NOT NULL on existing column note: fails if a row holds NULL there (backfill first)',
      'error 5 audit_logs: type change character varying(200) → varchar(20) may not preserve data',
      'error 5 audit_logs: drops column user_id and its data',
      'error 7 DELETE FROM audit_logs WHERE note IS NULL: deletes rows',
      'error 8 TRUNCATE audit_logs: deletes every row',
      'error 9 DROP TYPE "x" CASCADE: CASCADE also drops what depends on it (columns, views, constraints) without naming them',
    ])
  })

  test('enum labels in another order: a warning, not data loss', async () => {
    const cat = { ...catalog([{ table: 't', name: 's', type: 'state', notNull: true, default: null }]), enums: [{ name: 'state', labels: ['a', 'b'] }] }
    const sql =
      'ALTER TYPE "state" RENAME TO "state_old";\nCREATE TYPE "state" AS ENUM (\'b\', \'a\');\nALTER TABLE "t" ALTER COLUMN "s" SET DATA TYPE "state" USING ("s"::text::"state");\nDROP TYPE "state_old";\n'
    expect((await dataLossFindings(sql, cat)).map((f) => `${f.level} ${f.rule} ${f.message}`)).toEqual([
      'warning enum-order enum state: reorders its labels (every column of the type is rewritten, under an exclusive lock)',
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

describe('transactions', () => {
  test('transaction control and an undeclared CONCURRENTLY are refused; the declaration allows them', () => {
    const body = 'UPDATE "t" SET "a" = 1;\nCOMMIT;\nDO $$ BEGIN UPDATE "t" SET "b" = 2; COMMIT; END $$;\nCREATE INDEX CONCURRENTLY "i" ON "t"("a");\n'
    expect(transactionFindings(body).map((f) => `${f.rule} ${f.line ?? ''}`)).toEqual([
      'transaction-control 2',
      'transaction-control 3',
      'no-transaction-undeclared 4',
      'concurrently-alone ',
    ])
    expect(transactionFindings(`-- 2026_x: …\n${NO_TRANSACTION_LINE}\n\n${body}`).map((f) => f.rule)).toEqual(['concurrently-alone'])
    expect(transactionFindings(`${NO_TRANSACTION_LINE}\nDO $$ BEGIN UPDATE "t" SET "b" = 2; COMMIT; END $$;\n`)).toEqual([])
    // Words in strings and comments are not statements.
    expect(transactionFindings("UPDATE t SET note = 'COMMIT; BEGIN';\n-- COMMIT;\n")).toEqual([])
  })

  test('the header: the declaration, the allowance and its findings; a lone CONCURRENTLY runs outside a transaction', () => {
    const sql = `-- 2026_x: …\n${NO_TRANSACTION_LINE}\n-- Dangerous steps allowed: users replaced\n--   data-loss: users: drops the table, with its rows\n--   squawk ban-drop-table: Dropping a table may break existing clients.\n\nDROP TABLE "users";\n-- Dangerous steps allowed: not in the header\n`
    expect(readMigrationHeader(sql)).toEqual({
      noTransaction: true,
      directives: [NO_TRANSACTION_LINE],
      allowance: {
        reason: 'users replaced',
        findings: ['data-loss: users: drops the table, with its rows', 'squawk ban-drop-table: Dropping a table may break existing clients.'],
      },
    })
    expect(readMigrationHeader('DROP TABLE "users";\n-- artstore: no-transaction\n')).toEqual({ noTransaction: false, directives: [] })
    expect(runsOutsideTransaction('-- CreateIndex\nCREATE INDEX CONCURRENTLY "i" ON "t"("a");\n')).toBe(true)
    expect(runsOutsideTransaction('CREATE INDEX "i" ON "t"("a");\n')).toBe(false)
    const replaced = withAllowanceBlock(sql, ['-- Dangerous steps allowed: again', '--   data-loss: x'])
    expect(readMigrationHeader(replaced).allowance).toEqual({ reason: 'again', findings: ['data-loss: x'] })
    expect(replaced.split('\n').slice(0, 2)).toEqual(['-- 2026_x: …', NO_TRANSACTION_LINE])
  })

  test('an allowance holds the findings it allows: a new one, or one gone, is a difference', () => {
    const f = (message: string) => ({ source: 'artstore-db' as const, rule: 'data-loss', level: 'error' as const, message })
    const sql = '-- Dangerous steps allowed: why\n--   data-loss: a: drops column x and its data\n\nALTER TABLE a DROP COLUMN x;\n'
    expect(allowanceDifference(sql, [f('a: drops column x and its data')])).toEqual({ missing: [], stale: [] })
    expect(allowanceDifference(sql, [f('a: drops column x and its data'), f('a: drops column y and its data')])).toEqual({
      missing: ['data-loss: a: drops column y and its data'],
      stale: [],
    })
    expect(allowanceDifference(sql, [])).toEqual({ missing: [], stale: ['data-loss: a: drops column x and its data'] })
  })
})

describe('generated scripts', () => {
  test("Prisma's enum block loses its BEGIN/COMMIT, nothing else", () => {
    const block = '-- AlterEnum\nBEGIN;\nCREATE TYPE "r_new" AS ENUM (\'a\');\nALTER TYPE "r" RENAME TO "r_old";\nCOMMIT;\n'
    expect(withoutTransactionControl(block)).toBe('-- AlterEnum\nCREATE TYPE "r_new" AS ENUM (\'a\');\nALTER TYPE "r" RENAME TO "r_old";\n')
    expect(parseStatements(withoutTransactionControl(block)).map((s) => s.kind)).toEqual(['CREATE_TYPE', 'ALTER_TYPE'])
  })

  test('a time column without a precision gets its spelling back in the reverse diff, in its own table only', () => {
    const cat = catalog([
      { table: 'users', name: 'last_login', type: 'timestamp with time zone', notNull: false, default: null },
      { table: 'other', name: 'at', type: 'timestamp(6) with time zone', notNull: false, default: null },
    ])
    const script =
      'CREATE TABLE "users" (\n    "last_login" TIMESTAMPTZ(6),\n    "t3" TIMESTAMP(3)\n);\n\nALTER TABLE "other" ADD COLUMN "at" TIMESTAMPTZ(6),\nADD COLUMN "last_login" TIMESTAMPTZ(6);\n'
    expect(restoreDefaultPrecision(script, cat)).toBe(
      'CREATE TABLE "users" (\n    "last_login" TIMESTAMPTZ,\n    "t3" TIMESTAMP(3)\n);\n\nALTER TABLE "other" ADD COLUMN "at" TIMESTAMPTZ(6),\nADD COLUMN "last_login" TIMESTAMPTZ(6);\n',
    )
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
