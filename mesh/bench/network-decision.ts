// pnpm bench, network layer: what one NetworkPolicy decision costs, on the
// manifests pnpm dev runs (k8s/overlays/local, nine policies), for every
// caller-callee pair of the six workloads and the gateway; and what a proxy
// pays per request once the verdict is cached (a map lookup). Bounded: a
// fixed number of rounds, in this process.
import { fileURLToPath } from 'node:url'
import { loadManifests } from '../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../src/manifests/mesh-model.ts'
import { decideConnection, meshNetworkModel, type NetworkSource } from '../src/network/index.ts'

const ROUNDS = 20_000
const model = buildMeshModel(
  loadManifests(fileURLToPath(new URL('../../k8s/overlays/local', import.meta.url))),
)
const network = meshNetworkModel(model)
const pairs = network.pods.flatMap((from) =>
  network.pods
    .filter((to) => to.ports.length > 0)
    .map((to) => ({
      source: { kind: 'pod', pod: from } as NetworkSource,
      to,
      port: to.ports[0]?.containerPort ?? 0,
    })),
)

function measure(name: string, run: () => void): void {
  for (let i = 0; i < ROUNDS / 10; i++) run() // warm up
  const started = process.hrtime.bigint()
  for (let i = 0; i < ROUNDS; i++) run()
  const ns = Number(process.hrtime.bigint() - started) / ROUNDS / pairs.length
  console.log(`${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns per request`)
}

let drops = 0
console.log(`network layer: ${network.policies.length} policies, ${pairs.length} caller-callee pairs`)
measure('network decision (uncached)', () => {
  for (const p of pairs) if (decideConnection(network, p.source, p.to, p.port).verdict === 'DROP') drops++
})
const cache = new Map(
  pairs.map((p) => [
    `${p.to.namespace}/${p.to.name}:${p.port}`,
    decideConnection(network, p.source, p.to, p.port),
  ]),
)
const keys = pairs.map((p) => `${p.to.namespace}/${p.to.name}:${p.port}`)
measure('network verdict (cached, per proxy)', () => {
  for (const k of keys) if (cache.get(k)?.verdict === 'DROP') drops++
})
if (drops === 0) throw new Error('no connection was dropped: the policies did not load')
