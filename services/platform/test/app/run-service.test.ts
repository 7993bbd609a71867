// runService under a supervisor: with REPORT_LISTENING it says which port the
// kernel gave it (so PORT may be 0 and nobody guesses a free port for it), and
// with EXIT_ON_STDIN_CLOSE it exits when its stdin pipe closes, which happens
// when the supervisor dies, even by SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { type AddressInfo, createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const app = fileURLToPath(new URL('../fixtures/run-service-app.ts', import.meta.url))

describe('runService under a supervisor', () => {
  const children: ChildProcess[] = []
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })

  const start = (env: Record<string, string>, stderr: 'inherit' | 'pipe' = 'inherit') => {
    const child = spawn(process.execPath, ['--import', 'tsx', app], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'silent', ...env },
      stdio: ['pipe', 'pipe', stderr],
    })
    children.push(child)
    return child
  }

  /** What the app reported on its `listening {...}` line. */
  const reported = async (child: ChildProcess) => {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      const match = /^listening (\{.*\})$/.exec(line)
      if (match) return JSON.parse(match[1] as string) as { port: number; metricsPort?: number }
    }
    throw new Error('the app exited without reporting its port')
  }

  it('reports the port it bound, and exits when its stdin closes', async () => {
    const child = start({ REPORT_LISTENING: 'true', EXIT_ON_STDIN_CLOSE: 'true' })
    const { port } = await reported(child)
    expect(port).toBeGreaterThan(0)
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`)
    expect(res.status).toBe(200)

    const exited = once(child, 'exit')
    child.stdin?.end()
    const [code] = (await Promise.race([
      exited,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('still running 15 s after stdin closed')), 15_000),
      ),
    ])) as [number | null]
    expect(code).toBe(0)
  }, 60_000)

  it('names the metrics port it bound (METRICS_PORT=0) in the same line, where its /metrics answers', async () => {
    const child = start({ REPORT_LISTENING: 'true', METRICS_PORT: '0' })
    const { port, metricsPort } = await reported(child)
    expect(metricsPort).toBeGreaterThan(0)
    expect(metricsPort).not.toBe(port)
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('process_cpu_user_seconds_total')
  }, 60_000)

  it('keeps running when stdin closes unless asked to exit', async () => {
    const child = start({ REPORT_LISTENING: 'true' })
    await reported(child)
    child.stdin?.end()
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(child.exitCode).toBe(null)
  }, 60_000)

  // A SIGKILLed supervisor takes the other end of the app's stdout with it, and
  // under pnpm dev the trace collector too (the console runs in its process).
  // Closing then logs to a broken pipe and flushes spans nobody takes: pino's
  // pretty transport (a worker thread) held exit for 10 s, and the span exporter
  // retried for its 10 s timeout.
  it.each(['json', 'pretty'])(
    'exits within seconds when its supervisor dies, its output a broken pipe and its collector gone (%s logs)',
    async (log) => {
      const gone = createServer()
      await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve))
      const collector = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`
      await new Promise((resolve) => gone.close(resolve))
      const child = start(
        {
          REPORT_LISTENING: 'true',
          EXIT_ON_STDIN_CLOSE: 'true',
          FIXTURE_LOG: log,
          OTEL_EXPORTER_OTLP_ENDPOINT: collector,
        },
        'pipe',
      )
      child.stderr?.resume()
      const { port } = await reported(child)
      // A request, so a span waits for the collector.
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200)
      const exited = once(child, 'exit')
      // The supervisor's end of every pipe goes at once.
      child.stdout?.destroy()
      child.stderr?.destroy()
      child.stdin?.destroy()
      const outcome = await Promise.race([
        exited.then(() => 'exited'),
        new Promise((resolve) => setTimeout(resolve, 5_000, 'still running 5 s after its supervisor died')),
      ])
      expect(outcome).toBe('exited')
    },
    60_000,
  )
})
