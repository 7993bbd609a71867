// The per-sender upload limits (bucket-api's UPLOAD_* settings, see
// docs/security-model.md) are sized for a person; a load test's few users send
// far more than that, so the benchmark and the soak lift them. The limits
// themselves are tested in services/bucket-api/test/quota.test.ts.
export const LOAD_TEST_APP_ENV: Record<string, string> = {
  UPLOAD_RATE_PER_HOUR: '1000000',
  UPLOAD_QUOTA_ACTIVE_COUNT: '1000000',
  UPLOAD_QUOTA_ACTIVE_BYTES: String(1024 ** 4),
}
