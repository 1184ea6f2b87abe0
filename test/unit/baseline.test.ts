import { describe, expect, test } from 'vitest'
import { composeDown, composeUp, serialSequences, UnexpectedDiffOutputError } from '../../src/baseline/compose.ts'
import { functionsCreatedBy } from '../../src/baseline/extras.ts'
import { DEFAULT_PREFIX, renderPrefix, validatePrefix } from '../../src/prefix/prefix.ts'

const prismaUp = `-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "things" (
    "id" SERIAL NOT NULL,
    "big" BIGSERIAL NOT NULL,
    "name" TEXT NOT NULL,

    CONSTRAINT "things_pkey" PRIMARY KEY ("id")
);
`
const extras = [{ file: 'sql/20_fn.sql', sql: 'CREATE OR REPLACE FUNCTION "touch"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;\n' }]

describe('baseline composition', () => {
  test('migration.sql drops the diffed schema and appends extras with their file names, in order', () => {
    const up = composeUp(prismaUp, extras)
    expect(up.startsWith('-- CreateTable\nCREATE TABLE "things"')).toBe(true)
    expect(up).not.toContain('CREATE SCHEMA')
    expect(
      up.endsWith('\n-- Extra: sql/20_fn.sql\nCREATE OR REPLACE FUNCTION "touch"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;\n'),
    ).toBe(true)
  })
  test('an unexpected diff output is refused rather than silently committed', () => {
    expect(() => composeUp('-- CreateTable\n', [])).toThrow(UnexpectedDiffOutputError)
  })
  test("down.sql is unqualified and drops the extras' functions and the serial sequences", () => {
    const down = composeDown('-- DropTable\nDROP TABLE "public"."things";\n', composeUp(prismaUp, extras), extras)
    expect(down).toContain('DROP TABLE "things";')
    expect(down).not.toContain('"public".')
    expect(down).toContain('DROP FUNCTION IF EXISTS "touch"();')
    expect(down).toContain('DROP SEQUENCE IF EXISTS "things_id_seq";\nDROP SEQUENCE IF EXISTS "things_big_seq";')
  })
  test('serial sequences and extra functions are found by name', () => {
    expect(serialSequences(prismaUp)).toEqual(['things_id_seq', 'things_big_seq'])
    expect(functionsCreatedBy([{ file: 'x', sql: 'create function f_a(int, text) returns int as $$ select 1 $$ language sql;' }])).toEqual(['f_a(int, text)'])
  })
})

describe('storage-element prefix', () => {
  test('renders every physical name from the single source', () => {
    expect(renderPrefix('CREATE INDEX "idx_storage_elem_01_filename" ON "storage_elem_01_files"', 'se_02')).toBe(
      'CREATE INDEX "idx_se_02_filename" ON "se_02_files"',
    )
    expect(validatePrefix(DEFAULT_PREFIX)).toBe(DEFAULT_PREFIX)
  })
  test.each([
    ['Storage01', /does not match/],
    ['1abc', /does not match/],
    ['a-b', /does not match/],
    ['a'.repeat(42), /does not match/],
    ['a'.repeat(41), /is too long: it makes a{41}_files_search_vector_update 68 characters, and PostgreSQL keeps 63: use a shorter prefix$/],
  ])('"%s" is refused', (prefix, message) => {
    expect(() => validatePrefix(prefix)).toThrow(message)
  })
})
