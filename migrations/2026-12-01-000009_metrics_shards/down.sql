-- One row per key again: the rollups are emptied and rebuilt from the tickets.
DELETE FROM ticket_created_daily;
DELETE FROM ticket_created_hourly;
DELETE FROM ticket_closed_daily;
DELETE FROM ticket_closed_hourly;
ALTER TABLE ticket_created_daily DROP CONSTRAINT ticket_created_daily_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (tenant_id, day, trigger, severity, configuration_id);
ALTER TABLE ticket_created_hourly DROP CONSTRAINT ticket_created_hourly_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (tenant_id, hour, trigger, severity, configuration_id);
ALTER TABLE ticket_closed_daily DROP CONSTRAINT ticket_closed_daily_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (tenant_id, day, trigger, severity);
ALTER TABLE ticket_closed_hourly DROP CONSTRAINT ticket_closed_hourly_pkey, DROP COLUMN shard,
    ADD PRIMARY KEY (tenant_id, hour, trigger, severity);
CREATE OR REPLACE FUNCTION metrics_count_ticket(t tickets, delta integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    secs double precision;
    b integer;
BEGIN
    IF t.unlinked_at IS NOT NULL THEN
        RETURN;
    END IF;
    INSERT INTO ticket_created_daily AS d (tenant_id, day, trigger, severity, configuration_id, tickets)
    VALUES (t.tenant_id, (t.created_at AT TIME ZONE 'UTC')::date, t.trigger, t.severity, t.configuration_id, delta)
    ON CONFLICT (tenant_id, day, trigger, severity, configuration_id)
    DO UPDATE SET tickets = d.tickets + delta;
    INSERT INTO ticket_created_hourly AS d (tenant_id, hour, trigger, severity, configuration_id, tickets)
    VALUES (t.tenant_id, date_trunc('hour', t.created_at, 'UTC'), t.trigger, t.severity, t.configuration_id, delta)
    ON CONFLICT (tenant_id, hour, trigger, severity, configuration_id)
    DO UPDATE SET tickets = d.tickets + delta;
    IF t.closed_at IS NOT NULL THEN
        secs := greatest(extract(epoch FROM t.closed_at - t.created_at)::double precision, 0);
        b := metrics_bucket(secs);
        INSERT INTO ticket_closed_daily AS d (tenant_id, day, trigger, severity, tickets, seconds_sum, histogram)
        VALUES (t.tenant_id, (t.closed_at AT TIME ZONE 'UTC')::date, t.trigger, t.severity, delta, secs * delta,
                array_fill(NULL::integer, ARRAY[b]) || delta)
        ON CONFLICT (tenant_id, day, trigger, severity)
        DO UPDATE SET tickets = d.tickets + delta,
                      seconds_sum = d.seconds_sum + secs * delta,
                      histogram[b + 1] = coalesce(d.histogram[b + 1], 0) + delta;
        INSERT INTO ticket_closed_hourly AS d (tenant_id, hour, trigger, severity, tickets, seconds_sum, histogram)
        VALUES (t.tenant_id, date_trunc('hour', t.closed_at, 'UTC'), t.trigger, t.severity, delta, secs * delta,
                array_fill(NULL::integer, ARRAY[b]) || delta)
        ON CONFLICT (tenant_id, hour, trigger, severity)
        DO UPDATE SET tickets = d.tickets + delta,
                      seconds_sum = d.seconds_sum + secs * delta,
                      histogram[b + 1] = coalesce(d.histogram[b + 1], 0) + delta;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION tickets_metrics() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.closed_at IS NOT DISTINCT FROM NEW.closed_at
       AND OLD.unlinked_at IS NOT DISTINCT FROM NEW.unlinked_at
       AND OLD.created_at = NEW.created_at THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM metrics_count_ticket(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM metrics_count_ticket(NEW, 1);
    END IF;
    -- Metrics watchers on every replica refresh.
    PERFORM pg_notify('northstar_metrics', coalesce(NEW.tenant_id, OLD.tenant_id)::text);
    RETURN NULL;
END $$;

SELECT metrics_rebuild(NULL);
