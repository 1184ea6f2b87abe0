/**
 * One S3 GetObject, signed with the SDK's own signer (`@smithy/signature-v4`, AWS Signature Version 4,
 * path-style) and sent over a kept-alive node:http(s) agent: the read a rebuild makes once per file.
 * The SDK's GetObjectCommand costs about 1 ms of CPU a request on top of the request itself (its
 * middleware stack, endpoint rules, response checksum and deserialisation), which on a small host is
 * as much as the server's own work; this path keeps only the signing. Listings, HEADs and the opening
 * check stay with the SDK.
 *
 * Errors are shaped as the SDK shapes them (`name` is the S3 error code or a connection code,
 * `$metadata.httpStatusCode`), so one retry rule and one description serve both paths.
 */
import http from 'node:http'
import https from 'node:https'
import { Sha256 } from '@smithy/core/checksum'
import { SignatureV4 } from '@smithy/signature-v4'

export interface SignedGetSettings {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region: string
}

/** A key or bucket path as SigV4 and S3 want it: every byte but A-Z a-z 0-9 - . _ ~ and `/` percent-encoded (uppercase hex). */
export const encodePath = (p: string): string =>
  encodeURIComponent(p)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, '/')

export interface SignedRequest {
  path: string
  headers: Record<string, string>
}

/** The request path of an object, path-style: `<endpoint path>/<bucket>/<key>`, encoded. */
export const objectPath = (basePath: string, bucket: string, key: string) => `${basePath}/${encodePath(bucket)}/${encodePath(key)}`

/**
 * The signer of S3 requests for these credentials, as the SDK's S3 client makes it: the node runtime's
 * Sha256 (node:crypto), the path signed as sent (S3 does not encode it a second time), the payload's
 * hash in x-amz-content-sha256. It caches the day's derived key.
 */
export const s3Signer = (s: Omit<SignedGetSettings, 'endpoint'>): SignatureV4 =>
  new SignatureV4({
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    region: s.region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  })

/**
 * The headers of a signed GET of `path` (encoded, as objectPath makes it) on `host` at `date`: host,
 * x-amz-date, x-amz-content-sha256 and the `extra` headers are signed; `query` is the query string's
 * parameters (none for these reads).
 */
export async function signGet(
  signer: SignatureV4,
  host: string,
  path: string,
  date: Date,
  extra: Record<string, string> = {},
  query: Record<string, string> = {},
): Promise<SignedRequest> {
  const headers: Record<string, string> = { host }
  for (const [k, v] of Object.entries(extra)) headers[k.toLowerCase()] = v
  // Only the method, path, query and headers are signed (the host through its header).
  const signed = await signer.sign({ method: 'GET', protocol: 'http:', hostname: host, path, query, headers }, { signingDate: date })
  return { path, headers: signed.headers }
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
  private readonly signer: SignatureV4

  constructor(
    settings: SignedGetSettings,
    maxSockets: number,
    private readonly timeoutMs = 30_000,
  ) {
    this.url = new URL(settings.endpoint)
    this.basePath = this.url.pathname.replace(/\/+$/, '')
    const tls = this.url.protocol === 'https:'
    this.agent = new (tls ? https : http).Agent({ keepAlive: true, maxSockets })
    this.request = tls ? https.request : http.request
    this.signer = s3Signer(settings)
  }

  /**
   * The object's bytes, or `{ tooLarge }` when its Content-Length exceeds `maxBytes` (the body is not
   * read). Throws an SDK-shaped error for any answer but 200, and for a connection that fails or drops.
   */
  async get(bucket: string, key: string, maxBytes: number): Promise<Buffer | { tooLarge: number }> {
    const { path, headers } = await signGet(this.signer, this.url.host, objectPath(this.basePath, bucket, key), new Date())
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
