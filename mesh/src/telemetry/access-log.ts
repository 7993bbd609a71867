// Envoy's access log in Istio's default text format, one line per request
// per proxy. The format string is istio/istio pilot/pkg/model/telemetry_logging.go
// EnvoyTextLogFormat:
//   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//   %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
//   "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW%
//   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
//   %REQUESTED_SERVER_NAME% %ROUTE_NAME%
// A value Envoy does not have is written `-` (its formatter's default for an
// empty or missing value).
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { dirname } from 'node:path'

export interface AccessLogEntry {
  startTime: Date
  method: string
  path: string
  protocol: string
  responseCode: number
  responseFlags: string
  responseCodeDetails: string
  connectionTerminationDetails: string
  upstreamTransportFailureReason: string
  bytesReceived: number
  bytesSent: number
  durationMs: number
  upstreamServiceTime: string
  forwardedFor: string
  userAgent: string
  requestId: string
  authority: string
  upstreamHost: string
  upstreamCluster: string
  upstreamLocalAddress: string
  downstreamLocalAddress: string
  downstreamRemoteAddress: string
  requestedServerName: string
  routeName: string
}

const dash = (value: string) => (value === '' ? '-' : value)

export function formatAccessLogLine(e: AccessLogEntry): string {
  return (
    `[${e.startTime.toISOString()}] "${dash(e.method)} ${dash(e.path)} ${dash(e.protocol)}" ` +
    `${e.responseCode} ${dash(e.responseFlags)} ${dash(e.responseCodeDetails)} ${dash(e.connectionTerminationDetails)} ` +
    `"${dash(e.upstreamTransportFailureReason)}" ${e.bytesReceived} ${e.bytesSent} ` +
    `${Math.round(e.durationMs)} ${dash(e.upstreamServiceTime)} "${dash(e.forwardedFor)}" ` +
    `"${dash(e.userAgent)}" "${dash(e.requestId)}" "${dash(e.authority)}" "${dash(e.upstreamHost)}" ` +
    `${dash(e.upstreamCluster)} ${dash(e.upstreamLocalAddress)} ${dash(e.downstreamLocalAddress)} ` +
    `${dash(e.downstreamRemoteAddress)} ${dash(e.requestedServerName)} ${dash(e.routeName)}\n`
  )
}

/** A TCP connection's line: Envoy writes the HTTP operators as `-` and 0 for a connection. */
export interface TcpAccessLogEntry {
  startTime: Date
  responseFlags: string
  connectionTerminationDetails: string
  bytesReceived: number
  bytesSent: number
  durationMs: number
  upstreamHost: string
  upstreamCluster: string
  downstreamLocalAddress: string
  downstreamRemoteAddress: string
}

export const formatTcpAccessLogLine = (e: TcpAccessLogEntry): string =>
  formatAccessLogLine({
    ...e,
    method: '',
    path: '',
    protocol: '',
    responseCode: 0,
    responseCodeDetails: '',
    upstreamTransportFailureReason: '',
    upstreamServiceTime: '',
    forwardedFor: '',
    userAgent: '',
    requestId: '',
    authority: '',
    upstreamLocalAddress: '',
    requestedServerName: '',
    routeName: '',
  })

/** Where a proxy's lines go: appended to a file (Envoy's /dev/stdout in a pod). */
export interface AccessLogSink {
  write(line: string): void
  close(): Promise<void>
}

/**
 * Envoy buffers access-log lines and writes them from a flush thread once
 * 64 KiB are waiting (envoyproxy/envoy source/common/access_log/access_log_manager_impl.h
 * MIN_FLUSH_SIZE) or when the flush interval passes: Istio's pilot-agent runs
 * Envoy with `--file-flush-interval-msec 1000` (istio/istio pkg/envoy/proxy.go).
 * The local mesh flushes at the same size, and after 100 ms rather than a
 * second, so `mesh logs` and the console show a request almost at once. One
 * file write per request had cost a proxy more CPU than its metrics and
 * access-log formatting together (docs/benchmarks.md).
 */
export const ACCESS_LOG_FLUSH_BYTES = 64 * 1024
export const ACCESS_LOG_FLUSH_MS = 100

export function fileAccessLog(path: string): AccessLogSink {
  mkdirSync(dirname(path), { recursive: true })
  const stream: WriteStream = createWriteStream(path, { flags: 'a' })
  // A full disk must not take the proxy down with it: the line is lost, as Envoy's would be.
  stream.on('error', () => {})
  let pending: string[] = []
  let bytes = 0
  let timer: NodeJS.Timeout | null = null
  const flush = () => {
    if (timer) clearTimeout(timer)
    timer = null
    if (pending.length === 0) return
    stream.write(pending.join(''))
    pending = []
    bytes = 0
  }
  return {
    write(line) {
      pending.push(line)
      bytes += line.length
      if (bytes >= ACCESS_LOG_FLUSH_BYTES) flush()
      // Unref'd: a proxy with nothing else to do exits; close() writes what is left.
      else timer ??= setTimeout(flush, ACCESS_LOG_FLUSH_MS).unref()
    },
    close() {
      flush()
      return new Promise<void>((resolve) => stream.end(() => resolve()))
    },
  }
}
