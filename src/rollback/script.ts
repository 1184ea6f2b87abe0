// What rollback reads in a down.sql before it runs it: its top-level statements (a real lexer: strings,
// quoted identifiers, dollar quotes and comments never end a statement), the transaction control a
// generated enum block carries, and the tables and columns whose data the script drops.
import { RefusalError } from '../errors.ts'

/** One top-level statement of a script: its text without the `;`, and where it starts and ends. */
export interface Statement {
  text: string
  /** Offsets into the script: `start` at the statement's first character (after leading blanks), `end` after its `;` (or the script's end). */
  start: number
  end: number
}

/** The length of the quoted or commented run that starts at `i` (0 when none starts there). */
function skipQuoted(sql: string, i: number): number {
  const ch = sql[i]
  if (ch === '-' && sql[i + 1] === '-') {
    const nl = sql.indexOf('\n', i)
    return (nl < 0 ? sql.length : nl) - i
  }
  if (ch === '/' && sql[i + 1] === '*') {
    // Block comments nest in PostgreSQL.
    let depth = 0
    let j = i
    while (j < sql.length) {
      if (sql[j] === '/' && sql[j + 1] === '*') {
        depth++
        j += 2
      } else if (sql[j] === '*' && sql[j + 1] === '/') {
        depth--
        j += 2
        if (!depth) break
      } else j++
    }
    return j - i
  }
  if (ch === "'" || ch === '"') {
    // E'…' strings take backslash escapes; '' and "" are the quote itself.
    const escapes = ch === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '')
    let j = i + 1
    while (j < sql.length) {
      if (escapes && sql[j] === '\\') j += 2
      else if (sql[j] === ch) {
        if (sql[j + 1] === ch) j += 2
        else return j + 1 - i
      } else j++
    }
    return sql.length - i
  }
  if (ch === '$' && !/[\w$]/.test(sql[i - 1] ?? '')) {
    const tag = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(sql.slice(i))?.[0]
    if (tag) {
      const close = sql.indexOf(tag, i + tag.length)
      return (close < 0 ? sql.length : close + tag.length) - i
    }
  }
  return 0
}

/** Where the statement that starts at `i` really begins: after blanks and comments. */
function firstToken(sql: string, i: number, end: number): number {
  while (i < end) {
    if (/\s/.test(sql[i])) i++
    else if ((sql[i] === '-' && sql[i + 1] === '-') || (sql[i] === '/' && sql[i + 1] === '*')) i += skipQuoted(sql, i)
    else break
  }
  return i
}

/** The script's top-level statements, in order; empty and comment-only pieces are left out. */
export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = []
  let from = 0
  const push = (end: number, stop: number) => {
    const start = firstToken(sql, from, end)
    const text = stripComments(sql.slice(start, end)).trim()
    if (text) out.push({ text, start, end: stop })
  }
  for (let i = 0; i < sql.length;) {
    const skip = skipQuoted(sql, i)
    if (skip) {
      i += skip
      continue
    }
    if (sql[i] === ';') {
      push(i, i + 1)
      from = i + 1
    }
    i++
  }
  push(sql.length, sql.length)
  return out
}

/** The text with its comments replaced by a blank (strings and quoted names kept as they are). */
export function stripComments(sql: string): string {
  let out = ''
  for (let i = 0; i < sql.length;) {
    const skip = skipQuoted(sql, i)
    if (skip) {
      const part = sql.slice(i, i + skip)
      out += /^(--|\/\*)/.test(part) ? ' ' : part
      i += skip
    } else out += sql[i++]
  }
  return out
}

/**
 * Statements that end or open a transaction. In a down.sql they would end the step's own transaction,
 * and with it the migration lock: what ran before them stays committed whatever follows, and the
 * history row is deleted outside the lock. Prisma's enum recreation writes `BEGIN; … COMMIT;` around
 * its statements: the step's transaction already gives them that.
 */
const OPENS =
  /^(BEGIN|START TRANSACTION)( WORK| TRANSACTION)?( ISOLATION LEVEL (SERIALIZABLE|REPEATABLE READ|READ COMMITTED|READ UNCOMMITTED)| READ (ONLY|WRITE)| (NOT )?DEFERRABLE|,)*$/i
const CLOSES = /^(COMMIT|END)( WORK| TRANSACTION)?( AND NO CHAIN)?$/i
/** What cannot be made harmless: it undoes or splits the step's transaction. */
const FORBIDDEN =
  /^(ROLLBACK|ABORT)( WORK| TRANSACTION)?( AND (NO )?CHAIN)?$|^(COMMIT|END)( WORK| TRANSACTION)? AND CHAIN$|^(PREPARE TRANSACTION|COMMIT PREPARED|ROLLBACK PREPARED)\b/i

