// Writes the audit chain's batches on SQLite from a worker thread that owns a
// connection of its own. better-sqlite3 is synchronous: a COMMIT with
// synchronous = FULL waits for the fsync (milliseconds), and on the service's
// own connection nothing else runs meanwhile, not even reading the next
// requests. Here only the writer thread waits; the event loop keeps serving,
// and what arrives meanwhile becomes the next batch.
//
// One batch at a time (the group committer awaits each), so one total order.
// A batch's promise settles with what the thread answered after COMMIT (or
// the rollback) returned. When the thread dies, the batch in flight fails
// with a 503 (ERR_AUDIT_UNAVAILABLE): whether it committed is unknown, so it
// is not retried (a retry could write it twice); the next batch starts a new
// thread.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { HttpProblem } from '../errors/problem.ts'
import type { BatchItem, BatchWriter, ItemOutcome } from './batch.ts'
import type { WriterReply, WriterRequest, WriterThreadData } from './sqlite-writer-worker.ts'

// The worker's file beside this one, as this one is: .ts from the sources, .js once built.
const WORKER = new URL(`./sqlite-writer-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

export const writerUnavailable = (cause?: unknown) =>
  new HttpProblem(503, 'ERR_AUDIT_UNAVAILABLE', 'the audit trail could not be written; try again', { cause })

interface InFlight {
  resolve(outcomes: ItemOutcome[]): void
  reject(error: unknown): void
}

export class SqliteWriterThread implements BatchWriter {
  readonly #data: WriterThreadData
  #worker: Worker | null = null
  #inFlight: InFlight | null = null
  #lastError: unknown = null

  constructor(file: string, busyTimeoutMs: number) {
    this.#data = { file, busyTimeoutMs }
  }

  write(batch: readonly BatchItem[]): Promise<ItemOutcome[]> {
    if (this.#inFlight) return Promise.reject(new Error('the audit writer thread takes one batch at a time'))
    const worker = this.#worker ?? this.#start()
    // Kept alive while a batch is out; idle, the thread does not hold the process open.
    worker.ref()
    return new Promise((resolve, reject) => {
      this.#inFlight = { resolve, reject }
      worker.postMessage({ batch } satisfies WriterRequest)
    })
  }

  /** Stops the thread once its batch is done; the committer closes it only when nothing is queued. */
  async close(): Promise<void> {
    const worker = this.#worker
    if (!worker) return
    worker.ref()
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    worker.postMessage({ close: true } satisfies WriterRequest)
    await exited
  }

  /** For tests: the thread dies as a crash would kill it, whatever it is doing. */
  async terminate(): Promise<void> {
    await this.#worker?.terminate()
  }

  /** Whether a batch is out to the thread now. */
  get busy(): boolean {
    return this.#inFlight !== null
  }

  #start(): Worker {
    const worker = new Worker(WORKER, { workerData: this.#data })
    this.#worker = worker
    this.#lastError = null
    worker.unref()
    worker.on('message', (reply: WriterReply) => {
      if ('closed' in reply) return
      const inFlight = this.#inFlight
      this.#inFlight = null
      worker.unref()
      if (!inFlight) return
      if ('error' in reply)
        inFlight.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }))
      else inFlight.resolve(reply.outcomes)
    })
    worker.on('error', (error) => {
      this.#lastError = error
    })
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = null
      const inFlight = this.#inFlight
      this.#inFlight = null
      inFlight?.reject(writerUnavailable(this.#lastError))
    })
    return worker
  }
}
