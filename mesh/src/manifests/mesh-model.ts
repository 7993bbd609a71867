// The mesh as the manifests describe it: workloads and their identities,
// Services, AuthorizationPolicies, the Gateway and its VirtualServices.
// Istio resources and fields the local mesh does not implement are refused
// here, before anything listens.
import { type CompiledPolicy, compilePolicy } from '../authz/compile-policy.ts'
import { type K8sObject, MeshConfigError, objectRef, onlyKeys, stringList } from './k8s-object.ts'
import { type MtlsMode, mtlsModeOf as modeIn, peerAuthenticationOf } from './peer-authentication.ts'
import { authzProtocolOf, type PortProtocol } from './port-protocol.ts'
import { injectsSidecar } from './sidecar-injection.ts'

export type { MtlsMode }

export interface Workload {
  name: string
  namespace: string
  labels: Record<string, string>
  serviceAccount: string
  /** Istio principal: `<trust domain>/ns/<namespace>/sa/<service account>`. */
  principal: string
  containerPorts: number[]
  /** Literal env values from the first container. */
  env: Record<string, string>
  /** Env values the first container reads from Secrets: name → the Secret and key. */
  secretEnv: Record<string, { secret: string; key: string }>
}

export interface ServicePort {
  name: string | undefined
  port: number
  targetPort: number
  appProtocol: string | undefined
  /** How Istio serves the port, from `appProtocol` or the name (port-protocol.ts). */
  protocol: PortProtocol
}

export interface MeshService {
  name: string
  namespace: string
  selector: Record<string, string>
  ports: ServicePort[]
}

export type UriMatch = { kind: 'prefix' | 'exact' | 'regex'; value: string } | null

export interface HttpRoute {
  /** Any of these matches (empty: everything). */
  matches: UriMatch[]
  destination: { host: string; port: number | undefined }
}

export interface VirtualServiceModel {
  id: string
  hosts: string[]
  gateways: string[]
  http: HttpRoute[]
}

export interface GatewayServer {
  port: number
  protocol: 'HTTPS'
  hosts: string[]
  credentialName: string
}

export interface GatewayModel {
  id: string
  name: string
  namespace: string
  selector: Record<string, string>
  servers: GatewayServer[]
}

export interface MeshModel {
  trustDomain: string
  /** Workloads Istio's injection webhook gives a sidecar (see sidecar-injection.ts). */
  workloads: Workload[]
  /** Workloads without a sidecar: no mTLS, no policy, plaintext both ways. */
  outsideWorkloads: Workload[]
  /** Deployments a Gateway's selector picks: gateway proxies, not apps (e.g. istio-system's istio-ingressgateway). */
  gatewayWorkloads: Workload[]
  services: MeshService[]
  serviceAccounts: Set<string>
  policies: CompiledPolicy[]
  /** Namespaces with a namespace-wide STRICT PeerAuthentication (or the mesh-wide one in istio-system). */
  strictNamespaces: Set<string>
  /** The mode each PeerAuthentication sets; a namespace none covers is PERMISSIVE (`mtlsModeOf`). */
  mtlsModes: Map<string, MtlsMode>
  gateways: GatewayModel[]
  virtualServices: VirtualServiceModel[]
  objects: K8sObject[]
}

// Istio kinds that change what the mesh does and that this mesh does not implement.
const UNSUPPORTED_ISTIO = /\.istio\.io\//

const port = (value: unknown, where: string): number => {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
    throw new MeshConfigError(`${where}: invalid port ${String(value)}`)
  return n
}

function workloadOf(o: K8sObject, trustDomain: string): Workload {
  const where = objectRef(o)
  const template = (o.spec?.template ?? {}) as {
    metadata?: { labels?: Record<string, string> }
    spec?: Record<string, unknown>
  }
  const podSpec = template.spec ?? {}
  const serviceAccount = (podSpec.serviceAccountName as string | undefined) ?? 'default'
  const namespace = o.metadata.namespace ?? 'default'
  const containers = (podSpec.containers ?? []) as Array<{
    ports?: Array<{ containerPort: number }>
    env?: Array<{
      name: string
      value?: string
      valueFrom?: { secretKeyRef?: { name: string; key: string } }
    }>
  }>
  const env: Record<string, string> = {}
  const secretEnv: Record<string, { secret: string; key: string }> = {}
  for (const e of containers[0]?.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value
    const ref = e.valueFrom?.secretKeyRef
    if (ref) secretEnv[e.name] = { secret: ref.name, key: ref.key }
  }
  return {
    name: o.metadata.name,
    namespace,
    labels: template.metadata?.labels ?? {},
    serviceAccount,
    principal: `${trustDomain}/ns/${namespace}/sa/${serviceAccount}`,
    containerPorts: containers.flatMap((c) => (c.ports ?? []).map((p) => port(p.containerPort, where))),
    env,
    secretEnv,
  }
}

