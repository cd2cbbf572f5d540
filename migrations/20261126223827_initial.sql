-- Create the restricted role mtdb_app
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'mtdb_app') THEN
    BEGIN
      CREATE ROLE mtdb_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END
$$;
-- Let mtdb_app use the schema
GRANT USAGE ON SCHEMA public TO mtdb_app;
-- Functions reading the transaction-local settings
CREATE OR REPLACE FUNCTION mtdb_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION mtdb_is_platform_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT COALESCE(current_setting('app.role', true) = 'platform_admin', false) $$;
-- Create "tenants" table
CREATE TABLE "tenants" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying(200) NOT NULL, "tenant_type" character varying NOT NULL, "metadata" jsonb NOT NULL, "deleted_at" timestamptz NULL, "parent_tenant_id" uuid NULL, PRIMARY KEY ("id"), CONSTRAINT "tenants_tenants_subsidiaries" FOREIGN KEY ("parent_tenant_id") REFERENCES "tenants" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "tenants_name_check" CHECK (((name)::text = btrim((name)::text)) AND ((char_length((name)::text) >= 1) AND (char_length((name)::text) <= 200))), CONSTRAINT "tenants_type_check" CHECK ((((tenant_type)::text = 'parent'::text) AND (parent_tenant_id IS NULL)) OR (((tenant_type)::text = 'subsidiary'::text) AND (parent_tenant_id IS NOT NULL))));
-- Create index "tenant_created_at_id" to table: "tenants"
CREATE INDEX "tenant_created_at_id" ON "tenants" ("created_at", "id");
-- Create index "tenant_parent_tenant_id" to table: "tenants"
CREATE INDEX "tenant_parent_tenant_id" ON "tenants" ("parent_tenant_id");
-- Create index "tenants_parent_name_key" to table: "tenants"
CREATE UNIQUE INDEX "tenants_parent_name_key" ON "tenants" ((lower((name)::text))) WHERE ((parent_tenant_id IS NULL) AND (deleted_at IS NULL));
-- Create index "tenants_subsidiary_name_key" to table: "tenants"
CREATE UNIQUE INDEX "tenants_subsidiary_name_key" ON "tenants" ("parent_tenant_id", (lower((name)::text))) WHERE ((parent_tenant_id IS NOT NULL) AND (deleted_at IS NULL));
-- Row-level security of tenants
ALTER TABLE "tenants" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "tenants" FORCE ROW LEVEL SECURITY;
CREATE POLICY "tenants_select" ON "tenants" AS PERMISSIVE FOR SELECT TO mtdb_app USING ((SELECT mtdb_is_platform_admin()) OR id = (SELECT mtdb_current_tenant()) OR parent_tenant_id = (SELECT mtdb_current_tenant()));
CREATE POLICY "tenants_insert" ON "tenants" AS PERMISSIVE FOR INSERT TO mtdb_app WITH CHECK ((SELECT mtdb_is_platform_admin()) OR parent_tenant_id = (SELECT mtdb_current_tenant()));
CREATE POLICY "tenants_update" ON "tenants" AS PERMISSIVE FOR UPDATE TO mtdb_app USING ((SELECT mtdb_is_platform_admin()) OR id = (SELECT mtdb_current_tenant()) OR parent_tenant_id = (SELECT mtdb_current_tenant())) WITH CHECK ((SELECT mtdb_is_platform_admin()) OR id = (SELECT mtdb_current_tenant()) OR parent_tenant_id = (SELECT mtdb_current_tenant()));
CREATE POLICY "tenants_delete" ON "tenants" AS PERMISSIVE FOR DELETE TO mtdb_app USING ((SELECT mtdb_is_platform_admin()));
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "tenants" TO mtdb_app;
-- Tenant visibility and hierarchy depth
CREATE OR REPLACE FUNCTION mtdb_visible_tenants() RETURNS uuid[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  cur uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
  IF cur IS NULL THEN
    RETURN '{}'::uuid[];
  END IF;
  RETURN ARRAY(
    SELECT t.id FROM tenants t
    WHERE t.deleted_at IS NULL AND (t.id = cur OR t.parent_tenant_id = cur)
  );
END
$$;
CREATE OR REPLACE FUNCTION mtdb_tenants_depth() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (NEW.parent_tenant_id IS DISTINCT FROM OLD.parent_tenant_id
                           OR NEW.tenant_type IS DISTINCT FROM OLD.tenant_type) THEN
    RAISE EXCEPTION 'the type and parent of tenant % cannot change', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_immutable_check', TABLE = 'tenants';
  END IF;
  IF NEW.parent_tenant_id IS NULL THEN
    RETURN NEW;
  END IF;
  IF NEW.parent_tenant_id = NEW.id OR EXISTS (
    SELECT 1 FROM tenants p WHERE p.id = NEW.parent_tenant_id AND p.parent_tenant_id IS NOT NULL
  ) THEN
    RAISE EXCEPTION 'tenant % is a subsidiary and cannot have subsidiaries', NEW.parent_tenant_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_depth_check', TABLE = 'tenants';
  END IF;
  IF EXISTS (SELECT 1 FROM tenants c WHERE c.parent_tenant_id = NEW.id) THEN
    RAISE EXCEPTION 'tenant % has subsidiaries and cannot become a subsidiary', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_depth_check', TABLE = 'tenants';
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS tenants_depth ON tenants;
CREATE TRIGGER tenants_depth BEFORE INSERT OR UPDATE OF parent_tenant_id, tenant_type ON tenants
FOR EACH ROW EXECUTE FUNCTION mtdb_tenants_depth();
-- Create "users" table
CREATE TABLE "users" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying(320) NOT NULL, "display_name" character varying(200) NOT NULL DEFAULT '', "role" character varying NOT NULL DEFAULT 'member', PRIMARY KEY ("id"), CONSTRAINT "users_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "users_email_check" CHECK ((email)::text = lower((email)::text)), CONSTRAINT "users_role_check" CHECK ((role)::text = ANY (ARRAY[('tenant_admin'::character varying)::text, ('member'::character varying)::text])));
-- Create index "user_tenant_id_created_at_id" to table: "users"
CREATE INDEX "user_tenant_id_created_at_id" ON "users" ("tenant_id", "created_at", "id");
-- Create index "user_tenant_id_email" to table: "users"
CREATE UNIQUE INDEX "user_tenant_id_email" ON "users" ("tenant_id", "email");
-- Create index "user_tenant_id_id" to table: "users"
CREATE UNIQUE INDEX "user_tenant_id_id" ON "users" ("tenant_id", "id");
-- Row-level security of users
ALTER TABLE "users" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "users" FORCE ROW LEVEL SECURITY;
CREATE POLICY "users_select" ON "users" AS PERMISSIVE FOR SELECT TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "users_insert" ON "users" AS PERMISSIVE FOR INSERT TO mtdb_app WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "users_update" ON "users" AS PERMISSIVE FOR UPDATE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "users_delete" ON "users" AS PERMISSIVE FOR DELETE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "users" TO mtdb_app;
-- Create "projects" table
CREATE TABLE "projects" ("id" uuid NOT NULL, "tenant_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying(200) NOT NULL, "description" character varying(10000) NOT NULL DEFAULT '', "owner_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "projects_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "projects_users_projects" FOREIGN KEY ("tenant_id", "owner_id") REFERENCES "users" ("tenant_id", "id") ON UPDATE NO ACTION ON DELETE RESTRICT);
-- Create index "project_tenant_id_created_at_id" to table: "projects"
CREATE INDEX "project_tenant_id_created_at_id" ON "projects" ("tenant_id", "created_at", "id");
-- Create index "project_tenant_id_id" to table: "projects"
CREATE UNIQUE INDEX "project_tenant_id_id" ON "projects" ("tenant_id", "id");
-- Create index "project_tenant_id_owner_id" to table: "projects"
CREATE INDEX "project_tenant_id_owner_id" ON "projects" ("tenant_id", "owner_id");
-- Row-level security of projects
ALTER TABLE "projects" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "projects" FORCE ROW LEVEL SECURITY;
CREATE POLICY "projects_select" ON "projects" AS PERMISSIVE FOR SELECT TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "projects_insert" ON "projects" AS PERMISSIVE FOR INSERT TO mtdb_app WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "projects_update" ON "projects" AS PERMISSIVE FOR UPDATE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
CREATE POLICY "projects_delete" ON "projects" AS PERMISSIVE FOR DELETE TO mtdb_app USING (tenant_id = ANY ((SELECT mtdb_visible_tenants())::uuid[]));
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "projects" TO mtdb_app;
