/**
 * A real S3 server for the tests (s3rver, started as the embedded PostgreSQL is: a child process of
 * the test file, on a free port, stopped at the end), the services' key layout (legacy-schema.md
 * §9.5), and a fault-injecting proxy to put in front of it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import type { AttrDocument } from '../../src/cache/attr.ts'
import { projectRoot } from '../../src/modules.ts'
import { scratchRoot } from './workdir.ts'

// The SDK's notice about its releases after January 2027 (they will need Node 22) would fill the test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** The services' compose credentials (§9.5). */
export const S3_KEY = { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' }

export interface S3Server {
  endpoint: string
  port: number
  /** The storage element's variables pointing at this server. */
  env: Record<string, string>
  client: S3Client
  /** CPU seconds s3rver's processes have used so far (Linux: /proc; the bench's measure). */
  cpuSeconds(): number
  stop(): Promise<void>
}

/** CPU seconds of a process and its direct children, from /proc (0 where it cannot be read). */
function cpuOfTree(pid: number): number {
  const stat = (p: string) => {
    try {
      return fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')
    } catch {
      return undefined
    }
  }
  const cpu = (f: string[] | undefined) => (f ? (Number(f[11]) + Number(f[12])) / 100 : 0)
  let total = cpu(stat(String(pid)))
  for (const p of fs.readdirSync('/proc')) if (/^\d+$/.test(p) && stat(p)?.[1] === String(pid)) total += cpu(stat(p))
  return total
}

/**
 * Starts s3rver in a child process (`node --openssl-legacy-provider`), with a data folder of its own;
 * `workers` > 1 runs that many s3rver processes on the one port (the bench's option).
 */
export async function startS3(name: string, o: { workers?: number } = {}): Promise<S3Server> {
  const dir = path.join(scratchRoot, `s3-${name}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      path.join(projectRoot, 'test', 'helpers', 's3rver-child.mjs'),
      dir,
      S3_KEY.accessKeyId,
      S3_KEY.secretAccessKey,
      String(o.workers ?? 1),
    ],
    { cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout!.on('data', (d) => {
      out += d
      const line = out.split('\n')[0]
      if (out.includes('\n')) resolve(JSON.parse(line).port)
    })
    child.stderr!.on('data', (d) => (err += d))
    child.on('exit', (code) => reject(new Error(`s3rver exited (${code}): ${err}`)))
  })
  const endpoint = `http://127.0.0.1:${port}`
  const client = s3Client(endpoint)
  return {
    endpoint,
    port,
    env: { STORAGE_S3_ENDPOINT_URL: endpoint, STORAGE_S3_ACCESS_KEY_ID: S3_KEY.accessKeyId, STORAGE_S3_SECRET_ACCESS_KEY: S3_KEY.secretAccessKey },
    client,
    cpuSeconds: () => cpuOfTree(child.pid!),
    async stop() {
      client.destroy()
      const exited = new Promise((r) => child.once('exit', r))
      child.stdin!.end()
      await exited
    },
  }
}

/** A path-style client as the services make one (uploads without the SDK's streaming checksums, which s3rver does not read). */
export const s3Client = (endpoint: string) =>
  new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials: S3_KEY,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })

export const createBucket = (s: S3Server, bucket: string) => s.client.send(new CreateBucketCommand({ Bucket: bucket }))

export const put = (s: S3Server, bucket: string, key: string, body: string | Uint8Array, contentType = 'application/json') =>
  s.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }))

export const remove = (s: S3Server, bucket: string, key: string) => s.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))

/** The key of a document's attr.json in the bucket: `<app folder>/<storage_path><storage_filename>.attr.json`. */
export const attrKey = (folder: string, d: Pick<AttrDocument, 'storage_path' | 'storage_filename'>) =>
  `${folder}/${d.storage_path}${d.storage_filename}.attr.json`

/**
 * The bucket writer's bytes (§9.5): json.dumps(model_dump(), indent=2, ensure_ascii=False, default=str),
 * so the timestamps are str(datetime): a space for the T, and no fraction when the microseconds are 0.
 */
export function renderBucketAttr(doc: AttrDocument): string {
  const str = (iso: string) => iso.replace('T', ' ').replace(/\.000000(?=[+-])/, '')
  return JSON.stringify({ ...doc, created_at: str(doc.created_at), updated_at: str(doc.updated_at) }, null, 2)
}

/** Uploads a file as a storage element does: its data object, then its attr.json beside it. */
export async function upload(s: S3Server, bucket: string, folder: string, doc: AttrDocument, body = renderBucketAttr(doc)): Promise<string> {
  await put(s, bucket, `${folder}/${doc.storage_path}${doc.storage_filename}`, `data of ${doc.file_id}`, doc.content_type)
  const key = attrKey(folder, doc)
  await put(s, bucket, key, body)
  return key
}

export interface Faults {
  /** Answer this request with a 503 SlowDown instead of passing it on. */
  fail503?: (r: SeenRequest) => boolean
  /** Cut the connection of this request in the middle of the answer. */
  drop?: (r: SeenRequest) => boolean
  /** Runs before a request is passed on (e.g. to change the bucket between a listing and a read). */
  before?: (r: SeenRequest) => Promise<void> | void
}

export interface SeenRequest {
  n: number
  method: string
  /** The object key (decoded), or '' for a request on the bucket (a listing). */
  key: string
  /** Whether it is a ListObjectsV2. */
  list: boolean
}

/**
 * An HTTP proxy in front of `target` that answers some requests with a 503 and cuts others
 * mid-answer, as `faults` says; every request is counted. Keeps connections alive like S3 does.
 */
export async function faultProxy(
  targetPort: number,
  faults: Faults,
): Promise<{ endpoint: string; requests: () => number; injected: () => number; seen: SeenRequest[]; close(): Promise<void> }> {
  const { default: http } = await import('node:http')
  let n = 0
  let injected = 0
  const seen: SeenRequest[] = []
  const agent = new http.Agent({ keepAlive: true })
  const server = http.createServer(async (req, res) => {
    const i = ++n
    const u = new URL(req.url ?? '/', 'http://proxy')
    const [, , ...rest] = u.pathname.split('/')
    const r = { n: i, method: req.method ?? '', key: decodeURIComponent(rest.join('/')), list: u.searchParams.get('list-type') === '2' }
    seen.push(r)
    await faults.before?.(r)
    if (faults.fail503?.(r)) {
      injected++
      req.resume()
      res.writeHead(503, { 'content-type': 'application/xml' })
      res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>')
      return
    }
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      if (faults.drop?.(r)) {
        injected++
        // Half the headers' promise kept: the body starts, and the connection goes.
        answer.once('data', (chunk: Buffer) => {
          res.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)))
          res.socket?.destroy()
          answer.destroy()
        })
        return
      }
      answer.pipe(res)
    })
    up.on('error', () => res.socket?.destroy())
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => n,
    injected: () => injected,
    seen,
    close: () =>
      new Promise<void>((r) => {
        agent.destroy()
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}
