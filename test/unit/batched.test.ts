// The batched backfill's header line and its lint: the declared form is read and accepted, and each
// malformed declaration is refused with one line naming the fix.
import { describe, expect, test } from 'vitest'
import { batchedDeclaration, BatchedDeclarationError, runsOutsideTransaction } from '../../src/migrate/header.ts'
import { headerFindings, isAllowable, squawk } from '../../src/migrate/lint.ts'
import { nextSize, restAfterMs } from '../../src/backfill/run.ts'

const UPDATE = `UPDATE "audit_logs" a SET "admin_user_id" = au."id"
  FROM "users" u JOIN "admin_users" au ON au."username" = u."username"
 WHERE a."id" BETWEEN $1 AND $2
   AND a."user_id" = u."id";
`
const migration = (line: string, body = UPDATE) => `-- 20261203120000_backfill_admin_user_id: data migration\n${line}\n${body}`

describe('the header line', () => {
  test('the declared form is read: table, key, size, pause', () => {
    expect(batchedDeclaration(migration('-- artstore: batched table=audit_logs key=id size=1000'))).toEqual({
      table: ['audit_logs'],
      key: 'id',
      size: 1000,
      pauseMs: 0,
    })
    expect(batchedDeclaration(migration('-- artstore: batched table=admin."Audit Logs" key="Id" pause=50ms'))).toEqual({
      table: ['admin', 'Audit Logs'],
      key: 'Id',
      size: 1000,
      pauseMs: 50,
    })
    expect(batchedDeclaration(UPDATE)).toBeUndefined()
    // Each batch is a transaction of its own: not a migration outside one.
    expect(runsOutsideTransaction(migration('-- artstore: batched table=audit_logs key=id'))).toBe(false)
  })

  test.each([
    ['-- artstore: batched key=id', 'names no table='],
    ['-- artstore: batched table=audit_logs', 'names no key= column'],
    ['-- artstore: batched table=audit_logs key=id size=0', 'has size=0, not a whole number of rows from 1 to 1000000'],
    ['-- artstore: batched table=audit_logs key=id size=1e3', 'has size=1e3'],
    ['-- artstore: batched table=audit_logs key=id rows=5', 'unknown setting rows='],
    ['-- artstore: batched table=audit_logs key=id key=uid', 'gives key= twice'],
    ['-- artstore: batched table=audit logs key=id', 'has "logs", which is not a setting=value'],
    ['-- artstore: batched table=a.b.c key=id', 'has table=a.b.c, which is not a table name'],
    ['-- artstore: batched table=audit_logs key=id pause=soon', 'has pause=soon, not a duration'],
    ['-- artstore: batched table=audit_logs key=id\n-- artstore: no-transaction', 'goes with "-- artstore: no-transaction"'],
  ])('%s: refused with one line naming the fix', (line, problem) => {
    let error: unknown
    try {
      batchedDeclaration(migration(line))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(BatchedDeclarationError)
    const message = (error as Error).message
    expect(message).toContain(problem)
    expect(message).toContain('write it as "-- artstore: batched table=<table> key=<column> size=<rows>"')
    expect(message.split('\n')).toHaveLength(1)
  })
})

describe('the lint of a batched migration', () => {
  test('the declared form passes, Squawk included', () => {
    const sql = migration('-- artstore: batched table=audit_logs key=id size=1000')
    expect(headerFindings(sql)).toEqual([])
    expect(squawk(sql).filter((f) => f.level === 'error')).toEqual([])
  })

  test.each([
    ['-- artstore: batched table=audit_logs', UPDATE, 'names no key= column'],
    ['-- artstore: batched table=audit_logs key=id', `INSERT INTO "x" SELECT 1;\n${UPDATE}`, 'it has 2 statements'],
    ['-- artstore: batched table=audit_logs key=id', `INSERT INTO "audit_logs" ("id") SELECT $1 WHERE $2 > 0;\n`, 'holds one UPDATE (or DELETE) of audit_logs'],
    ['-- artstore: batched table=users key=id', UPDATE, "changes audit_logs, not the header's table=users"],
    ['-- artstore: batched table=audit_logs key=id', `UPDATE "audit_logs" SET "severity" = 'info' WHERE "id" >= $1;\n`, 'does not use both $1 and $2'],
    ['-- artstore: batched table=audit_logs key=id', `UPDATE "audit_logs" SET "severity" = '$2' WHERE "id" >= $1;\n`, 'does not use both $1 and $2'],
    ['-- artstore: batched table=audit_logs key=id', `UPDATE "audit_logs" SET "severity" = $3 WHERE "id" BETWEEN $1 AND $2;\n`, 'uses $3'],
    ['-- artstore: batch table=audit_logs key=id', UPDATE, '"-- artstore: batch table=audit_logs key=id" is not a header line the tools know'],
  ])('%s: refused (%#), one line, not allowable', (line, body, problem) => {
    const findings = headerFindings(migration(line, body))
    expect(findings.map((f) => f.message).join('\n')).toContain(problem)
    for (const f of findings) {
      expect(f).toMatchObject({ rule: 'header', level: 'error' })
      expect(f.message.split('\n')).toHaveLength(1)
      expect(isAllowable(f)).toBe(false)
    }
  })
})

test('batch sizes aim at the target time, at most doubling or halving at a time', () => {
  expect(nextSize(1000, 50, 100)).toBe(2000)
  expect(nextSize(1000, 10, 100)).toBe(2000)
  expect(nextSize(1000, 200, 100)).toBe(500)
  expect(nextSize(1000, 5000, 100)).toBe(500)
  expect(nextSize(1000, 125, 100)).toBe(800)
  expect(nextSize(1, 5000, 100)).toBe(1)
})

test('after each batch the run rests as long as the batch took, or the pause= of its header when longer', () => {
  expect(restAfterMs(80, 0)).toBe(80)
  expect(restAfterMs(80, 500)).toBe(500)
  expect(restAfterMs(0.4, 0)).toBe(0)
})
