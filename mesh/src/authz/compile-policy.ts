// Reads AuthorizationPolicy objects into a checked form. A policy Istio's
// validating webhook rejects is refused here with the field named
// (ValidateAuthorizationPolicy in pkg/config/validation/validation.go and the
// checks in pkg/config/security/security.go, istio/istio), as is every field,
// key and action the engine does not implement: the local mesh never compiles
// a policy into something wider than Istio would enforce.
import { type K8sObject, MeshConfigError, objectRef, onlyKeys } from '../manifests/k8s-object.ts'
import { type CidrSet, compileCidrs } from './cidr.ts'
import { compilePathTemplate, isPathTemplate, PathTemplateError } from './path-template.ts'
import { tcpRuleOf } from './tcp-rules.ts'

export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT'

export interface CompiledSource {
  principals: string[]
  notPrincipals: string[]
  namespaces: string[]
  notNamespaces: string[]
  ipBlocks: CidrSet
  notIpBlocks: CidrSet
}

export interface PathMatcher {
  pattern: string
  template: RegExp | null
}

export interface CompiledOperation {
  hosts: string[]
  notHosts: string[]
  ports: number[]
  notPorts: number[]
  methods: string[]
  notMethods: string[]
  paths: PathMatcher[]
  notPaths: PathMatcher[]
}

export type CompiledCondition =
  | { kind: 'header'; key: string; header: string; values: string[]; notValues: string[] }
  | { kind: 'source.ip'; key: string; values: CidrSet; notValues: CidrSet }
  | { kind: 'source.principal' | 'source.namespace'; key: string; values: string[]; notValues: string[] }
  | { kind: 'destination.port'; key: string; values: number[]; notValues: number[] }

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
  /** `istio.io/dry-run: "true"`: evaluated as Envoy shadow rules, reported, never enforced. */
  dryRun: boolean
  rules: CompiledRule[]
  /**
   * The rules as Istio builds them for a TCP port, index for index: an ALLOW
   * rule with an HTTP-only field is dropped (null), a DENY or AUDIT rule loses
   * those fields (pilot/pkg/security/authz/model/model.go, checkError).
   */
  tcpRules: Array<CompiledRule | null>
}

export const ROOT_NAMESPACE = 'istio-system'
const DRY_RUN = 'istio.io/dry-run'

/** The pseudo-headers the engine is given; any other `:name` is refused rather than never matching. */
const PSEUDO_HEADERS = new Set([':path', ':method', ':authority'])

const VALIDATION = 'pkg/config/validation/validation.go ValidateAuthorizationPolicy'

function refuse(where: string, message: string): never {
  throw new MeshConfigError(`${where}: ${message}`)
}

/** A list field: absent is empty, `[]` is kept as `[]` so callers can tell the two apart. */
function listOf(value: unknown, where: string): unknown[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) refuse(where, 'expected a list')
  return value
}

/** CheckEmptyValues: a list of non-empty strings. */
function values(value: unknown, where: string): string[] {
  const list = listOf(value, where) ?? []
  for (const v of list) {
    if (typeof v !== 'string') refuse(where, 'expected a list of strings')
    if (v === '') refuse(where, `empty value not allowed (${VALIDATION})`)
  }
  return list as string[]
}

/** ValidatePorts: unsigned decimal, at most 65535. */
function ports(value: unknown, where: string): number[] {
  return values(value, where).map((p) => {
    if (!/^[0-9]+$/.test(p) || Number(p) > 65535) refuse(where, `bad port (${p})`)
    return Number(p)
  })
}

function cidrs(value: unknown, where: string): CidrSet {
  try {
    return compileCidrs(values(value, where))
  } catch (error) {
    if (error instanceof MeshConfigError) throw error
    return refuse(where, (error as Error).message)
  }
}

function paths(value: unknown, where: string): PathMatcher[] {
  return values(value, where).map((pattern) => {
    try {
      return { pattern, template: isPathTemplate(pattern) ? compilePathTemplate(pattern) : null }
    } catch (error) {
      if (error instanceof PathTemplateError) refuse(where, error.message)
      throw error
    }
  })
}

