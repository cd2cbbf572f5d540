-- The restricted role must not create temporary objects: the session's
-- temporary schema is searched first for tables, so a temporary table
-- named like an application table, left on a pooled connection, would be
-- read and written by later transactions of other tenants. TEMPORARY comes
-- through PUBLIC and is a privilege of each database, so it is revoked in
-- the database this file is applied to (current_database(): the same file
-- serves every database of a cluster, and the Atlas CLI runs it as is).
-- Roles that need temporary tables here must be granted TEMPORARY by name;
-- the owner of the database keeps it.
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM mtdb_app', current_database());
END
$$;
