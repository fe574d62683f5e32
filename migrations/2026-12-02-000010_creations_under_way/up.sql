-- A webhook about an issue with no stored ticket asks whether its configuration has a creation
-- under way (webhooks/apply.rs): only those rows, by configuration, so the question stays cheap
-- however many creations were ever made. The query spells the same predicate out literally.
CREATE INDEX deliveries_creating_idx ON deliveries (configuration_id)
    WHERE kind = 'create_ticket' AND state IN ('pending', 'in_flight', 'failed') AND attempts > 0;
