-- Seed 003's alert path (wire reference §5). Postgres is the source of truth; Redis holds
-- bk-monitor's content cache and snapshots; Elasticsearch, when configured, gets documents.

-- Cleaned events as received. `outcome` is NULL until a builder has applied the event:
-- created, updated, recovered, closed, dropped (less severe than the alert), stale (older
-- than the alert's latest), expired (older than 24 h, or than the last alert's end), no_alert
-- (not ABNORMAL and no open alert).
CREATE TABLE alert_events (
    id           TEXT PRIMARY KEY,
    bk_app_code  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    dedupe_md5   TEXT NOT NULL,
    strategy_id  BIGINT,
    alert_name   TEXT NOT NULL,
    severity     INT NOT NULL,
    status       TEXT NOT NULL,
    bk_biz_id    TEXT NOT NULL,
    target       TEXT NOT NULL,
    time         BIGINT NOT NULL,
    doc          JSONB NOT NULL,
    alert_id     TEXT,
    outcome      TEXT,
    seq          BIGSERIAL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_pending ON alert_events (seq) WHERE outcome IS NULL;
CREATE INDEX alert_events_alert ON alert_events (alert_id);

CREATE TABLE alerts (
    id                  TEXT PRIMARY KEY,
    seq                 BIGINT NOT NULL,
    bk_app_code         TEXT NOT NULL,
    dedupe_md5          TEXT NOT NULL,
    strategy_id         BIGINT,
    alert_name          TEXT NOT NULL,
    bk_biz_id           TEXT NOT NULL,
    status              TEXT NOT NULL,
    severity            INT NOT NULL,
    event_severity      INT NOT NULL,
    begin_time          BIGINT NOT NULL,
    latest_time         BIGINT NOT NULL,
    first_anomaly_time  BIGINT NOT NULL,
    end_time            BIGINT,
    create_time         BIGINT NOT NULL,
    update_time         BIGINT NOT NULL,
    next_status         TEXT,
    next_status_time    BIGINT,
    event               JSONB NOT NULL,
    dimensions          JSONB NOT NULL,
    event_count         BIGINT NOT NULL DEFAULT 1,
    is_ack              BOOLEAN NOT NULL DEFAULT false,
    ack_operator        TEXT,
    -- The Redis content cache and snapshot are behind (Redis was down): refresh them.
    cache_dirty         BOOLEAN NOT NULL DEFAULT false,
    bk_tenant_id        TEXT NOT NULL DEFAULT 'system'
);
-- At most one open alert per dedupe_md5 (of an app), whatever the builders do at once.
CREATE UNIQUE INDEX alerts_one_open ON alerts (bk_app_code, dedupe_md5) WHERE status = 'ABNORMAL';
CREATE INDEX alerts_by_md5 ON alerts (bk_app_code, dedupe_md5, create_time DESC);
CREATE INDEX alerts_next_status ON alerts (next_status_time) WHERE next_status IS NOT NULL;
CREATE INDEX alerts_search ON alerts (bk_app_code, status, create_time DESC);
CREATE INDEX alerts_dirty ON alerts (id) WHERE cache_dirty;

CREATE TABLE alert_logs (
    id           BIGSERIAL PRIMARY KEY,
    alert_id     TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    op_type      TEXT NOT NULL,
    description  TEXT NOT NULL,
    operator     TEXT,
    event_id     TEXT,
    time         BIGINT NOT NULL
);
CREATE INDEX alert_logs_alert ON alert_logs (alert_id, id);
