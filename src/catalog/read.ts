import type pg from 'pg'

/**
 * The parts of a PostgreSQL schema that a module's baseline creates, as the catalog reports them.
 * Definitions are read with the schema on the search_path, so they come back unqualified and a
 * scratch copy of the baseline compares equal to the module's own schema.
 */
export interface Catalog {
  tables: string[]
  columns: { table: string; name: string; type: string; notNull: boolean; default: string | null }[]
  /** Primary keys, unique, foreign-key and check constraints. */
  constraints: { name: string; table: string; kind: 'p' | 'u' | 'f' | 'c'; definition: string }[]
  /** Foreign keys with the types on both sides, for the type-match check. */
  foreignKeys: { name: string; table: string; columnTypes: string[]; targetTable: string; targetTypes: string[] }[]
  /** `opclasses`: the operator classes that are not their type's default (e.g. gin_trgm_ops), in key order. */
  indexes: {
    name: string
    table: string
    method: string
    unique: boolean
    columns: string[]
    opclasses: string[]
    predicate: string | null
    definition: string
    /**
     * pg_index.indisvalid and indisready: false for what an interrupted or failed CREATE INDEX
     * CONCURRENTLY (or REINDEX CONCURRENTLY) leaves, an index that queries never use. Not part of the
     * index's definition: compareCatalogs leaves it out, see invalidIndexes (validity.ts).
     */
    valid: boolean
  }[]
  enums: { name: string; labels: string[] }[]
  triggers: { name: string; table: string; definition: string }[]
  functions: { name: string; args: string; result: string; language: string; body: string }[]
  /** `owner` and `ownerColumn`: the table and the serial column that own the sequence, if any. */
  sequences: { name: string; type: string; owner: string | null; ownerColumn: string | null }[]
  /** The comments on tables (`column` null) and on their columns: what a legacy database carries, and the baseline does not. */
  comments: { table: string; column: string | null; text: string }[]
  /**
   * The extensions of the whole database (plpgsql aside): an extension is one per database, in
   * whichever schema it was created, so two schemas of one database are compared with the same list.
   */
  extensions: string[]
}

/** How PostgreSQL prints a schema name in a definition: bare when it can, quoted otherwise. */
const qualified = (schema: string) => (/^[a-z_][a-z0-9_$]*$/.test(schema) ? schema : `"${schema.replace(/"/g, '""')}"`)

const q = async <T extends pg.QueryResultRow>(c: pg.ClientBase, sql: string, schema: string) => (await c.query<T>(sql, [schema])).rows

