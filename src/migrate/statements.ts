import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { EnvironmentError } from '../errors.ts'

/** One node of Squawk's syntax tree: its kind (`ALTER_TABLE`, `DROP_COLUMN`, …) and its text. */
export interface SqlNode {
  kind: string
  text: string
  children: SqlNode[]
}

/** One top-level statement of a script, as PostgreSQL's grammar (Squawk's parser) sees it. */
export interface SqlStatement extends SqlNode {
  /** 1-based line of its first character in the script. */
  line: number
  /** Its byte offsets in the script (UTF-8). */
  start: number
  end: number
}

export class SqlParserUnavailableError extends EnvironmentError {
  constructor(detail: string) {
    super(`the SQL parser (squawk-cli) could not run: ${detail}: run npm ci to install it`)
  }
}

/** The path of Squawk's launcher (its platform binary from npm). */
export function squawkBin(): string {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('squawk-cli/package.json')), 'js', 'bin', 'squawk')
  } catch {
    throw new SqlParserUnavailableError('the package is not installed')
  }
}

const TRIVIA = new Set(['WHITESPACE', 'COMMENT', 'SEMICOLON', 'EMPTY_STMT'])

/**
 * The statements of a script, parsed by Squawk (`--debug parse`: a lossless syntax tree with byte
 * offsets), so that `$$` bodies, quoted strings and identifiers, and comments are told apart from
 * the statements as PostgreSQL does. Comments and empty statements are left out; what the parser
 * cannot read comes back as kind `ERROR` (one per run of unreadable tokens up to the next `;`).
 */
export function parseStatements(sql: string): SqlStatement[] {
  if (!sql.trim()) return []
  const run = spawnSync(process.execPath, [squawkBin(), '--debug', 'parse', '--stdin-filepath', 'migration.sql'], {
    input: sql,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  })
  if (run.error) throw new SqlParserUnavailableError(run.error.message)
  if (run.status !== 0) throw new SqlParserUnavailableError((run.stderr || `exit code ${run.status}`).trim().split('\n')[0])
  const bytes = Buffer.from(sql, 'utf8')
  type Parsed = SqlNode & { depth: number; start: number; end: number }
  const root: Parsed = { kind: 'ROOT', text: sql, children: [], depth: -1, start: 0, end: bytes.length }
  const stack: Parsed[] = [root]
  for (const line of run.stdout.split('\n')) {
    const m = /^( *)([A-Z_]+)@(\d+)\.\.(\d+)/.exec(line)
    if (!m) continue
    const depth = m[1].length / 2
    const [start, end] = [Number(m[3]), Number(m[4])]
    const node: Parsed = { kind: m[2], text: bytes.subarray(start, end).toString('utf8'), children: [], depth, start, end }
    while (stack.length && stack.at(-1)!.depth >= depth) stack.pop()
    stack.at(-1)!.children.push(node)
    stack.push(node)
  }
  const file = root.children[0]?.children ?? []
  const out: SqlStatement[] = []
  const lineAt = (byte: number) => bytes.subarray(0, byte).toString('utf8').split('\n').length
  for (const node of file as Parsed[]) {
    if (TRIVIA.has(node.kind)) continue
    const last = out.at(-1)
    // The parser's error recovery makes a node of each unreadable token: one statement up to the `;`.
    if (node.kind === 'ERROR' && last?.kind === 'ERROR' && !last.text.trimEnd().endsWith(';')) {
      last.end = node.end
      last.text = bytes.subarray(last.start, last.end).toString('utf8')
      continue
    }
    out.push({ kind: node.kind, text: node.text, children: node.children, line: lineAt(node.start), start: node.start, end: node.end })
  }
  return out
}

/** The node's children that carry meaning (no whitespace, comments, commas, keywords or `;`). */
export const parts = (n: SqlNode) => n.children.filter((c) => !TRIVIA.has(c.kind) && c.kind !== 'COMMA' && !c.kind.endsWith('_KW'))

/** The statement's text without a final `;`, whitespace collapsed (comments and strings kept as written). */
export const oneLine = (text: string) => text.replace(/;\s*$/, '').replace(/\s+/g, ' ').trim()
