// The access-log file as Envoy writes it: lines buffered and written together
// (at 64 KiB or after the flush interval), in order, none lost on close.
import { mkdtempSync, readFileSync, rmSync, WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ACCESS_LOG_FLUSH_BYTES, fileAccessLog } from '../../src/telemetry/access-log.ts'

const dirs: string[] = []
afterEach(() => {
  vi.restoreAllMocks()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const logFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'access-log-'))
  dirs.push(dir)
  return join(dir, 'logs', 'signing-api.log')
}

const lines = (n: number, width = 40) =>
  Array.from({ length: n }, (_, i) => `${`line ${i} `.padEnd(width, '.')}\n`)

describe('the access-log file', () => {
  it('writes a burst of lines to the file in one write, in order, within the flush interval', async () => {
    const writes = vi.spyOn(WriteStream.prototype, 'write')
    const path = logFile()
    const sink = fileAccessLog(path)
    const burst = lines(200)
    for (const line of burst) sink.write(line)
    await vi.waitFor(() => expect(readFileSync(path, 'utf8')).toBe(burst.join('')), { timeout: 2_000 })
    expect(writes).toHaveBeenCalledTimes(1)
    await sink.close()
  })

  it('writes at once when 64 KiB are waiting, and what is left when it closes', async () => {
    const writes = vi.spyOn(WriteStream.prototype, 'write')
    const path = logFile()
    const sink = fileAccessLog(path)
    const all = lines(Math.ceil(ACCESS_LOG_FLUSH_BYTES / 100) + 10, 100)
    for (const line of all) sink.write(line)
    // The first 64 KiB went at once; the last lines wait for the interval or the close.
    expect(writes).toHaveBeenCalledTimes(1)
    await sink.close()
    expect(readFileSync(path, 'utf8')).toBe(all.join(''))
    expect(writes).toHaveBeenCalledTimes(2)
  })
})
