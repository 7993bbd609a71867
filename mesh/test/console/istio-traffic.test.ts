// Per-edge counts from Istio's metrics as both reporters publish them.
import { describe, expect, it } from 'vitest'
import { aggregateIstioTraffic } from '../../src/console/istio-traffic.ts'
import type { Sample } from '../../src/console/prometheus-text.ts'

const request = (reporter: string, code: string, flags: string, value: number): Sample => ({
  name: 'istio_requests_total',
  labels: {
    reporter,
    source_workload: 'bucket-api',
    source_workload_namespace: 'docs',
    destination_workload: 'signing-api',
    destination_workload_namespace: 'docs',
    response_code: code,
    response_flags: flags,
  },
  value,
})

describe('aggregateIstioTraffic', () => {
  it('counts a 503 the destination’s sidecar got from its own app (UF there) once, as an error, not a drop', () => {
    // The callee's app was not listening yet: its sidecar reports UF, the caller's proxy relays the 503 with no flag.
    const [edge] = aggregateIstioTraffic([
      request('source', '503', '-', 1),
      request('destination', '503', 'UF', 1),
    ])
    expect(edge).toMatchObject({ requests: 1, errors: 1, dropped: 0 })
  })

  it('counts a connection only the caller saw fail (UF,URX) as dropped', () => {
    const [edge] = aggregateIstioTraffic([request('source', '503', 'UF,URX', 2)])
    expect(edge).toMatchObject({ requests: 2, dropped: 2, errors: 0 })
  })
})
