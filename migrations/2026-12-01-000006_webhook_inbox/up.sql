-- Jira webhook deliveries, stored verified and raw before they are answered, processed from here.
-- Unique per Jira delivery (X-Atlassian-Webhook-Identifier is kept across Jira's retries), so a
-- repeated delivery changes nothing.
CREATE TABLE webhook_inbox (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    configuration_id  uuid NOT NULL REFERENCES configurations (id) ON DELETE CASCADE,
    identifier        text NOT NULL,
    webhook_event     text NOT NULL DEFAULT '',
    body              bytea NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed', 'dead')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    last_error        text,
    CONSTRAINT webhook_inbox_configuration_identifier_key UNIQUE (configuration_id, identifier)
);
CREATE INDEX webhook_inbox_due_idx ON webhook_inbox (next_attempt_at) WHERE state IN ('pending', 'failed');
CREATE INDEX webhook_inbox_processed_idx ON webhook_inbox (processed_at) WHERE state = 'done';

-- How far reconciliation has looked at Jira, per bidirectional configuration.
CREATE TABLE reconcile_state (
    configuration_id  uuid PRIMARY KEY REFERENCES configurations (id) ON DELETE CASCADE,
    swept_until       timestamptz NOT NULL,
    lease_until       timestamptz
);
