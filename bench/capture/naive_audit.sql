-- The naive row-audit trigger the capture benchmark compares Prov with: one
-- AFTER INSERT/UPDATE/DELETE FOR EACH ROW trigger that writes the table, the
-- operation and the old and new rows as jsonb into an audit table, as
-- supa_audit does (supa_audit also derives record ids from the primary key
-- and keeps three more indexes on its table, so it costs more than this).
-- On the pgbench tables that have a primary key, as Prov's capture is.
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.log (
	id         bigserial   PRIMARY KEY,
	table_name text        NOT NULL,
	op         text        NOT NULL,
	old        jsonb,
	new        jsonb,
	at         timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION audit.log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit.log (table_name, op, old, new, at)
	VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP,
		CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
		CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
		now());
	RETURN NULL;
END
$$;

CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON pgbench_accounts FOR EACH ROW EXECUTE FUNCTION audit.log_change();
CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON pgbench_tellers FOR EACH ROW EXECUTE FUNCTION audit.log_change();
CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON pgbench_branches FOR EACH ROW EXECUTE FUNCTION audit.log_change();