function serviceOf(o: K8sObject): MeshService {
  const where = objectRef(o)
  const spec = o.spec ?? {}
  const ports = (
    (spec.ports ?? []) as Array<{
      name?: string
      port: number
      targetPort?: number | string
      appProtocol?: string
      protocol?: string
    }>
  ).map((p) => ({
    name: p.name,
    appProtocol: p.appProtocol,
    protocol: authzProtocolOf({ ...p, port: port(p.port, where) }),
    port: port(p.port, where),
    targetPort:
      typeof p.targetPort === 'string' && !/^\d+$/.test(p.targetPort)
        ? port(p.port, where)
        : port(p.targetPort ?? p.port, where),
  }))
  return {
    name: o.metadata.name,
    namespace: o.metadata.namespace ?? 'default',
    selector: (spec.selector ?? {}) as Record<string, string>,
    ports,
  }
}

/**
 * A Sidecar that only points inbound traffic at the app on loopback
 * (ingress[].defaultEndpoint 127.0.0.1:<port>), which is what the local
 * mesh's sidecars always do; any other Sidecar setting is refused.
 */
function checkLoopbackSidecar(o: K8sObject): void {
  const where = objectRef(o)
  const spec = onlyKeys(o.spec ?? {}, ['workloadSelector', 'ingress'], `${where} spec`)
  const ingress = spec.ingress
  if (!Array.isArray(ingress) || ingress.length === 0)
    throw new MeshConfigError(`${where}: a Sidecar needs ingress listeners`)
  for (const listener of ingress as Array<Record<string, unknown>>) {
    const l = onlyKeys(listener, ['port', 'defaultEndpoint'], `${where} ingress`)
    const port = (l.port as { number?: unknown } | undefined)?.number
    if (l.defaultEndpoint !== `127.0.0.1:${port}`)
      throw new MeshConfigError(
        `${where}: the local mesh forwards only to the app on loopback (defaultEndpoint 127.0.0.1:${port})`,
      )
  }
}

function gatewayOf(o: K8sObject): GatewayModel {
  const where = objectRef(o)
  const spec = onlyKeys(o.spec ?? {}, ['selector', 'servers'], `${where} spec`)
  const servers = ((spec.servers ?? []) as unknown[]).map((s, i) => {
    const sw = `${where} spec.servers[${i}]`
    const server = onlyKeys(s, ['port', 'hosts', 'tls', 'name'], sw)
    const p = onlyKeys(server.port, ['number', 'name', 'protocol'], `${sw}.port`)
    if (p.protocol !== 'HTTPS')
      throw new MeshConfigError(
        `${sw}: protocol ${String(p.protocol)} is not supported; the local gateway serves HTTPS`,
      )
    const tls = onlyKeys(server.tls ?? {}, ['mode', 'credentialName'], `${sw}.tls`)
    if (tls.mode !== 'SIMPLE')
      throw new MeshConfigError(`${sw}: tls mode ${String(tls.mode)} is not supported; only SIMPLE`)
    return {
      port: port(p.number, sw),
      protocol: 'HTTPS' as const,
      hosts: stringList(server.hosts, `${sw}.hosts`),
      credentialName: String(tls.credentialName ?? ''),
    }
  })
  return {
    id: `${o.metadata.namespace}/${o.metadata.name}`,
    name: o.metadata.name,
    namespace: o.metadata.namespace ?? 'default',
    selector: (spec.selector ?? {}) as Record<string, string>,
    servers,
  }
}

function uriMatchOf(value: unknown, where: string): UriMatch {
  const m = onlyKeys(value, ['uri'], where)
  if (m.uri === undefined) return null
  const uri = onlyKeys(m.uri, ['prefix', 'exact', 'regex'], `${where}.uri`)
  const [kind, v] = Object.entries(uri)[0] ?? []
  if (typeof v !== 'string' || Object.keys(uri).length !== 1)
    throw new MeshConfigError(`${where}.uri: exactly one of prefix, exact or regex`)
  return { kind: kind as 'prefix' | 'exact' | 'regex', value: v }
}

function virtualServiceOf(o: K8sObject): VirtualServiceModel {
  const where = objectRef(o)
  const spec = onlyKeys(o.spec ?? {}, ['hosts', 'gateways', 'http'], `${where} spec`)
  const namespace = o.metadata.namespace ?? 'default'
  const http = ((spec.http ?? []) as unknown[]).map((h, i) => {
    const hw = `${where} spec.http[${i}]`
    const route = onlyKeys(h, ['match', 'route', 'name'], hw)
    const routes = (route.route ?? []) as unknown[]
    if (routes.length !== 1)
      throw new MeshConfigError(`${hw}: exactly one route destination is supported (no traffic splitting)`)
    const r = onlyKeys(routes[0], ['destination'], `${hw}.route[0]`)
    const d = onlyKeys(r.destination, ['host', 'port'], `${hw}.route[0].destination`)
    const p =
      d.port === undefined
        ? undefined
        : port(onlyKeys(d.port, ['number'], `${hw}.route[0].destination.port`).number, hw)
    return {
      matches: ((route.match ?? []) as unknown[]).map((m, j) => uriMatchOf(m, `${hw}.match[${j}]`)),
      destination: { host: qualify(String(d.host), namespace), port: p },
    }
  })
  const gateways = stringList(spec.gateways, `${where} spec.gateways`)
  // No gateways, or the reserved `mesh`, binds the routes to every sidecar
  // (istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService-gateways).
  // Sidecars here route only by Service, so such a VirtualService is refused
  // rather than silently left out.
  if (gateways.length === 0 || gateways.includes('mesh'))
    throw new MeshConfigError(
      `${where}: applies to sidecar traffic (${gateways.length === 0 ? 'no gateways' : 'gateways includes "mesh"'}); the local mesh applies VirtualServices only at Gateways, so it refuses this rather than ignore it`,
    )
  return {
    id: `${namespace}/${o.metadata.name}`,
    hosts: stringList(spec.hosts, `${where} spec.hosts`),
    gateways: gateways.map((g) => (g.includes('/') ? g : `${namespace}/${g}`)),
    http,
  }
}

