-- Jira credentials. The API token is stored only encrypted (AES-256-GCM under the master
-- key, a random nonce per encryption, the credential id as associated data); token_key_id
-- names the master key that sealed it, so rotation can find what to re-encrypt.
CREATE TABLE credentials (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name              text NOT NULL,
    jira_url          text NOT NULL,
    email             text NOT NULL,
    token_ciphertext  bytea NOT NULL,
    token_nonce       bytea NOT NULL,
    token_key_id      text NOT NULL,
    token_updated_at  timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_tenant_name_key UNIQUE (tenant_id, name)
);
CREATE INDEX credentials_tenant_idx ON credentials (tenant_id, id);
