// A proxy's side of the control plane, as Istio's pilot-agent is to istiod:
// it makes its private key itself and sends only a CSR (the key never leaves
// the process), renews at half the certificate's life, retrying while the
// control plane is away, and follows the configuration and endpoint pushes on
// one stream, reconnecting when it drops (istio/istio pkg/istio-agent/agent.go,
// security/pkg/nodeagent/cache/secretcache.go rotateTime).
import { webcrypto } from 'node:crypto'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { Agent, request } from 'undici'
import type { IssuedCertificate } from '../ca/certificate-authority.ts'
import { spiffeIdOf } from '../ca/spiffe-peer.ts'
import { type RotatingCertificate, type SvidSource, startRotation } from '../ca/svid-rotation.ts'
import type { CertificateResponse, ConfigSnapshot, EndpointRegistration, EndpointTable } from './protocol.ts'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const

/** A control plane's refusal, with its problem+json code. */
export class ControlPlaneRequestError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, detail: string) {
    super(`control plane answered ${status} ${code}: ${detail}`)
    this.status = status
    this.code = code
  }
}

/** A fresh P-256 key and a PKCS#10 request for it; the key stays with the caller. */
export async function newCertificateRequest(): Promise<{ csrPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  })
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { csrPem: csr.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') }
}

export class ControlPlaneClient {
  readonly url: string
  readonly workload: string
  readonly #token: string
  readonly #agent: Agent

  constructor(options: { url: string; workload: string; token: string; rootPem: string }) {
    this.url = options.url.replace(/\/$/, '')
    this.workload = options.workload
    this.#token = options.token
    this.#agent = new Agent({ connect: { ca: options.rootPem }, headersTimeout: 10_000, bodyTimeout: 0 })
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await request(`${this.url}${path}`, {
      method,
      dispatcher: this.#agent,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })
    if (res.statusCode === 204) {
      await res.body.dump()
      return undefined as T
    }
    const json = (await res.body.json()) as T & { code?: string; detail?: string }
    if (res.statusCode >= 400)
      throw new ControlPlaneRequestError(res.statusCode, json.code ?? 'ERR_UNKNOWN', json.detail ?? '')
    return json
  }

  /** A certificate for this workload's identity (or, for the gateway, a serving certificate for `hosts`). */
  async certificate(hosts?: string[]): Promise<IssuedCertificate> {
    const { csrPem, keyPem } = await newCertificateRequest()
    const answer = await this.#call<CertificateResponse>('POST', '/v1/certificates', {
      csr: csrPem,
      ...(hosts ? { hosts } : {}),
    })
    const leafPem = answer.certificateChain[0]
    if (!leafPem) throw new ControlPlaneRequestError(502, 'ERR_EMPTY_CHAIN', 'no certificate in the answer')
    const leaf = new x509.X509Certificate(leafPem)
    return {
      certPem: answer.certificateChain.join('\n'),
      keyPem,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
    }
  }

  config(): Promise<ConfigSnapshot> {
    return this.#call('GET', `/v1/config?workload=${encodeURIComponent(this.workload)}`)
  }

  endpoints(): Promise<EndpointTable> {
    return this.#call('GET', '/v1/endpoints')
  }

  register(registration: EndpointRegistration): Promise<void> {
    return this.#call('POST', '/v1/endpoints', registration)
  }

  /**
   * Follows the watch stream: `onConfig` and `onEndpoints` with each pushed
   * value, `onConnect` on every (re)connection (a sidecar registers again
   * there: a restarted control plane has forgotten it). Reconnects with
   * back-off until stopped.
   */
  watch(handlers: {
    onConfig(snapshot: ConfigSnapshot): void
    onEndpoints(table: EndpointTable): void
    onConnect?(): void
    onError?(error: Error): void
  }): { stop(): void } {
    let stopped = false
    let abort = new AbortController()
    const run = async () => {
      let delayMs = 250
      while (!stopped) {
        abort = new AbortController()
        try {
          const res = await request(
            `${this.url}/v1/config/watch?workload=${encodeURIComponent(this.workload)}`,
            {
              dispatcher: this.#agent,
              headers: { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream' },
              signal: abort.signal,
            },
          )
          if (res.statusCode !== 200) {
            await res.body.dump()
            throw new ControlPlaneRequestError(res.statusCode, 'ERR_WATCH', 'the watch stream was refused')
          }
          delayMs = 250
          handlers.onConnect?.()
          let buffer = ''
          for await (const chunk of res.body) {
            buffer += String(chunk)
            let end = buffer.indexOf('\n\n')
            while (end >= 0) {
              const frame = buffer.slice(0, end)
              buffer = buffer.slice(end + 2)
              end = buffer.indexOf('\n\n')
              const event = /^event: (.+)$/m.exec(frame)?.[1]
              const data = /^data: (.+)$/m.exec(frame)?.[1]
              if (!event || data === undefined) continue
              if (event === 'config') handlers.onConfig(JSON.parse(data) as ConfigSnapshot)
              else if (event === 'endpoints') handlers.onEndpoints(JSON.parse(data) as EndpointTable)
            }
          }
          if (!stopped) throw new Error('the control plane closed the watch stream')
        } catch (error) {
          if (stopped) return
          handlers.onError?.(error as Error)
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref())
        delayMs = Math.min(delayMs * 2, 5_000)
      }
    }
    void run()
    return {
      stop() {
        stopped = true
        abort.abort()
      },
    }
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

/**
 * A certificate from the control plane, renewed at half its lifetime. A
 * renewal that fails (the control plane restarting) is retried with back-off
 * while the current certificate is still good.
 */
export async function startCsrRotation(
  client: ControlPlaneClient,
  options: { hosts?: string[]; log?: (line: string) => void } = {},
): Promise<RotatingCertificate> {
  let stopped = false
  let last: IssuedCertificate | null = null
  const issue = async (): Promise<IssuedCertificate> => {
    let delayMs = 250
    for (;;) {
      try {
        last = await client.certificate(options.hosts)
        return last
      } catch (error) {
        // At start there is nothing to fall back on: the process fails and is restarted.
        if (!last) throw error
        if (stopped) return last
        options.log?.(`certificate renewal failed, retrying in ${delayMs} ms: ${(error as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref())
        delayMs = Math.min(delayMs * 2, 10_000)
      }
    }
  }
  const rotation = await startRotation(issue)
  return {
    ...rotation,
    stop() {
      stopped = true
      rotation.stop()
    },
  }
}

/** The workload's SVID from the control plane; its SPIFFE ID is the one the control plane put in it. */
export async function startCsrSvid(
  client: ControlPlaneClient,
  log?: (line: string) => void,
): Promise<SvidSource> {
  const rotation = await startCsrRotation(client, { log })
  const der = Buffer.from(x509.PemConverter.decodeFirst(rotation.current().certPem))
  return { spiffeId: spiffeIdOf(der), ...rotation }
}