function compileSource(value: unknown, where: string): CompiledSource {
  if (value === null || value === undefined) refuse(where, '`from` must not be nil')
  const from = onlyKeys(value, ['source'], where)
  if (from.source === null || from.source === undefined) refuse(`${where}.source`, 'must not be nil')
  const source = onlyKeys(
    from.source,
    ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'],
    `${where}.source`,
  )
  const at = (key: string) => `${where}.source.${key}`
  const compiled = {
    principals: values(source.principals, at('principals')),
    notPrincipals: values(source.notPrincipals, at('notPrincipals')),
    namespaces: values(source.namespaces, at('namespaces')),
    notNamespaces: values(source.notNamespaces, at('notNamespaces')),
    ipBlocks: cidrs(source.ipBlocks, at('ipBlocks')),
    notIpBlocks: cidrs(source.notIpBlocks, at('notIpBlocks')),
  }
  const empty =
    compiled.principals.length +
    compiled.notPrincipals.length +
    compiled.namespaces.length +
    compiled.notNamespaces.length +
    compiled.ipBlocks.values.length +
    compiled.notIpBlocks.values.length
  if (empty === 0) refuse(`${where}.source`, `must not be empty (${VALIDATION})`)
  return compiled
}

function compileOperation(value: unknown, where: string): CompiledOperation {
  if (value === null || value === undefined) refuse(where, '`to` must not be nil')
  const to = onlyKeys(value, ['operation'], where)
  if (to.operation === null || to.operation === undefined) refuse(`${where}.operation`, 'must not be nil')
  const op = onlyKeys(
    to.operation,
    ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'],
    `${where}.operation`,
  )
  const at = (key: string) => `${where}.operation.${key}`
  const compiled = {
    hosts: values(op.hosts, at('hosts')),
    notHosts: values(op.notHosts, at('notHosts')),
    ports: ports(op.ports, at('ports')),
    notPorts: ports(op.notPorts, at('notPorts')),
    methods: values(op.methods, at('methods')),
    notMethods: values(op.notMethods, at('notMethods')),
    paths: paths(op.paths, at('paths')),
    notPaths: paths(op.notPaths, at('notPaths')),
  }
  if (Object.values(compiled).every((list) => list.length === 0))
    refuse(`${where}.operation`, `must not be empty (${VALIDATION})`)
  return compiled
}

/** The attribute keys of pkg/config/security/security.go ValidateAttribute, and what the local mesh does with each. */
function compileCondition(value: unknown, where: string): CompiledCondition {
  if (value === null || value === undefined) refuse(where, '`when` must not be nil')
  const c = onlyKeys(value, ['key', 'values', 'notValues'], where)
  if (typeof c.key !== 'string' || c.key === '') refuse(`${where}.key`, '`key` must not be empty')
  const key = c.key
  const valuesAt = `${where}.values`
  const notValuesAt = `${where}.notValues`
  if (
    (listOf(c.values, valuesAt) ?? []).length === 0 &&
    (listOf(c.notValues, notValuesAt) ?? []).length === 0
  )
    refuse(where, `at least one of \`values\` or \`notValues\` must be set for key ${key}`)
  if (key.startsWith('request.headers')) {
    // validateMapKey: `request.headers[<name>]`, the name not empty.
    const open = key.indexOf('[')
    if (!(key.endsWith(']') && open > 0 && open < key.length - 2) || key.slice(0, open) !== 'request.headers')
      refuse(`${where}.key`, `bad key (${key}): should have format request.headers[<name>]`)
    const header = key.slice(open + 1, -1).toLowerCase()
    if (header === 'host')
      refuse(
        `${where}.key`,
        'Envoy keeps the Host header as :authority; use request.headers[:authority] or hosts',
      )
    if (header.startsWith(':') && !PSEUDO_HEADERS.has(header))
      refuse(
        `${where}.key`,
        `pseudo-header ${header} is not supported by the local mesh (only :path, :method, :authority)`,
      )
    return {
      kind: 'header',
      key,
      header,
      values: values(c.values, valuesAt),
      notValues: values(c.notValues, notValuesAt),
    }
  }
  switch (key) {
    case 'source.ip':
      return { kind: key, key, values: cidrs(c.values, valuesAt), notValues: cidrs(c.notValues, notValuesAt) }
    case 'source.principal':
    case 'source.namespace':
      return {
        kind: key,
        key,
        values: values(c.values, valuesAt),
        notValues: values(c.notValues, notValuesAt),
      }
    case 'destination.port':
      return { kind: key, key, values: ports(c.values, valuesAt), notValues: ports(c.notValues, notValuesAt) }
    case 'destination.ip':
      return refuse(
        `${where}.key`,
        'destination.ip is not supported by the local mesh: its workloads have no pod IPs to match',
      )
    case 'connection.sni':
      return refuse(
        `${where}.key`,
        'connection.sni is not supported by the local mesh: its outbound proxies do not send the SNI Istio sets (outbound_.<port>_._.<fqdn>)',
      )
    case 'destination.namespace':
      return refuse(`${where}.key`, `attribute ${key} is replaced by the metadata.namespace`)
    case 'destination.name':
    case 'destination.user':
      return refuse(`${where}.key`, `deprecated attribute ${key}: only supported in v1alpha1`)
    default:
      if (key.startsWith('destination.labels'))
        refuse(`${where}.key`, `attribute ${key} is replaced by the workload selector`)
      if (
        /^(remote\.ip|source\.(serviceAccount|trustDomain)|request\.auth\.|experimental\.envoy\.filters\.)/.test(
          key,
        )
      )
        refuse(`${where}.key`, `condition key "${key}" is not supported by the local mesh`)
      return refuse(`${where}.key`, `unknown attribute: ${key}`)
  }
}

