// What rollback reads in a down.sql (src/rollback/script.ts), and the deploy turn's bound and progress.
import { describe, expect, test } from 'vitest'
import { DEFAULT_TURN_TIMEOUT_SECONDS, InvalidDurationError, turnTimeoutSeconds } from '../../src/db/lock.ts'
import { turnProgress } from '../../src/cli/output.ts'
import { DownScriptTransactionError, droppedData, splitStatements, withoutTransactionControl } from '../../src/rollback/script.ts'

const ENUM_BLOCK = `-- AlterEnum
BEGIN;
CREATE TYPE "s_new" AS ENUM ('a');
ALTER TYPE "s" RENAME TO "s_old";
ALTER TYPE "s_new" RENAME TO "s";
DROP TYPE "s_old";
COMMIT;

-- DropIndex
DROP INDEX "i";
`

describe('the statements of a down.sql', () => {
  test('strings, quoted names, dollar quotes and comments never end a statement', () => {
    const sql = `INSERT INTO t VALUES ('a;b', E'c\\';d'); -- x; y
/* a; /* nested; */ still; */ CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;
ALTER TABLE "we;ird" ADD COLUMN x int`
    expect(splitStatements(sql).map((s) => s.text)).toEqual([
      `INSERT INTO t VALUES ('a;b', E'c\\';d')`,
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$',
      'ALTER TABLE "we;ird" ADD COLUMN x int',
    ])
  })
})

describe("transaction control in a down.sql (Prisma's enum block)", () => {
  test("attack: BEGIN; … COMMIT; ended the step's transaction; now both are comments of the same lines, and the rest is as written", () => {
    const { sql, neutralised } = withoutTransactionControl(ENUM_BLOCK, 'query', 'm')
    expect(neutralised).toEqual(['BEGIN', 'COMMIT'])
    expect(splitStatements(sql).map((s) => s.text.split(' ')[0])).toEqual(['CREATE', 'ALTER', 'ALTER', 'DROP', 'DROP'])
    expect(sql.split('\n')).toHaveLength(ENUM_BLOCK.split('\n').length)
    expect(sql).toContain('DROP INDEX "i";')
  })

  test('START TRANSACTION, END and COMMIT WORK too; a COMMIT inside a DO block, a BEGIN of a function body and ROLLBACK TO SAVEPOINT stay as they are', () => {
    expect(withoutTransactionControl('start transaction isolation level serializable;\nselect 1;\nend work;\n', 'q', 'm').neutralised).toHaveLength(2)
    expect(withoutTransactionControl('COMMIT WORK;', 'q', 'm').neutralised).toEqual(['COMMIT WORK'])
    const kept = `DO $$ BEGIN UPDATE t SET x = 1; COMMIT; END $$;\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n`
    expect(withoutTransactionControl(kept, 'q', 'm')).toEqual({ sql: kept, neutralised: [] })
  })

  test('a ROLLBACK or a chained or prepared transaction is refused (exit 2), naming the migration', () => {
    for (const stmt of ['ROLLBACK', 'abort', 'COMMIT AND CHAIN', "PREPARE TRANSACTION 'x'"]) {
      const e = (() => {
        try {
          withoutTransactionControl(`select 1;\n${stmt};\n`, 'query', '29990101000000_x')
        } catch (err) {
          return err
        }
      })()
      expect(e, stmt).toBeInstanceOf(DownScriptTransactionError)
      expect((e as DownScriptTransactionError).exitCode).toBe(2)
      expect((e as Error).message).toMatch(/^29990101000000_x\/down\.sql of the query module contains ".*", which would end the rollback's own transaction/)
    }
  })
})

describe('what a down.sql drops of the data', () => {
  test('tables (DROP TABLE, several, IF EXISTS, TRUNCATE) and columns, never constraints, defaults or NOT NULL', () => {
    const sql = `-- DropTable
DROP TABLE "a";
DROP TABLE IF EXISTS b, "S"."C" CASCADE;
TRUNCATE TABLE ONLY d;
ALTER TABLE "e" DROP COLUMN "x", DROP COLUMN IF EXISTS y, DROP CONSTRAINT "k", ALTER COLUMN z DROP DEFAULT, ALTER COLUMN z DROP NOT NULL;
-- DROP TABLE "not_this";
SELECT 'DROP TABLE nor_this';`
    expect(droppedData(sql)).toEqual({
      tables: [['a'], ['b'], ['S', 'C'], ['d']],
      columns: [
        { table: ['e'], column: 'x' },
        { table: ['e'], column: 'y' },
      ],
    })
  })
})

describe('the deploy turn', () => {
  test('attack: the code allowed 900 s where the README says 30 s; now 30 s, or ARTSTORE_TURN_TIMEOUT as a duration', () => {
    expect(DEFAULT_TURN_TIMEOUT_SECONDS).toBe(30)
    expect(turnTimeoutSeconds({})).toBe(30)
    expect(turnTimeoutSeconds({ ARTSTORE_TURN_TIMEOUT: '2m' })).toBe(120)
    expect(turnTimeoutSeconds({ ARTSTORE_TURN_TIMEOUT: '45s' })).toBe(45)
    expect(turnTimeoutSeconds({ ARTSTORE_TURN_TIMEOUT: '90' })).toBe(90)
    expect(turnTimeoutSeconds({ ARTSTORE_TURN_TIMEOUT: '1h' })).toBe(3600)
    expect(turnTimeoutSeconds({ ARTSTORE_TURN_TIMEOUT: '0' })).toBe(0)
    expect(() => turnTimeoutSeconds({ ARTSTORE_TURN_TIMEOUT: '-1s' })).toThrow(InvalidDurationError)
  })

  test('the CLI shows the wait only on a terminal and never with --json', () => {
    const lines: string[] = []
    const o = { out: () => undefined, err: (t: string) => void lines.push(t) }
    expect(turnProgress(o, true, true)).toBeUndefined()
    expect(turnProgress(o, false, false)).toBeUndefined()
    const show = turnProgress(o, false, true)!
    show({ holder: { pid: 4711, application: 'artstore-db', address: '10.0.0.5' }, waitSeconds: 30, waitedMs: 0 })
    show({ waitSeconds: 30, waitedMs: 900 })
    expect(lines).toEqual([
      "… waiting for this database's deploy turn, held by backend pid 4711 (artstore-db) from 10.0.0.5: up to 30 s (ARTSTORE_TURN_TIMEOUT)",
      "… waiting for this database's deploy turn, held by a session that has just let go: up to 30 s (ARTSTORE_TURN_TIMEOUT)",
    ])
  })
})
