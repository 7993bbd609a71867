// docker-compose.yml runs the system with the local mesh (docs/compose.md). No
// container engine runs on the machines that build this project, so the file
// is checked here as compose would read it: against the compose-spec schema,
// and for the mesh's shape: each app behind exactly one sidecar in its network
// namespace and on loopback only, only the gateway and the OpenID provider
// published, each proxy given its own token and nothing else of the control
// plane's volume, the commands as the mesh CLI takes them (/work/CONTRACT.md),
// the ports the manifests declare, and each app's environment as pnpm dev
// gives it (mesh/src/runtime/system.ts, startSystem). Each service also gets a
// configuration its own loader accepts (a bad one stops it at boot, exit 78).
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { builtinModules, createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadServiceConfig as adminConfig } from '@docs-mesh/admin-api/config'
import { loadServiceConfig as bucketConfig } from '@docs-mesh/bucket-api/config'
import { loadServiceConfig as frontendConfig } from '@docs-mesh/frontend/config'
import { loadServiceConfig as identityConfig } from '@docs-mesh/identity-api/config'
import { buildMeshModel, loadManifests } from '@docs-mesh/mesh'
import { loadServiceConfig as signingConfig } from '@docs-mesh/signing-api/config'
import { loadServiceConfig as verificationConfig } from '@docs-mesh/verification-api/config'
import { Ajv } from 'ajv'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'

