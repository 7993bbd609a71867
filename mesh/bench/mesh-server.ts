// The local mesh for the benchmark, in its own process as under pnpm dev:
// k8s/base with every workload's app played by the echo server. A second
// argument, a directory, turns Istio's telemetry on (metrics, and access logs there).
import { fileURLToPath } from 'node:url'
import { CertificateAuthority } from '../src/ca/certificate-authority.ts'
import { loadManifests } from '../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../src/manifests/mesh-model.ts'
import { startLocalMesh } from '../src/runtime/local-mesh.ts'

const appPort = Number(process.argv[2])
const logDir = process.argv[3]
const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../k8s/base', import.meta.url))))
const ca = await CertificateAuthority.create()
const appPorts = Object.fromEntries(model.workloads.map((w) => [w.name, appPort]))
const mesh = await startLocalMesh({
  model,
  ca,
  appPorts,
  inboundPorts: 'ephemeral',
  gatewayPort: 0,
  hostAliases: { localhost: 'api.rossmck.dev' },
  ...(logDir ? { telemetry: { logDir } } : {}),
})
// Its pid: run.ts reads this process's CPU time and RSS from /proc (tsx runs it in a child of its own).
process.stdout.write(`${JSON.stringify({ state: mesh.state, rootPem: ca.rootPem, pid: process.pid })}\n`)
process.on('SIGTERM', () => void mesh.close().then(() => process.exit(0)))
