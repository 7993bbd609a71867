// Reads AuthorizationPolicy objects into a checked form. Every field and
// action the engine does not implement stops the mesh with a message naming
// it, so the local mesh never allows what Istio would deny.
import { type K8sObject, MeshConfigError, objectRef, onlyKeys, stringList } from '../manifests/k8s-object.ts'
import { compilePathTemplate, isPathTemplate } from './path-template.ts'

export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT'

export interface CompiledSource {
  principals: string[]
  notPrincipals: string[]
  namespaces: string[]
  notNamespaces: string[]
  ipBlocks: string[]
  notIpBlocks: string[]
}

export interface PathMatcher {
  pattern: string
  template: RegExp | null
}

export interface CompiledOperation {
  hosts: string[]
  notHosts: string[]
  ports: string[]
  notPorts: string[]
  methods: string[]
  notMethods: string[]
  paths: PathMatcher[]
  notPaths: PathMatcher[]
}

export interface CompiledCondition {
  key: string
  values: string[]
  notValues: string[]
}

export interface CompiledRule {
  from: CompiledSource[]
  to: CompiledOperation[]
  when: CompiledCondition[]
}

export interface CompiledPolicy {
  /** `<namespace>/<name>` */
  id: string
  namespace: string
  /** null: every workload in the namespace (in the root namespace: the whole mesh). */
  selector: Record<string, string> | null
  action: PolicyAction
  rules: CompiledRule[]
}

export const ROOT_NAMESPACE = 'istio-system'

const SUPPORTED_CONDITION =
  /^(source\.(ip|namespace|principal)|destination\.(ip|port)|connection\.sni|request\.headers\[[^\]]+\])$/

function compilePaths(values: string[]): PathMatcher[] {
  return values.map((pattern) => ({
    pattern,
    template: isPathTemplate(pattern) ? compilePathTemplate(pattern) : null,
  }))
}

function compileSource(value: unknown, where: string): CompiledSource {
  const from = onlyKeys(value, ['source'], where)
  const source = onlyKeys(
    from.source ?? {},
    ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'],
    `${where}.source`,
  )
  const list = (key: string) => stringList(source[key], `${where}.source.${key}`)
  return {
    principals: list('principals'),
    notPrincipals: list('notPrincipals'),
    namespaces: list('namespaces'),
    notNamespaces: list('notNamespaces'),
    ipBlocks: list('ipBlocks'),
    notIpBlocks: list('notIpBlocks'),
  }
}

function compileOperation(value: unknown, where: string): CompiledOperation {
  const to = onlyKeys(value, ['operation'], where)
  const op = onlyKeys(
    to.operation ?? {},
    ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'],
    `${where}.operation`,
  )
  const list = (key: string) => stringList(op[key], `${where}.operation.${key}`)
  return {
    hosts: list('hosts'),
    notHosts: list('notHosts'),
    ports: list('ports'),
    notPorts: list('notPorts'),
    methods: list('methods'),
    notMethods: list('notMethods'),
    paths: compilePaths(list('paths')),
    notPaths: compilePaths(list('notPaths')),
  }
}

function compileCondition(value: unknown, where: string): CompiledCondition {
  const c = onlyKeys(value, ['key', 'values', 'notValues'], where)
  if (typeof c.key !== 'string' || !SUPPORTED_CONDITION.test(c.key)) {
    throw new MeshConfigError(`${where}: condition key "${String(c.key)}" is not supported by the local mesh`)
  }
  const values = stringList(c.values, `${where}.values`)
  const notValues = stringList(c.notValues, `${where}.notValues`)
  if (values.length === 0 && notValues.length === 0)
    throw new MeshConfigError(`${where}: a condition needs values or notValues`)
  return { key: c.key, values, notValues }
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new MeshConfigError(`${where}: expected a list`)
  return value
}

export function compilePolicy(object: K8sObject): CompiledPolicy {
  const where = objectRef(object)
  onlyKeys(object, ['apiVersion', 'kind', 'metadata', 'spec'], where)
  if (!/^security\.istio\.io\/v1(beta1)?$/.test(object.apiVersion))
    throw new MeshConfigError(`${where}: apiVersion ${object.apiVersion} is not supported`)
  const namespace = object.metadata.namespace
  if (!namespace) throw new MeshConfigError(`${where}: metadata.namespace is required`)
  const spec = onlyKeys(object.spec ?? {}, ['selector', 'action', 'rules', 'provider'], `${where} spec`)
  const action = (spec.action ?? 'ALLOW') as string
  if (action === 'CUSTOM')
    throw new MeshConfigError(
      `${where}: action CUSTOM (external authorization) is not supported by the local mesh`,
    )
  if (!['ALLOW', 'DENY', 'AUDIT'].includes(action))
    throw new MeshConfigError(`${where}: unknown action ${action}`)
  if (spec.provider !== undefined)
    throw new MeshConfigError(`${where}: provider goes only with action CUSTOM`)
  let selector: Record<string, string> | null = null
  if (spec.selector !== undefined) {
    const s = onlyKeys(spec.selector, ['matchLabels'], `${where} spec.selector`)
    selector = onlyKeys(
      s.matchLabels ?? {},
      Object.keys(s.matchLabels ?? {}),
      `${where} spec.selector.matchLabels`,
    ) as Record<string, string>
  }
  const rules = list(spec.rules, `${where} spec.rules`).map((r, i) => {
    const rw = `${where} spec.rules[${i}]`
    const rule = onlyKeys(r ?? {}, ['from', 'to', 'when'], rw)
    return {
      from: list(rule.from, `${rw}.from`).map((f, j) => compileSource(f, `${rw}.from[${j}]`)),
      to: list(rule.to, `${rw}.to`).map((t, j) => compileOperation(t, `${rw}.to[${j}]`)),
      when: list(rule.when, `${rw}.when`).map((w, j) => compileCondition(w, `${rw}.when[${j}]`)),
    }
  })
  return {
    id: `${namespace}/${object.metadata.name}`,
    namespace,
    selector,
    action: action as PolicyAction,
    rules,
  }
}
