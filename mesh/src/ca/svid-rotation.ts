// Keeps a certificate fresh: a new one at half its lifetime (as Istio's agent
// does for SVIDs, and as cert-manager's default renewBefore of a third does
// for a gateway's certificate), handed to whoever listens (a sidecar or the
// gateway swaps its TLS context; connections already open keep working, new
// ones get the new certificate).
import type { CertificateAuthority, IssuedCertificate } from './certificate-authority.ts'

export interface RotatingCertificate {
  current(): IssuedCertificate
  onRotate(listener: (certificate: IssuedCertificate) => void): void
  stop(): void
}

export interface SvidSource extends RotatingCertificate {
  readonly spiffeId: string
}

/** Issues a certificate now and again at half of each one's remaining lifetime. */
export async function startRotation(issue: () => Promise<IssuedCertificate>): Promise<RotatingCertificate> {
  let certificate = await issue()
  const listeners: Array<(certificate: IssuedCertificate) => void> = []
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const schedule = () => {
    const half = Math.max(100, (certificate.notAfter.getTime() - Date.now()) / 2)
    timer = setTimeout(rotate, half)
    timer.unref()
  }
  const rotate = async () => {
    if (stopped) return
    certificate = await issue()
    for (const listener of listeners) listener(certificate)
    schedule()
  }
  schedule()

  return {
    current: () => certificate,
    onRotate: (listener) => listeners.push(listener),
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}

export async function startSvidRotation(
  ca: CertificateAuthority,
  spiffeId: string,
  lifetimeMs: number,
): Promise<SvidSource> {
  return { spiffeId, ...(await startRotation(() => ca.issueSvid(spiffeId, lifetimeMs))) }
}
