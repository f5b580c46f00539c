//! `crates/bkdata-models/src/schema.rs` is written by hand: it must match the migrations.
use bkdata_models::schema::*;
use bkdata_tests::TestDb;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    column_name: String,
}

fn check<Q: diesel::query_builder::QueryFragment<Pg>>(conn: &mut PgConnection, table: &str, q: Q) {
    let sql = diesel::debug_query::<Pg, _>(&q).to_string();
    let sql = sql.split(" -- binds").next().unwrap().to_string();
    // Every column diesel selects exists (the query runs) …
    diesel::sql_query(format!("{sql} LIMIT 0"))
        .execute(conn)
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    // … and every column of the table is known to diesel.
    let cols: Vec<Col> = diesel::sql_query(
        "SELECT column_name::text AS column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .unwrap();
    assert!(!cols.is_empty(), "{table} missing from the database");
    for c in cols {
        assert!(
            sql.contains(&format!("\"{}\"", c.column_name)),
            "{table}.{} not in schema.rs",
            c.column_name
        );
    }
}

#[test]
fn schema_matches_migrations() {
    let db = TestDb::new();
    let c = &mut db.conn();
    check(c, "apps", apps::table.select(apps::all_columns));
    check(
        c,
        "background_jobs",
        background_jobs::table.select(background_jobs::all_columns),
    );
    check(c, "workers", workers::table.select(workers::all_columns));
    check(
        c,
        "data_pipeline_tasks",
        data_pipeline_tasks::table.select(data_pipeline_tasks::all_columns),
    );
    check(
        c,
        "data_pipeline_task_executions",
        data_pipeline_task_executions::table.select(data_pipeline_task_executions::all_columns),
    );
    check(
        c,
        "data_pipeline_task_logs",
        data_pipeline_task_logs::table.select(data_pipeline_task_logs::all_columns),
    );
    check(
        c,
        "data_pipeline_task_outputs",
        data_pipeline_task_outputs::table.select(data_pipeline_task_outputs::all_columns),
    );
    check(
        c,
        "system_metrics",
        system_metrics::table.select(system_metrics::all_columns),
    );
    check(
        c,
        "raw_datas",
        raw_datas::table.select(raw_datas::all_columns),
    );
    check(
        c,
        "result_tables",
        result_tables::table.select(result_tables::all_columns),
    );
    check(c, "cleans", cleans::table.select(cleans::all_columns));
    check(
        c,
        "clean_errors",
        clean_errors::table.select(clean_errors::all_columns),
    );
    check(
        c,
        "storage_clusters",
        storage_clusters::table.select(storage_clusters::all_columns),
    );
    check(
        c,
        "data_storages",
        data_storages::table.select(data_storages::all_columns),
    );
    check(c, "shippers", shippers::table.select(shippers::all_columns));
    check(
        c,
        "shipper_dead_letters",
        shipper_dead_letters::table.select(shipper_dead_letters::all_columns),
    );
    check(
        c,
        "shipper_partitions",
        shipper_partitions::table.select(shipper_partitions::all_columns),
    );
    check(c, "projects", projects::table.select(projects::all_columns));
    check(
        c,
        "project_data",
        project_data::table.select(project_data::all_columns),
    );
    check(c, "flows", flows::table.select(flows::all_columns));
    check(
        c,
        "flow_nodes",
        flow_nodes::table.select(flow_nodes::all_columns),
    );
    check(
        c,
        "flow_deploys",
        flow_deploys::table.select(flow_deploys::all_columns),
    );
    check(
        c,
        "training_data",
        training_data::table.select(training_data::all_columns),
    );
    check(
        c,
        "alert_events",
        alert_events::table.select(alert_events::all_columns),
    );
    check(c, "alerts", alerts::table.select(alerts::all_columns));
    check(
        c,
        "alert_logs",
        alert_logs::table.select(alert_logs::all_columns),
    );
    check(
        c,
        "alert_es_outbox",
        alert_es_outbox::table.select(alert_es_outbox::all_columns),
    );
    check(
        c,
        "alert_es_rejected",
        alert_es_rejected::table.select(alert_es_rejected::all_columns),
    );
    check(
        c,
        "alert_inbox",
        alert_inbox::table.select(alert_inbox::all_columns),
    );
    check(
        c,
        "data_tokens",
        data_tokens::table.select(data_tokens::all_columns),
    );
    check(
        c,
        "data_token_permissions",
        data_token_permissions::table.select(data_token_permissions::all_columns),
    );
    // No table is left out.
    let tables: Vec<Col> = diesel::sql_query(
        "SELECT table_name::text AS column_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(c)
    .unwrap();
    let mut names: Vec<&str> = tables.iter().map(|t| t.column_name.as_str()).collect();
    names.sort();
    let mut checked = vec![
        "apps",
        "background_jobs",
        "workers",
        "data_pipeline_tasks",
        "data_pipeline_task_executions",
        "data_pipeline_task_logs",
        "data_pipeline_task_outputs",
        "system_metrics",
        "raw_datas",
        "result_tables",
        "cleans",
        "clean_errors",
        "storage_clusters",
        "data_storages",
        "shippers",
        "shipper_dead_letters",
        "shipper_partitions",
        "projects",
        "project_data",
        "flows",
        "flow_nodes",
        "flow_deploys",
        "training_data",
        "alert_events",
        "alerts",
        "alert_logs",
        "alert_es_outbox",
        "alert_es_rejected",
        "alert_inbox",
        "data_tokens",
        "data_token_permissions",
    ];
    checked.sort();
    assert_eq!(names, checked, "every table is checked above");
}
