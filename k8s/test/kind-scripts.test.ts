// The cluster path's scripts, run for real against stand-ins: make kind-up,
// make kind-down and make e2e-kind in a copy of the repository, with docker,
// kind, kubectl, istioctl, curl and pnpm replaced by a recorder
// (fixtures/stand-in.sh). What a user's first `make kind-up` does is the
// sequence of commands asked of those tools, and that is what is checked.
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'

const root = fileURLToPath(new URL('../../', import.meta.url))
const ISTIO_VERSION = '1.30.3'
const NODE_IMAGE =
  'kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f'
const SERVICES = ['bucket-api', 'signing-api', 'verification-api', 'identity-api', 'admin-api', 'frontend']
const IMAGES = [...SERVICES, 'oidc-provider']
const TOOLS = ['docker', 'kind', 'kubectl', 'istioctl', 'curl', 'pnpm']

const kubectlInstalled = requireFor(
  "the kustomize build of kind-up's generated overlay",
  hasCommand('kubectl', ['version', '--client']),
  'kubectl',
)
// kind-up.sh makes the cluster's CA and keys with the real openssl (scripts/kind-secrets.sh).
const opensslInstalled = requireFor('the make kind-up runs', hasCommand('openssl', ['version']), 'openssl')

interface Call {
  name: string
  args: string[]
  env: Record<string, string>
  stdin?: string
}

interface Run {
  status: number | null
  stdout: string
  stderr: string
  calls: Call[]
}

let work: string
let stubs: string

/** A copy of what the scripts read, so they write their .kind folder there and not into the repository. */
function freshRepo(): string {
  const repo = mkdtempSync(join(work, 'repo-'))
  for (const path of ['Makefile', 'scripts', 'k8s/kind', 'k8s/base', 'k8s/overlays', 'k8s/components']) {
    cpSync(join(root, path), join(repo, path), { recursive: true })
  }
  return repo
}

function make(repo: string, target: string, env: Record<string, string> = {}): Run {
  const log = join(work, `calls-${Math.random().toString(36).slice(2)}.jsonl`)
  writeFileSync(log, '')
  // ENV= keeps scripts/env.sh from installing Node and pnpm into the copy: the stand-in pnpm answers.
  const result = spawnSync('make', ['--no-print-directory', '-C', repo, target, 'ENV='], {
    encoding: 'utf8',
    // No socket on stdin: bash would take itself for a remote shell and read ~/.bashrc.
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: `${stubs}:${process.env.PATH}`,
      HOME: work,
      STAND_IN_LOG: log,
      STAND_IN_ISTIO_TARBALL: join(work, 'istio.tar.gz'),
      ...env,
    },
    timeout: 60_000,
  })
  const calls = readFileSync(log, 'utf8')
    .split('\x1d')
    .filter(Boolean)
    .map((record): Call => {
      const [name = '', args = '', env = '', stdin = ''] = record.split('\x1e')
      const list = (field: string) => field.split('\x1f').slice(0, -1)
      return {
        name,
        args: args === '\x1f' ? [] : list(args),
        env: Object.fromEntries(
          list(env).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
        ),
        ...(stdin ? { stdin } : {}),
      }
    })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls }
}

const line = (c: Call) => [c.name, ...c.args].join(' ')
const indexOf = (calls: Call[], prefix: string) => calls.findIndex((c) => line(c).startsWith(prefix))

