import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { ProxyAgent } from 'undici'
import { CertificateAuthority } from '../src/ca/certificate-authority.ts'
import { loadManifests } from '../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../src/manifests/mesh-model.ts'
import { startLocalMesh } from '../src/runtime/local-mesh.ts'

let handshakes = 0
const orig = tls.connect
;(tls as any).connect = (...a: any[]) => {
  handshakes++
  return (orig as any)(...a)
}
const child = spawn('/work/main/node_modules/.bin/tsx', ['/work/main/mesh/bench/echo-server.ts'], {
  stdio: ['ignore', 'pipe', 'inherit'],
})
const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
const port = JSON.parse(line).port
const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../k8s/base', import.meta.url))))
const ca = await CertificateAuthority.create()
const mesh = await startLocalMesh({
  model,
  ca,
  appPorts: Object.fromEntries(model.workloads.map((w) => [w.name, port])),
  inboundPorts: 'ephemeral',
  gatewayPort: 0,
  hostAliases: {},
})
const agent = new ProxyAgent({
  uri: `http://127.0.0.1:${mesh.state.workloads['bucket-api']!.proxyPort}`,
  proxyTunnel: false,
})
const payload = Buffer.alloc(1024)
const lat: number[] = []
for (let i = 0; i < 3000; i++) {
  const s = performance.now()
  const r = await agent.request({
    origin: 'http://signing-api.docs.svc.cluster.local:8001',
    path: '/sign',
    method: 'POST',
    body: payload,
  })
  await r.body.arrayBuffer()
  lat.push(performance.now() - s)
}
lat.sort((a, b) => a - b)
console.log(
  'handshakes',
  handshakes,
  'p50',
  lat[1500]?.toFixed(2),
  'p99',
  lat[2970]?.toFixed(2),
  'max',
  lat.at(-1)?.toFixed(1),
)
await mesh.close()
child.kill()
await agent.close()