interface VolumeMount {
  type: string
  source: string
  target: string
  read_only?: boolean
  volume?: { subpath?: string; nocopy?: boolean }
}
interface ComposeService {
  build?: { context: string; args?: { SERVICE?: string } }
  image?: string
  entrypoint?: string[]
  command?: string[]
  environment?: Record<string, string>
  ports?: string[]
  expose?: string[]
  network_mode?: string
  networks?: Record<string, { aliases?: string[] } | null>
  volumes?: Array<string | VolumeMount>
  depends_on?: Record<string, { condition: string; restart?: boolean }>
  healthcheck?: { test: string[] }
  user?: string
  read_only?: boolean
  cap_drop?: string[]
}
interface ComposeFile {
  services: Record<string, ComposeService>
  volumes: Record<string, unknown>
}

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))
const composeText = readFileSync(root('docker-compose.yml'), 'utf8')
// Compose resolves YAML merge keys (<<) before it reads the file, so the checks do too.
const compose = parse(composeText, { merge: true }) as ComposeFile
const services = compose.services
const service = (name: string): ComposeService => {
  const s = services[name]
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`)
  return s
}

// What the control plane runs, as pnpm dev runs it.
const model = buildMeshModel(loadManifests(root('k8s/overlays/local')))
const apps = model.workloads.map((w) => w.name)
const containerPort = (app: string) => {
  const port = model.workloads.find((w) => w.name === app)?.containerPorts[0]
  if (port === undefined) throw new Error(`no container port for ${app}`)
  return port
}

const GATEWAY = 'istio-ingressgateway'
const CONTROL_PLANE = 'control-plane'
const MESH_VOLUME = 'mesh'
/** pnpm dev's gateway URL with its fixed ports (mesh dev --gateway-port 8443). */
const GATEWAY_URL = 'https://localhost:8443'

const loaders: Record<string, (env: Record<string, string | undefined>) => unknown> = {
  'bucket-api': bucketConfig,
  'signing-api': signingConfig,
  'verification-api': verificationConfig,
  'identity-api': identityConfig,
  'admin-api': adminConfig,
  frontend: frontendConfig,
}

/** The mesh CLI's flags as /work/CONTRACT.md names them; strict: any other flag fails the parse. */
const SIDECAR_FLAGS = {
  workload: { type: 'string' },
  'control-plane': { type: 'string' },
  'token-file': { type: 'string' },
  'root-cert': { type: 'string' },
  'app-port': { type: 'string' },
  'advertise-address': { type: 'string' },
  'inbound-port': { type: 'string' },
  'outbound-port': { type: 'string' },
  'health-port': { type: 'string' },
  'stats-port': { type: 'string' },
  'access-log': { type: 'string' },
  'app-metrics-port': { type: 'string' },
} as const
const GATEWAY_FLAGS = {
  'control-plane': { type: 'string' },
  'token-file': { type: 'string' },
  'root-cert': { type: 'string' },
  'listen-port': { type: 'string' },
  'health-port': { type: 'string' },
  'stats-port': { type: 'string' },
  'access-log': { type: 'string' },
  'host-alias': { type: 'string', multiple: true },
} as const
const CONTROL_PLANE_FLAGS = {
  manifests: { type: 'string' },
  'mesh-dir': { type: 'string' },
  listen: { type: 'string' },
} as const

type Flags = NonNullable<Parameters<typeof parseArgs>[0]>['options']

function meshCommand(name: string, subcommand: string, options: Flags) {
  const [command, ...args] = service(name).command ?? []
  expect(command, name).toBe(subcommand)
  return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
    string,
    string | string[] | undefined
  >
}

const mounts = (name: string): VolumeMount[] =>
  (service(name).volumes ?? []).map((v) => {
    if (typeof v !== 'string') return v
    const [source = '', target = '', mode] = v.split(':')
    return { type: source.startsWith('.') ? 'bind' : 'volume', source, target, read_only: mode === 'ro' }
  })
const meshMounts = (name: string) =>
  mounts(name).filter((m) => m.type === 'volume' && m.source === MESH_VOLUME)
/** The service a network alias names (oidc.localhost), if any. */
const aliased = (host: string) =>
  Object.values(services).find((s) => s.networks?.default?.aliases?.includes(host))
const mountAt = (name: string, target: string | undefined) =>
  meshMounts(name).find((m) => m.target === target)

describe('docker-compose.yml', () => {
  it('is a valid compose file (the compose-spec JSON schema dclint ships)', () => {
    const schemaFile = join(root('k8s/node_modules/dclint'), 'schemas/compose.schema.json')
    // validateSchema: false, as the file names draft-07 by its https address, which Ajv keys by http.
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, validateSchema: false })
    const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')) as object)
    expect(validate(compose) ? [] : validate.errors).toEqual([])
  })

  it('builds every service, the local OpenID provider and the mesh image', () => {
    const built = new Set(Object.values(services).flatMap((s) => s.build?.args?.SERVICE ?? []))
    expect([...built].sort()).toEqual([...apps, 'oidc-provider', 'mesh'].sort())
    expect(Object.keys(loaders).sort()).toEqual([...apps].sort())
    // Each image under one name, so every mesh container runs the same build.
    for (const s of Object.values(services))
      if (s.build) expect(s.image).toBe(`docs-mesh/${s.build.args?.SERVICE}:compose`)
  })

  it.each(apps)('gives %s a configuration it accepts', (name) => {
    const env = service(name).environment ?? {}
    expect(() => loaders[name]?.(env)).not.toThrow()
  })

  it('mounts only files of this repository, and asks compose to substitute nothing', () => {
    for (const name of Object.keys(services))
      for (const m of mounts(name).filter((m) => m.type === 'bind'))
        expect(existsSync(root(m.source)), `${name}: ${m.source}`).toBe(true)
    // Compose replaces $VAR and ${VAR} anywhere in the file; nothing here is meant to be replaced.
    expect(composeText).not.toMatch(/\$(?!\$)/)
  })

  it('points identity-api and the provider at the same client and issuer', () => {
    const identity = service('identity-api').environment ?? {}
    const provider = service('oidc-provider').environment ?? {}
    expect(identity.OIDC_ISSUER).toBe(provider.OIDC_ISSUER)
    expect(identity.OIDC_CLIENT_ID).toBe(provider.OIDC_CLIENT_ID)
    expect(identity.OIDC_CLIENT_SECRET).toBe(provider.OIDC_CLIENT_SECRET)
    expect(provider.OIDC_REDIRECT_URIS).toBe(
      `${identity.PUBLIC_URL}/auth/oidc/${identity.OIDC_PROVIDER}/callback`,
    )
    // Browsers and identity-api reach the provider by one name: its published port and its alias.
    const issuer = new URL(provider.OIDC_ISSUER ?? '')
    expect(service('oidc-provider').networks?.default?.aliases).toContain(issuer.hostname)
    expect(service('oidc-provider').ports).toEqual([`127.0.0.1:${issuer.port}:${provider.PORT}`])
  })
})

describe('the mesh in compose', () => {
  it('puts every app behind exactly one sidecar, in its network namespace, and nothing else in one', () => {
    const sharing = Object.entries(services).filter(([, s]) => s.network_mode !== undefined)
    expect(sharing.map(([name, s]) => [name, s.network_mode]).sort()).toEqual(
      apps.map((app) => [`${app}-sidecar`, `service:${app}`]).sort(),
    )
  })

  it('has each app listen on loopback only, trusting its sidecar, on its container port + 10000 (as pnpm dev)', () => {
    for (const app of apps) {
      const s = service(app)
      expect(s.environment?.HOST, app).toBe('127.0.0.1')
      expect(s.environment?.MESH_SIDECAR, app).toBe('true')
      expect(s.environment?.PORT, app).toBe(String(containerPort(app) + 10_000))
      expect(s.ports, app).toBeUndefined()
      expect(s.expose, app).toBeUndefined()
    }
  })

  it('sends each app’s calls to mesh Services through its sidecar, and everything else around it', () => {
    const noProxy = (app: string) => (service(app).environment?.NO_PROXY ?? '').split(',')
    for (const app of apps)
      for (const [key, value] of Object.entries(service(app).environment ?? {})) {
        if (!/^(https?|postgres):\/\//.test(value)) continue
        const url = new URL(value)
        const mesh = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(url.hostname)
        if (mesh) {
          // A Service of the manifests, on a port it declares, selecting an app that has its sidecar here.
          const svc = model.services.find((s) => s.name === mesh[1] && s.namespace === mesh[2])
          expect(svc, `${app} ${key}`).toBeDefined()
          expect(
            svc?.ports.map((p) => p.port),
            `${app} ${key}`,
          ).toContain(Number(url.port))
          const selected = model.workloads.filter((w) =>
            Object.entries(svc?.selector ?? {}).every(([k, v]) => w.labels[k] === v),
          )
          expect(selected.length, `${app} ${key}`).toBeGreaterThan(0)
          for (const w of selected) expect(services[`${w.name}-sidecar`], `${app} ${key}`).toBeDefined()
          expect(noProxy(app), `${app} ${key}`).not.toContain(url.hostname)
        } else if (!['PUBLIC_URL', 'SESSION_ISSUER', 'HTTP_PROXY'].includes(key)) {
          // (HTTP_PROXY is the sidecar itself; PUBLIC_URL and SESSION_ISSUER name the gateway as browsers see it.)
          // Outside the mesh (the database, the OpenID provider): reached directly, as the
          // sidecar refuses any host that is not a mesh Service (REGISTRY_ONLY).
          expect(noProxy(app), `${app} ${key}`).toContain(url.hostname)
          expect(services[url.hostname] ?? aliased(url.hostname), `${app} ${key}`).toBeDefined()
        }
      }
  })

  it('publishes only the gateway and the OpenID provider, on loopback', () => {
    const published = Object.fromEntries(
      Object.entries(services).flatMap(([name, s]) => (s.ports ? [[name, s.ports]] : [])),
    )
    expect(published).toEqual({
      [GATEWAY]: ['127.0.0.1:8443:8443'],
      'oidc-provider': ['127.0.0.1:9000:9000'],
    })
  })

  it('runs each sidecar as the contract names it, against its app and the manifests’ container port', () => {
    for (const app of apps) {
      const name = `${app}-sidecar`
      const flags = meshCommand(name, 'sidecar', SIDECAR_FLAGS)
      const env = service(app).environment ?? {}
      expect(flags, name).toEqual({
        workload: app,
        'control-plane': `https://${CONTROL_PLANE}:15012`,
        'token-file': '/var/run/secrets/tokens/istio-token',
        'root-cert': '/var/run/secrets/istio/root-cert.pem',
        'app-port': env.PORT,
        // The app's compose service name: the address other containers reach its netns by.
        'advertise-address': app,
        'inbound-port': 'container',
        'outbound-port': new URL(env.HTTP_PROXY ?? '').port,
        'health-port': '15021',
        'stats-port': '15020',
        // Istio's meshConfig.accessLogFile: /dev/stdout, read with docker compose logs.
        'access-log': '/dev/stdout',
        // The app's own metrics, merged into the sidecar's /stats/prometheus as pilot-agent merges them.
        'app-metrics-port': env.METRICS_PORT,
      })
      expect(service(name).image).toBe('docs-mesh/mesh:compose')
    }
  })

  it('runs the gateway as the contract names it, on the one published port, with pnpm dev’s host alias', () => {
    const flags = meshCommand(GATEWAY, 'gateway', GATEWAY_FLAGS)
    expect(flags).toEqual({
      'control-plane': `https://${CONTROL_PLANE}:15012`,
      'token-file': '/var/run/secrets/tokens/istio-token',
      'root-cert': '/var/run/secrets/istio/root-cert.pem',
      'listen-port': '8443',
      'health-port': '15021',
      'stats-port': '15020',
      'access-log': '/dev/stdout',
      'host-alias': ['localhost=api.rossmck.dev'],
    })
    expect(model.gateways.flatMap((g) => g.servers.flatMap((s) => s.hosts))).toContain('api.rossmck.dev')
    expect(service(GATEWAY).ports?.[0]?.endsWith(`:${flags['listen-port']}`)).toBe(true)
  })

  it('runs the control plane on the overlay pnpm dev runs, mounted read-only and whole, nothing else of k8s/', () => {
    const flags = meshCommand(CONTROL_PLANE, 'control-plane', CONTROL_PLANE_FLAGS)
    expect(flags.listen).toBe('0.0.0.0:15012')
    expect(mountAt(CONTROL_PLANE, flags['mesh-dir'] as string)?.volume?.subpath).toBeUndefined()
    const binds = mounts(CONTROL_PLANE).filter((m) => m.type === 'bind')
    expect(binds.every((m) => m.read_only)).toBe(true)
    const hostPath = (containerPath: string): string | undefined => {
      const bind = binds.find((m) => containerPath === m.target || containerPath.startsWith(`${m.target}/`))
      return bind && root(posix.join(bind.source, posix.relative(bind.target, containerPath)))
    }
    const overlay = flags.manifests as string
    expect(hostPath(overlay)).toBe(root('k8s/overlays/local'))
    // Every folder the overlay names must be there, where the overlay looks for it.
    const kustomization = parse(readFileSync(root('k8s/overlays/local/kustomization.yaml'), 'utf8')) as {
      resources: string[]
      components: string[]
    }
    for (const entry of [...kustomization.resources, ...kustomization.components])
      expect(hostPath(posix.join(overlay, entry)), entry).toBe(root(posix.join('k8s/overlays/local', entry)))
    expect(binds.map((m) => m.source).sort()).toEqual(
      ['./k8s/base', './k8s/components', './k8s/overlays/local'].sort(),
    )
    // The same model pnpm dev builds: loaded from those three folders alone.
    const dir = mkdtempSync(join(tmpdir(), 'compose-config-'))
    try {
      for (const m of binds) cpSync(root(m.source), join(dir, m.target), { recursive: true })
      const mounted = buildMeshModel(loadManifests(join(dir, overlay)))
      expect(mounted.workloads).toEqual(model.workloads)
      expect(mounted.policies).toEqual(model.policies)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('gives each proxy its own token and the root certificate, read-only, and nothing else of the mesh volume', () => {
    const proxies = [...apps.map((app) => [`${app}-sidecar`, app]), [GATEWAY, GATEWAY]]
    for (const [name, workload] of proxies as Array<[string, string]>) {
      const flags =
        name === GATEWAY
          ? meshCommand(name, 'gateway', GATEWAY_FLAGS)
          : meshCommand(name, 'sidecar', SIDECAR_FLAGS)
      const expected = [
        { target: flags['token-file'], subpath: `tokens/${workload}.token` },
        { target: flags['root-cert'], subpath: 'ca/root.pem' },
      ]
      const bySubpath = (a: { subpath?: string }, b: { subpath?: string }) =>
        String(a.subpath).localeCompare(String(b.subpath))
      expect(
        meshMounts(name)
          .map((m) => ({ target: m.target, subpath: m.volume?.subpath }))
          .sort(bySubpath),
        name,
      ).toEqual(expected.sort(bySubpath))
      // nocopy: Docker would otherwise resolve the subpath when it creates the container (moby
      // daemon/create_unix.go, populateVolume), which compose may do before the control plane has
      // written the tokens; with it, only at start (daemon/volumes_unix.go, setupMounts).
      for (const m of meshMounts(name))
        expect(m, `${name} ${m.target}`).toMatchObject({ read_only: true, volume: { nocopy: true } })
      // A pod's projected token: the proxy's only mount besides the root certificate.
      expect(mounts(name).length, name).toBe(2)
    }
    // The apps get nothing of it; only the control plane mounts the whole volume.
    for (const app of apps) expect(meshMounts(app), app).toEqual([])
    const whole = Object.keys(services).filter((name) =>
      meshMounts(name).some((m) => m.volume?.subpath === undefined),
    )
    expect(whole).toEqual([CONTROL_PLANE])
    // Every workload the control plane knows has its token mounted once, in its own proxy.
    const tokens = Object.values(services).flatMap((s) =>
      (s.volumes ?? []).flatMap((v) =>
        typeof v !== 'string' && v.volume?.subpath?.startsWith('tokens/') ? [v.volume.subpath] : [],
      ),
    )
    expect(tokens.sort()).toEqual([...apps, GATEWAY].map((w) => `tokens/${w}.token`).sort())
  })

  it('checks readiness where each process listens: proxies on 15021 /healthz/ready, apps on loopback', () => {
    const probe = (name: string) => service(name).healthcheck?.test.join(' ') ?? ''
    for (const app of apps) {
      const flags = meshCommand(`${app}-sidecar`, 'sidecar', SIDECAR_FLAGS)
      expect(probe(`${app}-sidecar`)).toContain(`http://127.0.0.1:${flags['health-port']}/healthz/ready`)
      expect(probe(app)).toContain("'http://127.0.0.1:'+process.env.PORT+'/health/ready'")
    }
    expect(probe(GATEWAY)).toContain('http://127.0.0.1:15021/healthz/ready')
    expect(probe(CONTROL_PLANE)).toContain("port:15012,path:'/healthz/ready'")
  })

  it('starts each app once its sidecar is ready, and each proxy once the control plane is', () => {
    for (const app of apps) {
      const s = service(app)
      expect(s.entrypoint?.at(-1), app).toBe('/opt/mesh/hold-until-proxy-ready.mjs')
      expect(mounts(app)).toContainEqual({
        type: 'bind',
        source: './deploy/compose/hold-until-proxy-ready.mjs',
        target: '/opt/mesh/hold-until-proxy-ready.mjs',
        read_only: true,
      })
      expect(service(`${app}-sidecar`).depends_on).toEqual({
        [CONTROL_PLANE]: { condition: 'service_healthy' },
        [app]: { condition: 'service_started', restart: true },
      })
    }
    expect(service(GATEWAY).depends_on?.[CONTROL_PLANE]).toEqual({ condition: 'service_healthy' })
  })

  it('orders the services without a cycle (compose refuses one)', () => {
    const edges = (name: string) => [
      ...Object.keys(service(name).depends_on ?? {}),
      ...(service(name).network_mode?.startsWith('service:')
        ? [service(name).network_mode?.slice(8) ?? '']
        : []),
    ]
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (name: string, path: string[]) => {
      expect(state.get(name), [...path, name].join(' → ')).not.toBe('visiting')
      if (state.get(name) === 'done') return
      state.set(name, 'visiting')
      for (const next of edges(name)) {
        expect(services[next], `${name} depends on ${next}`).toBeDefined()
        visit(next, [...path, name])
      }
      state.set(name, 'done')
    }
    for (const name of Object.keys(services)) visit(name, [])
  })

  it('runs every container of the system hardened as the Deployments are', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'postgres') continue
      expect(s.user, name).toBe('10001:10001')
      expect(s.read_only, name).toBe(true)
      expect(s.cap_drop, name).toEqual(['ALL'])
    }
  })
})

