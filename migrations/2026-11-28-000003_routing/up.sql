-- Applications keep the platform's own id; groups gather them; configurations route from both.
CREATE TABLE applications (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    application_id  text NOT NULL,
    name            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, application_id)
);

CREATE TABLE resource_groups (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resource_groups_tenant_name_key UNIQUE (tenant_id, name),
    -- Lets member and configuration rows prove, by foreign key, that they stay in one tenant.
    CONSTRAINT resource_groups_tenant_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE group_members (
    tenant_id       uuid NOT NULL,
    group_id        uuid NOT NULL,
    application_id  text NOT NULL,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, application_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES resource_groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, application_id) REFERENCES applications (tenant_id, application_id) ON DELETE CASCADE
);
CREATE INDEX group_members_application_idx ON group_members (tenant_id, application_id);

CREATE TABLE configurations (
    id                           uuid PRIMARY KEY,
    tenant_id                    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                         text NOT NULL,
    credential_id                uuid NOT NULL REFERENCES credentials (id) ON DELETE RESTRICT,
    trigger                      text NOT NULL CHECK (trigger IN ('incident', 'vulnerability')),
    jira_project_key             text NOT NULL,
    default_issue_type           text NOT NULL,
    title_prefix                 text,
    default_epic_key             text,
    default_assignee_account_id  text,
    additional_fields            jsonb NOT NULL DEFAULT '[]',
    severities                   text[] NOT NULL,
    priority_mapping             jsonb NOT NULL,
    priority_field               text NOT NULL DEFAULT 'priority',
    bidirectional                boolean NOT NULL DEFAULT false,
    -- NULL while disabled; only events first seen at or after it get tickets.
    enabled_at                   timestamptz,
    status_mapping               text[] NOT NULL,
    recurrence_policy            text NOT NULL DEFAULT 'reopen',
    webhook_secret_ciphertext    bytea,
    webhook_secret_nonce         bytea,
    webhook_secret_key_id        text,
    webhook_secret_rotated_at    timestamptz,
    jira_webhook_id              text,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT configurations_tenant_name_key UNIQUE (tenant_id, name),
    CONSTRAINT configurations_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX configurations_tenant_idx ON configurations (tenant_id, id);

CREATE TABLE configuration_applications (
    tenant_id         uuid NOT NULL,
    configuration_id  uuid NOT NULL,
    application_id    text NOT NULL,
    PRIMARY KEY (configuration_id, application_id),
    FOREIGN KEY (tenant_id, configuration_id) REFERENCES configurations (tenant_id, id) ON DELETE CASCADE,
    -- An application a configuration names cannot be deleted from under it.
    FOREIGN KEY (tenant_id, application_id) REFERENCES applications (tenant_id, application_id) ON DELETE RESTRICT
);

CREATE TABLE configuration_groups (
    tenant_id         uuid NOT NULL,
    configuration_id  uuid NOT NULL,
    group_id          uuid NOT NULL,
    PRIMARY KEY (configuration_id, group_id),
    FOREIGN KEY (tenant_id, configuration_id) REFERENCES configurations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES resource_groups (tenant_id, id) ON DELETE RESTRICT
);
