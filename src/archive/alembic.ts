import { AlembicParseError } from './errors.ts'
import { lineEndsAfter, moduleDocstring, readLiteral, topLevelLineNumbers, type PyLiteral } from './python.ts'

/** What an Alembic revision file declares, read without running Python. */
export interface AlembicRevision {
  /** `revision`: the id other files name in `down_revision`. */
  revision: string
  /** `down_revision`: none for a root, one for a plain step, several for a merge (a tuple). */
  downRevisions: string[]
  branchLabels: string[]
  dependsOn: string[]
  /** `Create Date:` from the docstring, as written (e.g. `2025-11-09 21:39:17.028966`), or null. */
  createDate: string | null
  /** The docstring's first line: the message given to `alembic revision -m`. */
  message: string
}

type Field = 'revision' | 'down_revision' | 'branch_labels' | 'depends_on'

// `name = value` or the typed form `name: Union[str, None] = value`, at column 0.
const ASSIGNMENT = /^(revision|down_revision|branch_labels|depends_on)[ \t]*(?::[^=\n]*)?=(?!=)/

function asList(v: PyLiteral, field: Field, file: string): string[] {
  if (v === null) return []
  if (typeof v === 'string') return [v]
  if (v.every((x) => typeof x === 'string')) return v as string[]
  throw new AlembicParseError(file, `${field} must be a string, None or a tuple of strings`)
}

/** The top-level assignments of the four revision variables (the last one wins, as in Python). */
function readAssignments(src: string, file: string): Partial<Record<Field, PyLiteral>> {
  const top = topLevelLineNumbers(src)
  const out: Partial<Record<Field, PyLiteral>> = {}
  let offset = 0
  src.split('\n').forEach((line, n) => {
    const start = offset
    offset += line.length + 1
    if (!top.has(n)) return
    const m = ASSIGNMENT.exec(line)
    if (!m) return
    const field = m[1] as Field
    const lit = readLiteral(src, start + m[0].length)
    if (!lit || !lineEndsAfter(src, lit.end)) {
      throw new AlembicParseError(file, `line ${n + 1}: ${field} is not a string, None or a tuple of strings`)
    }
    out[field] = lit.value
  })
  return out
}

function docstringField(doc: string, name: string): string | null {
  const m = new RegExp(`^[ \\t]*${name}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(doc)
  return m && m[1] !== '' ? m[1] : null
}

/**
 * Reads one revision file. `file` only names it in errors. Throws AlembicParseError when the file
 * declares no `revision` or a value that is not a plain literal.
 */
export function parseAlembicRevision(src: string, file: string): AlembicRevision {
  const text = src.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n')
  const a = readAssignments(text, file)
  if (a.revision === undefined) throw new AlembicParseError(file, 'no top-level revision = "…" assignment')
  if (typeof a.revision !== 'string' || !a.revision.trim()) throw new AlembicParseError(file, 'revision must be a non-empty string')
  const doc = moduleDocstring(text) ?? ''
  const firstLine =
    doc
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  return {
    revision: a.revision,
    downRevisions: asList(a.down_revision ?? null, 'down_revision', file),
    branchLabels: asList(a.branch_labels ?? null, 'branch_labels', file),
    dependsOn: asList(a.depends_on ?? null, 'depends_on', file),
    createDate: docstringField(doc, 'Create Date'),
    // A docstring that starts with the header has no message of its own.
    message: /^Revision ID:/.test(firstLine) ? '' : firstLine,
  }
}
