DROP TABLE flow_nodes;
DROP TABLE flows;
