#!/bin/sh
# Runs once, on an empty data directory (the postgres image's initdb hook):
# one login role per API, each allowed only its own tables. The passwords come
# from the environment: on kind the Secret postgres-roles (scripts/kind-secrets.sh),
# under docker compose its local-only values.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v bucket="$BUCKET_API_PASSWORD" -v signing="$SIGNING_API_PASSWORD" \
  -v verification="$VERIFICATION_API_PASSWORD" -v identity="$IDENTITY_API_PASSWORD" \
  -v admin="$ADMIN_API_PASSWORD" <<'SQL'
CREATE ROLE bucket_api LOGIN PASSWORD :'bucket';
CREATE ROLE signing_api LOGIN PASSWORD :'signing';
CREATE ROLE verification_api LOGIN PASSWORD :'verification';
CREATE ROLE identity_api LOGIN PASSWORD :'identity';
CREATE ROLE admin_api LOGIN PASSWORD :'admin';
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO bucket_api, signing_api, verification_api, identity_api, admin_api;
-- The owners of migration groups create their own tables.
GRANT CREATE ON SCHEMA public TO signing_api, identity_api, bucket_api;
-- audit and signing (signing-api's): every API reads them. Appending to the
-- audit chain, and admin-api's few updates, are granted by the owners'
-- migrations table by table (services/platform/src/db/role-grants.ts).
ALTER DEFAULT PRIVILEGES FOR ROLE signing_api IN SCHEMA public
  GRANT SELECT ON TABLES TO bucket_api, verification_api, identity_api, admin_api;
-- identity (identity-api's): nothing by default. Its tables hold secrets (sealed
-- MFA secrets and session keys, recovery-code hashes, PKCE verifiers), so each
-- service is granted the columns it reads, column by column, by identity-api's
-- migrations (services/platform/src/db/migrations/identity/0005_column_read_grants.ts).
-- buckets (bucket-api's): admin-api reads them for its views.
ALTER DEFAULT PRIVILEGES FOR ROLE bucket_api IN SCHEMA public
  GRANT SELECT ON TABLES TO admin_api;
SQL
