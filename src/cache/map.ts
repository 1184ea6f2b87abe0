/**
 * From a validated attr.json to the row of each cache, field by field as legacy-schema.md §7.2 (the
 * storage element's `<prefix>_files`) and §4.1 (the query module's `file_metadata_cache`) say.
 * Values longer than a column holds make the file a skipped one here, never a failed COPY.
 */
import type { AttrDocument } from './attr.ts'
import { arrayLiteral, type CopyValue } from './copy.ts'

/** Characters as PostgreSQL's varchar(n) counts them (code points, not UTF-16 units). */
export const charLength = (s: string): number => {
  let n = 0
  for (const _ of s) n++
  return n
}

export type Mapped = { ok: true; values: CopyValue[]; notes: string[] } | { ok: false; reason: string }

function tooLong(limits: readonly (readonly [string, string | null, number])[]): string | undefined {
  for (const [column, value, max] of limits) {
    if (value !== null && charLength(value) > max) return `${column} is ${charLength(value)} characters, the cache column holds ${max}`
  }
  return undefined
}

/** The columns of `<prefix>_files` a rebuild writes, in COPY order (search_vector comes from the trigger). */
export const STORAGE_COLUMNS = [
  'file_id',
  'original_filename',
  'storage_filename',
  'file_size',
  'content_type',
  'created_at',
  'updated_at',
  'created_by_id',
  'created_by_username',
  'created_by_fullname',
  'description',
  'version',
  'storage_path',
  'checksum',
  'metadata_json',
] as const

/** `<prefix>_files`: every §7.2 field to its column; metadata (default {}) to metadata_json. */
export function storageRow(d: AttrDocument): Mapped {
  const long = tooLong([
    ['original_filename', d.original_filename, 500],
    ['storage_filename', d.storage_filename, 500],
    ['content_type', d.content_type, 255],
    ['created_by_id', d.created_by_id, 255],
    ['created_by_username', d.created_by_username, 255],
    ['created_by_fullname', d.created_by_fullname ?? null, 500],
    ['version', d.version ?? null, 50],
  ])
  if (long) return { ok: false, reason: long }
  return {
    ok: true,
    notes: [],
    values: [
      d.file_id,
      d.original_filename,
      d.storage_filename,
      d.file_size,
      d.content_type,
      d.created_at,
      d.updated_at,
      d.created_by_id,
      d.created_by_username,
      d.created_by_fullname ?? null,
      d.description ?? null,
      d.version ?? null,
      d.storage_path,
      d.checksum,
      JSON.stringify(d.metadata),
    ],
  }
}

/** The query cache keeps at most this many tags (check_tags_count) of at most this many characters (varchar(50)[]). */
export const MAX_TAGS = 50
export const MAX_TAG_CHARS = 50

/** metadata.tags as the query cache can hold them, and a note for everything that was cut. */
export function cacheTags(metadata: Record<string, unknown>): { tags: string[] | null; notes: string[] } {
  const raw = metadata.tags
  if (raw === undefined || raw === null) return { tags: null, notes: [] }
  if (!Array.isArray(raw)) return { tags: null, notes: [`metadata.tags is ${typeof raw}, not a list: no tags cached`] }
  const notes: string[] = []
  const strings = raw.filter((t): t is string => typeof t === 'string')
  if (strings.length < raw.length) notes.push(`${raw.length - strings.length} tag(s) that are not strings dropped`)
  if (strings.length > MAX_TAGS) notes.push(`${strings.length} tags, kept the first ${MAX_TAGS}`)
  const tags = strings.slice(0, MAX_TAGS).map((t) => {
    if (charLength(t) <= MAX_TAG_CHARS) return t
    const cut = [...t].slice(0, MAX_TAG_CHARS).join('')
    notes.push(`tag ${JSON.stringify(cut)}… cut to ${MAX_TAG_CHARS} characters (was ${charLength(t)})`)
    return cut
  })
  return { tags, notes }
}

/** The columns of `file_metadata_cache` a rebuild writes from the file, in COPY order. */
export const QUERY_COLUMNS = [
  'id',
  'filename',
  'storage_filename',
  'file_size',
  'mime_type',
  'sha256_hash',
  'username',
  'tags',
  'description',
  'created_at',
  'updated_at',
] as const

/** `file_metadata_cache` (§4.1): the file's uuid as text, names, size, type, hash, owner, tags, description, times. */
export function queryRow(d: AttrDocument): Mapped {
  const long = tooLong([
    ['original_filename', d.original_filename, 255],
    ['storage_filename', d.storage_filename, 512],
    ['content_type', d.content_type, 127],
    ['created_by_username', d.created_by_username, 255],
  ])
  if (long) return { ok: false, reason: long.replace('the cache column', 'file_metadata_cache') }
  const { tags, notes } = cacheTags(d.metadata)
  return {
    ok: true,
    notes,
    values: [
      d.file_id,
      d.original_filename,
      d.storage_filename,
      d.file_size,
      d.content_type,
      // One spelling per digest, as the services write it (lower case): where sha256_hash is unique, upper and lower case must meet there.
      d.checksum.toLowerCase(),
      d.created_by_username,
      tags && arrayLiteral(tags),
      d.description ?? null,
      d.created_at,
      d.updated_at,
    ],
  }
}