/** A port nothing listens on now: the kernel picks it, then it is let go. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'kind-scripts-'))
  stubs = join(work, 'bin')
  mkdirSync(stubs)
  for (const tool of TOOLS) {
    copyFileSync(fileURLToPath(new URL('./fixtures/stand-in.sh', import.meta.url)), join(stubs, tool))
    chmodSync(join(stubs, tool), 0o755)
  }
  // What the pinned Istio release's tarball holds for the script: bin/istioctl (the stand-in again).
  const release = join(work, 'release', `istio-${ISTIO_VERSION}`, 'bin')
  mkdirSync(release, { recursive: true })
  copyFileSync(join(stubs, 'istioctl'), join(release, 'istioctl'))
  execFileSync('tar', [
    '-czf',
    join(work, 'istio.tar.gz'),
    '-C',
    join(work, 'release'),
    `istio-${ISTIO_VERSION}`,
  ])
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe.skipIf(!opensslInstalled)('make kind-up', { timeout: 120_000 }, () => {
  let repo: string
  let run: Run
  let https: number
  let oidc: number

  beforeAll(async () => {
    repo = freshRepo()
    https = await freePort()
    oidc = await freePort()
    run = make(repo, 'kind-up', { KIND_HTTPS_PORT: String(https), KIND_OIDC_PORT: String(oidc) })
  }, 120_000)

  it('finishes and says where the system is', () => {
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain(`ready: https://localhost:${https}`)
  })

  it('downloads the pinned istioctl for this machine from Istio’s releases', () => {
    const curl = run.calls.filter((c) => c.name === 'curl')
    expect(curl).toHaveLength(1)
    expect(curl[0]?.args.at(-1)).toBe(
      `https://github.com/istio/istio/releases/download/${ISTIO_VERSION}/istio-${ISTIO_VERSION}-linux-amd64.tar.gz`,
    )
  })

  it('creates the cluster from the pinned node image with the chosen host ports', () => {
    const create = run.calls.filter((c) => line(c).startsWith('kind create cluster'))
    expect(create.map((c) => c.args)).toEqual([
      ['create', 'cluster', '--config', '.kind/cluster.yaml', '--image', NODE_IMAGE],
    ])
    const config = parse(readFileSync(join(repo, '.kind/cluster.yaml'), 'utf8')) as {
      nodes: Array<{ extraPortMappings: Array<{ containerPort: number; hostPort: number }> }>
    }
    expect(config.nodes[0]?.extraPortMappings.map((m) => [m.containerPort, m.hostPort])).toEqual([
      [30443, https],
      [30900, oidc],
    ])
  })

  it('installs Istio with the pinned profile and the small-machine sizing', () => {
    const istioctl = run.calls.filter((c) => c.name === 'istioctl')
    expect(istioctl.map((c) => c.args)).toEqual([['install', '-y', '-f', 'k8s/kind/istio-operator.yaml']])
    const operator = parse(readFileSync(join(repo, 'k8s/kind/istio-operator.yaml'), 'utf8'))
    expect(operator.spec.profile).toBe('default')
    expect(operator.spec.components.pilot.k8s.resources.requests).toEqual({ cpu: '100m', memory: '256Mi' })
    expect(operator.spec.values.global.proxy.resources.requests).toEqual({ cpu: '20m', memory: '64Mi' })
  })

  it('builds each image without attestations and loads it into the cluster right after', () => {
    const builds = run.calls.filter((c) => line(c).startsWith('docker build'))
    expect(builds.map((c) => c.args)).toEqual(
      IMAGES.map((image) => [
        'build',
        '--provenance=false',
        '--sbom=false',
        '--build-arg',
        `SERVICE=${image}`,
        '-t',
        `docs-mesh/${image}:kind`,
        '.',
      ]),
    )
    for (const image of IMAGES) {
      const built = indexOf(
        run.calls,
        `docker build --provenance=false --sbom=false --build-arg SERVICE=${image} `,
      )
      expect(line(run.calls[built + 1] as Call)).toBe(
        `kind load docker-image --name docs-mesh docs-mesh/${image}:kind`,
      )
    }
  })

  it('creates each secret in the namespace that reads it', () => {
    const secrets = run.calls
      .filter((c) => c.name === 'kubectl' && c.args.includes('create') && c.args.includes('secret'))
      .map((c) => `${c.args[1]}/${c.args[c.args.indexOf('secret') + 2]}`)
    expect(secrets.sort()).toEqual(
      [
        'istio-system/api-tls-cert',
        'docs/postgres-roles',
        'docs/signing-keys',
        'docs/identity-keys',
        'docs/oidc-client',
        'docs-oidc/oidc-client',
        'docs/database-urls',
      ].sort(),
    )
    // Each is applied, not just printed.
    expect(run.calls.filter((c) => c.stdin?.includes('create secret')).length).toBe(secrets.length)
  })

  it('applies the overlay and then waits for every rollout, in order after Istio and the images', () => {
    const order = [
      'kind create cluster',
      'istioctl install',
      'docker build',
      'kind load docker-image --name docs-mesh docs-mesh/oidc-provider:kind',
      'kubectl apply -k .kind/overlay',
      'kubectl -n docs rollout status statefulset/postgres',
    ].map((prefix) => indexOf(run.calls, prefix))
    expect(order.every((i) => i >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    const rollouts = run.calls
      .filter((c) => c.args.includes('rollout'))
      .map((c) => `${c.args[1]}/${c.args[4]}`)
    expect(rollouts).toEqual([
      'docs/statefulset/postgres',
      ...SERVICES.map((s) => `docs/deployment/${s}`),
      'e2e-outside/deployment/e2e-client',
      'docs-oidc/deployment/oidc-provider',
      'istio-system/deployment/istio-ingressgateway',
    ])
  })

  it.skipIf(!kubectlInstalled)(
    'puts the chosen ports into the URLs identity-api and the provider use',
    () => {
      const objects = parseAllDocuments(
        execFileSync('kubectl', ['kustomize', join(repo, '.kind/overlay')], { encoding: 'utf8' }),
      ).map((d) => d.toJS())
      const env = (name: string) =>
        Object.fromEntries(
          (
            objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name).spec.template.spec
              .containers[0].env as Array<{ name: string; value?: string }>
          ).map((e) => [e.name, e.value]),
        )
      expect(env('identity-api')).toMatchObject({
        PUBLIC_URL: `https://localhost:${https}`,
        OIDC_ISSUER: `http://oidc.localhost:${oidc}`,
      })
      expect(env('oidc-provider')).toMatchObject({
        OIDC_ISSUER: `http://oidc.localhost:${oidc}`,
        OIDC_REDIRECT_URIS: `https://localhost:${https}/auth/oidc/local/callback`,
      })
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'oidc-provider')
      expect(service.spec.ports[0]).toMatchObject({ port: oidc, targetPort: 9000, nodePort: 30900 })
    },
  )

  it('on a second run keeps the cluster and makes nothing twice', () => {
    const again = make(repo, 'kind-up', {
      KIND_HTTPS_PORT: String(https),
      KIND_OIDC_PORT: String(oidc),
      STAND_IN_KIND_CLUSTERS: 'docs-mesh\n',
    })
    expect(again.status).toBe(0)
    expect(indexOf(again.calls, 'kind create cluster')).toBe(-1)
    expect(indexOf(again.calls, 'curl')).toBe(-1)
    expect(indexOf(again.calls, 'kubectl apply -k .kind/overlay')).toBeGreaterThan(0)
  })

  it('refuses a cluster made with other ports before touching it', () => {
    const other = make(repo, 'kind-up', {
      KIND_HTTPS_PORT: String(https === 65535 ? https - 1 : https + 1),
      KIND_OIDC_PORT: String(oidc),
      STAND_IN_KIND_CLUSTERS: 'docs-mesh\n',
    })
    expect(other.status).not.toBe(0)
    expect(other.stderr).toMatch(/^kind-up: the cluster docs-mesh was made with .*run make kind-down first\n/)
    expect(other.calls.filter((c) => c.name !== 'docker' && line(c) !== 'kind get clusters')).toEqual([])
  })
})

describe('make kind-up with a host port in use', () => {
  let server: Server
  let taken: number

  beforeAll(async () => {
    server = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    taken = (server.address() as { port: number }).port
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it.each(['KIND_HTTPS_PORT', 'KIND_OIDC_PORT'])(
    'stops with one clear line when %s is taken',
    async (setting) => {
      const repo = freshRepo()
      const ports = { KIND_HTTPS_PORT: String(await freePort()), KIND_OIDC_PORT: String(await freePort()) }
      const run = make(repo, 'kind-up', { ...ports, [setting]: String(taken) })
      expect(run.status).not.toBe(0)
      expect(run.stderr.split('\n').filter((l) => l.startsWith('kind-up:'))).toEqual([
        expect.stringMatching(
          new RegExp(`^kind-up: port ${taken} on 127\\.0\\.0\\.1 is already in use.*${setting}=`),
        ),
      ])
      expect(indexOf(run.calls, 'kind create cluster')).toBe(-1)
      expect(indexOf(run.calls, 'curl')).toBe(-1)
    },
  )

  it('rejects a setting that is not a port', () => {
    const run = make(freshRepo(), 'kind-up', { KIND_HTTPS_PORT: '84430' })
    expect(run.status).not.toBe(0)
    expect(run.stderr).toContain('kind-up: KIND_HTTPS_PORT=84430 is not a TCP port')
  })
})

describe('make kind-down', () => {
  it('deletes the docs-mesh cluster and forgets its ports', () => {
    const repo = freshRepo()
    mkdirSync(join(repo, '.kind'))
    writeFileSync(join(repo, '.kind/ports'), 'KIND_HTTPS_PORT=8443 KIND_OIDC_PORT=9000\n')
    const run = make(repo, 'kind-down', { STAND_IN_KIND_CLUSTERS: 'other\ndocs-mesh\n' })
    expect(run.status).toBe(0)
    expect(run.calls.map(line)).toEqual(['kind get clusters', 'kind delete cluster --name docs-mesh'])
    expect(() => readFileSync(join(repo, '.kind/ports'))).toThrow()
  })

  it('does nothing when there is no such cluster', () => {
    const run = make(freshRepo(), 'kind-down', { STAND_IN_KIND_CLUSTERS: 'other\n' })
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('kind-down: no docs-mesh cluster')
    expect(run.calls.map(line)).toEqual(['kind get clusters'])
  })
})

describe('make e2e-kind', () => {
  it('runs the matrix against the cluster, trusting the CA kind-up made', () => {
    const repo = freshRepo()
    const run = make(repo, 'e2e-kind')
    expect(run.status).toBe(0)
    const e2e = run.calls.find((c) => c.name === 'pnpm' && c.args.includes('@docs-mesh/e2e')) as Call
    expect(e2e.args).toEqual(['--filter', '@docs-mesh/e2e', 'test'])
    expect(e2e.env).toEqual({
      E2E_TARGET: 'kind',
      E2E_CA_FILE: join(repo, '.kind/tls/ca.pem'),
      E2E_GATEWAY_URL: 'https://localhost:8443',
      E2E_GATEWAY_HOST: 'localhost',
    })
  })

  it('follows KIND_HTTPS_PORT to the gateway', () => {
    const run = make(freshRepo(), 'e2e-kind', { KIND_HTTPS_PORT: '18443' })
    const e2e = run.calls.find((c) => c.name === 'pnpm' && c.args.includes('@docs-mesh/e2e')) as Call
    expect(e2e.env.E2E_GATEWAY_URL).toBe('https://localhost:18443')
  })
})
