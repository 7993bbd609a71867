// NetworkPolicy objects compiled for the decision in decide-connection.ts,
// refused (with the field named) where the API server would reject them or
// where the local mesh does not implement a field. Semantics and validation
// follow https://kubernetes.io/docs/concepts/services-networking/network-policies/
// and the API reference at
// https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { type K8sObject, MeshConfigError, objectRef, onlyKeys } from '../manifests/k8s-object.ts'
import { compileLabelSelector, type LabelSelector } from './label-selector.ts'

export type Protocol = 'TCP' | 'UDP' | 'SCTP'

export interface PolicyPort {
  protocol: Protocol
  /** A number, a named container port, or null for every port of that protocol. */
  port: number | string | null
  /** With a numeric port, the last port of the range (inclusive). */
  endPort: number | null
}

export type PolicyPeer =
  /** podSelector and/or namespaceSelector: pods the selector picks, in the policy's own namespace or in the namespaces namespaceSelector picks. */
  | { kind: 'pods'; namespaces: LabelSelector | 'own'; pods: LabelSelector }
  /** Addresses outside the cluster. */
  | { kind: 'ipBlock'; cidr: string; except: string[]; matches: (ip: string) => boolean }

export interface PolicyRule {
  /** null: every peer (the rule's from/to is empty or missing). */
  peers: PolicyPeer[] | null
  /** null: every port (ports is empty or missing). */
  ports: PolicyPort[] | null
}

export interface CompiledNetworkPolicy {
  id: string
  namespace: string
  podSelector: LabelSelector
  /** The rules of each direction the policy isolates; null when policyTypes leaves that direction out. */
  ingress: PolicyRule[] | null
  egress: PolicyRule[] | null
}

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP']
// IANA service name, as the API server checks a named port (validation.IsValidPortName).
const PORT_NAME = /^(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/

const list = (value: unknown, where: string): unknown[] => {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new MeshConfigError(`${where}: must be a list`)
  return value
}

const portNumber = (value: unknown, where: string): number => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535)
    throw new MeshConfigError(`${where}: ${String(value)} is not a port between 1 and 65535`)
  return value
}

function compilePort(value: unknown, where: string): PolicyPort {
  const p = onlyKeys(value, ['protocol', 'port', 'endPort'], where)
  const protocol = (p.protocol ?? 'TCP') as Protocol
  if (!PROTOCOLS.includes(protocol))
    throw new MeshConfigError(`${where}.protocol: ${String(p.protocol)} is not TCP, UDP or SCTP`)
  let port: number | string | null = null
  if (typeof p.port === 'string') {
    if (!PORT_NAME.test(p.port) || !/[a-z]/.test(p.port))
      throw new MeshConfigError(`${where}.port: "${p.port}" is neither a port number nor a valid port name`)
    port = p.port
  } else if (p.port !== undefined && p.port !== null) port = portNumber(p.port, `${where}.port`)
  let endPort: number | null = null
  if (p.endPort !== undefined && p.endPort !== null) {
    if (typeof port !== 'number')
      throw new MeshConfigError(`${where}.endPort: only allowed with a numeric port`)
    endPort = portNumber(p.endPort, `${where}.endPort`)
    if (endPort < port) throw new MeshConfigError(`${where}.endPort: must be at least port ${port}`)
  }
  return { protocol, port, endPort }
}

function parseCidr(
  value: unknown,
  where: string,
): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } {
  const [address, bits, ...rest] = typeof value === 'string' ? value.split('/') : []
  const type = address && isIPv4(address) ? 'ipv4' : address && isIPv6(address) ? 'ipv6' : null
  const prefix = Number(bits)
  if (!type || rest.length > 0 || !/^\d+$/.test(bits ?? '') || prefix > (type === 'ipv4' ? 32 : 128))
    throw new MeshConfigError(`${where}: "${String(value)}" is not a CIDR`)
  return { address: address as string, prefix, type }
}

