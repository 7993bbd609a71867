// A test oracle: the Envoy RBAC config Istio builds from AuthorizationPolicies,
// re-done from istio/istio pilot/pkg/security/authz/builder/builder.go,
// model/model.go, model/generator.go and matcher/*.go for the fields the local
// mesh supports. It is checked against Istio's golden files
// (fixtures/istio-rbac) before it is trusted with generated policies.
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import type { Permission, Principal, Rbac, RbacFilter, StringMatcher } from './envoy-rbac.ts'

type Action = 'ALLOW' | 'DENY' | 'LOG'
type Generated<T> = T | 'http-only'

interface Entry {
  values: string[]
  notValues: string[]
}

const quoteMeta = (s: string) => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')

/** matcher.StringMatcherWithPrefix. */
function stringMatcher(v: string, prefix = ''): StringMatcher {
  if (v === '*') return { safeRegex: { regex: '.+' } }
  if (v.startsWith('*'))
    return prefix === ''
      ? { suffix: v.slice(1) }
      : { safeRegex: { regex: `${prefix}.*${quoteMeta(v.slice(1))}` } }
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1) }
  return { exact: prefix + v }
}

/** matcher.HeaderMatcher / HostMatcher. */
function headerMatcher(name: string, v: string, ignoreCase: boolean): Permission['header'] {
  if (v === '*') return { name, presentMatch: true }
  const ic = ignoreCase ? { ignoreCase: true } : {}
  if (v.startsWith('*')) return { name, stringMatch: { suffix: v.slice(1), ...ic } }
  if (v.endsWith('*')) return { name, stringMatch: { prefix: v.slice(0, -1), ...ic } }
  return { name, stringMatch: { exact: v, ...ic } }
}

function cidr(v: string) {
  const [addressPrefix, bits] = v.split('/') as [string, string | undefined]
  return {
    addressPrefix,
    prefixLen: bits === undefined ? (addressPrefix.includes(':') ? 128 : 32) : Number(bits),
  }
}

const principalOf = (v: string): Principal => ({
  authenticated: { principalName: stringMatcher(v, 'spiffe://') },
})
const namespaceOf = (v: string): Principal => ({
  authenticated: {
    principalName: { safeRegex: { regex: `.*/ns/${v.split('*').map(quoteMeta).join('.*')}/.*` } },
  },
})

function permissionGenerator(key: string, forTCP: boolean): (v: string) => Generated<Permission> {
  const http = (f: (v: string) => Permission) => (forTCP ? () => 'http-only' as const : f)
  switch (key) {
    case 'hosts':
      return http((v) => ({ header: headerMatcher(':authority', v, true) }))
    case 'methods':
      return http((v) => ({ header: headerMatcher(':method', v, false) }))
    case 'paths':
      return http((v) =>
        v.includes('{*}') || v.includes('{**}')
          ? ({
              uriTemplate: {
                name: 'uri-template',
                typedConfig: {
                  '@type':
                    'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig',
                  pathTemplate: v.replaceAll('{**}', '**').replaceAll('{*}', '*'),
                },
              },
            } as Permission)
          : { urlPath: { path: stringMatcher(v) } },
      )
    case 'ports':
    case 'destination.port':
      return (v) => ({ destinationPort: Number(v) })
    default:
      throw new Error(`no permission generator for ${key}`)
  }
}

function principalGenerator(key: string, forTCP: boolean): (v: string) => Generated<Principal> {
  if (key.startsWith('request.headers['))
    return forTCP ? () => 'http-only' : (v) => ({ header: headerMatcher(key.slice(16, -1), v, false) })
  switch (key) {
    case 'principals':
    case 'source.principal':
      return principalOf
    case 'namespaces':
    case 'source.namespace':
      return namespaceOf
    case 'ipBlocks':
    case 'source.ip':
      return (v) => ({ directRemoteIp: cidr(v) })
    default:
      throw new Error(`no principal generator for ${key}`)
  }
}

/** rule.permission / rule.principal: OR of the values, NOT(OR) of the not-values; an http-only failure is reported. */
function generate<T>(
  entries: Array<[string, Entry]>,
  gen: (key: string) => (v: string) => Generated<T>,
  or: (xs: T[]) => T,
  not: (x: T) => T,
  action: Action,
): T[] | null {
  const out: T[] = []
  for (const [key, e] of entries) {
    const g = gen(key)
    for (const [list, negate] of [
      [e.values, false],
      [e.notValues, true],
    ] as const) {
      if (list.length === 0) continue
      const generated = list.map(g)
      if (generated.includes('http-only')) {
        if (action === 'ALLOW') return null
        continue
      }
      const joined = or(generated as T[])
      out.push(negate ? not(joined) : joined)
    }
  }
  return out
}

