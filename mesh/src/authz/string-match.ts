// Istio's string forms for AuthorizationPolicy fields: exact `abc`, prefix
// `abc*`, suffix `*abc`, and `*` for "present and not empty".

export function matchesIstioString(
  pattern: string,
  value: string | undefined,
  options: { caseInsensitive?: boolean } = {},
): boolean {
  if (value === undefined) return false
  const p = options.caseInsensitive ? pattern.toLowerCase() : pattern
  const v = options.caseInsensitive ? value.toLowerCase() : value
  if (p === '*') return v !== ''
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1))
  if (p.startsWith('*')) return v.endsWith(p.slice(1))
  return v === p
}
