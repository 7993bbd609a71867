// Reads Istio's default access log lines (the text format every sidecar and
// gateway writes, EnvoyTextLogFormat in pilot/pkg/model/telemetry_logging.go,
// istio/istio):
//   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//   %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
//   "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
//   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
//   %REQUESTED_SERVER_NAME% %ROUTE_NAME%
// Envoy writes `-` for a value it does not have. An RBAC denial's details
// name the policy: `rbac_access_denied_matched_policy[<policy id>]`
// (source/extensions/filters/common/rbac/utility.cc, envoyproxy/envoy), with
// Istio's ids `ns[<namespace>]-policy[<name>]-rule[<index>]`
// (pilot/pkg/security/authz/builder/builder.go) or `none` when no ALLOW rule
// matched.
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs'
import { join } from 'node:path'
import type { AccessLogEntry as WrittenAccessLogEntry } from '../telemetry/access-log.ts'

/** A line as read back: the fields the proxies write (telemetry/access-log.ts), and what the console derives. */
export interface AccessLogEntry extends Omit<WrittenAccessLogEntry, 'startTime' | 'upstreamServiceTime'> {
  /** The file's workload (the proxy that wrote the line). */
  workload: string
  startTime: string
  upstreamServiceTimeMs: number | null
  /** The policy an RBAC denial names, read off the details; null for any other line. */
  rbac: { policy: string | null; rule: number | null } | null
  /** The line as written. */
  line: string
}

/** One token: a bracketed time, a quoted string (Envoy escapes nothing inside), or a run of non-spaces. */
const TOKEN = /\[([^\]]*)\]|"([^"]*)"|(\S+)/g

const orNull = (v: string) => (v === '-' || v === '' ? '' : v)
const num = (v: string) => (v === '-' ? 0 : Number(v))

const RBAC_DETAILS = /^rbac_access_denied_matched_policy\[(.*)\]$/
const ISTIO_POLICY_ID = /^ns\[([^\]]+)\]-policy\[([^\]]+)\]-rule\[(\d+)\]$/

/** The policy and rule an RBAC denial's details name, as `<namespace>/<name>` and the rule index. */
export function rbacPolicyOf(details: string): AccessLogEntry['rbac'] {
  const matched = RBAC_DETAILS.exec(details)?.[1]
  if (matched === undefined) return null
  const id = ISTIO_POLICY_ID.exec(matched)
  if (!id) return { policy: matched === 'none' ? null : matched, rule: null }
  return { policy: `${id[1]}/${id[2]}`, rule: Number(id[3]) }
}

/** A line in Istio's default format, or null for anything else (a line cut mid-write, another format). */
export function parseAccessLogLine(line: string, workload: string): AccessLogEntry | null {
  const tokens: string[] = []
  for (const m of line.matchAll(TOKEN)) tokens.push(m[1] ?? m[2] ?? m[3] ?? '')
  if (tokens.length < 22 || !line.startsWith('[')) return null
  const [startTime = '', request = '', code = '', flags = '', details = '', termination = ''] = tokens
  const [method = '', path = '', protocol = ''] = request.split(' ')
  const t = (i: number) => tokens[i] ?? '-'
  const responseCode = Number(code)
  if (!Number.isInteger(responseCode) || Number.isNaN(Date.parse(startTime))) return null
  return {
    workload,
    startTime,
    method,
    path,
    protocol,
    responseCode,
    responseFlags: flags,
    responseCodeDetails: orNull(details),
    connectionTerminationDetails: orNull(termination),
    upstreamTransportFailureReason: orNull(t(6)),
    bytesReceived: num(t(7)),
    bytesSent: num(t(8)),
    durationMs: num(t(9)),
    upstreamServiceTimeMs: t(10) === '-' ? null : Number(t(10)),
    forwardedFor: orNull(t(11)),
    userAgent: orNull(t(12)),
    requestId: orNull(t(13)),
    authority: orNull(t(14)),
    upstreamHost: orNull(t(15)),
    upstreamCluster: orNull(t(16)),
    upstreamLocalAddress: orNull(t(17)),
    downstreamLocalAddress: orNull(t(18)),
    downstreamRemoteAddress: orNull(t(19)),
    requestedServerName: orNull(t(20)),
    routeName: orNull(t(21)),
    rbac: rbacPolicyOf(details),
    line,
  }
}

/** The last `maxBytes` of a file as whole lines (a first line cut by the window is dropped). */
function tailLines(file: string, maxBytes: number): string[] {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const start = Math.max(0, size - maxBytes)
    const buffer = Buffer.alloc(size - start)
    readSync(fd, buffer, 0, buffer.length, start)
    const lines = buffer.toString('utf8').split('\n')
    if (start > 0) lines.shift()
    return lines.filter((l) => l.trim() !== '')
  } finally {
    closeSync(fd)
  }
}

export interface LogQuery {
  workload?: string
  /** Only denials: RBAC 403s and upstream connect failures (a NetworkPolicy drop as the caller sees it). */
  denied?: boolean
  requestId?: string
  /** Only lines whose :authority names this host (a Service's name or FQDN). */
  authority?: string
  limit: number
}

/**
 * A call the mesh refused: an AuthorizationPolicy's 403 (RBAC's details name the
 * policy), or a connection the NetworkPolicies dropped, as the caller's proxy logs
 * it after its connect attempts timed out. A connection the destination refused (an
 * app restarting: UF,URX with `remote_connection_failure`) is not a denial. `mesh logs --denied` and the
 * console both ask this.
 */
export const isDenial = (e: AccessLogEntry): boolean =>
  e.rbac !== null ||
  (e.responseFlags.split(',').includes('UF') &&
    e.responseCodeDetails === 'upstream_reset_before_response_started{connection_timeout}')

/** The newest matching lines across `<logDir>/<workload>.log`, newest first. */
export function readAccessLogs(
  logDir: string,
  query: LogQuery,
  maxBytesPerFile = 512 * 1024,
): AccessLogEntry[] {
  if (!existsSync(logDir)) return []
  const files = readdirSync(logDir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => f.slice(0, -'.log'.length))
    .filter((w) => query.workload === undefined || w === query.workload)
  const entries: AccessLogEntry[] = []
  for (const workload of files) {
    for (const line of tailLines(join(logDir, `${workload}.log`), maxBytesPerFile)) {
      const entry = parseAccessLogLine(line, workload)
      if (!entry) continue
      if (query.denied && !isDenial(entry)) continue
      if (query.requestId !== undefined && entry.requestId !== query.requestId) continue
      if (
        query.authority !== undefined &&
        entry.authority.split(/[.:]/)[0] !== query.authority.split(/[.:]/)[0]
      )
        continue
      entries.push(entry)
    }
  }
  entries.sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime))
  return entries.slice(0, query.limit)
}
