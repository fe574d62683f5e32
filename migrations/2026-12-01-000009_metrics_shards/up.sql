-- Ticket deliveries are the hot path of the metrics trigger; two changes keep them from
-- committing one at a time.
--
-- Rollup rows split eight ways per key: every ticket stored in one hour of one configuration
-- updated the same row, and each transaction held that row's lock until its commit, so ticket
-- deliveries of a busy configuration committed one at a time (about 550 a second here). Readers
-- already sum; a rebuild writes shard 0.
ALTER TABLE ticket_created_daily ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE ticket_created_daily DROP CONSTRAINT ticket_created_daily_pkey,
    ADD PRIMARY KEY (tenant_id, day, trigger, severity, configuration_id, shard);
ALTER TABLE ticket_created_hourly ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE ticket_created_hourly DROP CONSTRAINT ticket_created_hourly_pkey,
    ADD PRIMARY KEY (tenant_id, hour, trigger, severity, configuration_id, shard);
ALTER TABLE ticket_closed_daily ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE ticket_closed_daily DROP CONSTRAINT ticket_closed_daily_pkey,
    ADD PRIMARY KEY (tenant_id, day, trigger, severity, shard);
ALTER TABLE ticket_closed_hourly ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE ticket_closed_hourly DROP CONSTRAINT ticket_closed_hourly_pkey,
    ADD PRIMARY KEY (tenant_id, hour, trigger, severity, shard);

CREATE OR REPLACE FUNCTION metrics_count_ticket(t tickets, delta integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    secs double precision;
    b integer;
    -- A ticket's own shard, so that what a change takes away comes from where it was added.
    s smallint := hashtext(t.id::text) & 7;
BEGIN
    IF t.unlinked_at IS NOT NULL THEN
        RETURN;
    END IF;
    INSERT INTO ticket_created_daily AS d (tenant_id, day, trigger, severity, configuration_id, shard, tickets)
    VALUES (t.tenant_id, (t.created_at AT TIME ZONE 'UTC')::date, t.trigger, t.severity, t.configuration_id, s, delta)
    ON CONFLICT (tenant_id, day, trigger, severity, configuration_id, shard)
    DO UPDATE SET tickets = d.tickets + delta;
    INSERT INTO ticket_created_hourly AS d (tenant_id, hour, trigger, severity, configuration_id, shard, tickets)
    VALUES (t.tenant_id, date_trunc('hour', t.created_at, 'UTC'), t.trigger, t.severity, t.configuration_id, s, delta)
    ON CONFLICT (tenant_id, hour, trigger, severity, configuration_id, shard)
    DO UPDATE SET tickets = d.tickets + delta;
    IF t.closed_at IS NOT NULL THEN
        secs := greatest(extract(epoch FROM t.closed_at - t.created_at)::double precision, 0);
        b := metrics_bucket(secs);
        INSERT INTO ticket_closed_daily AS d (tenant_id, day, trigger, severity, shard, tickets, seconds_sum, histogram)
        VALUES (t.tenant_id, (t.closed_at AT TIME ZONE 'UTC')::date, t.trigger, t.severity, s, delta, secs * delta,
                array_fill(NULL::integer, ARRAY[b]) || delta)
        ON CONFLICT (tenant_id, day, trigger, severity, shard)
        DO UPDATE SET tickets = d.tickets + delta,
                      seconds_sum = d.seconds_sum + secs * delta,
                      histogram[b + 1] = coalesce(d.histogram[b + 1], 0) + delta;
        INSERT INTO ticket_closed_hourly AS d (tenant_id, hour, trigger, severity, shard, tickets, seconds_sum, histogram)
        VALUES (t.tenant_id, date_trunc('hour', t.closed_at, 'UTC'), t.trigger, t.severity, s, delta, secs * delta,
                array_fill(NULL::integer, ARRAY[b]) || delta)
        ON CONFLICT (tenant_id, hour, trigger, severity, shard)
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
    -- Metrics watchers on every replica refresh, told by this transaction or by its caller after
    -- the commit (NOTIFY serializes commits database-wide; hot paths announce after theirs).
    IF coalesce(current_setting('northstar.notify_after_commit', true), '') <> 'on' THEN
        PERFORM pg_notify('northstar_metrics', coalesce(NEW.tenant_id, OLD.tenant_id)::text);
    END IF;
    RETURN NULL;
END $$;

