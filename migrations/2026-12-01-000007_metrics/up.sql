-- Daily rollups of tickets for GetMetrics, kept by a trigger in the transaction that changes a
-- ticket: a 30-day window reads a few hundred rollup rows plus the tickets of its two partial
-- days, however many tickets the tenant has. Tickets unlinked (deleted in Jira) are left out.
CREATE TABLE ticket_created_daily (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day               date NOT NULL,
    trigger           text NOT NULL,
    severity          text NOT NULL,
    configuration_id  uuid NOT NULL,
    tickets           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, trigger, severity, configuration_id)
);

-- Closes by the day of the ticket's last close. `histogram[b + 1]` counts remediation times in
-- bucket b of metrics_bucket (NULL where none fell).
CREATE TABLE ticket_closed_daily (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day          date NOT NULL,
    trigger      text NOT NULL,
    severity     text NOT NULL,
    tickets      bigint NOT NULL DEFAULT 0,
    seconds_sum  double precision NOT NULL DEFAULT 0,
    histogram    integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, day, trigger, severity)
);

-- The same by UTC hour, for the partial days at a window's edges: only minutes are read raw.
CREATE TABLE ticket_created_hourly (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hour              timestamptz NOT NULL,
    trigger           text NOT NULL,
    severity          text NOT NULL,
    configuration_id  uuid NOT NULL,
    tickets           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour, trigger, severity, configuration_id)
);
CREATE TABLE ticket_closed_hourly (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hour         timestamptz NOT NULL,
    trigger      text NOT NULL,
    severity     text NOT NULL,
    tickets      bigint NOT NULL DEFAULT 0,
    seconds_sum  double precision NOT NULL DEFAULT 0,
    histogram    integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, hour, trigger, severity)
);

-- Log-scaled buckets, 2% wide, from a millisecond: bucket b >= 1 holds [1.02^(b-1), 1.02^b)
-- milliseconds, bucket 0 what is under a millisecond. A bucket's geometric middle is within 1%
-- of everything in it; a year is bucket 1215, and empty buckets cost nothing (NULL elements).
CREATE FUNCTION metrics_bucket(seconds double precision) RETURNS integer
    IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN seconds < 0.001 THEN 0 ELSE floor(ln(seconds * 1000) / ln(1.02))::integer + 1 END $$;

CREATE FUNCTION metrics_count_ticket(t tickets, delta integer) RETURNS void LANGUAGE plpgsql AS $$
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

CREATE FUNCTION tickets_metrics() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER tickets_metrics AFTER INSERT OR DELETE OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_metrics();

-- Recomputes the rollups of one tenant (or all, for NULL) from the tickets, set-based: for
-- tickets that existed before this migration, bulk loads made with the trigger off, or repair.
CREATE FUNCTION metrics_rebuild(only_tenant uuid) RETURNS void LANGUAGE sql AS $$
    DELETE FROM ticket_created_daily WHERE only_tenant IS NULL OR tenant_id = only_tenant;
    DELETE FROM ticket_closed_daily WHERE only_tenant IS NULL OR tenant_id = only_tenant;
    DELETE FROM ticket_created_hourly WHERE only_tenant IS NULL OR tenant_id = only_tenant;
    DELETE FROM ticket_closed_hourly WHERE only_tenant IS NULL OR tenant_id = only_tenant;
    INSERT INTO ticket_created_hourly (tenant_id, hour, trigger, severity, configuration_id, tickets)
    SELECT tenant_id, date_trunc('hour', created_at, 'UTC'), trigger, severity, configuration_id, count(*)
    FROM tickets
    WHERE unlinked_at IS NULL AND (only_tenant IS NULL OR tenant_id = only_tenant)
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO ticket_created_daily (tenant_id, day, trigger, severity, configuration_id, tickets)
    SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, trigger, severity, configuration_id, sum(tickets)
    FROM ticket_created_hourly
    WHERE only_tenant IS NULL OR tenant_id = only_tenant
    GROUP BY 1, 2, 3, 4, 5;
    WITH closes AS (
        SELECT tenant_id, date_trunc('hour', closed_at, 'UTC') AS hour, trigger, severity,
               greatest(extract(epoch FROM closed_at - created_at)::double precision, 0) AS s
        FROM tickets
        WHERE closed_at IS NOT NULL AND unlinked_at IS NULL AND (only_tenant IS NULL OR tenant_id = only_tenant)
    ), buckets AS (
        SELECT tenant_id, hour, trigger, severity, metrics_bucket(s) AS b, count(*)::integer AS n, sum(s) AS total
        FROM closes GROUP BY 1, 2, 3, 4, 5
    ), hourly AS (
        INSERT INTO ticket_closed_hourly (tenant_id, hour, trigger, severity, tickets, seconds_sum, histogram)
        SELECT k.tenant_id, k.hour, k.trigger, k.severity, k.n, k.total,
               (SELECT array_agg(bb.n ORDER BY g.g)
                FROM generate_series(0, k.maxb) AS g(g)
                LEFT JOIN buckets bb ON bb.tenant_id = k.tenant_id AND bb.hour = k.hour AND bb.trigger = k.trigger
                                     AND bb.severity = k.severity AND bb.b = g.g)
        FROM (SELECT tenant_id, hour, trigger, severity, sum(n) AS n, sum(total) AS total, max(b) AS maxb
              FROM buckets GROUP BY 1, 2, 3, 4) k
    ), daily AS (
        SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date AS day, trigger, severity, b, sum(n)::integer AS n,
               sum(total) AS total
        FROM buckets GROUP BY 1, 2, 3, 4, 5
    )
    INSERT INTO ticket_closed_daily (tenant_id, day, trigger, severity, tickets, seconds_sum, histogram)
    SELECT k.tenant_id, k.day, k.trigger, k.severity, k.n, k.total,
           (SELECT array_agg(dd.n ORDER BY g.g)
            FROM generate_series(0, k.maxb) AS g(g)
            LEFT JOIN daily dd ON dd.tenant_id = k.tenant_id AND dd.day = k.day AND dd.trigger = k.trigger
                               AND dd.severity = k.severity AND dd.b = g.g)
    FROM (SELECT tenant_id, day, trigger, severity, sum(n) AS n, sum(total) AS total, max(b) AS maxb
          FROM daily GROUP BY 1, 2, 3, 4) k;
$$;

SELECT metrics_rebuild(NULL);

-- The partial days at a window's edges, and open tickets, read from tickets directly.
CREATE INDEX tickets_tenant_closed_idx ON tickets (tenant_id, closed_at) WHERE closed_at IS NOT NULL AND unlinked_at IS NULL;
CREATE INDEX tickets_open_idx ON tickets (tenant_id, trigger, created_at) WHERE closed_at IS NULL AND unlinked_at IS NULL;