function compileRule(value: unknown, where: string): CompiledRule {
  if (value === null || value === undefined) refuse(where, '`rule` must not be nil')
  const rule = onlyKeys(value, ['from', 'to', 'when'], where)
  const from = listOf(rule.from, `${where}.from`)
  const to = listOf(rule.to, `${where}.to`)
  if (from && from.length === 0) refuse(`${where}.from`, `\`from\` must not be empty (${VALIDATION})`)
  if (to && to.length === 0) refuse(`${where}.to`, `\`to\` must not be empty (${VALIDATION})`)
  return {
    from: (from ?? []).map((f, j) => compileSource(f, `${where}.from[${j}]`)),
    to: (to ?? []).map((t, j) => compileOperation(t, `${where}.to[${j}]`)),
    when: (listOf(rule.when, `${where}.when`) ?? []).map((w, j) =>
      compileCondition(w, `${where}.when[${j}]`),
    ),
  }
}

/** strconv.ParseBool, as Istio reads the annotation (pilot/pkg/security/authz/builder/builder.go isDryRun). */
function dryRunOf(object: K8sObject, where: string): boolean {
  const annotations = (object.metadata.annotations ?? {}) as Record<string, unknown>
  const value = annotations[DRY_RUN]
  if (value === undefined) return false
  if (typeof value === 'string' && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true
  if (typeof value === 'string' && ['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false
  return refuse(`${where} metadata.annotations["${DRY_RUN}"]`, `"${String(value)}" is not a boolean`)
}

function selectorOf(value: unknown, where: string): Record<string, string> | null {
  if (value === undefined || value === null) return null
  const s = onlyKeys(value, ['matchLabels'], where)
  const labels = onlyKeys(s.matchLabels ?? {}, Object.keys(s.matchLabels ?? {}), `${where}.matchLabels`)
  for (const [k, v] of Object.entries(labels)) {
    if (k === '' || typeof v !== 'string')
      refuse(`${where}.matchLabels`, `label ${k} must be a non-empty key with a string value`)
    if (k.includes('*') || v.includes('*'))
      refuse(`${where}.matchLabels`, 'wildcard is not supported in selector')
  }
  return labels as Record<string, string>
}

export function compilePolicy(object: K8sObject): CompiledPolicy {
  const where = objectRef(object)
  onlyKeys(object, ['apiVersion', 'kind', 'metadata', 'spec'], where)
  if (!/^security\.istio\.io\/v1(beta1)?$/.test(object.apiVersion))
    refuse(where, `apiVersion ${object.apiVersion} is not supported`)
  const namespace = object.metadata.namespace
  if (!namespace) refuse(where, 'metadata.namespace is required')
  const spec = onlyKeys(object.spec ?? {}, ['selector', 'action', 'rules', 'provider'], `${where} spec`)
  const action = (spec.action ?? 'ALLOW') as string
  if (action === 'CUSTOM')
    refuse(where, 'action CUSTOM (external authorization) is not supported by the local mesh')
  if (!['ALLOW', 'DENY', 'AUDIT'].includes(action)) refuse(`${where} spec.action`, `unknown action ${action}`)
  if (spec.provider !== undefined)
    refuse(`${where} spec.provider`, '`provider` must not be with non CUSTOM action')
  const rules = listOf(spec.rules, `${where} spec.rules`)
  if (action === 'DENY' && (rules ?? []).length === 0)
    refuse(
      `${where} spec.rules`,
      'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
    )
  const compiled = (rules ?? []).map((r, i) => compileRule(r, `${where} spec.rules[${i}]`))
  return {
    id: `${namespace}/${object.metadata.name}`,
    namespace,
    selector: selectorOf(spec.selector, `${where} spec.selector`),
    action: action as PolicyAction,
    dryRun: dryRunOf(object, where),
    rules: compiled,
    tcpRules: compiled.map((rule) => tcpRuleOf(rule, action as PolicyAction)),
  }
}
