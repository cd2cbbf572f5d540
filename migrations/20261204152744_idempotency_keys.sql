-- Create "idempotency_keys" table
CREATE TABLE "idempotency_keys" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "caller" character varying(320) NOT NULL, "key" character varying(255) NOT NULL, "request_hash" character varying(64) NOT NULL, "method" character varying(10) NOT NULL, "path" character varying(2048) NOT NULL, "status" bigint NOT NULL, "location" character varying(2048) NOT NULL DEFAULT '', "body" bytea NOT NULL, "created_at" timestamptz NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "idempotency_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT);
-- Create index "idempotencykey_tenant_id_caller_key" to table: "idempotency_keys"
CREATE UNIQUE INDEX "idempotencykey_tenant_id_caller_key" ON "idempotency_keys" ("tenant_id", "caller", "key");
-- Create index "idempotencykey_tenant_id_created_at" to table: "idempotency_keys"
CREATE INDEX "idempotencykey_tenant_id_created_at" ON "idempotency_keys" ("tenant_id", "created_at");
-- Create index "idempotencykey_tenant_id_id" to table: "idempotency_keys"
CREATE UNIQUE INDEX "idempotencykey_tenant_id_id" ON "idempotency_keys" ("tenant_id", "id");
-- Row-level security of idempotency_keys
ALTER TABLE "idempotency_keys" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "idempotency_keys" FORCE ROW LEVEL SECURITY;
CREATE POLICY "idempotency_keys_select" ON "idempotency_keys" AS PERMISSIVE FOR SELECT TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "idempotency_keys_insert" ON "idempotency_keys" AS PERMISSIVE FOR INSERT TO mtdb_app WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "idempotency_keys_update" ON "idempotency_keys" AS PERMISSIVE FOR UPDATE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "idempotency_keys_delete" ON "idempotency_keys" AS PERMISSIVE FOR DELETE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "idempotency_keys" TO mtdb_app;
