-- Columns whose update alone is no audit event (fields annotated
-- schema.NotAudited(): api_keys.last_used_at, moved forward by every flush
-- of a key's use). mtdb_audit() now reads its trigger's arguments as the
-- redacted columns, then, after an empty argument, the ignored ones; an
-- UPDATE whose changed columns are all ignored writes no event. Triggers
-- without the empty argument keep their meaning (every argument redacted).
-- CREATE OR REPLACE keeps the function's owner and privileges (EXECUTE
-- stays revoked from PUBLIC).
CREATE OR REPLACE FUNCTION mtdb_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  o jsonb;
  n jsonb;
  r jsonb;
  op text := pg_catalog.lower(TG_OP);
  changes jsonb;
  sep integer := pg_catalog.array_position(TG_ARGV, '');
  redacted text[] := CASE WHEN sep IS NULL THEN COALESCE(TG_ARGV, '{}') ELSE TG_ARGV[0:sep - 1] END;
  ignored text[] := CASE WHEN sep IS NULL THEN '{}' ELSE TG_ARGV[sep + 1:TG_NARGS - 1] END;
BEGIN
  IF TG_TABLE_SCHEMA LIKE 'pg\_temp%' THEN
    RAISE EXCEPTION 'mtdb_audit: temporary table %.% is not audited', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP <> 'INSERT' THEN o := pg_catalog.to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN n := pg_catalog.to_jsonb(NEW); END IF;
  r := COALESCE(n, o);
  IF TG_OP = 'UPDATE' AND pg_catalog.jsonb_typeof(o -> 'deleted_at') = 'null'
     AND pg_catalog.jsonb_typeof(n -> 'deleted_at') IS DISTINCT FROM 'null' THEN
    op := 'delete';
  END IF;
  SELECT COALESCE(pg_catalog.jsonb_object_agg(k, CASE
           WHEN k = ANY (redacted) THEN '{"changed": true}'::jsonb
           WHEN TG_OP = 'INSERT' THEN pg_catalog.jsonb_build_object('new', n -> k)
           WHEN TG_OP = 'DELETE' THEN pg_catalog.jsonb_build_object('old', o -> k)
           ELSE pg_catalog.jsonb_build_object('old', o -> k, 'new', n -> k) END), '{}'::jsonb)
    INTO changes
    FROM pg_catalog.jsonb_object_keys(r) AS k
   WHERE TG_OP <> 'UPDATE' OR (o -> k) IS DISTINCT FROM (n -> k);
  IF TG_OP = 'UPDATE' AND changes <> '{}'::jsonb
     AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_object_keys(changes) AS k WHERE k <> ALL (ignored)) THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.audit_events
    (tenant_id, table_name, row_id, operation, changes, actor_sub, actor_role, request_id, occurred_at)
  VALUES (
    CASE WHEN TG_TABLE_NAME = 'tenants' THEN (r ->> 'id')::uuid ELSE (r ->> 'tenant_id')::uuid END,
    TG_TABLE_NAME, (r ->> 'id')::uuid, op, changes,
    COALESCE(pg_catalog.current_setting('app.user_id', true), ''),
    COALESCE(pg_catalog.current_setting('app.role', true), ''),
    COALESCE(pg_catalog.current_setting('app.request_id', true), ''),
    pg_catalog.now());
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION mtdb_audit() FROM PUBLIC;
DROP TRIGGER IF EXISTS "api_keys_audit" ON "api_keys";
CREATE TRIGGER "api_keys_audit" AFTER INSERT OR UPDATE OR DELETE ON "api_keys"
FOR EACH ROW EXECUTE FUNCTION mtdb_audit('key_hash', '', 'last_used_at');
