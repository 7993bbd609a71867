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
    const { stdout, stderr } = await exec(
      join(root, 'node_modules/.bin/tsx'),
      [join(root, 'mesh/src/cli/main.ts'), ...args],
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
      { decision: 'ALLOW', policy: 'docs/signing-api', rule: 0 },
      { decision: 'DENY', policy: null, rule: null },
      { decision: 'ALLOW', policy: 'docs/signing-api', rule: 1 },
      { decision: 'ALLOW', policy: 'docs/identity-api', rule: 1 },
      { decision: 'DENY', policy: null, rule: null },
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
