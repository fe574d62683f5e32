// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "xid8", schema = "pg_catalog"))]
    pub struct Xid8;
}

diesel::table! {
    applications (tenant_id, application_id) {
        tenant_id -> Uuid,
        application_id -> Text,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    configuration_applications (configuration_id, application_id) {
        tenant_id -> Uuid,
        configuration_id -> Uuid,
        application_id -> Text,
    }
}

diesel::table! {
    configuration_groups (configuration_id, group_id) {
        tenant_id -> Uuid,
        configuration_id -> Uuid,
        group_id -> Uuid,
    }
}

diesel::table! {
    configurations (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        credential_id -> Uuid,
        trigger -> Text,
        jira_project_key -> Text,
        default_issue_type -> Text,
        title_prefix -> Nullable<Text>,
        default_epic_key -> Nullable<Text>,
        default_assignee_account_id -> Nullable<Text>,
        additional_fields -> Jsonb,
        severities -> Array<Text>,
        priority_mapping -> Jsonb,
        priority_field -> Text,
        bidirectional -> Bool,
        enabled_at -> Nullable<Timestamptz>,
        status_mapping -> Array<Text>,
        recurrence_policy -> Text,
        webhook_secret_ciphertext -> Nullable<Bytea>,
        webhook_secret_nonce -> Nullable<Bytea>,
        webhook_secret_key_id -> Nullable<Text>,
        webhook_secret_rotated_at -> Nullable<Timestamptz>,
        jira_webhook_id -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        event_id -> Uuid,
        configuration_id -> Uuid,
        kind -> Text,
        generation -> Int4,
        state -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        outcome_unknown -> Bool,
        next_attempt_at -> Timestamptz,
        lease_token -> Nullable<Uuid>,
        lease_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        comment_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    events (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        external_id -> Text,
        kind -> Text,
        application_id -> Text,
        title -> Text,
        severity -> Text,
        status -> Text,
        link -> Nullable<Text>,
        detected_at -> Nullable<Timestamptz>,
        details -> Jsonb,
        first_seen_at -> Timestamptz,
        updated_at -> Timestamptz,
        status_updated_at -> Timestamptz,
    }
}

diesel::table! {
    tickets (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        event_id -> Uuid,
        configuration_id -> Uuid,
        generation -> Int4,
        delivery_id -> Uuid,
        jira_issue_id -> Text,
        jira_key -> Text,
        jira_url -> Text,
        trigger -> Text,
        severity -> Text,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
        jira_status -> Nullable<Text>,
        jira_status_category -> Nullable<Text>,
        jira_resolution -> Nullable<Text>,
        sent_summary -> Nullable<Text>,
        sent_priority -> Nullable<Text>,
        priority_overridden -> Bool,
        jira_updated_at -> Nullable<Timestamptz>,
        unlinked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    group_members (group_id, application_id) {
        tenant_id -> Uuid,
        group_id -> Uuid,
        application_id -> Text,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    resource_groups (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        role -> Text,
        prefix -> Text,
        secret_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        actor_key_id -> Nullable<Uuid>,
        actor -> Text,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    credentials (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        jira_url -> Text,
        email -> Text,
        token_ciphertext -> Bytea,
        token_nonce -> Bytea,
        token_key_id -> Text,
        token_updated_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    comments (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        event_id -> Uuid,
        body -> Text,
        origin -> Text,
        author -> Text,
        author_account_id -> Nullable<Text>,
        api_key_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    jira_comments (comment_id, ticket_id) {
        comment_id -> Uuid,
        ticket_id -> Uuid,
        jira_comment_id -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Xid8;

    event_changes (seq) {
        seq -> Int8,
        txid -> Xid8,
        id -> Uuid,
        tenant_id -> Uuid,
        event_id -> Uuid,
        kind -> Text,
        origin -> Text,
        occurred_at -> Timestamptz,
        actor -> Text,
        configuration_id -> Nullable<Uuid>,
        jira_issue_key -> Nullable<Text>,
        comment_id -> Nullable<Uuid>,
        previous_status -> Nullable<Text>,
        status -> Text,
        message -> Text,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_inbox (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        configuration_id -> Uuid,
        identifier -> Text,
        webhook_event -> Text,
        body -> Bytea,
        received_at -> Timestamptz,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    reconcile_state (configuration_id) {
        configuration_id -> Uuid,
        swept_until -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ticket_created_daily (tenant_id, day, trigger, severity, configuration_id, shard) {
        tenant_id -> Uuid,
        day -> Date,
        trigger -> Text,
        severity -> Text,
        configuration_id -> Uuid,
        tickets -> Int8,
        shard -> Int2,
    }
}

diesel::table! {
    ticket_closed_daily (tenant_id, day, trigger, severity, shard) {
        tenant_id -> Uuid,
        day -> Date,
        trigger -> Text,
        severity -> Text,
        tickets -> Int8,
        seconds_sum -> Float8,
        histogram -> Array<Nullable<Int4>>,
        shard -> Int2,
    }
}

diesel::table! {
    ticket_created_hourly (tenant_id, hour, trigger, severity, configuration_id, shard) {
        tenant_id -> Uuid,
        hour -> Timestamptz,
        trigger -> Text,
        severity -> Text,
        configuration_id -> Uuid,
        tickets -> Int8,
        shard -> Int2,
    }
}

diesel::table! {
    ticket_closed_hourly (tenant_id, hour, trigger, severity, shard) {
        tenant_id -> Uuid,
        hour -> Timestamptz,
        trigger -> Text,
        severity -> Text,
        tickets -> Int8,
        seconds_sum -> Float8,
        histogram -> Array<Nullable<Int4>>,
        shard -> Int2,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(audit_log -> tenants (tenant_id));
diesel::joinable!(credentials -> tenants (tenant_id));

diesel::joinable!(configurations -> credentials (credential_id));
diesel::joinable!(configurations -> tenants (tenant_id));
diesel::joinable!(resource_groups -> tenants (tenant_id));
diesel::joinable!(deliveries -> events (event_id));
diesel::joinable!(tickets -> events (event_id));
diesel::joinable!(deliveries -> configurations (configuration_id));
diesel::joinable!(tickets -> configurations (configuration_id));
diesel::joinable!(comments -> events (event_id));
diesel::joinable!(jira_comments -> comments (comment_id));
diesel::joinable!(jira_comments -> tickets (ticket_id));
diesel::joinable!(event_changes -> events (event_id));
diesel::joinable!(webhook_inbox -> configurations (configuration_id));
diesel::joinable!(reconcile_state -> configurations (configuration_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    applications,
    audit_log,
    comments,
    configuration_applications,
    configuration_groups,
    configurations,
    credentials,
    deliveries,
    event_changes,
    events,
    group_members,
    jira_comments,
    reconcile_state,
    resource_groups,
    tenants,
    ticket_closed_daily,
    ticket_closed_hourly,
    ticket_created_daily,
    ticket_created_hourly,
    tickets,
    webhook_inbox,
);
