DROP INDEX deliveries_ticket_idx;
DROP INDEX deliveries_comment_key;
DROP INDEX deliveries_sync_waiting_key;
DROP INDEX deliveries_create_key;
ALTER TABLE deliveries DROP COLUMN comment_id;
DELETE FROM deliveries WHERE kind <> 'create_ticket';
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_configuration_kind_generation_key
    UNIQUE (event_id, configuration_id, kind, generation);
DROP TABLE event_changes;
DROP TABLE jira_comments;
DROP TABLE comments;
DROP INDEX tickets_configuration_issue_idx;
ALTER TABLE tickets
    DROP COLUMN jira_status, DROP COLUMN jira_status_category, DROP COLUMN jira_resolution,
    DROP COLUMN sent_summary, DROP COLUMN sent_priority, DROP COLUMN priority_overridden,
    DROP COLUMN jira_updated_at, DROP COLUMN unlinked_at;
