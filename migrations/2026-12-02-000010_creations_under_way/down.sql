DROP INDEX deliveries_creating_idx;
