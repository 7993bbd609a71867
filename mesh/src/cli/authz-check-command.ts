// `mesh authz check`: offline decisions for a file of requests, one JSON line
// in, one JSON line out, in order: the L7 decision and, beside it, the
// network layer's verdict for the caller's pod (found from the principal's
// ServiceAccount; no principal is a client outside the cluster).
import { readFileSync } from 'node:fs'
import { type Decision, evaluate } from '../authz/evaluate.ts'
import { loadManifests } from '../manifests/load-manifests.ts'
import { buildMeshModel, type MeshModel, type Workload, workloadsOf } from '../manifests/mesh-model.ts'
import type { NetworkVerdict } from '../network/decide-connection.ts'
import { meshNetworkModel, reachability } from '../network/mesh-network.ts'
import type { NetworkModel } from '../network/network-model.ts'
import { UsageError } from './usage-error.ts'

export interface RequestLine {
  to: string
  namespace?: string
  from: string | null
  method: string
  path: string
  port?: number
  host?: string
  headers?: Record<string, string>
  sourceIp?: string
}

function parseLine(text: string, n: number): RequestLine {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new UsageError(`requests line ${n}: not JSON`)
  }
  const r = value as Partial<RequestLine>
  if (typeof r !== 'object' || r === null) throw new UsageError(`requests line ${n}: expected an object`)
  if (typeof r.to !== 'string') throw new UsageError(`requests line ${n}: "to" must be a Deployment name`)
  if (r.from !== null && typeof r.from !== 'string')
    throw new UsageError(`requests line ${n}: "from" must be a principal or null`)
  if (typeof r.method !== 'string' || typeof r.path !== 'string')
    throw new UsageError(`requests line ${n}: "method" and "path" are required`)
  if (r.port !== undefined && !Number.isInteger(r.port))
    throw new UsageError(`requests line ${n}: "port" must be an integer`)
  return r as RequestLine
}

/** A TCP Service port gets the rules Istio builds for the network filter; anything else HTTP. */
function protocolOfPort(model: MeshModel, workload: Workload, port: number): 'http' | 'tcp' {
  const servicePort = model.services
    .filter((s) => workloadsOf(model, s).includes(workload))
    .flatMap((s) => s.ports)
    .find((p) => p.targetPort === port)
  return servicePort?.protocol ?? 'http'
}

/** One request's decisions, both layers: the L7 engine's and the network's for the caller's pod (null: no pod for the workload). */
export function checkRequest(
  model: MeshModel,
  network: NetworkModel,
  r: RequestLine,
): { decision: Decision; network: NetworkVerdict | null; workload: Workload; port: number } {
  const namespace = r.namespace ?? 'docs'
  const workload = model.workloads.find((w) => w.name === r.to && w.namespace === namespace)
  if (!workload) throw new UsageError(`no Deployment ${namespace}/${r.to} in the manifests`)
  const port = r.port ?? workload.containerPorts[0] ?? 0
  const decision = evaluate(model.policies, {
    protocol: protocolOfPort(model, workload, port),
    namespace,
    labels: workload.labels,
    principal: r.from,
    sourceIp: r.sourceIp ?? '127.0.0.1',
    method: r.method,
    path: r.path,
    port,
    host: r.host ?? `${r.to}.${namespace}.svc.cluster.local:${port}`,
    headers: r.headers ?? {},
  })
  const reached = reachability(model, network, r.from, workload, [port], r.sourceIp ?? null)
  return { decision, network: reached, workload, port }
}

export function authzCheck(manifests: string[], requestsFile: string, write: (line: string) => void): void {
  if (manifests.length === 0) throw new UsageError('--manifests is required')
  const model = buildMeshModel(manifests.flatMap((m) => loadManifests(m)))
  const network = meshNetworkModel(model)
  const lines = readFileSync(requestsFile, 'utf8').split('\n')
  const requests = lines.flatMap((text, i) => (text.trim() === '' ? [] : [parseLine(text, i + 1)]))
  for (const r of requests) {
    const { decision, network: reached } = checkRequest(model, network, r)
    write(
      JSON.stringify({
        decision: decision.decision,
        policy: decision.policy,
        rule: decision.rule,
        network: reached?.verdict ?? 'DROP',
        networkPolicy: reached?.policy ?? null,
      }),
    )
  }
}
