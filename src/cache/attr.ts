/**
 * Reads and validates one attr.json against the layout the storage element writes (legacy-schema.md
 * §7): the v1.0 layout (no version field), or v2.0 (`schema_version: "2.0"`, `custom_attributes`).
 * Returns the parsed document, or the reason the file cannot be used; never throws for a bad file.
 */
import fs from 'node:fs'
import { insideRoot, type WalkEntry } from './walk.ts'

/** The storage element's local writer refuses attr.json files larger than this, on write and on read. */
export const MAX_ATTR_BYTES = 4096

/**
 * The bound for attr.json objects in the bucket: the bucket writer has no limit of its own (§9.5),
 * and a real one is well under 1 KiB, so 64 KiB leaves room for large metadata while a stray big
 * object (a data object misnamed `.attr.json`) is skipped from its listed size, never fetched.
 */
export const MAX_BUCKET_ATTR_BYTES = 64 * 1024

/** An attr.json as the storage element writes it (§7.2), after validation. */
export interface AttrDocument {
  schema_version?: '1.0' | '2.0'
  file_id: string
  original_filename: string
  storage_filename: string
  file_size: number
  content_type: string
  created_at: string
  updated_at: string
  created_by_id: string
  created_by_username: string
  created_by_fullname: string | null
  description: string | null
  version: string | null
  storage_path: string
  checksum: string
  metadata: Record<string, unknown>
  custom_attributes?: Record<string, unknown>
}

/** Why a file was skipped; stable codes for scripts, next to a sentence for people. */
export type SkipCode =
  | 'unreadable'
  | 'too-large'
  | 'invalid-json'
  | 'invalid-field'
  | 'unsupported-version'
  | 'bad-file-id'
  | 'bad-checksum'
  | 'bad-file-size'
  | 'wrong-folder'
  | 'file-id-mismatch'
  | 'name-mismatch'
  | 'too-long'
  | 'duplicate-file-id'
  | 'conflict'
  | 'folder-unreadable'
  | 'outside-root'
  | 'inexact-number'

export type AttrCheck =
  | { ok: true; doc: AttrDocument }
  /** `claim` is the file_id the file names, when it is a well-formed uuid (used for duplicates and --prune). */
  | { ok: false; code: SkipCode; reason: string; claim?: string }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const UUID_IN_NAME = /_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/g
const CHECKSUM = /^[0-9a-fA-F]{64}$/
const STORAGE_PATH = /^\d{4}\/\d{2}\/\d{2}\/\d{2}\/$/
// `T` (isoformat) or a space (Python's str(datetime), the bucket writer's): both are what PostgreSQL reads.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-](\d{2}):(\d{2}))$/

const REQUIRED_STRINGS = [
  'file_id',
  'original_filename',
  'storage_filename',
  'content_type',
  'created_at',
  'updated_at',
  'created_by_id',
  'created_by_username',
  'storage_path',
  'checksum',
] as const
const NULLABLE_STRINGS = ['created_by_fullname', 'description', 'version'] as const

/** A UTF-16 surrogate without its partner (what String.prototype.isWellFormed looks for). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u
const ESCAPED_UNSTORABLE = /\\u(0000|[dD][89a-fA-F])/
const decoder = new TextDecoder('utf-8', { fatal: true })
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

/**
 * A timestamp PostgreSQL's timestamptz accepts exactly as written, checked here so that one bad
 * date is a skipped file and never a failed COPY.
 */
export function isIsoTimestamp(s: string): boolean {
  const m = TIMESTAMP.exec(s)
  if (!m) return false
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number)
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate()
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days || h > 23 || mi > 59 || sec > 59) return false
  return m[9] === undefined || (Number(m[9]) <= 15 && Number(m[10]) <= 59)
}

/** PostgreSQL text cannot hold NUL, and jsonb refuses unpaired surrogates: find either anywhere. */
function unstorable(v: unknown, where: string): string | undefined {
  if (typeof v === 'string') {
    if (v.includes('\u0000')) return `${where} contains a NUL character (\\u0000), which PostgreSQL cannot store`
    if (LONE_SURROGATE.test(v)) return `${where} contains an unpaired UTF-16 surrogate, which PostgreSQL cannot store`
  } else if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = unstorable(v[i], `${where}[${i}]`)
      if (r) return r
    }
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      const r = unstorable(k, `a key of ${where}`) ?? unstorable(x, `${where}.${k}`)
      if (r) return r
    }
  }
  return undefined
}

