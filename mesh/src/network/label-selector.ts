// Kubernetes label selectors (matchLabels and matchExpressions), as the API
// server validates them and as NetworkPolicy peers and podSelectors use them:
// every requirement must hold; an empty selector selects everything.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements
import { MeshConfigError, onlyKeys } from '../manifests/k8s-object.ts'

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'

export interface LabelRequirement {
  key: string
  operator: SelectorOperator
  values: string[]
}

/** A compiled selector: matchLabels become `In` requirements with one value. */
export interface LabelSelector {
  requirements: LabelRequirement[]
}

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist']

export function compileLabelSelector(value: unknown, where: string): LabelSelector {
  const spec = onlyKeys(value ?? {}, ['matchLabels', 'matchExpressions'], where)
  const requirements: LabelRequirement[] = []
  const labels = spec.matchLabels ?? {}
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
    throw new MeshConfigError(`${where}.matchLabels: expected an object`)
  for (const [key, v] of Object.entries(labels)) {
    if (typeof v !== 'string') throw new MeshConfigError(`${where}.matchLabels.${key}: must be a string`)
    requirements.push({ key, operator: 'In', values: [v] })
  }
  const expressions = spec.matchExpressions ?? []
  if (!Array.isArray(expressions)) throw new MeshConfigError(`${where}.matchExpressions: must be a list`)
  expressions.forEach((e, i) => {
    const ew = `${where}.matchExpressions[${i}]`
    const expr = onlyKeys(e, ['key', 'operator', 'values'], ew)
    if (typeof expr.key !== 'string' || expr.key === '') throw new MeshConfigError(`${ew}.key: required`)
    const operator = expr.operator as SelectorOperator
    if (!OPERATORS.includes(operator))
      throw new MeshConfigError(
        `${ew}.operator: ${String(expr.operator)} is not one of ${OPERATORS.join(', ')}`,
      )
    const values = expr.values ?? []
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))
      throw new MeshConfigError(`${ew}.values: must be a list of strings`)
    // The API server's own rule: In/NotIn need values, Exists/DoesNotExist take none.
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0)
      throw new MeshConfigError(`${ew}.values: must be non-empty for ${operator}`)
    if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0)
      throw new MeshConfigError(`${ew}.values: must be empty for ${operator}`)
    requirements.push({ key: expr.key, operator, values: values as string[] })
  })
  return { requirements }
}

export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key)
    switch (r.operator) {
      case 'In':
        return has && r.values.includes(labels[r.key] as string)
      case 'NotIn':
        return !has || !r.values.includes(labels[r.key] as string)
      case 'Exists':
        return has
      default:
        return !has // DoesNotExist
    }
  })
}