describe('each app’s environment, against pnpm dev’s', () => {
  // What startSystem (mesh/src/runtime/system.ts) gives each app under pnpm dev with
  // fixed ports, less the laptop's own (PATH, the caller's environment): the
  // manifests' values and Secrets, then its overrides. Compose must differ only
  // where a container is not the laptop, each difference named with its reason.
  // Settings only a supervisor needs (how a process reports its port, or notices
  // its supervisor is gone) are not the app's configuration and are left out.
  // This mirrors startSystem by hand: a change to its overrides must be made here too.
  const pnpmDev = (app: string) => {
    const workload = model.workloads.find((w) => w.name === app)
    if (!workload) throw new Error(app)
    return {
      ...Object.fromEntries(Object.keys(workload.secretEnv).map((k) => [k, '<secret>'])),
      ...workload.env,
      HOST: '127.0.0.1',
      MESH_SIDECAR: 'true',
      PORT: String(containerPort(app) + 10_000),
      HTTP_PROXY: 'http://127.0.0.1:<outbound port>',
      NO_PROXY: 'localhost,127.0.0.1,::1',
      DATABASE_URL: '<the SQLite file>',
      SESSION_ISSUER: `${GATEWAY_URL}/auth`,
      PUBLIC_URL: GATEWAY_URL,
      BLOB_DIR: '<.data/blobs>',
      WITNESS_FILE: '<.data/signing-api-witness.json>',
      OIDC_ISSUER: 'http://localhost:9000',
      METRICS_PORT: '<any free port, reported>',
    } as Record<string, string>
  }

  it.each(apps)('%s', (app) => {
    const dev = pnpmDev(app)
    const env = service(app).environment ?? {}
    const workload = model.workloads.find((w) => w.name === app)
    const declared = (key: string) => key in (workload?.env ?? {})
    const expected: Record<string, string> = {}
    for (const [key, value] of Object.entries(dev)) {
      if (key === 'DATABASE_URL') {
        // Its own role (postgres-init-roles.sh) on the compose PostgreSQL instead of the
        // laptop's SQLite file, for the apps whose Deployment reads one.
        const role = new RegExp(`^postgres://${app.replaceAll('-', '_')}:[^@]+@postgres:5432/docs$`)
        if (key in (workload?.secretEnv ?? {}))
          expected[key] = role.test(env[key] ?? '') ? (env[key] as string) : `<${app}'s own role on postgres>`
        continue
      }
      if (key in (workload?.secretEnv ?? {})) {
        // A Secret's value: compose-only literals here, random per checkout under pnpm dev.
        expected[key] = env[key] ?? '<missing>'
        continue
      }
      switch (key) {
        case 'HTTP_PROXY':
          // Istio's outbound port: the sidecar has the app's network namespace to itself.
          expected[key] = 'http://127.0.0.1:15001'
          break
        case 'NO_PROXY':
          // Outside the mesh, reached directly as under pnpm dev: PostgreSQL and the provider by their names here.
          expected[key] = `${value},postgres,oidc.localhost`
          break
        case 'BLOB_DIR':
        case 'WITNESS_FILE':
          // pnpm dev moves the pod's paths under .data; a container has the pod's paths (a tmpfs).
          if (declared(key)) expected[key] = workload?.env[key] as string
          break
        case 'METRICS_PORT':
          // The sidecar has the app's network namespace to itself: a fixed port it is told (--app-metrics-port).
          expected[key] = '9464'
          break
        case 'OIDC_ISSUER':
          // In a container localhost is the container: one name browsers and containers both resolve.
          if (declared(key)) expected[key] = 'http://oidc.localhost:9000'
          break
        default:
          expected[key] = value
      }
    }
    expect(env).toEqual(expected)
    // What the sidecar listens for the app on is the port the app listens on.
    expect(meshCommand(`${app}-sidecar`, 'sidecar', SIDECAR_FLAGS)['app-port']).toBe(env.PORT)
  })
})

