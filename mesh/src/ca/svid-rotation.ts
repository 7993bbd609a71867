// Keeps a workload's SVID fresh: a new certificate at half its lifetime (as
// Istio's agent does), handed to whoever listens (the sidecar swaps its TLS
// context; connections already open keep working, new ones use the new SVID).
import type { CertificateAuthority, IssuedCertificate } from './certificate-authority.ts'

export interface SvidSource {
  readonly spiffeId: string
  current(): IssuedCertificate
  onRotate(listener: (svid: IssuedCertificate) => void): void
  stop(): void
}

export async function startSvidRotation(
  ca: CertificateAuthority,
  spiffeId: string,
  lifetimeMs: number,
): Promise<SvidSource> {
  let svid = await ca.issueSvid(spiffeId, lifetimeMs)
  const listeners: Array<(svid: IssuedCertificate) => void> = []
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const schedule = () => {
    const half = Math.max(100, (svid.notAfter.getTime() - Date.now()) / 2)
    timer = setTimeout(rotate, half)
    timer.unref()
  }
  const rotate = async () => {
    if (stopped) return
    svid = await ca.issueSvid(spiffeId, lifetimeMs)
    for (const listener of listeners) listener(svid)
    schedule()
  }
  schedule()

  return {
    spiffeId,
    current: () => svid,
    onRotate: (listener) => listeners.push(listener),
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}
