// The exposition-format reader and the quantile over Istio's histogram buckets.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { histogramQuantile, TrafficWindow } from '../../src/console/istio-traffic.ts'
import { ExpositionError, parsePrometheusText } from '../../src/console/prometheus-text.ts'

const escaped = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')

describe('parsePrometheusText', () => {
  it('reads any label value back as written, escapes included', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 0, max: 1e9 }), (a, b, n) => {
        const text = `# TYPE istio_requests_total counter\nistio_requests_total{reporter="${escaped(a)}",response_flags="${escaped(b)}"} ${n}\n`
        expect(parsePrometheusText(text)).toEqual([
          { name: 'istio_requests_total', labels: { reporter: a, response_flags: b }, value: n },
        ])
      }),
    )
  })

  it('reads +Inf bounds and timestamps, and refuses a line that is not a sample', () => {
    expect(parsePrometheusText('x_bucket{le="+Inf"} 4 1700000000000')).toEqual([
      { name: 'x_bucket', labels: { le: '+Inf' }, value: 4 },
    ])
    expect(() => parsePrometheusText('x{le="1} 4')).toThrow(ExpositionError)
    expect(() => parsePrometheusText('x four')).toThrow(ExpositionError)
  })
})

describe('histogramQuantile', () => {
  it('interpolates inside the bucket the rank falls in, as Prometheus does', () => {
    const buckets = [
      { le: 10, count: 50 },
      { le: 20, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ]
    expect(histogramQuantile(0.5, buckets)).toBe(10)
    expect(histogramQuantile(0.75, buckets)).toBe(15)
    expect(
      histogramQuantile(0.99, [
        { le: 5, count: 1 },
        { le: Number.POSITIVE_INFINITY, count: 2 },
      ]),
    ).toBe(5)
    expect(histogramQuantile(0.99, [{ le: Number.POSITIVE_INFINITY, count: 0 }])).toBeNull()
  })
})

describe('TrafficWindow', () => {
  const edge = (requests: number) => ({
    source: 'bucket-api',
    destination: 'signing-api',
    requests,
    responses: {},
    ok: requests,
    denied: 0,
    dropped: 0,
    errors: 0,
    p50Ms: null,
    p99Ms: null,
    tcpConnections: 0,
    ratePerSecond: 0,
  })

  it('rates each edge over the scrapes kept in the window, and a counter reset as zero', () => {
    const window = new TrafficWindow(10_000)
    expect(window.record(0, [edge(10)])[0]?.ratePerSecond).toBe(0)
    expect(window.record(2_000, [edge(20)])[0]?.ratePerSecond).toBe(5)
    expect(window.record(4_000, [edge(30)])[0]?.ratePerSecond).toBe(5)
    // 12 s in: the scrape at 0 s left the window; the rate is over 2 s → 12 s.
    expect(window.record(12_000, [edge(30)])[0]?.ratePerSecond).toBe(1)
    // A restarted proxy starts its counters again: no negative rate.
    expect(window.record(14_000, [edge(0)])[0]?.ratePerSecond).toBe(0)
  })
})
