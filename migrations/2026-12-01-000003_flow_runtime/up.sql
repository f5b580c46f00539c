-- Running flows: each start, stop or restart is a deploy (its id is the answer's task_id),
-- carried out by a worker; realtime nodes keep their progress (checkpoint) and counters.
CREATE TABLE flow_deploys (
    id              BIGSERIAL PRIMARY KEY,
    flow_id         BIGINT NOT NULL REFERENCES flows (flow_id) ON DELETE CASCADE,
    action          TEXT NOT NULL CHECK (action IN ('start', 'stop', 'restart')),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'success', 'failure')),
    consuming_mode  TEXT NOT NULL DEFAULT 'continue'
                    CHECK (consuming_mode IN ('continue', 'from_tail', 'from_head')),
    -- [{message, level, time}], oldest first.
    logs            JSONB NOT NULL DEFAULT '[]',
    progress        REAL NOT NULL DEFAULT 0,
    version         INT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    start_time      TIMESTAMPTZ,
    end_time        TIMESTAMPTZ
);
-- One deploy in progress per flow.
CREATE UNIQUE INDEX flow_deploys_live ON flow_deploys (flow_id) WHERE status IN ('pending', 'running');
CREATE INDEX flow_deploys_flow ON flow_deploys (flow_id, id);

ALTER TABLE flow_nodes
    ADD COLUMN status_message TEXT NOT NULL DEFAULT '',
    -- A realtime node's progress (bkdata-flow::run::Checkpoint), written with its counters.
    ADD COLUMN checkpoint     JSONB,
    ADD COLUMN rows_in        BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN rows_out       BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN late_rows      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bad_rows       BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN windows        BIGINT NOT NULL DEFAULT 0;