/** Reads `schema`'s catalog. Sets search_path for the session to that schema while it reads. */
export async function readCatalog(c: pg.ClientBase, schema: string): Promise<Catalog> {
  const { rows } = await c.query<{ path: string }>("select current_setting('search_path') as path")
  await c.query(`select set_config('search_path', $1, false)`, [`"${schema.replace(/"/g, '""')}"`])
  try {
    return {
      tables: (
        await q<{ name: string }>(
          c,
          `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = $1 and c.relkind in ('r', 'p') order by 1`,
          schema,
        )
      ).map((r) => r.name),
      columns: await q(
        c,
        `select c.relname as table, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
                a.attnotnull as "notNull", pg_get_expr(d.adbin, d.adrelid) as default
           from pg_attribute a
           join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
           left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          where n.nspname = $1 and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
          order by c.relname, a.attnum`,
        schema,
      ),
      constraints: await q(
        c,
        `select con.conname as name, c.relname as table, con.contype::text as kind, pg_get_constraintdef(con.oid) as definition
           from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and con.contype in ('p', 'u', 'f', 'c') order by c.relname, con.conname`,
        schema,
      ),
      foreignKeys: await q(
        c,
        `select con.conname as name, c.relname as table, r.relname as "targetTable",
                array(select format_type(a.atttypid, a.atttypmod) from unnest(con.conkey) with ordinality k(n, i)
                        join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i) as "columnTypes",
                array(select format_type(a.atttypid, a.atttypmod) from unnest(con.confkey) with ordinality k(n, i)
                        join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.i) as "targetTypes"
           from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_class r on r.oid = con.confrelid
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and con.contype = 'f' order by c.relname, con.conname`,
        schema,
      ),
      // pg_get_indexdef, like pg_get_triggerdef, always names the table with its schema: drop it.
      indexes: (
        await q<Catalog['indexes'][number]>(
          c,
          `select i.relname as name, t.relname as table, am.amname as method, x.indisunique as unique,
                array(select pg_get_indexdef(x.indexrelid, k, true) from generate_series(1, x.indnkeyatts) k order by k) as columns,
                array(select opc.opcname::text from unnest(x.indclass) with ordinality k(oid, i) join pg_opclass opc on opc.oid = k.oid
                       where not opc.opcdefault order by k.i) as opclasses,
                pg_get_expr(x.indpred, x.indrelid, true) as predicate, pg_get_indexdef(x.indexrelid) as definition,
                x.indisvalid and x.indisready as valid
           from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
           join pg_am am on am.oid = i.relam join pg_namespace n on n.oid = t.relnamespace
          where n.nspname = $1 order by t.relname, i.relname`,
          schema,
        )
      ).map((i) => ({ ...i, definition: i.definition.replace(` ON ${qualified(schema)}.`, ' ON ') })),
      enums: await q(
        c,
        `select t.typname as name, array_agg(e.enumlabel::text order by e.enumsortorder) as labels
           from pg_type t join pg_enum e on e.enumtypid = t.oid join pg_namespace n on n.oid = t.typnamespace
          where n.nspname = $1 group by t.typname order by 1`,
        schema,
      ),
      // pg_get_triggerdef names the table with its schema whatever the search_path: drop it.
      triggers: (
        await q<Catalog['triggers'][number]>(
          c,
          `select tg.tgname as name, c.relname as table, pg_get_triggerdef(tg.oid) as definition
           from pg_trigger tg join pg_class c on c.oid = tg.tgrelid join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and not tg.tgisinternal order by c.relname, tg.tgname`,
          schema,
        )
      ).map((t) => ({ ...t, definition: t.definition.replace(` ON ${qualified(schema)}.`, ' ON ') })),
      functions: await q(
        c,
        `select p.proname as name, pg_get_function_identity_arguments(p.oid) as args, pg_get_function_result(p.oid) as result,
                l.lanname as language, p.prosrc as body
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
          where n.nspname = $1
            and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
          order by 1, 2`,
        schema,
      ),
      sequences: await q(
        c,
        `select c.relname as name, format_type(s.seqtypid, null) as type, o.relname as owner, a.attname as "ownerColumn"
           from pg_sequence s join pg_class c on c.oid = s.seqrelid join pg_namespace n on n.oid = c.relnamespace
           left join pg_depend d on d.objid = s.seqrelid and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype = 'a'
           left join pg_class o on o.oid = d.refobjid
           left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
          where n.nspname = $1 order by 1`,
        schema,
      ),
      comments: await q(
        c,
        `select c.relname as table, a.attname as column, d.description as text
           from pg_description d join pg_class c on c.oid = d.objoid join pg_namespace n on n.oid = c.relnamespace
           left join pg_attribute a on a.attrelid = d.objoid and a.attnum = d.objsubid and d.objsubid > 0
          where d.classoid = 'pg_class'::regclass and n.nspname = $1 and c.relkind in ('r', 'p') order by c.relname, d.objsubid`,
        schema,
      ),
      extensions: (await c.query<{ name: string }>(`select extname as name from pg_extension where extname <> 'plpgsql' order by 1`)).rows.map((r) => r.name),
    }
  } finally {
    await c.query(`select set_config('search_path', $1, false)`, [rows[0].path])
  }
}

/** Every object of a catalog, for "nothing is left" checks: tables, enums, functions, sequences, triggers. */
export const objectCount = (cat: Catalog) => cat.tables.length + cat.enums.length + cat.functions.length + cat.sequences.length + cat.triggers.length
