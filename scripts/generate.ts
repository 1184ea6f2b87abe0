// npm run generate: the Prisma Client of each module into generated/<module>/ (only when its schema changed).
import { generateClients } from '../src/prisma/generate.ts'

const results = await generateClients(process.argv.includes('--force'))
for (const r of results) console.log(`${r.status === 'failed' ? '❌' : '✅'} ${r.module}: ${r.status}${r.detail ? ` — ${r.detail}` : ''}`)
process.exit(results.some((r) => r.status === 'failed') ? 1 : 0)