/** The uuid a storage filename ends with (`<stem>_<username>_<timestamp>_<uuid><ext>`), lower case. */
export function uuidOfStorageFilename(name: string): string | undefined {
  let last: string | undefined
  for (const m of name.matchAll(UUID_IN_NAME)) last = m[1]
  return last?.toLowerCase()
}

function fieldTypes(j: Record<string, unknown>): AttrCheck | undefined {
  const bad = (field: string, want: string) =>
    ({
      ok: false,
      code: 'invalid-field',
      reason: field in j ? `${field} is ${typeName(j[field])}, expected ${want}` : `required field ${field} is missing`,
    }) as const
  for (const f of REQUIRED_STRINGS) if (typeof j[f] !== 'string') return bad(f, 'a string')
  for (const f of NULLABLE_STRINGS) if (f in j && j[f] !== null && typeof j[f] !== 'string') return bad(f, 'a string or null')
  if (typeof j.file_size !== 'number') return bad('file_size', 'an integer')
  if (!Number.isSafeInteger(j.file_size)) return { ok: false, code: 'invalid-field', reason: `file_size ${j.file_size} is not an integer` }
  if ('metadata' in j && !isObject(j.metadata)) return bad('metadata', 'an object')
  return undefined
}

/** Validates a parsed attr.json found in hour folder `folder` under the name `<name>.attr.json`. */
export function validateAttr(j: unknown, entry: { folder: string; name: string }, raw?: string): AttrCheck {
  if (!isObject(j)) return { ok: false, code: 'invalid-json', reason: `the document is ${typeName(j)}, expected an object` }
  const claim = typeof j.file_id === 'string' && UUID.test(j.file_id) ? j.file_id : undefined
  const fail = (code: SkipCode, reason: string): AttrCheck => ({ ok: false, code, reason, claim })
  const version = j.schema_version
  if (version !== undefined && version !== '1.0' && version !== '2.0') {
    return fail('unsupported-version', `schema_version ${JSON.stringify(version)} is not supported (only 1.0, or none, and 2.0)`)
  }
  const types = fieldTypes(j)
  if (types) return { ...types, claim } as AttrCheck
  if (version === '2.0' && 'custom_attributes' in j && !isObject(j.custom_attributes)) {
    return fail('invalid-field', `custom_attributes is ${typeName(j.custom_attributes)}, expected an object`)
  }
  const doc = j as unknown as AttrDocument
  if (!claim) return fail('bad-file-id', `file_id ${JSON.stringify(doc.file_id)} is not a uuid (lower-case 8-4-4-4-12 hex)`)
  if (!CHECKSUM.test(doc.checksum)) return fail('bad-checksum', `checksum is not 64 hex digits (${doc.checksum.length} characters)`)
  if (doc.file_size <= 0) return fail('bad-file-size', `file_size is ${doc.file_size}, must be > 0`)
  for (const f of ['created_at', 'updated_at'] as const) {
    if (!isIsoTimestamp(doc[f])) return fail('invalid-field', `${f} ${JSON.stringify(doc[f])} is not an ISO-8601 timestamp with offset`)
  }
  if (!STORAGE_PATH.test(doc.storage_path) || doc.storage_path !== entry.folder) {
    return fail('wrong-folder', `storage_path ${JSON.stringify(doc.storage_path)} does not match the file's folder ${entry.folder}`)
  }
  // The storage element names its folders after the hour a file arrived: 2025/13/45/99/ is none.
  const [y, mo, d, h] = doc.storage_path.split('/')
  if (!isIsoTimestamp(`${y}-${mo}-${d}T${h}:00:00Z`)) {
    return fail(
      'wrong-folder',
      `storage_path ${JSON.stringify(doc.storage_path)} is not a date and hour (YYYY/MM/DD/HH/, as the storage element names its folders)`,
    )
  }
  const inName = uuidOfStorageFilename(doc.storage_filename)
  if (inName !== doc.file_id) {
    return fail(
      'file-id-mismatch',
      inName ? `file_id ${doc.file_id} does not match the uuid ${inName} in storage_filename` : `storage_filename has no _<uuid> for file_id ${doc.file_id}`,
    )
  }
  if (doc.storage_filename !== entry.name) return fail('name-mismatch', `the file is not named after its storage_filename (${doc.storage_filename}.attr.json)`)
  // NUL and lone surrogates can only come from \u escapes (raw ones are invalid JSON or UTF-8): walk the values only then.
  const bad = (!raw || ESCAPED_UNSTORABLE.test(raw)) && unstorable(j, 'the document')
  if (bad) return fail('invalid-field', bad)
  return { ok: true, doc: { ...doc, metadata: (j.metadata as Record<string, unknown> | undefined) ?? {} } }
}