export class DownScriptTransactionError extends RefusalError {
  constructor(module: string, migration: string, statement: string) {
    super(
      `${migration}/down.sql of the ${module} module contains "${statement}", which would end the rollback's own transaction (the step and the removal of its history row are one): remove it from down.sql`,
    )
  }
}

/**
 * The script as rollback runs it: each top-level `BEGIN`/`START TRANSACTION` and `COMMIT`/`END` turned
 * into a comment of the same lines (so the database's error positions still point at the file's
 * lines), so that the whole script runs in the step's one transaction. A `ROLLBACK`, a chained
 * commit or a prepared transaction is refused. A `COMMIT` inside a `DO` block is left alone: in a
 * transaction block PostgreSQL refuses it (2D000), and the step fails whole.
 */
export function withoutTransactionControl(sql: string, module: string, migration: string): { sql: string; neutralised: string[] } {
  const neutralised: string[] = []
  const statements = splitStatements(sql)
  // A SQL-standard function body (BEGIN ATOMIC … END) holds semicolons of its own: its END is no COMMIT.
  const atomic = statements.some((s) => /\bBEGIN\s+ATOMIC\b/i.test(s.text))
  let out = ''
  let at = 0
  for (const s of statements) {
    const words = s.text.replace(/\s+/g, ' ')
    if (FORBIDDEN.test(words)) throw new DownScriptTransactionError(module, migration, words)
    if (!OPENS.test(words) && !(CLOSES.test(words) && !(atomic && /^END/i.test(words)))) continue
    neutralised.push(words)
    const original = sql.slice(s.start, s.end).replace(/\*\//g, '* /').replace(/\/\*/g, '/ *')
    out += `${sql.slice(at, s.start)}/* ${original} (runs in the rollback step's transaction) */`
    at = s.end
  }
  return { sql: out + sql.slice(at), neutralised }
}

/** A name as written in SQL (`"a"."b"`, `b`, `public.b`), as its parts: quoted parts kept, bare ones folded to lower case. */
function nameParts(written: string): string[] {
  const parts: string[] = []
  for (const m of written.matchAll(/"((?:[^"]|"")*)"|([^".\s]+)/g)) parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2].toLowerCase())
  return parts
}

const NAME = String.raw`(?:"(?:[^"]|"")*"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")*"|[A-Za-z_][\w$]*))?`

/** What a script drops of the data: whole tables (DROP TABLE, TRUNCATE) and columns (ALTER TABLE … DROP COLUMN). */
export interface DroppedData {
  /** Each table's name as parts (schema first when written). */
  tables: string[][]
  /** Each column with its table. */
  columns: { table: string[]; column: string }[]
}

/** The tables and columns whose data a script drops, read from its top-level statements. */
export function droppedData(sql: string): DroppedData {
  const tables: string[][] = []
  const columns: { table: string[]; column: string }[] = []
  const list = new RegExp(`^(?:DROP\\s+TABLE(?:\\s+IF\\s+EXISTS)?|TRUNCATE(?:\\s+TABLE)?)\\s+((?:(?:ONLY\\s+)?${NAME}\\s*,\\s*)*(?:ONLY\\s+)?${NAME})`, 'i')
  const alter = new RegExp(`^ALTER\\s+TABLE(?:\\s+IF\\s+EXISTS)?(?:\\s+ONLY)?\\s+(${NAME})\\s+([\\s\\S]*)$`, 'i')
  for (const { text } of splitStatements(sql)) {
    const s = text.trim()
    const dropped = list.exec(s)
    if (dropped) {
      for (const m of dropped[1].matchAll(new RegExp(`(?:ONLY\\s+)?(${NAME})`, 'gi'))) tables.push(nameParts(m[1]))
      continue
    }
    const a = alter.exec(s)
    if (!a) continue
    for (const m of a[2].matchAll(new RegExp(`\\bDROP\\s+(?:COLUMN\\s+)?(?:IF\\s+EXISTS\\s+)?("(?:[^"]|"")*"|[A-Za-z_][\\w$]*)`, 'gi'))) {
      const word = m[1].toLowerCase()
      if (['constraint', 'default', 'not', 'expression', 'identity'].includes(word)) continue
      columns.push({ table: nameParts(a[1]), column: nameParts(m[1])[0] })
    }
  }
  return { tables, columns }
}
