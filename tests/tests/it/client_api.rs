//! The client driving this platform's server, every method, on the real services: the
//! databus chain of seed 000, a flow as in seed 004, the query API and the data pipeline API.
use bkdata_api::client::{BkDataClient, Error};
use bkdata_api::databus::{
    CleanRequest, ClusterRequest, DataStorageRequest, ProjectRequest, RawDataRequest, TaskRequest,
    VerifyRequest,
};
use bkdata_api::dataflow::{CreateFlowRequest, DeployRequest, QueryRequest};
use bkdata_api::pipeline::{ArchiveRequest, CreateTaskRequest, ExecuteRequest};
use bkdata_tests::seed004::{system_proc_clean, tutorial_nodes, T0};
use bkdata_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn every_method_drives_the_server() {
    let srv = nats_server().await;
    let worker = srv.worker(&[("BKDATA_FLOW_IDLE_MS", "600000")]);
    let c = srv.bkdata_client();

    // Databus: raw data, a clean, verify and debug, storage, tasks, ingest, tails.
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "system_proc"))
        .await
        .unwrap();
    let raw_id = raw.raw_data_id;
    assert_eq!(raw.topic, format!("raw.{raw_id}"));
    let (conf, fields) = system_proc_clean();
    let clean_body = CleanRequest {
        bk_biz_id: Some(591),
        result_table_name_alias: Some("进程".into()),
        ..CleanRequest::new(
            raw_id,
            "system_proc",
            &conf,
            serde_json::from_value(json!(fields)).unwrap(),
        )
    };
    let clean = c.databus_cleans_post(&clean_body).await.unwrap();
    let rt = clean.result_table_id.clone();
    assert_eq!(
        (rt.as_str(), clean.processing_id.as_str()),
        ("591_system_proc", "591_system_proc")
    );
    let record = |t: i64, mem: i64| {
        json!({"time": t, "ip": "10.0.0.1", "pid": 100, "cpu_usage_pct": 1.5, "mem_usage_pct": 2.5, "mem_res": mem}).to_string()
    };
    let v = c
        .clean_verify(&VerifyRequest::new(&conf, &record(T0, 7)))
        .await
        .unwrap();
    assert!(v["result"].is_array(), "{v}");
    let d = c
        .databus_clean_debug(json!({"input": "a|b", "rules": [{"input_id": "__raw_data", "output_id": "bk_separator_object", "operator": {"type": "split_str", "delimiter": "|"}}], "filter_rules": []}))
        .await
        .unwrap();
    assert_eq!(d["rules_output"][0]["value"], json!(["a", "b"]));
    let changed = CleanRequest {
        description: Some("changed by the client".into()),
        ..clean_body.clone()
    };
    c.databus_cleans_put(&rt, &changed).await.unwrap();
    assert_eq!(
        c.get_clean(&rt).await.unwrap().description,
        "changed by the client"
    );
    assert_eq!(
        c.get_cleans(json!({"raw_data_id": raw_id}))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(c.get_clean(&rt).await.unwrap().processing_id, rt);
    let ds = c
        .databus_data_storages_post(&DataStorageRequest {
            expires: Some("7d".into()),
            ..DataStorageRequest::new(&rt, "postgresql")
        })
        .await
        .unwrap();
    assert_eq!(ds.physical_table_name, "mapleleaf_591.system_proc_591");
    let put = DataStorageRequest {
        storage_type: Some("postgresql".into()),
        expires: Some("3d".into()),
        ..DataStorageRequest::default()
    };
    c.databus_data_storages_put(&rt, &put).await.unwrap();
    let list = c
        .get_config_db_list(json!({"raw_data_id": raw_id}))
        .await
        .unwrap();
    assert_eq!(list[0].expires, "3d", "{list:?}");
    assert!(!list[0].status_display.is_empty());
    c.post_tasks(&TaskRequest::new(
        &rt,
        Some(vec!["kafka".into(), "postgresql".into()]),
    ))
    .await
    .unwrap();
    assert_eq!(
        c.get_tasks(&rt).await.unwrap().storages["postgresql"].status,
        "running"
    );
    let lines: String = (0..10).map(|i| record(T0 + i * 60_000, i) + "\n").collect();
    let ingested = c.ingest(raw_id, lines.into_bytes()).await.unwrap();
    assert_eq!(ingested["records"], 10);
    assert_eq!(
        c.get_raw_data_tail(raw_id)
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        10
    );
    eventually(WAIT, "the clean's rows", || async {
        let t = c.get_result_table_tail(&rt).await.unwrap();
        (t.as_array().map_or(0, Vec::len) == 10).then_some(())
    })
    .await;
    assert_eq!(
        c.get_result_table(&rt)
            .await
            .unwrap()
            .fields
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Dataflow: the tutorial's flow (storage on PostgreSQL), every call.
    c.create_storage_cluster(&ClusterRequest {
        cluster_name: Some("yyy-lasting".into()),
        cluster_type: Some("tspider".into()),
        connection_info: Some(json!({"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "bkdata_client_unused"})),
        ..ClusterRequest::default()
    })
        .await
        .unwrap();
    let project = c
        .create_project(&ProjectRequest {
            project_name: Some("tutorial".into()),
            bk_biz_id: Some(591),
            description: None,
        })
        .await
        .unwrap()
        .project_id;
    let mut nodes = tutorial_nodes();
    nodes[1]["count_freq"] = json!(60);
    nodes[1]["waiting_time"] = json!(0);
    nodes[2] = json!({"id": 3, "bk_biz_id": 591, "node_type": "postgresql_storage", "name": "pg", "cluster": "default-postgresql",
        "expires": 3, "from_nodes": [{"id": 2, "from_result_table_ids": ["591_system_proc_ip_grp"]}]});
    let f = c
        .create_flow(&CreateFlowRequest {
            project_id: project,
            flow_name: "data-test".into(),
            description: String::new(),
            nodes: nodes.as_array().unwrap().clone(),
        })
        .await
        .unwrap();
    let flow = f.flow_id;
    let rt_node = f.node_ids[1];
    assert_eq!(c.get_latest_deploy_data(flow).await.unwrap(), None);
    let mode = |m: &str| DeployRequest {
        consuming_mode: Some(m.into()),
        cluster_group: None,
    };
    let task = c
        .start_flow(flow, &mode("from_head"))
        .await
        .unwrap()
        .task_id;
    let deployed = eventually(WAIT, "the start", || async {
        let d = c.get_latest_deploy_data(flow).await.unwrap()?;
        (d.status == "success").then_some(d)
    })
    .await;
    assert_eq!(deployed.id, task);
    assert_eq!(deployed.context["consuming_mode"], "from_head");
    assert_eq!(c.get_dataflow(flow).await.unwrap().status, "running");
    let sql = "SELECT mem, ip, pid, dtEventTimeStamp FROM 591_system_proc_ip_grp ORDER BY dtEventTimeStamp";
    let rows = eventually(WAIT, "windows in PostgreSQL", || async {
        let q = c
            .query(&QueryRequest {
                sql: sql.into(),
                prefer_storage: None,
            })
            .await
            .unwrap();
        (q.total_records == 9).then_some(q)
    })
    .await;
    assert_eq!(rows.list[3]["mem"], 3, "{rows:?}");
    assert_eq!(
        rows.select_fields_order,
        ["mem", "ip", "pid", "dtEventTimeStamp"]
    );
    assert_eq!(rows.device, "postgresql");
    let g = c.get_flow_graph(flow).await.unwrap();
    assert_eq!(
        g.nodes[1].runtime.as_ref().map(|r| r.windows),
        Some(9),
        "{g:?}"
    );
    assert_eq!(g.links.len(), 2);
    let patched = c
        .patch_flow_nodes(flow, rt_node, json!({"sql": "SELECT max(mem_res) AS mem, ip, pid FROM 591_system_proc GROUP BY ip, pid"}))
        .await
        .unwrap();
    assert_eq!(patched.node_id, rt_node);
    assert!(c.get_flow_graph(flow).await.unwrap().nodes[1].has_modify);
    let added = c
        .add_flow_nodes(flow, json!({"flow_id": flow, "node_type": "queue_storage",
            "config": {"bk_biz_id": 591, "name": "queue", "cluster": "q", "from_result_table_ids": ["591_system_proc_ip_grp"]},
            "from_links": [{"source": {"node_id": rt_node, "id": "ch_1", "arrow": "Right"}, "target": {"id": "ch_2", "arrow": "Left"}}]}))
        .await;
    assert!(
        matches!(&added, Err(Error::Api { code, errors: Some(_), .. }) if code == "1500400"),
        "no cluster q: {added:?}"
    );
    c.restart_flow(flow, &mode("continue")).await.unwrap();
    eventually(WAIT, "the restart", || async {
        let d = c.get_latest_deploy_data(flow).await.unwrap()?;
        (d.action == "restart" && d.status == "success").then_some(())
    })
    .await;
    let exported = c.export_flow(flow).await.unwrap();
    assert_eq!((exported.nodes.len(), exported.project_id), (3, project));
    assert_eq!(c.list_flows(Some(project)).await.unwrap().len(), 1);
    c.stop_flow(flow).await.unwrap();
    eventually(WAIT, "the stop", || async {
        (c.get_dataflow(flow).await.unwrap().status == "no-start").then_some(())
    })
    .await;
    let deploys = c.get_deploy_data(flow).await.unwrap();
    let actions: Vec<&str> = deploys.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["stop", "restart", "start"]);
    c.delete_flow(flow).await.unwrap();
    c.delete_tasks(&rt, None).await.unwrap();
    assert_eq!(
        c.get_tasks(&rt).await.unwrap().storages["postgresql"].status,
        "stopped"
    );

    // The data pipeline API, typed.
    let created = c
        .create_task(&CreateTaskRequest {
            table_list_file: "tables.txt".into(),
            business_context: "高速公路服务区".into(),
            db_name: None,
            enable_sql_validation: true,
            enable_llm_repair: false,
            modify_original_file: false,
            enable_training_data_load: true,
        })
        .await
        .unwrap();
    let id = created.task_id.clone();
    assert_eq!(c.list_tasks(json!({})).await.unwrap().tasks.len(), 1);
    c.execute_task(
        &id,
        &ExecuteRequest {
            execution_mode: Some("complete".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    eventually(WAIT, "the task to complete", || async {
        (c.get_task(&id).await.unwrap().status == "completed").then_some(())
    })
    .await;
    assert_eq!(c.get_executions(&id).await.unwrap().executions.len(), 1);
    assert!(c.get_task_logs(&id, json!({})).await.unwrap().total > 0);
    let files = c.list_task_files(&id).await.unwrap();
    assert!(files
        .files
        .iter()
        .any(|f| f.file_name == "task_config.json"));
    let config = c.download_task_file(&id, "task_config.json").await.unwrap();
    assert!(serde_json::from_slice::<Value>(&config).is_ok());
    assert!(c.task_files_integrity(&id).await.unwrap().files.len() >= files.files.len());
    let archive = c
        .archive_task_files(&id, &ArchiveRequest::default())
        .await
        .unwrap();
    assert!(archive.archive_name.ends_with(".zip") || archive.archive_name.ends_with(".tar.gz"));
    // Cancelling a finished task is refused, in the pipeline envelope.
    assert!(matches!(
        c.cancel_task(&id).await,
        Err(Error::Api {
            status: 409 | 400,
            ..
        })
    ));
    match c.get_task("task_19990101_000000").await {
        Err(Error::Api { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Wrong credentials: an auth error.
    let wrong = BkDataClient::builder()
        .base_url(&srv.base)
        .app(&srv.app_code, "nope")
        .build()
        .unwrap();
    assert!(matches!(
        wrong.get_dataflow(flow).await,
        Err(Error::Auth { .. })
    ));
    assert!(matches!(wrong.get_task(&id).await, Err(Error::Auth { .. })));
    drop(worker);
    srv.cleanup_bus().await;
}
