// IP addresses and CIDR ranges of `ipBlocks` and `source.ip`, checked as
// Istio's ValidateIPs does (Go's netip.ParseAddr / ParsePrefix,
// pkg/config/security/security.go) and compiled once, so a request can never
// meet an unparsable block while it is being served.
import { BlockList, isIP } from 'node:net'

export interface CidrSet {
  values: string[]
  list: BlockList
}

export class CidrError extends Error {
  readonly code = 'ERR_MESH_CIDR'
}

export function compileCidrs(values: string[]): CidrSet {
  const list = new BlockList()
  for (const value of values) {
    const [address, bits, extra] = value.split('/')
    const family = isIP(address ?? '')
    if (extra !== undefined || family === 0 || (address ?? '').includes('%'))
      throw new CidrError(bits === undefined ? `bad IP address (${value})` : `bad CIDR range (${value})`)
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) {
      list.addAddress(address as string, type)
      continue
    }
    const prefix = Number(bits)
    if (!/^(0|[1-9][0-9]*)$/.test(bits) || prefix > (family === 6 ? 128 : 32))
      throw new CidrError(`bad CIDR range (${value})`)
    list.addSubnet(address as string, prefix, type)
  }
  return { values, list }
}

/** Whether `ip` is in the set; an address that is not an IP is in no set. */
export function inCidrs(set: CidrSet, ip: string | undefined): boolean {
  if (ip === undefined) return false
  const family = isIP(ip)
  if (family === 0) return false
  return set.list.check(ip, family === 6 ? 'ipv6' : 'ipv4')
}