function compileIpBlock(value: unknown, where: string): PolicyPeer {
  const block = onlyKeys(value, ['cidr', 'except'], where)
  const cidr = parseCidr(block.cidr, `${where}.cidr`)
  const inside = new BlockList()
  inside.addSubnet(cidr.address, cidr.prefix, cidr.type)
  const excluded = new BlockList()
  const except = list(block.except, `${where}.except`).map((e, i) => {
    const ew = `${where}.except[${i}]`
    const x = parseCidr(e, ew)
    // The API server requires each exception inside the block and narrower than it.
    if (x.type !== cidr.type || x.prefix <= cidr.prefix || !inside.check(x.address, x.type))
      throw new MeshConfigError(`${ew}: ${String(e)} is not a strict subset of ${String(block.cidr)}`)
    excluded.addSubnet(x.address, x.prefix, x.type)
    return String(e)
  })
  return {
    kind: 'ipBlock',
    cidr: String(block.cidr),
    except,
    matches: (ip) => {
      const type = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null
      return type !== null && inside.check(ip, type) && !excluded.check(ip, type)
    },
  }
}

function compilePeer(value: unknown, where: string): PolicyPeer {
  const peer = onlyKeys(value, ['podSelector', 'namespaceSelector', 'ipBlock'], where)
  if (peer.ipBlock !== undefined) {
    if (peer.podSelector !== undefined || peer.namespaceSelector !== undefined)
      throw new MeshConfigError(`${where}: ipBlock cannot be combined with podSelector or namespaceSelector`)
    return compileIpBlock(peer.ipBlock, `${where}.ipBlock`)
  }
  if (peer.podSelector === undefined && peer.namespaceSelector === undefined)
    throw new MeshConfigError(`${where}: a peer needs podSelector, namespaceSelector or ipBlock`)
  return {
    kind: 'pods',
    namespaces:
      peer.namespaceSelector === undefined
        ? 'own'
        : compileLabelSelector(peer.namespaceSelector, `${where}.namespaceSelector`),
    pods: compileLabelSelector(peer.podSelector ?? {}, `${where}.podSelector`),
  }
}

function compileRules(value: unknown, peersField: 'from' | 'to', where: string): PolicyRule[] {
  return list(value, where).map((r, i) => {
    const rw = `${where}[${i}]`
    const rule = onlyKeys(r ?? {}, [peersField, 'ports'], rw)
    const peers = list(rule[peersField], `${rw}.${peersField}`).map((p, j) =>
      compilePeer(p, `${rw}.${peersField}[${j}]`),
    )
    const ports = list(rule.ports, `${rw}.ports`).map((p, j) => compilePort(p, `${rw}.ports[${j}]`))
    return { peers: peers.length > 0 ? peers : null, ports: ports.length > 0 ? ports : null }
  })
}

export function compileNetworkPolicy(o: K8sObject): CompiledNetworkPolicy {
  const where = objectRef(o)
  const spec = onlyKeys(o.spec ?? {}, ['podSelector', 'policyTypes', 'ingress', 'egress'], `${where} spec`)
  if (spec.podSelector === undefined) throw new MeshConfigError(`${where} spec.podSelector: required`)
  const namespace = o.metadata.namespace ?? 'default'
  const ingress = compileRules(spec.ingress, 'from', `${where} spec.ingress`)
  const egress = compileRules(spec.egress, 'to', `${where} spec.egress`)
  // Without policyTypes (missing or empty, as the API server defaults it):
  // Ingress always, Egress when the policy has egress rules.
  const given = list(spec.policyTypes, `${where} spec.policyTypes`)
  const types = given.length === 0 ? ['Ingress', ...(egress.length > 0 ? ['Egress'] : [])] : given
  for (const t of types) {
    if (t !== 'Ingress' && t !== 'Egress')
      throw new MeshConfigError(`${where} spec.policyTypes: ${String(t)} is not Ingress or Egress`)
  }
  return {
    id: `${namespace}/${o.metadata.name}`,
    namespace,
    podSelector: compileLabelSelector(spec.podSelector, `${where} spec.podSelector`),
    ingress: types.includes('Ingress') ? ingress : null,
    egress: types.includes('Egress') ? egress : null,
  }
}
