/**
 * Realistic attr.json trees, byte for byte as the storage element writes them (legacy-schema.md
 * §7.1, §7.2): pydantic's `model_dump_json(indent=2)` — 2-space indent, non-ASCII written literally,
 * fields in model order, nulls written, no trailing newline. Deterministic for a seed; streamed, so
 * a million files cost no more memory than ten. Used by the tests and by the rebuild benchmark.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { AttrDocument } from '../../src/cache/attr.ts'

/** A small seeded PRNG (mulberry32): the same seed gives the same tree. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const NAMES = [
  'Smeta 2025 v2.xlsx',
  'Годовой отчёт о работе.pdf',
  'отчеты.pdf',
  'Договор №17 (копия).docx',
  '写真 2024 東京.jpg',
  'façade – plan final.dwg',
  'Ünïcödé naïve résumé.txt',
  'emoji 🎨 art board.png',
  'scan:2025/03?.tiff',
  'archive.tar.gz',
  'README',
  '.env',
  'Презентация для совета директоров.pptx',
  'data export 2025-12-03.csv',
]
const TYPES: Record<string, string> = {
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  jpg: 'image/jpeg',
  dwg: 'image/vnd.dwg',
  txt: 'text/plain',
  png: 'image/png',
  tiff: 'image/tiff',
  gz: 'application/gzip',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  csv: 'text/csv',
}
const USERS: [id: string, username: string, fullname: string | null][] = [
  ['17', 'a.ivanov', 'Алексей Иванов'],
  ['3', 'petrov', 'Пётр Петров'],
  ['42', 'maria.s', null],
  ['8', 'jdoe', 'John Doe'],
  ['11', 'chen.li', '李晨'],
]
const DESCRIPTIONS = [
  null,
  'Смета на 2025 год, вторая редакция',
  'годовые отчеты',
  'scanned at the front desk',
  'Проект фасада, финальная версия',
  'Q4 numbers',
]
const TAGS = ['finance', 'estimate', 'финансы', 'отчёт', 'legal', 'design', 'архив', '写真']

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** Python's Path(name).stem / .suffix: a leading dot is part of the stem. */
function splitName(name: string): [stem: string, ext: string] {
  const dot = name.lastIndexOf('.')
  return dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
}

