DROP TABLE tickets;
DROP TABLE deliveries;
DROP TABLE events;
