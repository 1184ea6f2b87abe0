// The S3 server of the tests, in a process of its own: s3rver on a free port of 127.0.0.1, with the
// services' key (minioadmin) registered. Run with `node --openssl-legacy-provider` (its continuation
// tokens use DES). Prints `{"port": N}` on its first line once it listens; ends when stdin closes.
// An optional fourth argument runs that many s3rver processes on the one port and store folder
// (node:cluster; the bench's stand-in for a server that answers on every core, as MinIO does).
import cluster from 'node:cluster'
import S3rver from 's3rver'
import account from 's3rver/lib/models/account.js'

const [directory, accessKeyId, secretAccessKey, workersArg] = process.argv.slice(2)
const workers = Number(workersArg ?? 1)

function serve() {
  account.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey)
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
  return server.run().then(
    (address) => ({ server, port: address.port }),
    (e) => {
      process.stderr.write(`s3rver did not start: ${e.message}\n`)
      process.exit(1)
    },
  )
}

if (workers <= 1) {
  const { server, port } = await serve()
  process.stdout.write(`${JSON.stringify({ port })}\n`)
  process.stdin.on('end', () => server.close().finally(() => process.exit(0)))
  process.stdin.resume()
} else if (cluster.isPrimary) {
  // Workers that listen on port 0 share the one port the primary picks for the first of them.
  let up = 0
  let port
  cluster.on('listening', (_, address) => {
    port ??= address.port
    if (++up === workers) process.stdout.write(`${JSON.stringify({ port })}\n`)
  })
  cluster.on('exit', (_, code) => code && process.exit(1))
  for (let i = 0; i < workers; i++) cluster.fork()
  process.stdin.on('end', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill()
    process.exit(0)
  })
  process.stdin.resume()
} else {
  await serve()
}
