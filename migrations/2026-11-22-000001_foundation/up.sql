-- Apps that may call the API. The secret is stored as sha256(salt || secret):
-- secrets are 256-bit random tokens, so a fast hash is the right tool (as for API tokens).
CREATE TABLE apps (
    bk_app_code  TEXT PRIMARY KEY,
    secret_salt  TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    is_active    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The job queue. Succeeded jobs are deleted; jobs out of attempts stay as 'failed'.
CREATE TABLE background_jobs (
    id                BIGSERIAL PRIMARY KEY,
    job_type          TEXT NOT NULL,
    data              JSONB NOT NULL DEFAULT '{}'::jsonb,
    priority          SMALLINT NOT NULL DEFAULT 0,
    status            TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 5,
    run_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_by         TEXT,
    lease_expires_at  TIMESTAMPTZ,
    last_error        TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX background_jobs_ready ON background_jobs (priority DESC, id) WHERE status = 'queued';
CREATE INDEX background_jobs_leases ON background_jobs (lease_expires_at) WHERE status = 'running';

-- One notification per inserting statement wakes idle workers (they also poll as a fallback).
CREATE FUNCTION background_jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('background_jobs', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER background_jobs_inserted AFTER INSERT ON background_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION background_jobs_notify();

-- Live workers, for health reporting; a worker refreshes last_seen_at with its heartbeat.
CREATE TABLE workers (
    worker_id     TEXT PRIMARY KEY,
    hostname      TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopped_at    TIMESTAMPTZ
);

-- The four tables of the data pipeline API (seed 002).
CREATE TABLE data_pipeline_tasks (
    task_id               TEXT PRIMARY KEY,
    status                TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'in_progress', 'partial_completed', 'completed', 'failed')),
    task_type             TEXT NOT NULL DEFAULT 'data_workflow',
    parameters            JSONB NOT NULL,
    step_status           JSONB NOT NULL,
    business_context      TEXT NOT NULL,
    db_name               TEXT,
    table_list_file       TEXT NOT NULL,
    output_directory      TEXT NOT NULL,
    current_execution_id  TEXT,
    error_message         TEXT,
    bk_app_code           TEXT NOT NULL,
    created_by            TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at            TIMESTAMPTZ,
    completed_at          TIMESTAMPTZ,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    files_cleaned_at      TIMESTAMPTZ
);
CREATE INDEX data_pipeline_tasks_owner ON data_pipeline_tasks (bk_app_code, created_at DESC);

CREATE TABLE data_pipeline_task_executions (
    execution_id      TEXT PRIMARY KEY,
    task_id           TEXT NOT NULL REFERENCES data_pipeline_tasks (task_id) ON DELETE CASCADE,
    execution_mode    TEXT NOT NULL CHECK (execution_mode IN ('complete', 'step')),
    execution_step    TEXT NOT NULL,
    steps             JSONB NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    force_execution   BOOLEAN NOT NULL DEFAULT FALSE,
    clean_existing_files BOOLEAN NOT NULL DEFAULT FALSE,
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    worker_id         TEXT,
    child_pid         INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    error_message     TEXT,
    result            JSONB,
    requested_by      TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ,
    completed_at      TIMESTAMPTZ
);
CREATE INDEX data_pipeline_task_executions_task ON data_pipeline_task_executions (task_id, created_at DESC);
-- At most one live execution per task: the API answers 409 on a second one, race-free.
CREATE UNIQUE INDEX data_pipeline_task_executions_one_live
    ON data_pipeline_task_executions (task_id) WHERE status IN ('pending', 'running');

ALTER TABLE data_pipeline_tasks ADD CONSTRAINT data_pipeline_tasks_current_execution
    FOREIGN KEY (current_execution_id) REFERENCES data_pipeline_task_executions (execution_id)
    ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE data_pipeline_task_logs (
    id            BIGSERIAL PRIMARY KEY,
    task_id       TEXT NOT NULL REFERENCES data_pipeline_tasks (task_id) ON DELETE CASCADE,
    execution_id  TEXT,
    step_name     TEXT,
    level         TEXT NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR')),
    logger_name   TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL,
    timestamp     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX data_pipeline_task_logs_task ON data_pipeline_task_logs (task_id, id DESC);

CREATE TABLE data_pipeline_task_outputs (
    id            BIGSERIAL PRIMARY KEY,
    task_id       TEXT NOT NULL REFERENCES data_pipeline_tasks (task_id) ON DELETE CASCADE,
    execution_id  TEXT,
    step_name     TEXT,
    file_name     TEXT NOT NULL,
    file_type     TEXT NOT NULL,
    file_size     BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (task_id, file_name)
);

-- Host samples taken by workers, for monitor/metrics/history.
CREATE TABLE system_metrics (
    id               BIGSERIAL PRIMARY KEY,
    worker_id        TEXT NOT NULL,
    hostname         TEXT NOT NULL,
    cpu_percent      DOUBLE PRECISION NOT NULL,
    memory_percent   DOUBLE PRECISION NOT NULL,
    memory_used_bytes BIGINT NOT NULL,
    memory_total_bytes BIGINT NOT NULL,
    disk_percent     DOUBLE PRECISION NOT NULL,
    disk_used_bytes  BIGINT NOT NULL,
    disk_total_bytes BIGINT NOT NULL,
    running_executions INTEGER NOT NULL,
    sampled_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX system_metrics_sampled_at ON system_metrics (sampled_at);
