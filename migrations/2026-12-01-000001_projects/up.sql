-- Projects own dataflows. A project reads the result tables of its biz (when it has one) and
-- the ones granted to it (`project_data`), nothing else.
CREATE TABLE projects (
    project_id    BIGSERIAL PRIMARY KEY,
    project_name  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    bk_biz_id     BIGINT,
    bk_app_code   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (bk_app_code, project_name)
);

CREATE TABLE project_data (
    project_id       BIGINT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
    result_table_id  TEXT NOT NULL REFERENCES result_tables (result_table_id) ON DELETE CASCADE,
    bk_biz_id        BIGINT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, result_table_id)
);
