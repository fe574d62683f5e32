DROP TABLE configuration_groups;
DROP TABLE configuration_applications;
DROP TABLE configurations;
DROP TABLE group_members;
DROP TABLE resource_groups;
DROP TABLE applications;
