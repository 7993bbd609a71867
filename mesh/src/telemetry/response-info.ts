// What a proxy learned while answering one request, as Envoy's stream info
// holds it for the access log and the stats filter: the response flags, the
// response code details, the upstream transport failure and the body sizes.
// The proxies' answering code notes it here; nothing is kept for a response
// no telemetry watches (the WeakMap has no entry for it).
import type { ServerResponse } from 'node:http'

/**
 * Envoy's response flags in the order its formatter writes them
 * (envoyproxy/envoy source/common/stream_info/utility.h, ResponseFlagUtility:
 * LH, UH, UT, LR, UR, UF, UC, UO, NR, DI, FI, RL, UAEX, RLSE, DC, URX, SI, IH, DPE, ...).
 */
const FLAG_ORDER = ['UH', 'UT', 'UF', 'UC', 'NR', 'DC', 'URX', 'DPE'] as const
export type ResponseFlag = (typeof FLAG_ORDER)[number]

export interface ResponseInfo {
  flags: Set<ResponseFlag>
  /** %RESPONSE_CODE_DETAILS%: `via_upstream`, `route_not_found`, `rbac_access_denied_matched_policy[...]`, ... */
  details: string
  transportFailure: string
  /** Body bytes read from the client, when the proxy read them (else its content-length). */
  bytesReceived: number | undefined
  /** Body bytes sent to the client. */
  bytesSent: number
}

const infos = new WeakMap<ServerResponse, ResponseInfo>()

export function watchResponse(res: ServerResponse): ResponseInfo {
  const info: ResponseInfo = {
    flags: new Set(),
    details: '',
    transportFailure: '',
    bytesReceived: undefined,
    bytesSent: 0,
  }
  infos.set(res, info)
  return info
}

/** The info of a watched response; undefined when no telemetry watches it. */
export const responseInfo = (res: ServerResponse): ResponseInfo | undefined => infos.get(res)

/** Notes how a proxy answered (a no-op for a response nobody watches). */
export function noteResponse(
  res: ServerResponse,
  note: { details?: string; flags?: readonly ResponseFlag[]; transportFailure?: string; bytesSent?: number },
): void {
  const info = infos.get(res)
  if (!info) return
  if (note.details !== undefined) info.details = note.details
  for (const flag of note.flags ?? []) info.flags.add(flag)
  if (note.transportFailure !== undefined) info.transportFailure = note.transportFailure
  if (note.bytesSent !== undefined) info.bytesSent = note.bytesSent
}

/** %RESPONSE_FLAGS%: the letters in Envoy's order, comma-separated, `-` when none. */
export const formatFlags = (flags: ReadonlySet<ResponseFlag>): string =>
  flags.size === 0 ? '-' : FLAG_ORDER.filter((f) => flags.has(f)).join(',')

/** Envoy's StringUtil::replaceAllEmptySpace, which response code details go through. */
export const detailsText = (text: string): string => text.replace(/\s/g, '_')
