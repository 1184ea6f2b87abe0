/**
 * Just enough Python lexing to read an Alembic revision file without running Python: where the
 * module docstring is, which lines start outside any string, and literal values (None, strings,
 * tuples and lists of strings).
 */

/** A Python literal as Alembic revision files use them; `undefined` means "not a supported literal". */
export type PyLiteral = null | string | PyLiteral[]

const QUOTE_PREFIX = /^[rRuU]?/

/** Index just past the string that opens at `pos` (after any r/u prefix), or -1 when unterminated. */
function skipString(src: string, pos: number): { end: number; body: string } | undefined {
  const prefix = QUOTE_PREFIX.exec(src.slice(pos, pos + 1))![0]
  const raw = /r/i.test(prefix)
  let i = pos + prefix.length
  const q = src[i]
  if (q !== '"' && q !== "'") return undefined
  const triple = src.startsWith(q.repeat(3), i)
  const close = triple ? q.repeat(3) : q
  i += close.length
  let body = ''
  while (i < src.length) {
    if (src.startsWith(close, i)) return { end: i + close.length, body }
    const c = src[i]
    if (!triple && c === '\n') return undefined
    if (c === '\\' && i + 1 < src.length) {
      const n = src[i + 1]
      // Raw strings keep the backslash; the escapes revision ids could contain are few.
      body += raw ? c + n : n === 'n' ? '\n' : n === 't' ? '\t' : n === '\n' ? '' : n
      i += 2
      continue
    }
    body += c
    i++
  }
  return undefined
}

/**
 * The 0-based numbers of the lines that begin outside any string literal. An assignment such as
 * `revision = 'x'` only counts on such a line, at column 0: the same text inside a triple-quoted
 * SQL block or docstring is not code.
 */
export function topLevelLineNumbers(src: string): Set<number> {
  const out = new Set<number>([0])
  let line = 0
  let i = 0
  while (i < src.length) {
    const c = src[i]
    if (c === '\n') {
      line++
      out.add(line)
      i++
    } else if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++
    } else if (c === '"' || c === "'") {
      const s = skipString(src, i)
      if (!s) {
        i++ // an unterminated quote: treat it as a stray character
        continue
      }
      line += (src.slice(i, s.end).match(/\n/g) ?? []).length
      i = s.end
    } else i++
  }
  return out
}

/** The module docstring (the first statement, when it is a string), or undefined. */
export function moduleDocstring(src: string): string | undefined {
  let i = 0
  for (;;) {
    const m = /^[ \t\r\n]*/.exec(src.slice(i))!
    i += m[0].length
    if (src[i] !== '#') break
    while (i < src.length && src[i] !== '\n') i++
  }
  if (!/^[rRuU]?["']/.test(src.slice(i, i + 2))) return undefined
  return skipString(src, i)?.body
}

function skipBlank(src: string, i: number, multiline: boolean): number {
  for (;;) {
    if (src[i] === ' ' || src[i] === '\t' || src[i] === '\r') i++
    else if (src[i] === '\\' && src[i + 1] === '\n') i += 2
    else if (multiline && src[i] === '\n') i++
    else if (multiline && src[i] === '#') while (i < src.length && src[i] !== '\n') i++
    else return i
  }
}

/**
 * Reads the literal that starts at `pos`: None, a string, or a tuple/list of those (across lines
 * inside brackets). Returns the value and where it ends, or undefined when it is something else.
 */
export function readLiteral(src: string, pos: number, multiline = false): { value: PyLiteral; end: number } | undefined {
  let i = skipBlank(src, pos, multiline)
  if (src.startsWith('None', i) && !/\w/.test(src[i + 4] ?? '')) return { value: null, end: i + 4 }
  if (/^[rRuU]?["']/.test(src.slice(i, i + 2))) {
    const s = skipString(src, i)
    return s && { value: s.body, end: s.end }
  }
  const open = src[i]
  if (open !== '(' && open !== '[') return undefined
  const close = open === '(' ? ')' : ']'
  const items: PyLiteral[] = []
  let sawComma = false
  i++
  for (;;) {
    i = skipBlank(src, i, true)
    if (src[i] === close) break
    const item = readLiteral(src, i, true)
    if (!item) return undefined
    items.push(item.value)
    i = skipBlank(src, item.end, true)
    if (src[i] === ',') {
      sawComma = true
      i++
    } else if (src[i] !== close) return undefined
  }
  // `('x')` is just a parenthesised string; `('x',)` is a tuple.
  const value = open === '(' && items.length === 1 && !sawComma ? items[0] : items
  return { value, end: i + 1 }
}

/** The rest of the line after `end` holds nothing but blanks or a comment. */
export function lineEndsAfter(src: string, end: number): boolean {
  const rest = src.slice(end, src.indexOf('\n', end) === -1 ? undefined : src.indexOf('\n', end))
  return /^\s*(#.*)?$/.test(rest)
}
