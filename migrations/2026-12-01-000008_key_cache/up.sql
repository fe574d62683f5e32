-- Servers keep verified API keys in memory; a revocation or a removal on any replica tells every
-- replica to forget them (last_used_at updates say nothing: they change no one's access).
CREATE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('api_keys_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, role, secret_hash OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed();

