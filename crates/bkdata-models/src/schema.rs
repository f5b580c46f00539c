// Written to match migrations/; `schema_matches_migrations` in tests checks it against a migrated database.
diesel::table! {
    apps (bk_app_code) {
        bk_app_code -> Text,
        secret_salt -> Text,
        secret_hash -> Text,
        description -> Text,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    background_jobs (id) {
        id -> Int8,
        job_type -> Text,
        data -> Jsonb,
        priority -> Int2,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        locked_by -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    workers (worker_id) {
        worker_id -> Text,
        hostname -> Text,
        pid -> Int4,
        started_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        stopped_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    data_pipeline_tasks (task_id) {
        task_id -> Text,
        status -> Text,
        task_type -> Text,
        parameters -> Jsonb,
        step_status -> Jsonb,
        business_context -> Text,
        db_name -> Nullable<Text>,
        table_list_file -> Text,
        output_directory -> Text,
        current_execution_id -> Nullable<Text>,
        error_message -> Nullable<Text>,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        files_cleaned_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    data_pipeline_task_executions (execution_id) {
        execution_id -> Text,
        task_id -> Text,
        execution_mode -> Text,
        execution_step -> Text,
        steps -> Jsonb,
        status -> Text,
        force_execution -> Bool,
        clean_existing_files -> Bool,
        cancel_requested -> Bool,
        worker_id -> Nullable<Text>,
        child_pid -> Nullable<Int4>,
        attempts -> Int4,
        error_message -> Nullable<Text>,
        result -> Nullable<Jsonb>,
        requested_by -> Text,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    data_pipeline_task_logs (id) {
        id -> Int8,
        task_id -> Text,
        execution_id -> Nullable<Text>,
        step_name -> Nullable<Text>,
        level -> Text,
        logger_name -> Text,
        message -> Text,
        timestamp -> Timestamptz,
    }
}

diesel::table! {
    data_pipeline_task_outputs (id) {
        id -> Int8,
        task_id -> Text,
        execution_id -> Nullable<Text>,
        step_name -> Nullable<Text>,
        file_name -> Text,
        file_type -> Text,
        file_size -> Int8,
        sha256 -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    system_metrics (id) {
        id -> Int8,
        worker_id -> Text,
        hostname -> Text,
        cpu_percent -> Float8,
        memory_percent -> Float8,
        memory_used_bytes -> Int8,
        memory_total_bytes -> Int8,
        disk_percent -> Float8,
        disk_used_bytes -> Int8,
        disk_total_bytes -> Int8,
        running_executions -> Int4,
        sampled_at -> Timestamptz,
    }
}

diesel::joinable!(data_pipeline_task_logs -> data_pipeline_tasks (task_id));
diesel::joinable!(data_pipeline_task_outputs -> data_pipeline_tasks (task_id));

diesel::table! {
    raw_datas (id) {
        id -> Int8,
        bk_biz_id -> Int8,
        raw_data_name -> Text,
        raw_data_alias -> Text,
        data_encoding -> Text,
        data_scenario -> Text,
        sensitivity -> Text,
        description -> Text,
        maintainer -> Text,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
        records_ingested -> Int8,
        last_ingest_at -> Nullable<Timestamptz>,
        collector_status -> Text,
        access_extra -> Jsonb,
        partitions -> Int4,
        partition_key -> Nullable<Text>,
    }
}

diesel::table! {
    result_tables (result_table_id) {
        result_table_id -> Text,
        bk_biz_id -> Int8,
        result_table_name -> Text,
        result_table_name_alias -> Text,
        processing_type -> Text,
        description -> Text,
        fields -> Jsonb,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
        partitions -> Int4,
    }
}

diesel::table! {
    cleans (processing_id) {
        processing_id -> Text,
        raw_data_id -> Int8,
        bk_biz_id -> Int8,
        clean_config_name -> Text,
        description -> Text,
        json_config -> Jsonb,
        status -> Text,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
        records_in -> Int8,
        rows_out -> Int8,
        errors_total -> Int8,
        started_at -> Nullable<Timestamptz>,
        status_message -> Text,
        counted_to -> Jsonb,
    }
}

diesel::table! {
    clean_errors (id) {
        id -> Int8,
        processing_id -> Text,
        raw_seq -> Int8,
        node_label -> Text,
        error_name -> Text,
        error_message -> Text,
        raw_record -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    storage_clusters (cluster_name) {
        cluster_name -> Text,
        cluster_type -> Text,
        connection -> Jsonb,
        description -> Text,
        is_default -> Bool,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    data_storages (result_table_id, storage_type) {
        result_table_id -> Text,
        storage_type -> Text,
        cluster_name -> Text,
        physical_table_name -> Text,
        expires -> Text,
        expire_days -> Nullable<Int4>,
        storage_config -> Jsonb,
        fields -> Jsonb,
        raw_data_id -> Nullable<Int8>,
        bk_biz_id -> Int8,
        data_type -> Text,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    shippers (result_table_id, storage_type) {
        result_table_id -> Text,
        storage_type -> Text,
        status -> Text,
        status_message -> Text,
        rows_written -> Int8,
        batches -> Int8,
        dead_letters -> Int8,
        last_seq -> Int8,
        last_write_at -> Nullable<Timestamptz>,
        started_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        stopped_with_clean -> Bool,
    }
}

diesel::table! {
    shipper_partitions (result_table_id, storage_type, partition) {
        result_table_id -> Text,
        storage_type -> Text,
        partition -> Int4,
        last_seq -> Int8,
    }
}

diesel::table! {
    shipper_dead_letters (id) {
        id -> Int8,
        result_table_id -> Text,
        storage_type -> Text,
        seq -> Int8,
        item_index -> Int4,
        error -> Text,
        document -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    projects (project_id) {
        project_id -> Int8,
        project_name -> Text,
        description -> Text,
        bk_biz_id -> Nullable<Int8>,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    project_data (project_id, result_table_id) {
        project_id -> Int8,
        result_table_id -> Text,
        bk_biz_id -> Int8,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    flows (flow_id) {
        flow_id -> Int8,
        flow_name -> Text,
        project_id -> Int8,
        status -> Text,
        is_locked -> Bool,
        version -> Int4,
        description -> Text,
        bk_app_code -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
        resource_settings -> Jsonb,
    }
}

diesel::table! {
    flow_nodes (node_id) {
        node_id -> Int8,
        flow_id -> Int8,
        node_type -> Text,
        node_name -> Text,
        bk_biz_id -> Int8,
        config -> Jsonb,
        inputs -> Array<Int8>,
        result_table_id -> Text,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        status_message -> Text,
        checkpoint -> Nullable<Jsonb>,
        rows_in -> Int8,
        rows_out -> Int8,
        late_rows -> Int8,
        bad_rows -> Int8,
        windows -> Int8,
    }
}

diesel::table! {
    flow_deploys (id) {
        id -> Int8,
        flow_id -> Int8,
        action -> Text,
        status -> Text,
        consuming_mode -> Text,
        logs -> Jsonb,
        progress -> Float4,
        version -> Int4,
        created_by -> Text,
        created_at -> Timestamptz,
        start_time -> Nullable<Timestamptz>,
        end_time -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    training_data (id) {
        id -> Int8,
        bk_app_code -> Text,
        db_name -> Text,
        data_type -> Text,
        question -> Nullable<Text>,
        content -> Text,
        tokens -> Array<Text>,
        content_hash -> Text,
        source_file -> Text,
        task_id -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    alert_events (time, id) {
        id -> Text,
        bk_app_code -> Text,
        event_id -> Text,
        dedupe_md5 -> Text,
        strategy_id -> Nullable<Int8>,
        alert_name -> Text,
        severity -> Int4,
        status -> Text,
        bk_biz_id -> Text,
        target -> Text,
        time -> Int8,
        doc -> Text,
        alert_id -> Nullable<Text>,
        outcome -> Nullable<Text>,
        seq -> Int8,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        seq -> Int8,
        bk_app_code -> Text,
        dedupe_md5 -> Text,
        strategy_id -> Nullable<Int8>,
        alert_name -> Text,
        bk_biz_id -> Text,
        status -> Text,
        severity -> Int4,
        event_severity -> Int4,
        begin_time -> Int8,
        latest_time -> Int8,
        first_anomaly_time -> Int8,
        end_time -> Nullable<Int8>,
        create_time -> Int8,
        update_time -> Int8,
        next_status -> Nullable<Text>,
        next_status_time -> Nullable<Int8>,
        event -> Json,
        dimensions -> Json,
        event_count -> Int8,
        is_ack -> Bool,
        ack_operator -> Nullable<Text>,
        cache_dirty -> Bool,
        bk_tenant_id -> Text,
    }
}

diesel::table! {
    alert_logs (id) {
        id -> Int8,
        alert_id -> Text,
        op_type -> Text,
        description -> Text,
        operator -> Nullable<Text>,
        event_id -> Nullable<Text>,
        time -> Int8,
    }
}

diesel::table! {
    alert_es_outbox (kind, doc_id) {
        kind -> Text,
        doc_id -> Text,
        queued_at -> Timestamptz,
        time -> Nullable<Int8>,
    }
}

diesel::table! {
    alert_es_rejected (id) {
        id -> Int8,
        kind -> Text,
        doc_id -> Text,
        index_name -> Text,
        error -> Text,
        document -> Jsonb,
        rejected_at -> Timestamptz,
    }
}

diesel::table! {
    alert_inbox (seq) {
        seq -> Int8,
        bk_app_code -> Text,
        doc -> Json,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    data_tokens (id) {
        id -> Int8,
        token_hash -> Text,
        token_masked -> Text,
        data_token_bk_app_code -> Text,
        bk_app_code -> Text,
        status -> Text,
        description -> Text,
        expired_at -> Timestamptz,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    data_token_permissions (id) {
        id -> Int8,
        token_id -> Int8,
        action_id -> Text,
        object_class -> Text,
        scope_id_key -> Text,
        scope_object_class -> Text,
        scope_id -> Text,
        scope -> Jsonb,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(cleans -> result_tables (processing_id));
diesel::joinable!(data_token_permissions -> data_tokens (token_id));
diesel::joinable!(alert_logs -> alerts (alert_id));
diesel::joinable!(flows -> projects (project_id));
diesel::joinable!(flow_nodes -> flows (flow_id));
diesel::joinable!(flow_deploys -> flows (flow_id));
diesel::joinable!(project_data -> projects (project_id));
diesel::joinable!(project_data -> result_tables (result_table_id));
diesel::joinable!(cleans -> raw_datas (raw_data_id));
diesel::joinable!(data_storages -> result_tables (result_table_id));
diesel::joinable!(data_storages -> storage_clusters (cluster_name));

diesel::allow_tables_to_appear_in_same_query!(
    apps,
    background_jobs,
    workers,
    data_pipeline_tasks,
    data_pipeline_task_executions,
    data_pipeline_task_logs,
    data_pipeline_task_outputs,
    system_metrics,
    raw_datas,
    result_tables,
    shipper_partitions,
    cleans,
    clean_errors,
    storage_clusters,
    data_storages,
    shippers,
    shipper_dead_letters,
    projects,
    project_data,
    flows,
    flow_nodes,
    flow_deploys,
    training_data,
    alert_events,
    alerts,
    alert_logs,
    alert_es_outbox,
    alert_es_rejected,
    alert_inbox,
    data_tokens,
    data_token_permissions,
);
