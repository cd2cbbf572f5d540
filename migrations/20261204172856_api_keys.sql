-- Create "api_keys" table
CREATE TABLE "api_keys" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "name" character varying(200) NOT NULL, "prefix" character varying(32) NOT NULL, "key_hash" bytea NOT NULL, "role" character varying NOT NULL, "created_by" character varying(320) NOT NULL DEFAULT '', "created_at" timestamptz NOT NULL, "expires_at" timestamptz NULL, "last_used_at" timestamptz NULL, PRIMARY KEY ("id"), CONSTRAINT "api_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "api_keys_hash_check" CHECK (octet_length(key_hash) = 32), CONSTRAINT "api_keys_role_check" CHECK ((role)::text = ANY (ARRAY[('tenant_admin'::character varying)::text, ('member'::character varying)::text])));
-- Create index "apikey_prefix" to table: "api_keys"
CREATE UNIQUE INDEX "apikey_prefix" ON "api_keys" ("prefix");
-- Create index "apikey_tenant_id_created_at_id" to table: "api_keys"
CREATE INDEX "apikey_tenant_id_created_at_id" ON "api_keys" ("tenant_id", "created_at", "id");
-- Create index "apikey_tenant_id_id" to table: "api_keys"
CREATE UNIQUE INDEX "apikey_tenant_id_id" ON "api_keys" ("tenant_id", "id");
-- Row-level security of api_keys
ALTER TABLE "api_keys" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "api_keys" FORCE ROW LEVEL SECURITY;
CREATE POLICY "api_keys_select" ON "api_keys" AS PERMISSIVE FOR SELECT TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "api_keys_insert" ON "api_keys" AS PERMISSIVE FOR INSERT TO mtdb_app WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "api_keys_update" ON "api_keys" AS PERMISSIVE FOR UPDATE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "api_keys_delete" ON "api_keys" AS PERMISSIVE FOR DELETE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "api_keys" TO mtdb_app;
-- Row counts of api_keys
DROP TRIGGER IF EXISTS "api_keys_count_insert" ON "api_keys";
CREATE TRIGGER "api_keys_count_insert" AFTER INSERT ON "api_keys" REFERENCING NEW TABLE AS mtdb_new FOR EACH STATEMENT EXECUTE FUNCTION mtdb_count_rows();
DROP TRIGGER IF EXISTS "api_keys_count_delete" ON "api_keys";
CREATE TRIGGER "api_keys_count_delete" AFTER DELETE ON "api_keys" REFERENCING OLD TABLE AS mtdb_old FOR EACH STATEMENT EXECUTE FUNCTION mtdb_count_rows();
DROP TRIGGER IF EXISTS "api_keys_count_move" ON "api_keys";
CREATE TRIGGER "api_keys_count_move" AFTER UPDATE OF tenant_id ON "api_keys" FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id) EXECUTE FUNCTION mtdb_count_rows();
-- Audit trail of api_keys
DROP TRIGGER IF EXISTS "api_keys_audit" ON "api_keys";
CREATE TRIGGER "api_keys_audit" AFTER INSERT OR UPDATE OR DELETE ON "api_keys"
FOR EACH ROW EXECUTE FUNCTION mtdb_audit('key_hash');
