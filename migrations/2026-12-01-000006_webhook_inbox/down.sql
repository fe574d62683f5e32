DROP TABLE reconcile_state;
DROP TABLE webhook_inbox;
