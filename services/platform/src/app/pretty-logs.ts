// pnpm dev's readable logs (LOG_PRETTY): pino-pretty as a stream in the app's
// own thread, writing synchronously as pino's own destination does. As a pino
// transport it ran in a worker thread, which stopped reading once stdout broke
// (the supervisor SIGKILLed), and pino's flush at exit then waited ten seconds
// for it: the orphaned app outlived its supervisor by that long. Loaded only
// when asked for: pino-pretty is a development dependency.
export async function prettyStream() {
  const { default: pretty } = await import('pino-pretty')
  return pretty({ singleLine: true, translateTime: 'SYS:HH:MM:ss.l', sync: true })
}
