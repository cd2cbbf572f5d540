-- API keys are looked up before any tenant is known, so mtdb_app cannot
-- read api_keys for it (row-level security shows it no row). Two SECURITY
-- DEFINER functions, owned by the migration role, do exactly the two things
-- that need to see across tenants, and nothing else:
--   mtdb_api_key_authenticate(prefix, sha256(key)) returns the one key whose
--     prefix AND digest match (its id, tenant, role, expiry), else nothing:
--     knowing a prefix (shown in lists) without the secret yields nothing,
--     so it cannot enumerate keys or tenants; the digests are compared in
--     constant time.
--   mtdb_api_keys_touch(ids, times) moves last_used_at forward (one batched
--     call per flush interval, never a write per request).
-- The table's RLS is FORCED, so its owner (who runs these functions) needs
-- a policy too: one for SELECT and UPDATE, valid only while one of these
-- functions has set mtdb.api_key_definer (transaction-local, cleared before
-- returning). mtdb_app's own policies are unchanged.
CREATE POLICY "api_keys_definer_select" ON "api_keys" AS PERMISSIVE FOR SELECT TO CURRENT_USER
  USING (current_setting('mtdb.api_key_definer', true) = 'on');
CREATE POLICY "api_keys_definer_update" ON "api_keys" AS PERMISSIVE FOR UPDATE TO CURRENT_USER
  USING (current_setting('mtdb.api_key_definer', true) = 'on')
  WITH CHECK (current_setting('mtdb.api_key_definer', true) = 'on');
CREATE OR REPLACE FUNCTION mtdb_api_key_authenticate(p_prefix text, p_hash bytea)
RETURNS TABLE (key_id uuid, key_tenant_id uuid, key_role text, key_expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  k record;
  diff integer := 0;
BEGIN
  IF p_prefix IS NULL OR p_hash IS NULL OR octet_length(p_hash) <> 32 THEN
    RETURN;
  END IF;
  PERFORM set_config('mtdb.api_key_definer', 'on', true);
  SELECT a.id, a.tenant_id, a.role, a.expires_at, a.key_hash INTO k
    FROM public.api_keys a WHERE a.prefix = p_prefix;
  PERFORM set_config('mtdb.api_key_definer', '', true);
  IF k.id IS NULL THEN
    RETURN;
  END IF;
  FOR i IN 0..31 LOOP -- every byte, whatever differs: constant time
    diff := diff | (get_byte(k.key_hash, i) # get_byte(p_hash, i));
  END LOOP;
  IF diff <> 0 THEN
    RETURN;
  END IF;
  key_id := k.id;
  key_tenant_id := k.tenant_id;
  key_role := k.role;
  key_expires_at := k.expires_at;
  RETURN NEXT;
END
$$;
CREATE OR REPLACE FUNCTION mtdb_api_keys_touch(p_ids uuid[], p_used timestamptz[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  PERFORM set_config('mtdb.api_key_definer', 'on', true);
  UPDATE public.api_keys a SET last_used_at = u.used
    FROM unnest(p_ids, p_used) AS u(id, used)
    WHERE a.id = u.id AND u.used <= now() + interval '1 minute'
      AND (a.last_used_at IS NULL OR a.last_used_at < u.used);
  PERFORM set_config('mtdb.api_key_definer', '', true);
END
$$;
REVOKE ALL ON FUNCTION mtdb_api_key_authenticate(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION mtdb_api_keys_touch(uuid[], timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mtdb_api_key_authenticate(text, bytea) TO mtdb_app;
GRANT EXECUTE ON FUNCTION mtdb_api_keys_touch(uuid[], timestamptz[]) TO mtdb_app;
