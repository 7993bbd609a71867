// Where the console finds each proxy's metrics: the `statsUrl` of every
// workload (and the gateway) in `<mesh-dir>/state.json`, read afresh on each
// scrape since a restarted proxy comes back on another port. A target that
// does not answer is reported, not fatal: the rest of the mesh still shows.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parsePrometheusText, type Sample } from './prometheus-text.ts'

export interface ScrapeTarget {
  /** The workload (or gateway) whose proxy serves the URL. */
  workload: string
  url: string
}

export interface TargetHealth extends ScrapeTarget {
  ok: boolean
  error: string | null
}

type StateEntry = { statsUrl?: unknown }

export function scrapeTargets(meshDir: string): ScrapeTarget[] {
  const file = join(meshDir, 'state.json')
  if (!existsSync(file)) return []
  let state: { workloads?: Record<string, StateEntry>; gateway?: StateEntry & { workload?: unknown } }
  try {
    state = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    // Mid-write or gone: the next poll reads it again.
    return []
  }
  const targets: ScrapeTarget[] = []
  const take = (workload: string, entry: StateEntry | undefined) => {
    if (typeof entry?.statsUrl === 'string' && /^https?:\/\//.test(entry.statsUrl))
      targets.push({ workload, url: entry.statsUrl })
  }
  for (const [name, entry] of Object.entries(state.workloads ?? {})) take(name, entry)
  take(
    typeof state.gateway?.workload === 'string' ? state.gateway.workload : 'istio-ingressgateway',
    state.gateway,
  )
  return targets
}

export async function scrapeAll(
  targets: ScrapeTarget[],
  timeoutMs: number,
): Promise<{ samples: Sample[]; targets: TargetHealth[] }> {
  const results = await Promise.all(
    targets.map(async (t): Promise<{ samples: Sample[]; health: TargetHealth }> => {
      try {
        const res = await fetch(t.url, { signal: AbortSignal.timeout(timeoutMs) })
        if (!res.ok) {
          await res.body?.cancel()
          return { samples: [], health: { ...t, ok: false, error: `HTTP ${res.status}` } }
        }
        return { samples: parsePrometheusText(await res.text()), health: { ...t, ok: true, error: null } }
      } catch (error) {
        return { samples: [], health: { ...t, ok: false, error: (error as Error).message } }
      }
    }),
  )
  return { samples: results.flatMap((r) => r.samples), targets: results.map((r) => r.health) }
}
