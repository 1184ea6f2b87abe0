import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { adoptModule } from '../../src/adopt/adopt.ts'
import { fingerprint } from '../../src/adopt/proof.ts'
import { maskUrl } from '../../src/config/urls.ts'
import { modules, projectRoot } from '../../src/modules.ts'
import { withScratchDatabase } from '../../src/db/scratch.ts'

export interface AdoptBench {
  auditRows: number
  /** Wall time of `adopt --yes` on the 8b9ca29 admin database (plan, backup, transaction, proof). */
  adoptMs: number
  /** A plain `count(*)` plus content-hash scan of audit_logs, the proof's own cost for that table. */
  scanMs: number
  ratio: number
  steps: number
}

/**
 * Adoption of an 8b9ca29 admin database holding `auditRows` audit_logs rows, next to one count-and-hash
 * scan of the same table, in the same run. The fixture is the test suite's legacy admin database.
 */
export async function benchAdopt(serverUrl: string, auditRows = 1_000_000): Promise<AdoptBench> {
  const fixture = fs.readFileSync(path.join(projectRoot, 'test', 'fixtures', 'legacy', 'gen1-8b9ca29', 'admin.sql'), 'utf8')
  return withScratchDatabase(serverUrl, 'artstore_bench_adopt', async (url) => {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      await c.query(`begin; ${fixture}; commit;`)
      await c.query(
        `insert into audit_logs (event_type, severity, user_id, actor_type, resource_type, resource_id, action, ip_address, request_id, data, success, hmac_signature, created_at)
         select 'login_success', 'info', null, 'user', 'user', g::text, 'login', '10.0.0.1', md5(g::text), jsonb_build_object('n', g, 'note', 'событие'), true, md5(g::text) || md5((g+1)::text), now() - g * interval '1 second'
           from generate_series(1, $1) g`,
        [auditRows],
      )
      await c.query('vacuum analyze audit_logs')
      let started = performance.now()
      await fingerprint(c, 'public', 'audit_logs')
      const scanMs = performance.now() - started
      started = performance.now()
      const report = await adoptModule(
        { module: modules.admin, url, source: 'ADMIN_DATABASE_URL', pgSchema: 'public', display: maskUrl(url) },
        { yes: true, archiveRoot: path.join(projectRoot, '.artstore', 'bench-archive') },
      )
      const adoptMs = performance.now() - started
      if (report.status !== 'adopted') throw new Error(`adopt ended ${report.status}`)
      if (report.backup) fs.rmSync(report.backup, { recursive: true })
      return { auditRows, adoptMs: Math.round(adoptMs), scanMs: Math.round(scanMs), ratio: adoptMs / scanMs, steps: report.steps.length }
    } finally {
      await c.end()
    }
  })
}
