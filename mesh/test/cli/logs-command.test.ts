// mesh logs: the proxies' access logs, per workload, and --denied keeps the
// calls the mesh refused (Envoy's RBAC details, or the caller's UF,URX after a
// dropped connection); --follow prints what is written after it started.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isDeniedLine, logsCommand } from '../../src/cli/logs-command.ts'

const ALLOWED =
  '[2026-11-29T03:01:04.016Z] "POST /sign HTTP/1.1" 200 - via_upstream - "-" 7 52 3 2 "-" "-" "b1" "signing-api.docs.svc.cluster.local:8001" "127.0.0.1:20001" inbound|8001|| - 127.0.0.1:41000 127.0.0.1:52000 - default'
const RBAC =
  '[2026-11-29T03:01:05.016Z] "GET /sign HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "-" "b2" "signing-api.docs.svc.cluster.local:8001" "-" inbound|8001|| - 127.0.0.1:41000 127.0.0.1:52001 - default'
const DROP =
  '[2026-11-29T03:01:06.016Z] "POST /sign HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_timeout} - "-" 0 114 150 - "-" "-" "b3" "signing-api.docs.svc.cluster.local:8001" "127.0.0.1:41000" outbound|8001||signing-api.docs.svc.cluster.local - 127.0.0.1:41001 127.0.0.1:52002 - default'
const APP_503 =
  '[2026-11-29T03:01:07.016Z] "GET /health/ready HTTP/1.1" 503 - via_upstream - "-" 0 40 2 1 "-" "-" "b4" "bucket-api.docs.svc.cluster.local:8000" "127.0.0.1:20000" inbound|8000|| - 127.0.0.1:41002 127.0.0.1:52003 - default'
// The destination refused the connection (its app restarting; docs/observability.md): not a refusal by the mesh.
const APP_DOWN =
  '[2026-11-29T03:01:08.016Z] "GET /verify/keys HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused} - "-" 0 91 1 - "-" "-" "b5" "verification-api.docs.svc.cluster.local:8002" "127.0.0.1:20002" inbound|8002|| - 127.0.0.1:41003 127.0.0.1:52004 - default'

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

function meshDirWith(logs: Record<string, string[]>): string {
  const meshDir = mkdtempSync(join(tmpdir(), 'mesh-logs-'))
  dir = meshDir
  mkdirSync(join(meshDir, 'logs'))
  for (const [workload, lines] of Object.entries(logs))
    writeFileSync(join(meshDir, 'logs', `${workload}.log`), lines.map((l) => `${l}\n`).join(''))
  return meshDir
}

describe('mesh logs', () => {
  it('tells refusals from answers that merely failed', () => {
    expect([ALLOWED, RBAC, DROP, APP_503, APP_DOWN].map(isDeniedLine)).toEqual([
      false,
      true,
      true,
      false,
      false,
    ])
  })

  it('prints every workload’s lines, prefixed, or one workload’s, or only the refusals', async () => {
    const meshDir = meshDirWith({
      'signing-api': [ALLOWED, RBAC],
      'admin-api': [DROP],
      'bucket-api': [APP_503],
    })
    const run = async (workloads: string[], denied: boolean) => {
      let out = ''
      await logsCommand({ meshDir, workloads, denied, follow: false }, (t) => {
        out += t
      })
      return out.trim().split('\n')
    }
    expect(await run([], false)).toEqual([
      `admin-api        | ${DROP}`,
      `bucket-api       | ${APP_503}`,
      `signing-api      | ${ALLOWED}`,
      `signing-api      | ${RBAC}`,
    ])
    expect(await run(['signing-api'], false)).toEqual([
      `signing-api      | ${ALLOWED}`,
      `signing-api      | ${RBAC}`,
    ])
    expect(await run([], true)).toEqual([`admin-api        | ${DROP}`, `signing-api      | ${RBAC}`])
  })

  it('follows lines written after it started, until stopped', async () => {
    const meshDir = meshDirWith({ 'signing-api': [ALLOWED] })
    const lines: string[] = []
    const stop = new AbortController()
    const following = logsCommand(
      { meshDir, workloads: [], denied: true, follow: true },
      (t) => lines.push(t.trim()),
      stop.signal,
    )
    appendFileSync(join(meshDir, 'logs', 'signing-api.log'), `${RBAC}\n`)
    await vi.waitFor(() => expect(lines).toEqual([`signing-api      | ${RBAC}`]))
    stop.abort()
    await following
  })

  it('says where to start the mesh when there are no logs', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-logs-'))
    await expect(
      logsCommand({ meshDir: dir, workloads: [], denied: false, follow: false }, () => {}),
    ).rejects.toThrow(/no access logs in .*: start the mesh with pnpm dev/)
  })
})
