/**
 * An S3 bucket folder as a source of attr.json files, as the storage elements write them since
 * upstream 7d07e21 (legacy-schema.md §9.5): `<app folder>/YYYY/MM/DD/HH/<storage_filename>.attr.json`
 * beside the data object. Endpoint, credentials and region come from the storage element's own
 * variables; addressing is path-style (MinIO without a domain).
 *
 * One ListObjectsV2 after the other (continuation tokens, the next page fetched while this one is
 * read), and a bounded pool of GETs over kept-alive connections (readEntries), each signed with the
 * SDK's own signer and sent without the rest of its GetObject stack (s3-get.ts). Throttling, 5xx and
 * connection errors are retried with backoff; a listing that still fails fails the run.
 */
import http from 'node:http'
import https from 'node:https'
import { HeadObjectCommand, ListObjectsV2Command, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3'
import { maskUrl } from '../config/urls.ts'
import { MAX_BUCKET_ATTR_BYTES, parseAttr } from './attr.ts'
import { SignedGetter } from './s3-get.ts'
import { S3BucketMissingError, S3CredentialsRefusedError, S3ListingFailedError, S3RootError, S3SettingMissingError, S3UnreachableError } from './errors.ts'
import { newStats, type AttrSource, type Listed, type ReadResult, type SourceEntry } from './source.ts'
import { ATTR_SUFFIX } from './walk.ts'

// The SDK warns, once per process on stderr, that its releases after January 2027 will need Node 22;
// the version pinned here runs on Node 20 (package.json engines), and the warning would garble reports.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/**
 * GETs in flight at once. Against s3rver (one Node process: one core) the server is the limit from
 * about 16 on: with the signed GETs of s3-get.ts, 4 000 GETs on the loaded 2-core machine went at
 * 689/s at 8, 753/s at 16, 813/s at 32, 548/s at 64 and 755/s at 128, within the machine's noise of
 * each other from 16 up (s3rver itself at 85-100% of its core). Against MinIO on a host of its own,
 * every GET also waits a network round trip, and only GETs in flight hide it: 64 keeps a many-core
 * server busy over a millisecond of latency, for 64 sockets and at most 128 entries held (each body
 * bounded by MAX_BUCKET_ATTR_BYTES). With the SDK's own GetObject, its CPU (about 1 ms a GET) was the
 * limit instead (legacy-schema.md §9.5).
 */
export const DEFAULT_S3_CONCURRENCY = 64

/** Tries of one request (the first and the retries), and the backoff between them. */
const ATTEMPTS = 6
const OPEN_ATTEMPTS = 3
const BACKOFF_MS = 100
const BACKOFF_CAP_MS = 3000

/** A key the storage element writes: `<app folder>/` then the hour folder, then `<storage_filename>.attr.json`. */
const DATED_KEY = /^(\d{4}\/\d{2}\/\d{2}\/\d{2}\/)([^/]+)$/

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
])
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'RequestTimeout', 'InternalError', 'ServiceUnavailable'])
const REFUSED = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken'])

interface SdkError {
  name?: string
  code?: string
  message?: string
  cause?: { code?: string }
  $metadata?: { httpStatusCode?: number }
}
const statusOf = (e: SdkError) => e?.$metadata?.httpStatusCode
const connectionCode = (e: SdkError) => [e?.code, e?.cause?.code].find((c) => c && CONNECTION_CODES.has(c))

/** Worth another try: throttled, a 5xx, a connection that failed or dropped (mid-body included). */
export function isTransient(e: unknown): boolean {
  const err = e as SdkError
  const status = statusOf(err)
  if (status === 429 || (status !== undefined && status >= 500)) return true
  if (err?.name && THROTTLING.has(err.name)) return true
  if (connectionCode(err) || err?.name === 'TimeoutError') return true
  return /socket hang up|aborted|premature close|ECONNRESET/i.test(String(err?.message ?? ''))
}

/** A short, secret-free name for an error: its S3 code or its connection code, and the HTTP status. */
function describe(e: unknown): string {
  const err = e as SdkError
  const status = statusOf(err)
  const code = connectionCode(err) ?? (err?.name && err.name !== 'Error' ? err.name : undefined) ?? 'error'
  return status ? `${code}, HTTP ${status}` : code
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function withRetries<T>(op: () => Promise<T>, attempts = ATTEMPTS): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op()
    } catch (e) {
      if (i >= attempts || !isTransient(e)) throw e
      await sleep(Math.min(BACKOFF_CAP_MS, BACKOFF_MS * 2 ** (i - 1)) * (0.5 + Math.random() / 2))
    }
  }
}

/** `s3://<bucket>/<app folder>` split; the folder may be empty (keys then start with the year). */
export function parseS3Root(root: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(root)
  if (!m) throw new S3RootError(root, 'is not s3://<bucket>/<app folder>')
  const bucket = m[1]
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new S3RootError(root, `names the bucket "${bucket}", which is not a valid bucket name`)
  const folder = m[2].replace(/\/+$/, '')
  if (folder.split('/').some((p) => p === '' || p === '.' || p === '..') && folder !== '')
    throw new S3RootError(root, 'has an empty, . or .. part in its folder')
  return { bucket, prefix: folder ? `${folder}/` : '' }
}

export interface S3Settings {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region: string
}

