// Random ids in hex (trace and span ids) cut from a pooled buffer: one CSPRNG
// fill per 4 KiB instead of a randomBytes call for every id, as
// crypto.randomUUID caches its randomness. Every byte is handed out once.
import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096

let pool = Buffer.alloc(0)
let offset = 0

/** `bytes` fresh random bytes, as lower-case hex. */
export function randomHex(bytes: number): string {
  if (bytes > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} bytes at a time`)
  if (offset + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES))
    offset = 0
  }
  const hex = pool.toString('hex', offset, offset + bytes)
  offset += bytes
  return hex
}
