// The matrix's own count of the requests it sent, per reporting proxy, edge
// and outcome, in the shape Istio's istio_requests_total counts them, so a
// test can hold the two side by side.
import type { Sample } from '@docs-mesh/mesh/telemetry'

export interface Counted {
  reporter: 'source' | 'destination'
  source: string
  destination: string
  code: number
  flags: string
}

const keyOf = (c: Counted) => `${c.reporter}: ${c.source} → ${c.destination} ${c.code} ${c.flags}`

export class RequestTally {
  readonly #counts = new Map<string, number>()

  add(counted: Counted): void {
    const key = keyOf(counted)
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
  }

  /** Counts already made (a snapshot of the proxies' counters before the matrix). */
  addCounts(counts: Record<string, number>): void {
    for (const [key, n] of Object.entries(counts)) this.#counts.set(key, (this.#counts.get(key) ?? 0) + n)
  }

  /** Sorted `reporter: source → destination code flags` → count. */
  toObject(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => a.localeCompare(b)))
  }
}

/** What the proxies counted, summed over every workload's istio_requests_total, in the tally's shape. */
export function countedByProxies(samples: Record<string, Sample[]>): Record<string, number> {
  const tally = new Map<string, number>()
  for (const list of Object.values(samples))
    for (const s of list) {
      if (s.name !== 'istio_requests_total') continue
      const key = keyOf({
        reporter: s.labels.reporter as 'source' | 'destination',
        source: s.labels.source_workload ?? '',
        destination: s.labels.destination_workload ?? '',
        code: Number(s.labels.response_code),
        flags: s.labels.response_flags ?? '',
      })
      tally.set(key, (tally.get(key) ?? 0) + s.value)
    }
  return Object.fromEntries([...tally].sort(([a], [b]) => a.localeCompare(b)))
}
