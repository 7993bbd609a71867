// The inbound side's destination_service: the Service whose targetPort the
// request came in on, looked up once per port and looked up again after a
// configuration push (the control plane's push replaces the model's Services).
import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { parsePrometheusText, samplesOf } from '../../src/telemetry/prometheus-text.ts'
import { startWorkloadTelemetry, type WorkloadTelemetry } from '../../src/telemetry/workload-telemetry.ts'

const manifests = fileURLToPath(new URL('../../../k8s/base', import.meta.url))

/** One finished request through the inbound sidecar, as the telemetry hook sees it. */
function inboundRequest(observed: WorkloadTelemetry, port: number) {
  const req = Object.assign(new EventEmitter(), {
    headers: { host: 'signing-api:8001' },
    method: 'POST',
    url: '/sign',
    httpVersion: '1.1',
    socket: {},
  }) as unknown as IncomingMessage
  const res = Object.assign(new EventEmitter(), {
    headersSent: true,
    writableFinished: true,
    statusCode: 200,
    getHeader: () => undefined,
  }) as unknown as ServerResponse
  observed.telemetry.inbound(req, res, port, null)
  res.emit('close')
}

const destinationServices = async (observed: WorkloadTelemetry) => {
  const text = await (await fetch(observed.statsUrl)).text()
  return samplesOf(parsePrometheusText(text), 'istio_requests_total').map(
    (s) => `${s.labels.destination_service} ${s.value}`,
  )
}

let observed: WorkloadTelemetry | null = null
afterEach(async () => {
  await observed?.close()
  observed = null
})

describe('destination_service on the inbound side', () => {
  it('names the Service of the container port, and the renamed one after a configuration push', async () => {
    const model = buildMeshModel(loadManifests(manifests))
    const workload = model.workloads.find((w) => w.name === 'signing-api')
    if (!workload) throw new Error('no signing-api in k8s/base')
    const port = workload.containerPorts[0] as number
    observed = await startWorkloadTelemetry({ model, workload, logDir: null, statsPort: 0 })
    inboundRequest(observed, port)
    inboundRequest(observed, port)
    expect(await destinationServices(observed)).toEqual(['signing-api.docs.svc.cluster.local 2'])

    // A push as proxy-agent.ts applies one: a new model, its Services a new array, the
    // workloads the proxies hold updated in place.
    const pushed = buildMeshModel(loadManifests(manifests))
    pushed.workloads = pushed.workloads.map((w) => {
      const held = model.workloads.find((h) => h.name === w.name && h.namespace === w.namespace)
      return held ? Object.assign(held, w) : w
    })
    pushed.services = pushed.services.map((s) => (s.name === 'signing-api' ? { ...s, name: 'signer' } : s))
    Object.assign(model, pushed)
    inboundRequest(observed, port)
    expect(await destinationServices(observed)).toEqual([
      'signing-api.docs.svc.cluster.local 2',
      'signer.docs.svc.cluster.local 1',
    ])
  })
})