/** A short Service name in a VirtualService means the Service in the VirtualService's namespace. */
const qualify = (host: string, namespace: string): string =>
  host.includes('.') ? host : `${host}.${namespace}.svc.cluster.local`

export function buildMeshModel(objects: K8sObject[], options: { trustDomain?: string } = {}): MeshModel {
  const trustDomain = options.trustDomain ?? 'cluster.local'
  const model: MeshModel = {
    trustDomain,
    workloads: [],
    outsideWorkloads: [],
    gatewayWorkloads: [],
    services: [],
    serviceAccounts: new Set(),
    policies: [],
    strictNamespaces: new Set(),
    mtlsModes: new Map(),
    gateways: [],
    virtualServices: [],
    objects,
  }
  const namespaceLabels = new Map(
    objects.filter((o) => o.kind === 'Namespace').map((o) => [o.metadata.name, o.metadata.labels ?? {}]),
  )
  const hostNetwork = new Map<Workload, boolean>()
  for (const o of objects) {
    switch (o.kind) {
      case 'Deployment':
      case 'StatefulSet': {
        const workload = workloadOf(o, trustDomain)
        const podSpec = (o.spec?.template as { spec?: { hostNetwork?: boolean } } | undefined)?.spec
        hostNetwork.set(workload, podSpec?.hostNetwork === true)
        model.workloads.push(workload)
        break
      }
      case 'Service':
        model.services.push(serviceOf(o))
        break
      case 'ServiceAccount':
        model.serviceAccounts.add(
          `${trustDomain}/ns/${o.metadata.namespace ?? 'default'}/sa/${o.metadata.name}`,
        )
        break
      case 'AuthorizationPolicy':
        model.policies.push(compilePolicy(o))
        break
      case 'PeerAuthentication': {
        const { namespace, mode } = peerAuthenticationOf(o)
        if (mode) model.mtlsModes.set(namespace, mode)
        if (mode === 'STRICT') model.strictNamespaces.add(namespace)
        break
      }
      case 'Gateway':
        model.gateways.push(gatewayOf(o))
        break
      case 'VirtualService':
        model.virtualServices.push(virtualServiceOf(o))
        break
      case 'Sidecar':
        checkLoopbackSidecar(o)
        break
      default:
        if (UNSUPPORTED_ISTIO.test(o.apiVersion)) {
          throw new MeshConfigError(`${objectRef(o)}: ${o.kind} is not supported by the local mesh`)
        }
    }
  }
  const isGatewayProxy = (w: Workload) =>
    model.gateways.some(
      (g) =>
        Object.keys(g.selector).length > 0 && Object.entries(g.selector).every(([k, v]) => w.labels[k] === v),
    )
  model.gatewayWorkloads = model.workloads.filter(isGatewayProxy)
  const apps = model.workloads.filter((w) => !isGatewayProxy(w))
  const injected = (w: Workload) =>
    injectsSidecar(namespaceLabels.get(w.namespace) ?? {}, w.labels, hostNetwork.get(w))
  model.workloads = apps.filter(injected)
  model.outsideWorkloads = apps.filter((w) => !injected(w))
  return model
}

/**
 * The mTLS mode a workload's inbound sidecar enforces: its namespace's
 * PeerAuthentication, else the root namespace's (istio-system, mesh-wide),
 * else PERMISSIVE, Istio's default without any PeerAuthentication
 * (istio.io/latest/docs/concepts/security/#peer-authentication).
 */
export const mtlsModeOf = (model: MeshModel, namespace: string): MtlsMode =>
  modeIn(model.mtlsModes, namespace)

export const serviceHost = (s: MeshService): string => `${s.name}.${s.namespace}.svc.cluster.local`

/** The workloads a Service selects. */
export function workloadsOf(model: MeshModel, service: MeshService): Workload[] {
  const entries = Object.entries(service.selector)
  if (entries.length === 0) return []
  return model.workloads.filter(
    (w) => w.namespace === service.namespace && entries.every(([k, v]) => w.labels[k] === v),
  )
}
