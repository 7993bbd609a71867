// Starts an app only once its sidecar is ready: docker compose's analogue of
// Istio's holdApplicationUntilProxyStarts, which overlays/local (what the
// control plane runs) sets for every Deployment. On a cluster the injector puts
// the proxy first with a postStart hook, `pilot-agent wait`, which polls
// http://localhost:15021/healthz/ready every 500 ms for up to 60 s (istio/istio
// manifests/charts/istio-control/istio-discovery/files/injection-template.yaml,
// pilot/cmd/pilot-agent/app/wait.go). Compose cannot order it so: the sidecar
// joins the app's network namespace (network_mode: service:<app>), so it starts
// after the app, and an app cannot depend on its sidecar's health (that would
// be a cycle). So the app waits here, in its own process, polling the same URL
// as often and as long, then runs its entry point; when the time is up it exits
// 1 and compose restarts it.
const readyUrl = process.env.PROXY_READY_URL ?? 'http://127.0.0.1:15021/healthz/ready'
const entry = process.env.APP_ENTRY ?? '/app/entry.mjs'
const timeoutMs = Number(process.env.PROXY_READY_TIMEOUT_MS ?? 60_000)
const PERIOD_MS = 500

async function proxyReady() {
  try {
    const res = await fetch(readyUrl, { signal: AbortSignal.timeout(2_000) })
    await res.body?.cancel()
    return res.ok
  } catch {
    return false
  }
}

const deadline = Date.now() + timeoutMs
while (!(await proxyReady())) {
  if (Date.now() >= deadline) {
    process.stderr.write(`hold-until-proxy-ready: ${readyUrl} not ready after ${timeoutMs} ms\n`)
    process.exit(1)
  }
  await new Promise((resolve) => setTimeout(resolve, PERIOD_MS))
}
await import(entry)
