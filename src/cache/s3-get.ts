/**
 * One S3 GetObject, signed here (AWS Signature Version 4, path-style) and sent over a kept-alive
 * node:http(s) agent: the read a rebuild makes once per file. The SDK's GetObjectCommand costs about
 * 1 ms of CPU a request on top of the request itself (its middleware stack, endpoint rules, response
 * checksum and deserialisation), which on a small host is as much as the server's own work; this path
 * costs a fifth of it. Listings, HEADs and the opening check stay with the SDK.
 *
 * Errors are shaped as the SDK shapes them (`name` is the S3 error code or a connection code,
 * `$metadata.httpStatusCode`), so one retry rule and one description serve both paths.
 */
import crypto from 'node:crypto'
import http from 'node:http'
import https from 'node:https'

export interface SignedGetSettings {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region: string
}

/** The hash of an empty body: what a GET signs as its payload. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** A key or bucket path as SigV4 and S3 want it: every byte but A-Z a-z 0-9 - . _ ~ and `/` percent-encoded (uppercase hex). */
export const encodePath = (p: string): string =>
  encodeURIComponent(p)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, '/')

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex')
const hmac = (key: crypto.BinaryLike, s: string) => crypto.createHmac('sha256', key).update(s).digest()

/** `20260102T030405Z` of a date. */
export const amzDate = (d: Date) => d.toISOString().replace(/[-:]|\.\d{3}/g, '')

export interface SignedRequest {
  path: string
  headers: Record<string, string>
}

/** The request path of an object, path-style: `<endpoint path>/<bucket>/<key>`, encoded. */
export const objectPath = (basePath: string, bucket: string, key: string) => `${basePath}/${encodePath(bucket)}/${encodePath(key)}`

/**
 * The headers of a signed GET of `path` (encoded, as objectPath makes it) at `date`: host,
 * x-amz-date, x-amz-content-sha256 and the `extra` headers are signed; `query` is the canonical query
 * string (none for these reads). `signingKeys` caches the day's derived key.
 */
export function signGet(
  s: Omit<SignedGetSettings, 'endpoint'> & { host: string },
  path: string,
  date: Date,
  signingKeys = new Map<string, Buffer>(),
  extra: Record<string, string> = {},
  query = '',
): SignedRequest {
  const stamp = amzDate(date)
  const day = stamp.slice(0, 8)
  const scope = `${day}/${s.region}/s3/aws4_request`
  const headers: Record<string, string> = { host: s.host, 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': stamp }
  for (const [k, v] of Object.entries(extra)) headers[k.toLowerCase()] = v.trim()
  const names = Object.keys(headers).sort()
  const canonical = ['GET', path, query, ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), EMPTY_SHA256].join('\n')
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256(canonical)].join('\n')
  let signingKey = signingKeys.get(scope)
  if (!signingKey) {
    signingKey = hmac(hmac(hmac(hmac(`AWS4${s.secretAccessKey}`, day), s.region), 's3'), 'aws4_request')
    signingKeys.clear()
    signingKeys.set(scope, signingKey)
  }
  const signature = crypto.createHmac('sha256', signingKey).update(toSign).digest('hex')
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${s.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
  return { path, headers }
}

/** An error as the SDK would throw it: the S3 code (or connection code) as its name, the HTTP status in $metadata. */
class S3GetError extends Error {
  constructor(
    readonly name: string,
    status: number | undefined,
    readonly code?: string,
  ) {
    super(status ? `${name} (HTTP ${status})` : name)
    this.$metadata = { httpStatusCode: status }
  }
  readonly $metadata: { httpStatusCode?: number }
}

const ERROR_CODE = /<Code>([^<]{1,100})<\/Code>/

/** Signed GETs of one endpoint, over kept-alive connections (at most `maxSockets` at once). */
export class SignedGetter {
  private readonly agent: http.Agent
  private readonly request: typeof http.request
  private readonly url: URL
  private readonly basePath: string
  private readonly keys = new Map<string, Buffer>()

  constructor(
    private readonly settings: SignedGetSettings,
    maxSockets: number,
    private readonly timeoutMs = 30_000,
  ) {
    this.url = new URL(settings.endpoint)
    this.basePath = this.url.pathname.replace(/\/+$/, '')
    const tls = this.url.protocol === 'https:'
    this.agent = new (tls ? https : http).Agent({ keepAlive: true, maxSockets })
    this.request = tls ? https.request : http.request
  }

  /**
   * The object's bytes, or `{ tooLarge }` when its Content-Length exceeds `maxBytes` (the body is not
   * read). Throws an SDK-shaped error for any answer but 200, and for a connection that fails or drops.
   */
  get(bucket: string, key: string, maxBytes: number): Promise<Buffer | { tooLarge: number }> {
    const { path, headers } = signGet({ ...this.settings, host: this.url.host }, objectPath(this.basePath, bucket, key), new Date(), this.keys)
    return new Promise((resolve, reject) => {
      const req = this.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          method: 'GET',
          path,
          headers,
          agent: this.agent,
          timeout: this.timeoutMs,
        },
        (res) => {
          const status = res.statusCode ?? 0
          const length = Number(res.headers['content-length'])
          if (status === 200 && length > maxBytes) {
            res.destroy()
            resolve({ tooLarge: length })
            return
          }
          const chunks: Buffer[] = []
          let size = 0
          // A body is kept up to its bound (an answer without a length, or an error page, included).
          const bound = status === 200 ? maxBytes : 64 * 1024
          const dropped = () => reject(new S3GetError('ECONNRESET', undefined, 'ECONNRESET'))
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size <= bound) chunks.push(c)
          })
          res.on('error', dropped)
          res.on('close', () => res.complete || dropped())
          res.on('end', () => {
            const body = Buffer.concat(chunks)
            if (status === 200) resolve(size > bound ? { tooLarge: size } : body)
            else reject(new S3GetError(ERROR_CODE.exec(body.toString('utf8'))?.[1] ?? (status === 404 ? 'NotFound' : `HTTP${status}`), status))
          })
        },
      )
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
      req.on('error', (e: NodeJS.ErrnoException) => reject(new S3GetError(e.code ?? 'ECONNRESET', undefined, e.code ?? 'ECONNRESET')))
      req.end()
    })
  }

  destroy(): void {
    this.agent.destroy()
  }
}
