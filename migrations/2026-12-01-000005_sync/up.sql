-- What Jira last showed of a ticket and what we last sent it, so that a resubmission never
-- overwrites a person's edit and a stale webhook never overrides a newer state.
ALTER TABLE tickets
    ADD COLUMN jira_status          text,
    ADD COLUMN jira_status_category text,
    ADD COLUMN jira_resolution      text,
    ADD COLUMN sent_summary         text,
    ADD COLUMN sent_priority        text,
    ADD COLUMN priority_overridden  boolean NOT NULL DEFAULT false,
    -- Jira's time of the last change applied from Jira.
    ADD COLUMN jira_updated_at      timestamptz,
    -- Set when the issue was deleted in Jira or closed as a duplicate; the row stays for history.
    ADD COLUMN unlinked_at          timestamptz;
CREATE INDEX tickets_configuration_issue_idx ON tickets (configuration_id, jira_issue_id);

-- Comments of an event's feed, from either side.
CREATE TABLE comments (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id           uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    body               text NOT NULL,
    origin             text NOT NULL CHECK (origin IN ('northstar', 'jira', 'system')),
    author             text NOT NULL DEFAULT '',
    author_account_id  text,
    api_key_id         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz
);
CREATE INDEX comments_event_idx ON comments (event_id, created_at);

-- Where each comment lives in Jira. Unique per Jira comment, so the webhook a comment of ours
-- causes is recognised as our own echo.
CREATE TABLE jira_comments (
    comment_id       uuid NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    ticket_id        uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    jira_comment_id  text NOT NULL,
    PRIMARY KEY (comment_id, ticket_id),
    CONSTRAINT jira_comments_ticket_comment_key UNIQUE (ticket_id, jira_comment_id)
);

-- The change log of events: the activity feed of GetEvent and the stream of WatchEventChanges.
-- `txid` orders it for watchers: a row is only read once no older transaction is in progress
-- (txid below the snapshot's xmin), so a change that commits late is never skipped.
CREATE TABLE event_changes (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid              xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id                uuid NOT NULL UNIQUE,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id          uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    kind              text NOT NULL,
    origin            text NOT NULL CHECK (origin IN ('northstar', 'jira', 'system')),
    occurred_at       timestamptz NOT NULL,
    actor             text NOT NULL DEFAULT '',
    -- No foreign keys: history outlives configurations and comments.
    configuration_id  uuid,
    jira_issue_key    text,
    comment_id        uuid,
    previous_status   text,
    status            text NOT NULL,
    message           text NOT NULL DEFAULT '',
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_changes_event_idx ON event_changes (event_id, seq);
CREATE INDEX event_changes_feed_idx ON event_changes (tenant_id, txid, seq);
CREATE INDEX event_changes_recorded_idx ON event_changes (recorded_at);

-- Deliveries of every kind. A create stays unique per (event, configuration, generation).
-- Syncs (update, transition, duplicate sweep) read the current state when they run, so one
-- waiting per ticket and kind covers any number of changes; comment deliveries are per comment.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_configuration_kind_generation_key;
ALTER TABLE deliveries ADD COLUMN comment_id uuid;
CREATE UNIQUE INDEX deliveries_create_key ON deliveries (event_id, configuration_id, generation)
    WHERE kind = 'create_ticket';
CREATE UNIQUE INDEX deliveries_sync_waiting_key ON deliveries (event_id, configuration_id, generation, kind)
    WHERE kind IN ('update_ticket', 'transition', 'sweep_duplicates') AND state IN ('pending', 'failed');
CREATE UNIQUE INDEX deliveries_comment_key ON deliveries (event_id, configuration_id, generation, kind, comment_id)
    WHERE comment_id IS NOT NULL;
CREATE INDEX deliveries_ticket_idx ON deliveries (event_id, configuration_id) WHERE state = 'in_flight';