describe('hold-until-proxy-ready.mjs', () => {
  const script = root('deploy/compose/hold-until-proxy-ready.mjs')
  const dir = mkdtempSync(join(tmpdir(), 'hold-until-proxy-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const entry = join(dir, 'entry.mjs')
  writeFileSync(entry, "process.stdout.write('app started\\n')\n")

  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [script], { env: { ...process.env, APP_ENTRY: entry, ...env } })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => {
        stdout += c
      })
      child.stderr.on('data', (c: Buffer) => {
        stderr += c
      })
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })

  it('runs the app only after its sidecar answers ready', async () => {
    let asked = 0
    const proxy = createServer((_req, res) => {
      asked++
      res.statusCode = asked < 3 ? 503 : 200
      res.end()
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    try {
      const { port } = proxy.address() as AddressInfo
      const result = await run({ PROXY_READY_URL: `http://127.0.0.1:${port}/healthz/ready` })
      expect(result).toMatchObject({ code: 0, stdout: 'app started\n' })
      expect(asked).toBe(3)
    } finally {
      await new Promise((r) => proxy.close(r))
    }
  })

  it('never runs the app if the sidecar is not ready in time', async () => {
    const proxy = createServer((_req, res) => {
      res.statusCode = 503
      res.end()
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    try {
      const { port } = proxy.address() as AddressInfo
      const result = await run({
        PROXY_READY_URL: `http://127.0.0.1:${port}/healthz/ready`,
        PROXY_READY_TIMEOUT_MS: '300',
      })
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toContain('not ready after 300 ms')
    } finally {
      await new Promise((r) => proxy.close(r))
    }
  })
})

describe('the mesh image (Dockerfile, SERVICE=mesh)', () => {
  const dockerfile = readFileSync(root('Dockerfile'), 'utf8')
  const mesh = JSON.parse(readFileSync(root('mesh/package.json'), 'utf8')) as {
    scripts: Record<string, string>
    dependencies: Record<string, string>
    files: string[]
  }

  it('is built with the services and runs the CLI compiled, as the images run their entry points', () => {
    expect(dockerfile).toMatch(/--filter "@docs-mesh\/mesh\.\.\." run build/)
    expect(mesh.scripts.build).toBe('tsc -p tsconfig.build.json --noCheck')
    // The Dockerfile's deploy stage turns `start` into entry.mjs; the entry point runs it with the container's arguments.
    expect(mesh.scripts.start).toBe('node dist/cli/main.js')
    expect(mesh.files).toEqual(['dist'])
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "--enable-source-maps", "entry\.mjs"\]$/m)
    expect(dockerfile).not.toMatch(/^CMD /m)
  })

  it('gives the control plane’s volume a folder the non-root user owns, where compose mounts it', () => {
    const meshDir = meshCommand(CONTROL_PLANE, 'control-plane', CONTROL_PLANE_FLAGS)['mesh-dir']
    expect(dockerfile).toContain(
      `RUN if [ "$SERVICE" = mesh ]; then install -d -o 10001 -g 10001 -m 0700 ${meshDir}; fi`,
    )
  })

  // The image holds the production dependencies only (pnpm deploy --prod): the
  // compiled CLI must run under plain node and import nothing else.
  it('compiles, runs under plain node, and imports only node built-ins and its dependencies', () => {
    // Inside mesh/, so the compiled files resolve the package's own node_modules as /app's would.
    const out = root('mesh/node_modules/.cache/compose-test-dist')
    rmSync(out, { recursive: true, force: true })
    try {
      // TypeScript 7 exports no bin path: its command sits beside its package.json.
      const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc')
      // As the build compiles it: the mesh package's typecheck task checks these sources.
      execFileSync(process.execPath, [
        tsc,
        '-p',
        root('mesh/tsconfig.build.json'),
        '--noCheck',
        '--outDir',
        out,
      ])
      const lint = execFileSync(
        process.execPath,
        [join(out, 'cli/main.js'), 'lint', '--manifests', root('k8s/overlays/local')],
        { encoding: 'utf8' },
      )
      expect(lint).toContain('no problems')
      const imported = new Set<string>()
      for (const file of readdirSync(out, { recursive: true, encoding: 'utf8' }))
        if (file.endsWith('.js'))
          for (const [, specifier] of readFileSync(join(out, file), 'utf8').matchAll(
            /^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm,
          ))
            if (specifier && !specifier.startsWith('.')) imported.add(specifier)
      const packageOf = (s: string) =>
        s
          .split('/')
          .slice(0, s.startsWith('@') ? 2 : 1)
          .join('/')
      const outside = [...imported].filter(
        (s) => !s.startsWith('node:') && !builtinModules.includes(s) && !(packageOf(s) in mesh.dependencies),
      )
      expect(outside).toEqual([])
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }, 120_000)
})
