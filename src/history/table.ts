import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'

/**
 * Creates a PostgreSQL schema if it is missing. The engine does so too, but before it takes its lock,
 * so deploys started together on a fresh database fail with "schema already exists"; here a
 * concurrent creation is simply a success.
 */
async function ensureSchema(c: pg.ClientBase, schema: string): Promise<void> {
  const { rows } = await c.query<{ present: boolean }>('select to_regnamespace($1) is not null as present', [quoteIdent(schema)])
  if (rows[0].present) return
  await c.query(`create schema if not exists ${quoteIdent(schema)}`).catch((e: { code?: string }) => {
    // 42P06 duplicate_schema, 23505 unique_violation: another deploy created it a moment ago.
    if (e.code !== '42P06' && e.code !== '23505') throw e
  })
}

/**
 * The shared layout: the instance's `_prisma_migrations` made in its history schema before the engine
 * looks for it. The engine finds it there (the schema it is told is the history schema) and reads and
 * writes it unqualified, through the search_path (tables' schema first, which has none of its own);
 * unmade, the engine would create it in the tables' schema, beside the other instances'.
 */
async function ensureHistoryTable(c: pg.ClientBase, schema: string): Promise<void> {
  await ensureSchema(c, schema)
  await c
    .query(
      `create table if not exists ${quoteIdent(schema)}."_prisma_migrations" (
         "id" varchar(36) primary key not null, "checksum" varchar(64) not null, "finished_at" timestamptz,
         "migration_name" varchar(255) not null, "logs" text, "rolled_back_at" timestamptz,
         "started_at" timestamptz not null default now(), "applied_steps_count" integer not null default 0)`,
    )
    .catch((e: { code?: string }) => {
      // 42P07 duplicate_table, 23505 unique_violation: another deploy made it a moment ago.
      if (e.code !== '42P07' && e.code !== '23505') throw e
    })
}

/**
 * What a module's database needs before the engine applies or records a migration, made alike by
 * `artstore-db deploy` and by the bridge (src/engine/history.ts): the tables' schema, and in the shared
 * layout the history schema with its `_prisma_migrations` (see ensureHistoryTable). The engine itself
 * makes only the schema it is told, the history schema there: with the tables' schema missing, the
 * tables would land in the history schema, the first schema of the search_path that exists.
 */
export async function ensureModuleSchemas(c: pg.ClientBase, tablesSchema: string, historySchema?: string): Promise<void> {
  await ensureSchema(c, tablesSchema)
  if (historySchema) await ensureHistoryTable(c, historySchema)
}
