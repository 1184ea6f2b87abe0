import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { describe, expect, test } from 'vitest'
import { objectPath, s3Signer, signGet } from '../../src/cache/s3-get.ts'

// s3rver does not check Version 4 signatures, so the signing of the bucket reads (the SDK's signer, driven
// by s3-get.ts) is checked here.
describe('the signed GET of a bucket read', () => {
  test("AWS's own example (GET Object with a Range, Signature Version 4 documentation) gives its signature", async () => {
    const { headers } = await signGet(
      s3Signer({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'us-east-1' }),
      'examplebucket.s3.amazonaws.com',
      '/test.txt',
      new Date('2013-05-24T00:00:00Z'),
      { Range: 'bytes=0-9' },
    )
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    )
  })

  // The keys the tests upload: Cyrillic, a space, a +, and the characters encodeURIComponent leaves alone.
  const keys = ['storage_element_01/2025/11/25/14/Отчёт за год_3f0e.pdf.attr.json', "a/b c+d/x(1)!*~'.attr.json", 'plain/key.attr.json']
  test.each(keys)('the same path and signature as the SDK for %s', async (key) => {
    let seen: { path: string; query: Record<string, string>; headers: Record<string, string> } | undefined
    const sdk = new S3Client({
      endpoint: 'http://minio:9000',
      region: 'eu-west-2',
      credentials: { accessKeyId: 'minioadmin', secretAccessKey: 'not-the-secret' },
      forcePathStyle: true,
      maxAttempts: 1,
      requestHandler: {
        handle: async (req: { path: string; query: Record<string, string>; headers: Record<string, string> }) => {
          seen = { path: req.path, query: { ...req.query }, headers: { ...req.headers } }
          throw new Error('captured')
        },
      },
    })
    await expect(sdk.send(new GetObjectCommand({ Bucket: 'artstore-files', Key: key }))).rejects.toThrow('captured')
    const h = seen!.headers
    const signed = /SignedHeaders=([^,]+)/.exec(h.authorization)![1].split(';')
    // The headers the SDK signs beyond the three this path sends (its user agent, invocation id) are signed here too.
    const extra = Object.fromEntries(signed.filter((n) => !['host', 'x-amz-date', 'x-amz-content-sha256'].includes(n)).map((n) => [n, h[n]]))
    const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(h['x-amz-date'])!
    const date = new Date(Date.UTC(+at[1], +at[2] - 1, +at[3], +at[4], +at[5], +at[6]))
    const path = objectPath('', 'artstore-files', key)
    expect(path).toBe(seen!.path)
    // The SDK names the operation in the query (x-id=GetObject); these reads send none.
    expect(seen!.query).toEqual({ 'x-id': 'GetObject' })
    const ours = await signGet(
      s3Signer({ accessKeyId: 'minioadmin', secretAccessKey: 'not-the-secret', region: 'eu-west-2' }),
      'minio:9000',
      path,
      date,
      extra,
      { 'x-id': 'GetObject' },
    )
    expect(h['x-amz-content-sha256']).toBe(ours.headers['x-amz-content-sha256'])
    expect(ours.headers.authorization).toBe(h.authorization)
    sdk.destroy()
  })
})