/** JSON numbers (outside strings) and where they start. */
const NUMBER_TOKENS = /"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g

/** A decimal number written canonically (sign, significant digits, exponent), to compare two spellings of one value. */
function canonical(n: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(n)
  if (!m) return n
  const all = `${m[2]}${m[3] ?? ''}`
  const exponent = Number(m[4] ?? 0) - (m[3] ?? '').length
  const lead = all.replace(/^0+/, '')
  if (!lead) return '0'
  const digits = lead.replace(/0+$/, '')
  return `${m[1]}${digits}e${exponent + (lead.length - digits.length)}`
}

/**
 * The first number JavaScript cannot keep exactly (out of range, or more digits than a double holds):
 * stored, it would become null or another number. Its offset, for the report.
 */
function inexactNumber(text: string): number | undefined {
  for (const m of text.matchAll(NUMBER_TOKENS)) {
    const token = m[1]
    if (token === undefined) continue
    const value = Number(token)
    if (!Number.isFinite(value) || canonical(token) !== canonical(String(value))) return m.index
  }
  return undefined
}

/** Parses bytes read from an attr.json (at most MAX_ATTR_BYTES). Reports never quote the file's bytes. */
export function parseAttr(bytes: Uint8Array, entry: { folder: string; name: string }): AttrCheck {
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return { ok: false, code: 'invalid-json', reason: 'not valid UTF-8' }
  }
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch (e) {
    const message = (e as Error).message
    const at = /position (\d+)/.exec(message)?.[1]
    const why = at ? ` at byte ${at}` : /end of JSON input/.test(message) ? ' (it ends early)' : ' (an unexpected character)'
    return { ok: false, code: 'invalid-json', reason: `invalid JSON${why}` }
  }
  const inexact = inexactNumber(text)
  const check = validateAttr(j, entry, text)
  if (inexact !== undefined && check.ok)
    return {
      ok: false,
      code: 'inexact-number',
      reason: `the number at byte ${inexact} cannot be kept exactly (out of range, or more digits than it can hold)`,
      claim: check.doc.file_id,
    }
  return check
}

const readBuffer = Buffer.allocUnsafe(MAX_ATTR_BYTES + 1)
const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants

const kindOf = (st: fs.Stats) =>
  st.isDirectory()
    ? 'a folder'
    : st.isFIFO()
      ? 'a FIFO'
      : st.isSocket()
        ? 'a socket'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : 'not a regular file'

/**
 * Reads one attr.json (refusing files over MAX_ATTR_BYTES unread) and validates it. Only a regular
 * file is read, opened without blocking (a FIFO or device would otherwise hang the rebuild), and a
 * link is followed only to a file inside the root. Synchronous on purpose: for files this small,
 * plain system calls cost a fraction of a thread-pool round trip, and the rebuild's reader is one loop
 * feeding one COPY stream.
 */
export function readAttr(entry: Extract<WalkEntry, { kind: 'file' }>): AttrCheck {
  let fd: number | undefined
  try {
    try {
      fd = fs.openSync(entry.abs, O_RDONLY | O_NONBLOCK | (entry.root ? O_NOFOLLOW : 0))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOOP' || !entry.root) throw e
      const target = fs.realpathSync(entry.abs)
      if (!insideRoot(entry.root, target)) return { ok: false, code: 'outside-root', reason: 'is a link out of the root: not read' }
      fd = fs.openSync(target, O_RDONLY | O_NONBLOCK)
    }
    const st = fs.fstatSync(fd)
    if (!st.isFile()) return { ok: false, code: 'unreadable', reason: `could not be read (${kindOf(st)}, not a regular file)` }
    const bytesRead = fs.readSync(fd, readBuffer, 0, readBuffer.length, 0)
    if (bytesRead > MAX_ATTR_BYTES) {
      return { ok: false, code: 'too-large', reason: `larger than ${MAX_ATTR_BYTES} bytes (${st.size} bytes)` }
    }
    return parseAttr(readBuffer.subarray(0, bytesRead), entry)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // A name that is not UTF-8 reaches us with U+FFFD in it, which names no file: say so, not ENOENT.
    if (code === 'ENOENT' && entry.abs.includes('\uFFFD'))
      return { ok: false, code: 'unreadable', reason: 'could not be read (its name is not valid UTF-8: rename the file)' }
    return { ok: false, code: 'unreadable', reason: `could not be read (${code ?? (e as Error).message})` }
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