/** The storage element's S3 settings, from its own variables (region: us-east-1 when unset). */
export function s3Settings(env: Record<string, string | undefined>): S3Settings {
  const need = (name: string) => {
    const v = env[name]
    if (!v) throw new S3SettingMissingError(name)
    return v
  }
  const endpoint = need('STORAGE_S3_ENDPOINT_URL')
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol))
    throw new S3UnreachableError(maskUrl(endpoint), 'STORAGE_S3_ENDPOINT_URL is not an http(s) URL')
  return {
    endpoint,
    accessKeyId: need('STORAGE_S3_ACCESS_KEY_ID'),
    secretAccessKey: need('STORAGE_S3_SECRET_ACCESS_KEY'),
    region: env.STORAGE_S3_REGION || 'us-east-1',
  }
}

export class S3Source implements AttrSource {
  readonly label: string
  readonly stats = newStats()
  private readonly client: S3Client
  /** The GETs of the files: signed here, over their own kept-alive agent (s3-get.ts). */
  private readonly getter: SignedGetter
  private readonly bucket: string
  private readonly prefix: string
  private readonly endpoint: string

  constructor(
    root: string,
    settings: S3Settings,
    readonly concurrency = DEFAULT_S3_CONCURRENCY,
  ) {
    ;({ bucket: this.bucket, prefix: this.prefix } = parseS3Root(root))
    this.label = `s3://${this.bucket}/${this.prefix.replace(/\/$/, '')}`
    this.endpoint = maskUrl(settings.endpoint)
    this.getter = new SignedGetter(settings, concurrency)
    const agent = { keepAlive: true, maxSockets: 4 }
    this.client = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
      forcePathStyle: true,
      // Retries are ours (withRetries): every kind the issue names, without the SDK's retry quota.
      maxAttempts: 1,
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      requestHandler: { httpAgent: new http.Agent(agent), httpsAgent: new https.Agent(agent), connectionTimeout: 5000, requestTimeout: 30_000 },
    })
  }

  private listPage(token?: string, max = 1000): Promise<ListObjectsV2CommandOutput> {
    return this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token, MaxKeys: max }))
  }

  async open(): Promise<void> {
    try {
      await withRetries(() => this.listPage(undefined, 1), OPEN_ATTEMPTS)
    } catch (e) {
      const err = e as SdkError
      const status = statusOf(err)
      if (err?.name === 'NoSuchBucket') throw new S3BucketMissingError(this.bucket, this.endpoint)
      if ((err?.name && REFUSED.has(err.name)) || status === 401 || status === 403) throw new S3CredentialsRefusedError(this.bucket, this.endpoint, describe(e))
      if (connectionCode(err) || err?.name === 'TimeoutError' || !status) throw new S3UnreachableError(this.endpoint, describe(e))
      throw new S3UnreachableError(this.endpoint, `it answered ${describe(e)}`)
    }
  }

  async *list(): AsyncGenerator<Listed> {
    const page = (token?: string) => withRetries(() => this.listPage(token)).catch((e) => Promise.reject(new S3ListingFailedError(this.label, describe(e))))
    let next: Promise<ListObjectsV2CommandOutput> | undefined = page()
    while (next) {
      const got: ListObjectsV2CommandOutput = await next
      next = got.IsTruncated && got.NextContinuationToken ? page(got.NextContinuationToken) : undefined
      // Fetched while this page is read; a failure is raised where it is awaited.
      next?.catch(() => undefined)
      for (const o of got.Contents ?? []) {
        const key = o.Key
        if (!key?.startsWith(this.prefix) || !key.endsWith(ATTR_SUFFIX)) continue
        const m = DATED_KEY.exec(key.slice(this.prefix.length))
        if (!m || m[2] === ATTR_SUFFIX) continue
        this.stats.listed++
        yield { kind: 'file', rel: `${m[1]}${m[2]}`, folder: m[1], name: m[2].slice(0, -ATTR_SUFFIX.length), size: o.Size } as Listed
      }
    }
  }

  async read(entry: SourceEntry): Promise<ReadResult> {
    const size = (entry as SourceEntry & { size?: number }).size
    if (size !== undefined && size > MAX_BUCKET_ATTR_BYTES)
      return { ok: false, code: 'too-large', reason: `larger than ${MAX_BUCKET_ATTR_BYTES} bytes (${size} bytes listed): not read` }
    let bytes: Uint8Array
    try {
      const got = await withRetries(() => this.getter.get(this.bucket, `${this.prefix}${entry.rel}`, MAX_BUCKET_ATTR_BYTES))
      // Overwritten since it was listed: the newest content is read, under the same bound.
      if (!(got instanceof Uint8Array)) return { ok: false, code: 'too-large', reason: `larger than ${MAX_BUCKET_ATTR_BYTES} bytes: not read` }
      bytes = got
    } catch (e) {
      const err = e as SdkError
      if (err?.name === 'NoSuchKey' || statusOf(err) === 404) return { gone: true }
      return { ok: false, code: 'unreadable', reason: `could not be read (${describe(e)})` }
    }
    return parseAttr(bytes, entry)
  }

  async has(folder: string, name: string): Promise<boolean> {
    try {
      await withRetries(() => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${folder}${name}${ATTR_SUFFIX}` })))
      return true
    } catch (e) {
      // Only a clear "not there" lets --prune delete; anything else keeps the row.
      return !(statusOf(e as SdkError) === 404 || (e as SdkError)?.name === 'NotFound')
    }
  }

  async close(): Promise<void> {
    this.getter.destroy()
    this.client.destroy()
  }
}
