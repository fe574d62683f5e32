-- Security events, idempotent per tenant and the platform's external id.
CREATE TABLE events (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    external_id     text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('incident', 'vulnerability')),
    application_id  text NOT NULL,
    title           text NOT NULL,
    severity        text NOT NULL,
    status          text NOT NULL DEFAULT 'open',
    link            text,
    detected_at     timestamptz,
    -- The kind's own fields (incident type, source IPs, request URLs; vulnerability type, score).
    details         jsonb NOT NULL DEFAULT '{}',
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    status_updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_tenant_external_id_key UNIQUE (tenant_id, external_id)
);
CREATE INDEX events_tenant_idx ON events (tenant_id, id);

-- The transactional outbox: every call owed to Jira, written in the transaction that makes it
-- owed. Unique per (event, configuration, kind, generation), so a create is owed at most once.
CREATE TABLE deliveries (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id          uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    configuration_id  uuid NOT NULL REFERENCES configurations (id) ON DELETE CASCADE,
    kind              text NOT NULL,
    generation        integer NOT NULL DEFAULT 0,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'in_flight', 'succeeded', 'failed', 'dead')),
    attempts          integer NOT NULL DEFAULT 0,
    last_error        text,
    -- A previous attempt may have reached Jira: look for its marker before sending again.
    outcome_unknown   boolean NOT NULL DEFAULT false,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_token       uuid,
    lease_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_event_configuration_kind_generation_key UNIQUE (event_id, configuration_id, kind, generation)
);
-- Claims scan only what is due.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state IN ('pending', 'failed');
CREATE INDEX deliveries_leased_idx ON deliveries (lease_until) WHERE state = 'in_flight';
CREATE INDEX deliveries_tenant_idx ON deliveries (tenant_id, id);

-- Jira issues linked to events, one per (event, configuration, generation).
CREATE TABLE tickets (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id          uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    configuration_id  uuid NOT NULL REFERENCES configurations (id) ON DELETE CASCADE,
    generation        integer NOT NULL DEFAULT 0,
    delivery_id       uuid NOT NULL,
    jira_issue_id     text NOT NULL,
    jira_key          text NOT NULL,
    jira_url          text NOT NULL,
    trigger           text NOT NULL,
    severity          text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    closed_at         timestamptz,
    CONSTRAINT tickets_event_configuration_generation_key UNIQUE (event_id, configuration_id, generation)
);
CREATE INDEX tickets_tenant_created_idx ON tickets (tenant_id, created_at);
