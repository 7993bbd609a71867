// Workload tokens: the local analogue of a projected ServiceAccount token.
// Each workload (and the gateway) gets a random 32-byte token in
// <mesh-dir>/tokens/<name>.token, readable by the owner only; its sidecar
// presents it to the control plane, which alone maps it to an identity, as
// istiod authenticates a CSR by the pod's ServiceAccount JWT
// (istio/istio security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gatewayWorkloadOf } from '../gateway/gateway-workload.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'

/** The gateway's token file name, as its Deployment is named. */
export const GATEWAY_TOKEN_NAME = 'istio-ingressgateway'

export const tokenFile = (meshDir: string, name: string) => join(meshDir, 'tokens', `${name}.token`)

export function readToken(file: string): string {
  return readFileSync(file, 'utf8').trim()
}

const digest = (token: string) => createHash('sha256').update(token).digest()

/** Who a token names: a workload and the SPIFFE principal the control plane signs for it. */
export interface TokenIdentity {
  name: string
  namespace: string
  principal: string
  gateway: boolean
}

export class WorkloadTokens {
  readonly #byDigest = new Map<string, { digest: Buffer; identity: TokenIdentity }>()
  readonly #meshDir: string

  constructor(meshDir: string) {
    this.#meshDir = meshDir
  }

  /** The token of `identity` (made on first use and kept, so a restarted control plane knows its sidecars). */
  ensure(identity: TokenIdentity): void {
    const file = tokenFile(this.#meshDir, identity.name)
    if (!existsSync(file)) {
      mkdirSync(join(this.#meshDir, 'tokens'), { recursive: true, mode: 0o700 })
      writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 })
      chmodSync(file, 0o600)
    }
    const d = digest(readToken(file))
    for (const [key, entry] of this.#byDigest)
      if (entry.identity.name === identity.name) this.#byDigest.delete(key)
    this.#byDigest.set(d.toString('hex'), { digest: d, identity })
  }

  /** The identity a presented token names, or null. */
  identify(token: string): TokenIdentity | null {
    const d = digest(token)
    const entry = this.#byDigest.get(d.toString('hex'))
    // The map lookup is on a digest; the final comparison is constant-time.
    return entry && timingSafeEqual(entry.digest, d) ? entry.identity : null
  }
}

/** The identities the control plane issues tokens to: every Deployment, and each Gateway's proxy. */
export function identitiesOf(model: MeshModel): TokenIdentity[] {
  const workloads = [...model.workloads, ...model.outsideWorkloads].map((w) => ({
    name: w.name,
    namespace: w.namespace,
    principal: w.principal,
    gateway: false,
  }))
  const gateway = model.gateways[0]
  if (!gateway) return workloads
  const g = gatewayWorkloadOf(model, gateway)
  return [
    ...workloads,
    {
      name: GATEWAY_TOKEN_NAME,
      namespace: g.namespace,
      principal: `${model.trustDomain}/ns/${g.namespace}/sa/${g.serviceAccount}`,
      gateway: true,
    },
  ]
}