/** `< > : " / \ | ? *` and control characters become `_`; runs of `_` collapse; `_` trimmed at both ends. */
const sanitize = (s: string) =>
  s
    .replace(/[<>:"/\\|?*\u0000-\u001f\u007f]/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '')

/** `<stem>_<username>_<YYYYMMDDTHHMMSS>_<uuid><ext>`, at most 200 characters (the stem is cut and gets `...`). */
export function storageFilename(original: string, username: string, at: Date, fileId: string): string {
  const [rawStem, rawExt] = splitName(original)
  const stem = sanitize(rawStem) || 'file'
  const ext = sanitize(rawExt)
  const ts = `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}T${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`
  const tail = `_${username}_${ts}_${fileId}${ext}`
  const room = 200 - tail.length
  return ([...stem].length > room ? `${[...stem].slice(0, room - 3).join('')}...` : stem) + tail
}

/** `2025-12-03T14:27:55.804211+00:00`, the way the service writes its UTC timestamps. */
export const isoMicros = (at: Date, micros: number) =>
  `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}T${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}.${pad(micros, 6)}+00:00`

const hex = (rnd: () => number, n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('')
const uuid = (rnd: () => number) => `${hex(rnd, 8)}-${hex(rnd, 4)}-4${hex(rnd, 3)}-${'89ab'[Math.floor(rnd() * 4)]}${hex(rnd, 3)}-${hex(rnd, 12)}`

export interface GeneratedAttr {
  doc: AttrDocument
  /** Written in the S3 layout (`.attrs/` under the hour folder) rather than next to the data file. */
  s3: boolean
  /** Path relative to the root. */
  rel: string
}

export interface GenerateOptions {
  /** How many files; default 100. */
  count?: number
  seed?: number
  /** Share of v2.0 files (schema_version "2.0", custom_attributes); default 0.2. */
  v2Share?: number
  /** Share of files in the S3 layout; default 0.2. */
  s3Share?: number
  /** Files per hour folder; default 50. */
  perHour?: number
  /** First hour of the tree; default 2025-01-01T00:00Z. */
  start?: Date
}

/** The attr.json documents of a tree, one at a time. */
export function* generateAttrs(o: GenerateOptions = {}): Generator<GeneratedAttr> {
  const rnd = prng(o.seed ?? 1)
  const count = o.count ?? 100
  const perHour = o.perHour ?? 50
  const start = (o.start ?? new Date(Date.UTC(2025, 0, 1))).getTime()
  for (let i = 0; i < count; i++) {
    const hourStart = start + Math.floor(i / perHour) * 3_600_000
    const created = new Date(hourStart + Math.floor((rnd() * 3_600_000) / 1000) * 1000)
    const updated = new Date(created.getTime() + Math.floor(rnd() * 7200) * 1000)
    const [createdById, username, fullname] = USERS[Math.floor(rnd() * USERS.length)]
    const original = NAMES[Math.floor(rnd() * NAMES.length)]
    const fileId = uuid(rnd)
    const ext = splitName(original)[1].slice(1).toLowerCase()
    const v2 = rnd() < (o.v2Share ?? 0.2)
    const s3 = rnd() < (o.s3Share ?? 0.2)
    const tagCount = Math.floor(rnd() * 4)
    const metadata: Record<string, unknown> = tagCount ? { project: `p-${i % 7}`, tags: TAGS.slice(0, tagCount) } : {}
    const doc: AttrDocument = {
      ...(v2 ? { schema_version: '2.0' as const } : {}),
      file_id: fileId,
      original_filename: original,
      storage_filename: storageFilename(original, username, created, fileId),
      file_size: 1 + Math.floor(rnd() * 50_000_000),
      content_type: TYPES[ext] ?? 'application/octet-stream',
      created_at: isoMicros(created, Math.floor(rnd() * 1e6)),
      updated_at: isoMicros(updated, Math.floor(rnd() * 1e6)),
      created_by_id: createdById,
      created_by_username: username,
      created_by_fullname: fullname,
      description: DESCRIPTIONS[Math.floor(rnd() * DESCRIPTIONS.length)],
      version: rnd() < 0.5 ? null : String(1 + Math.floor(rnd() * 5)),
      storage_path: `${created.getUTCFullYear()}/${pad(created.getUTCMonth() + 1)}/${pad(created.getUTCDate())}/${pad(created.getUTCHours())}/`,
      checksum: hex(rnd, 64),
      metadata,
      ...(v2 ? { custom_attributes: rnd() < 0.5 ? {} : { department: 'бухгалтерия', priority: 2 } } : {}),
    }
    yield { doc, s3, rel: attrRelPath(doc, s3) }
  }
}

/** Where the storage element puts a document's attr.json, relative to its base folder. */
export const attrRelPath = (doc: Pick<AttrDocument, 'storage_path' | 'storage_filename'>, s3 = false) =>
  `${doc.storage_path}${s3 ? '.attrs/' : ''}${doc.storage_filename}.attr.json`

/** The bytes of an attr.json: fields in the model's order, as JSON.stringify keeps insertion order. */
export function renderAttr(doc: AttrDocument): string {
  return JSON.stringify(doc, null, 2)
}

/** Writes the tree under `root` (created if needed), a few files at a time; returns how many files and bytes. */
export async function writeAttrTree(root: string, o: GenerateOptions = {}, each?: (g: GeneratedAttr) => void): Promise<{ files: number; bytes: number }> {
  // One mkdir per folder, shared by every writer that needs it before it exists.
  const made = new Map<string, Promise<unknown>>()
  let files = 0
  let bytes = 0
  const it = generateAttrs(o)
  const writer = async () => {
    for (let n = it.next(); !n.done; n = it.next()) {
      const g = n.value
      each?.(g)
      const abs = path.join(root, g.rel)
      const dir = path.dirname(abs)
      if (!made.has(dir)) made.set(dir, fs.promises.mkdir(dir, { recursive: true }))
      await made.get(dir)
      const text = renderAttr(g.doc)
      await fs.promises.writeFile(abs, text)
      files++
      bytes += Buffer.byteLength(text)
    }
  }
  await Promise.all(Array.from({ length: 16 }, writer))
  return { files, bytes }
}
