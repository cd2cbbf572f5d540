-- Roles for compose.yaml. The postgres image runs this once, as the
-- superuser, when it initialises an empty data volume (before `mtdb
-- migrate apply`). Idempotent: safe to run again by hand.
--
-- mtdb_app: the restricted role every request transaction enters (the
-- migrations create it too, with the same attributes, if it is missing).
-- mtdb_api: the API's login role. Not a superuser, no BYPASSRLS, owns
-- nothing; it may SET ROLE mtdb_app and read the migration revisions
-- (readiness reports pending migrations).
\getenv api_password MTDB_API_PASSWORD

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'mtdb_app') THEN
    CREATE ROLE mtdb_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
END
$$;
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'mtdb_api') THEN
    CREATE ROLE mtdb_api LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
ALTER ROLE mtdb_api PASSWORD :'api_password';
GRANT mtdb_app TO mtdb_api;

-- Where mtdb migrate apply (and atlas migrate apply) record revisions when
-- the URL names no schema.
CREATE SCHEMA IF NOT EXISTS atlas_schema_revisions;
GRANT USAGE ON SCHEMA atlas_schema_revisions TO mtdb_api;
ALTER DEFAULT PRIVILEGES IN SCHEMA atlas_schema_revisions GRANT SELECT ON TABLES TO mtdb_api;
