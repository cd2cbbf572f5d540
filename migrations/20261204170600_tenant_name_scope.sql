-- Create index "tenants_parent_name_idx" to table: "tenants"
CREATE INDEX "tenants_parent_name_idx" ON "tenants" ((lower((name)::text))) WHERE ((parent_tenant_id IS NULL) AND (deleted_at IS NULL));
-- Create index "tenants_subsidiary_name_idx" to table: "tenants"
CREATE INDEX "tenants_subsidiary_name_idx" ON "tenants" ("parent_tenant_id", (lower((name)::text))) WHERE ((parent_tenant_id IS NOT NULL) AND (deleted_at IS NULL));
-- Drop the unique name indexes (ent does not plan index drops): a name
-- conflicts only with a sibling the writer can see, checked by the tenants
-- service; a unique index would answer 409 about tenants the writer cannot
-- see.
DROP INDEX "tenants_parent_name_key";
DROP INDEX "tenants_subsidiary_name_key";
