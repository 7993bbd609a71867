// The mesh console's server side as a library (the browser test starts it beside a throwaway system).
export { type AccessLogEntry, parseAccessLogLine, rbacPolicyOf, readAccessLogs } from './access-log.ts'
export { buildConsoleApp, type ConsoleAppOptions } from './console-app.ts'
export { aggregateIstioTraffic, type EdgeTraffic, histogramQuantile, TrafficWindow } from './istio-traffic.ts'
export { parsePrometheusText, type Sample } from './prometheus-text.ts'
export {
  CONSOLE_DIST,
  type ConsoleOptions,
  DEFAULT_CONSOLE_PORT,
  type RunningConsole,
  startConsole,
} from './start-console.ts'
