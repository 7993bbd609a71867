import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_buckets.ts'

export const bucketMigrations: Record<string, Migration> = {
  '0001_buckets': m0001,
}
