import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_buckets.ts'
import * as m0002 from './0002_upload_reservations.ts'

export const bucketMigrations: Record<string, Migration> = {
  '0001_buckets': m0001,
  '0002_upload_reservations': m0002,
}
