// Reads Prometheus' text exposition format (version 0.0.4, what Envoy's
// /stats/prometheus and Istio's merged agent endpoint serve) into samples.
// Only what the console needs: names, labels, values; HELP/TYPE and
// timestamps are skipped. https://prometheus.io/docs/instrumenting/exposition_formats/
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export class ExpositionError extends Error {
  readonly code = 'ERR_PROMETHEUS_TEXT'
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/

function parseValue(text: string, line: number): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  if (text === 'NaN') return Number.NaN
  const value = Number(text)
  if (text === '' || Number.isNaN(value)) throw new ExpositionError(`line ${line}: bad value "${text}"`)
  return value
}

/** Label values escape `\`, `"` and newlines with a backslash. */
function parseLabels(
  text: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {}
  let i = start
  const fail = (why: string): never => {
    throw new ExpositionError(`line ${line}: ${why}`)
  }
  while (true) {
    while (text[i] === ' ' || text[i] === ',') i++
    if (text[i] === '}') return { labels, end: i + 1 }
    const name = LABEL_NAME.exec(text.slice(i))?.[0] ?? fail('bad label name')
    i += name.length
    while (text[i] === ' ') i++
    if (text[i] !== '=') fail(`expected = after ${name}`)
    i++
    while (text[i] === ' ') i++
    if (text[i] !== '"') fail(`expected " to open ${name}'s value`)
    i++
    let value = ''
    for (;;) {
      const c = text[i]
      if (c === undefined) fail(`unterminated value of ${name}`)
      if (c === '"') break
      if (c === '\\') {
        const next = text[i + 1]
        value += next === 'n' ? '\n' : (next ?? '')
        i += 2
        continue
      }
      value += c
      i++
    }
    labels[name] = value
    i++
  }
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = []
  const lines = text.split('\n')
  lines.forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const n = index + 1
    const name = NAME.exec(line)?.[0]
    if (!name) throw new ExpositionError(`line ${n}: no metric name`)
    let rest = line.slice(name.length)
    let labels: Record<string, string> = {}
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, 1, n)
      labels = parsed.labels
      rest = rest.slice(parsed.end)
    }
    const [value = ''] = rest.trim().split(/\s+/)
    samples.push({ name, labels, value: parseValue(value, n) })
  })
  return samples
}
