DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION api_keys_changed();
