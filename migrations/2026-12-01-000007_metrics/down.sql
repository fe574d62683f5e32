DROP INDEX tickets_open_idx;
DROP INDEX tickets_tenant_closed_idx;
DROP TRIGGER tickets_metrics ON tickets;
DROP FUNCTION tickets_metrics();
DROP FUNCTION metrics_rebuild(uuid);
DROP FUNCTION metrics_count_ticket(tickets, integer);
DROP FUNCTION metrics_bucket(double precision);
DROP TABLE ticket_closed_daily;
DROP TABLE ticket_created_daily;
