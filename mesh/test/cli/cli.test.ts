import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const exec = promisify(execFile)
const root = fileURLToPath(new URL('../../../', import.meta.url))
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const base = join(root, 'k8s/base')

async function mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // As `pnpm mesh` runs it: from its bundle, through the workspace's runner.
    const { stdout, stderr } = await exec(
      process.execPath,
      [join(root, 'scripts/dev-run.ts'), join(root, 'mesh/src/cli/main.ts'), ...args],
      { cwd: root },
    )
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('mesh authz check', () => {
  it('prints one decision per request, in order', async () => {
    const res = await mesh('authz', 'check', '--manifests', base, '--requests', fixture('requests.jsonl'))
    expect(res.code).toBe(0)
    expect(
      res.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { decision: 'ALLOW', policy: 'docs/signing-api', rule: 0, network: 'ALLOW', networkPolicy: null },
      { decision: 'DENY', policy: null, rule: null, network: 'ALLOW', networkPolicy: null },
      { decision: 'ALLOW', policy: 'docs/signing-api', rule: 1, network: 'ALLOW', networkPolicy: null },
      { decision: 'ALLOW', policy: 'docs/identity-api', rule: 1, network: 'ALLOW', networkPolicy: null },
      { decision: 'DENY', policy: null, rule: null, network: 'ALLOW', networkPolicy: null },
    ])
  })

  it('reports the network verdict beside the L7 decision when the manifests have NetworkPolicies', async () => {
    const res = await mesh(
      'authz',
      'check',
      '--manifests',
      join(root, 'k8s/overlays/local'),
      '--requests',
      fixture('requests.jsonl'),
    )
    expect(res.code).toBe(0)
    expect(
      res.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      // bucket-api's pod may connect to signing-api's: both ends' policies allow it.
      {
        decision: 'ALLOW',
        policy: 'docs/signing-api',
        rule: 0,
        network: 'ALLOW',
        networkPolicy: 'docs/signing-api-ingress',
      },
      // admin-api's pod may only reach DNS, istiod and the database.
      { decision: 'DENY', policy: null, rule: null, network: 'DROP', networkPolicy: 'docs/default-deny' },
      // No principal: a client outside the cluster, dropped at signing-api's ingress.
      {
        decision: 'ALLOW',
        policy: 'docs/signing-api',
        rule: 1,
        network: 'DROP',
        networkPolicy: 'docs/default-deny',
      },
      {
        decision: 'ALLOW',
        policy: 'docs/identity-api',
        rule: 1,
        network: 'ALLOW',
        networkPolicy: 'docs/identity-api-ingress',
      },
      // The gateway's pod in istio-system, by its labels.
      {
        decision: 'DENY',
        policy: null,
        rule: null,
        network: 'ALLOW',
        networkPolicy: 'docs/allow-from-ingress-gateway',
      },
    ])
  })

  it('exits 2 naming an unsupported field', async () => {
    const res = await mesh(
      'authz',
      'check',
      '--manifests',
      base,
      '--manifests',
      fixture('custom-policy.yaml'),
      '--requests',
      fixture('requests.jsonl'),
    )
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/CUSTOM/)
  })

  it('exits 2 on a malformed request line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authz-'))
    writeFileSync(join(dir, 'bad.jsonl'), '{"to":"signing-api","from":"x","method":"GET"}\n')
    const res = await mesh('authz', 'check', '--manifests', base, '--requests', join(dir, 'bad.jsonl'))
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/line 1/)
  })
})

describe('mesh lint and graph', () => {
  it('passes k8s/base', async () => {
    const res = await mesh('lint', '--manifests', base)
    expect(res).toMatchObject({ code: 0 })
    expect(res.stdout).toContain('no problems')
  })

  it('draws who can call what as a table and as Mermaid', async () => {
    const table = await mesh('graph', '--manifests', base)
    expect(table.stdout).toMatch(/\| bucket-api\s+\| signing-api\s+\| POST \/sign\s+\| docs\/signing-api#0/)
    const mermaid = await mesh('graph', '--manifests', base, '--format', 'mermaid')
    expect(mermaid.stdout.startsWith('flowchart LR')).toBe(true)
    expect(mermaid.stdout).toContain('bucket_api["bucket-api"] -->|"POST /sign"| signing_api["signing-api"]')
  })

  it('shows and flags policy edges a NetworkPolicy makes unreachable', async () => {
    const args = ['--manifests', base, '--manifests', fixture('deny-bucket-egress.yaml')]
    const [table, mermaid, lint, clean] = await Promise.all([
      mesh('graph', ...args),
      mesh('graph', ...args, '--format', 'mermaid'),
      mesh('lint', ...args),
      mesh('lint', '--manifests', join(root, 'k8s/overlays/local')),
    ])
    expect(table.stdout).toMatch(
      /\| bucket-api\s+\| signing-api\s+\| POST \/sign\s+\| docs\/signing-api#0\s+\| DROP \(docs\/bucket-api-no-egress\) \|/,
    )
    expect(table.stdout).toMatch(
      /\| identity-api\s+\| signing-api\s+\| POST \/sign\s+\| docs\/signing-api#0\s+\| ALLOW\s+\|/,
    )
    expect(mermaid.stdout).toContain(
      'bucket_api["bucket-api"] --x|"blocked by docs/bucket-api-no-egress: POST /sign"| signing_api["signing-api"]',
    )
    expect(lint.code).toBe(1)
    expect(lint.stdout).toContain(
      'error: [network-unreachable-edge] AuthorizationPolicy docs/signing-api: rules[0] allows cluster.local/ns/docs/sa/bucket-sa to call signing-api, but NetworkPolicy docs/bucket-api-no-egress drops the connection (egress)',
    )
    expect(lint.stdout).toContain('mesh lint: 2 problem(s)') // and its user lookups at identity-api
    expect(clean.code).toBe(0)
  }, 120_000)
})

describe('mesh dev', () => {
  it('refuses a connect timeout that is not a number of milliseconds', async () => {
    const res = await mesh('dev', '--connect-timeout', 'soon')
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/--connect-timeout is a number of milliseconds/)
  })
})

describe('mesh curl', () => {
  it('says there is no running mesh when there is none', async () => {
    // An empty mesh directory: a developer's own pnpm dev (in .mesh) cannot answer instead.
    const meshDir = mkdtempSync(join(tmpdir(), 'mesh-curl-'))
    const res = await mesh(
      'curl',
      '--mesh-dir',
      meshDir,
      '--from',
      'bucket-api',
      'http://signing-api.docs.svc.cluster.local:8001/health',
    )
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/pnpm dev/)
  })
})
