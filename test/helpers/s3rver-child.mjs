// The S3 server of the tests, in a process of its own: s3rver on a free port of 127.0.0.1, with the
// services' key (minioadmin) registered. Run with `node --openssl-legacy-provider` (its continuation
// tokens use DES). Prints `{"port": N}` on its first line once it listens; ends when stdin closes.
import S3rver from 's3rver'
import account from 's3rver/lib/models/account.js'

const [directory, accessKeyId, secretAccessKey] = process.argv.slice(2)
account.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey)
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
server.run().then(
  (address) => process.stdout.write(`${JSON.stringify({ port: address.port })}\n`),
  (e) => {
    process.stderr.write(`s3rver did not start: ${e.message}\n`)
    process.exit(1)
  },
)
process.stdin.on('end', () => server.close().finally(() => process.exit(0)))
process.stdin.resume()