const entry = (o: Record<string, unknown>, key: string, notKey: string): Entry => ({
  values: (o[key] as string[] | undefined) ?? [],
  notValues: (o[notKey] as string[] | undefined) ?? [],
})

type RuleSpec = {
  from?: Array<{ source: Record<string, unknown> }>
  to?: Array<{ operation: Record<string, unknown> }>
  when?: Array<{ key: string; values?: string[]; notValues?: string[] }>
}

/** model.New + Generate: null when the rule is skipped (an ALLOW rule on TCP naming an HTTP-only field). */
function generateRule(rule: RuleSpec, forTCP: boolean, action: Action) {
  const when = (rule.when ?? []).map((w): [string, Entry] => [
    w.key,
    { values: w.values ?? [], notValues: w.notValues ?? [] },
  ])
  const basePermission = when.filter(([k]) => k === 'destination.port')
  const basePrincipal = when.filter(([k]) => k !== 'destination.port')
  const nonEmpty = (xs: Array<[string, Entry]>) =>
    xs.filter(([, e]) => e.values.length + e.notValues.length > 0)
  const permissionLists = (rule.to ?? [undefined]).map((t) =>
    nonEmpty([
      ...(t
        ? ([
            ['hosts', entry(t.operation, 'hosts', 'notHosts')],
            ['methods', entry(t.operation, 'methods', 'notMethods')],
            ['paths', entry(t.operation, 'paths', 'notPaths')],
            ['ports', entry(t.operation, 'ports', 'notPorts')],
          ] as Array<[string, Entry]>)
        : []),
      ...basePermission,
    ]),
  )
  const principalLists = (rule.from ?? [undefined]).map((f) =>
    nonEmpty([
      ...(f
        ? ([
            ['principals', entry(f.source, 'principals', 'notPrincipals')],
            ['namespaces', entry(f.source, 'namespaces', 'notNamespaces')],
            ['ipBlocks', entry(f.source, 'ipBlocks', 'notIpBlocks')],
          ] as Array<[string, Entry]>)
        : []),
      ...basePrincipal,
    ]),
  )
  const permissions: Permission[] = []
  for (const list of permissionLists) {
    const and = generate<Permission>(
      list,
      (k) => permissionGenerator(k, forTCP),
      (rules) => ({ orRules: { rules } }),
      (notRule) => ({ notRule }),
      action,
    )
    if (and === null) return null
    permissions.push({ andRules: { rules: and.length > 0 ? and : [{ any: true }] } })
  }
  const principals: Principal[] = []
  for (const list of principalLists) {
    const and = generate<Principal>(
      list,
      (k) => principalGenerator(k, forTCP),
      (ids) => ({ orIds: { ids } }),
      (notId) => ({ notId }),
      action,
    )
    if (and === null) return null
    principals.push({ andIds: { ids: and.length > 0 ? and : [{ any: true }] } })
  }
  return { permissions, principals }
}

const MATCH_NEVER = { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] }

/** builder.go build(): the filters in Istio's order (AUDIT, DENY, ALLOW), each with its rules and shadow rules. */
export function buildRbacFilters(policies: K8sObject[], forTCP: boolean): RbacFilter[] {
  const filters: RbacFilter[] = []
  for (const [specAction, action] of [
    ['AUDIT', 'LOG'],
    ['DENY', 'DENY'],
    ['ALLOW', 'ALLOW'],
  ] as const) {
    const selected = policies.filter(
      (p) => ((p.spec?.action as string | undefined) ?? 'ALLOW') === specAction,
    )
    if (selected.length === 0) continue
    const rules: Rbac = { policies: {} }
    const shadowRules: Rbac = { policies: {} }
    if (action !== 'ALLOW') {
      rules.action = action
      shadowRules.action = action
    }
    let enforce = false
    let dryRun = false
    for (const p of selected) {
      const annotations = (p.metadata.annotations ?? {}) as Record<string, string>
      const isDryRun = ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(annotations['istio.io/dry-run'] ?? '')
      const target = isDryRun ? shadowRules : rules
      if (isDryRun) dryRun = true
      else enforce = true
      const name = (i: number) => `ns[${p.metadata.namespace}]-policy[${p.metadata.name}]-rule[${i}]`
      const specRules = (p.spec?.rules as RuleSpec[] | undefined) ?? []
      specRules.forEach((rule, i) => {
        const generated = generateRule(rule, forTCP, action)
        if (generated && target.policies) target.policies[name(i)] = generated
      })
      if (specRules.length === 0 && target.policies) target.policies[name(0)] = MATCH_NEVER
    }
    filters.push({ ...(enforce ? { rules } : {}), ...(dryRun ? { shadowRules } : {}) })
  }
  return filters
}
