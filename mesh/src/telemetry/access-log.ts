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

export function fileAccessLog(path: string): AccessLogSink {
  mkdirSync(dirname(path), { recursive: true })
  const stream: WriteStream = createWriteStream(path, { flags: 'a' })
  // A full disk must not take the proxy down with it: the line is lost, as Envoy's would be.
  stream.on('error', () => {})
  return {
    write: (line) => void stream.write(line),
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  }
}
