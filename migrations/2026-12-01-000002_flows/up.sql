-- Dataflows: a graph of nodes owned by a project. Node configs are kept as sent (export gives
-- them back); links are kept by platform node id.
CREATE TABLE flows (
    flow_id       BIGSERIAL PRIMARY KEY,
    flow_name     TEXT NOT NULL,
    project_id    BIGINT NOT NULL REFERENCES projects (project_id),
    status        TEXT NOT NULL DEFAULT 'no-start'
                  CHECK (status IN ('no-start', 'starting', 'running', 'stopping', 'failure')),
    is_locked     BOOLEAN NOT NULL DEFAULT FALSE,
    version       INT NOT NULL DEFAULT 1,
    description   TEXT NOT NULL DEFAULT '',
    bk_app_code   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE flow_nodes (
    node_id          BIGSERIAL PRIMARY KEY,
    flow_id          BIGINT NOT NULL REFERENCES flows (flow_id) ON DELETE CASCADE,
    node_type        TEXT NOT NULL,
    node_name        TEXT NOT NULL,
    bk_biz_id        BIGINT NOT NULL,
    -- The node's settings as sent, without id and from_nodes.
    config           JSONB NOT NULL,
    -- Platform node ids of the inputs, in order.
    inputs           BIGINT[] NOT NULL,
    -- The table the node produces (source: the one it reads; storage: the one it stores).
    result_table_id  TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'no-start',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX flow_nodes_flow ON flow_nodes (flow_id);
