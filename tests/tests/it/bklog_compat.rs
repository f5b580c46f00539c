//! bklog's and bk-monitor's BKData calls through the client, with their parameter shapes,
//! checking the fields their call sites read: the registration sequence of
//! `create_bkdata_data_id`, meta result tables, auth (tokens, scopes, project data), the
//! query engine with SQL and Elasticsearch (a stand-in speaking the documented `_search` and
//! `_mapping` protocol: no Elasticsearch server can run on this machine), and errors in the
//! envelope with HTTP 200.
use bkdata_api::auth::{DataScope, ScopePermission, TokenRequest};
use bkdata_api::client::{AuthMethod, BkDataClient, Error};
use bkdata_api::databus::{CleanRequest, DataStorageRequest, RawDataRequest, TaskRequest};
use bkdata_api::dataflow::QueryRequest;
use bkdata_tests::seed004::system_proc_clean;
use bkdata_tests::*;
use serde_json::{json, Value};

fn api_code(r: Result<impl std::fmt::Debug, Error>) -> (String, u16) {
    match r {
        Err(Error::Api { code, status, .. }) => (code, status),
        Err(Error::Auth { message }) => (format!("auth: {message}"), 0),
        other => panic!("expected a refusal in the envelope, got {other:?}"),
    }
}

/// bklog's `deploy_plan_post` body (apps/log_databus/tasks/bkdata.py).
fn bklog_deploy_plan(biz: i64, name: &str, preassigned: i64) -> RawDataRequest {
    serde_json::from_value(json!({
        "bk_username": "admin",
        "data_scenario": "custom",
        "data_scenario_id": 47,
        "permission": "permission",
        "bk_biz_id": biz,
        "description": "nginx access log",
        "access_raw_data": {
            "tags": [],
            "raw_data_name": format!("bklog_{name}"),
            "maintainer": "admin,alice",
            "raw_data_alias": "nginx 访问日志",
            "data_source_tags": ["server"],
            "data_region": "inland",
            "data_source": "data_source",
            "data_encoding": "utf-8",
            "sensitivity": "private",
            "description": "nginx access log",
            "preassigned_data_id": preassigned,
        },
    }))
    .unwrap()
}

/// A clean of raw data `raw_id` named `name` in biz 591, with a PostgreSQL storage.
async fn clean_with_storage(c: &BkDataClient, raw_id: i64, name: &str) -> String {
    let (conf, fields) = system_proc_clean();
    let clean = c
        .databus_cleans_post(&CleanRequest {
            bk_biz_id: Some(591),
            ..CleanRequest::new(
                raw_id,
                name,
                &conf,
                serde_json::from_value(json!(fields)).unwrap(),
            )
        })
        .await
        .unwrap();
    c.databus_data_storages_post(&DataStorageRequest::new(
        &clean.result_table_id,
        "postgresql",
    ))
    .await
    .unwrap();
    clean.result_table_id
}

#[tokio::test(flavor = "multi_thread")]
async fn bklog_registers_a_data_id_as_its_task_does() {
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    let data_id = 1_573_001;
    // get_deploy_summary: not registered → 1500004 in the envelope, with HTTP 200.
    assert_eq!(
        api_code(c.get_deploy_summary(data_id, Some(591)).await),
        ("1500004".into(), 200)
    );
    // deploy_plan_post with the preassigned id bklog keeps.
    let raw = c
        .deploy_plan_post(&bklog_deploy_plan(591, "nginx", data_id))
        .await
        .unwrap();
    assert_eq!(raw.raw_data_id, data_id);
    // Now the summary answers, with what bklog's inspection reads.
    let plan = c.get_deploy_summary(data_id, Some(591)).await.unwrap();
    assert_eq!(
        (plan.raw_data_id, plan.data_id, plan.bk_biz_id),
        (data_id, data_id, 591)
    );
    assert_eq!((plan.status.as_str(), plan.active), ("started", true));
    assert_eq!(plan.topic, format!("raw.{data_id}"));
    let a = &plan.access_raw_data;
    assert_eq!(a.raw_data_name, "bklog_nginx");
    assert_eq!(a.maintainer, "admin,alice");
    assert_eq!(a.data_encoding, "UTF-8");
    assert_eq!(a.extra["data_source_tags"], json!(["server"]));
    assert_eq!(a.extra["data_scenario_id"], json!(47));
    assert!(!a.extra.contains_key("bk_username"), "{a:?}");
    // A taken id is refused; a raw data without one gets a free id.
    let (code, status) = api_code(
        c.deploy_plan_post(&bklog_deploy_plan(591, "other", data_id))
            .await,
    );
    assert_eq!((code.as_str(), status), ("1500005", 200));
    let auto = c
        .create_raw_data(&RawDataRequest::new(591, "auto_id"))
        .await
        .unwrap();
    assert_ne!(auto.raw_data_id, data_id);
    let listed = c.list_raw_data(json!({"bk_biz_id": 591})).await.unwrap();
    let names: Vec<(i64, &str)> = listed
        .iter()
        .map(|r| (r.raw_data_id, r.raw_data_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [(auto.raw_data_id, "auto_id"), (data_id, "bklog_nginx")]
    );
    // bklog passes a collector's own encoding; the GBK family is accepted (cleans decode it).
    let mut gbk = bklog_deploy_plan(591, "gbk_log", data_id + 1);
    if let Some(inner) = gbk.access_raw_data.as_mut() {
        inner.data_encoding = Some("gbk".into());
    }
    assert_eq!(c.deploy_plan_post(&gbk).await.unwrap().data_encoding, "GBK");
    // deploy_plan_put (bklog's update): the description changes, the name may not.
    let mut put = bklog_deploy_plan(591, "nginx", data_id);
    put.description = Some("changed".into());
    if let Some(inner) = put.access_raw_data.as_mut() {
        inner.description = Some("changed".into());
    }
    let v = c.deploy_plan_put(data_id, &put).await.unwrap();
    assert_eq!(v["raw_data_id"], data_id);
    let plan = c.get_deploy_summary(data_id, None).await.unwrap();
    assert_eq!(plan.access_raw_data.description, "changed");
    let renamed = bklog_deploy_plan(591, "renamed", data_id);
    assert_eq!(
        api_code(c.deploy_plan_put(data_id, &renamed).await).0,
        "1500400"
    );
    // bklog's order on that id: cleans, tasks ["kafka"], data_storages, get_config_db_list.
    let (conf, fields) = system_proc_clean();
    let rt = c
        .databus_cleans_post(&CleanRequest {
            bk_biz_id: Some(591),
            ..CleanRequest::new(
                data_id,
                "nginx_clean",
                &conf,
                serde_json::from_value(json!(fields)).unwrap(),
            )
        })
        .await
        .unwrap()
        .result_table_id;
    c.post_tasks(&TaskRequest::new(&rt, Some(vec!["kafka".into()])))
        .await
        .unwrap();
    c.databus_data_storages_post(&DataStorageRequest::new(&rt, "postgresql"))
        .await
        .unwrap();
    // The binding made while the clean is live ships at once.
    assert_eq!(
        c.get_tasks(&rt).await.unwrap().storages["postgresql"].status,
        "running"
    );
    let list = c
        .get_config_db_list(json!({"raw_data_id": data_id}))
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (
            list[0].result_table_id.as_str(),
            list[0].storage_type.as_str()
        ),
        (rt.as_str(), "postgresql")
    );
    assert_eq!(list[0].raw_data_id, Some(data_id));
    // stop_collectorhub: ingest refused until started again; nothing accepted is lost.
    assert_eq!(
        c.ingest(data_id, b"{\"a\":1}\n".to_vec()).await.unwrap()["records"],
        1
    );
    c.stop_collectorhub(data_id).await.unwrap();
    assert_eq!(
        c.get_deploy_summary(data_id, None).await.unwrap().status,
        "stopped"
    );
    assert_eq!(
        api_code(c.ingest(data_id, b"{\"a\":2}\n".to_vec()).await).0,
        "1500400"
    );
    c.start_collectorhub(data_id).await.unwrap();
    assert_eq!(
        c.ingest(data_id, b"{\"a\":3}\n".to_vec()).await.unwrap()["records"],
        1
    );
    let tail = c.get_raw_data_tail(data_id).await.unwrap();
    assert_eq!(tail.as_array().map(Vec::len), Some(2), "{tail}");
    // Another app sees none of it.
    let other = srv.other_app("other-app");
    let (s, v) = srv
        .bk_as(
            &other,
            reqwest::Method::GET,
            &format!("/v3/access/deploy_plan/{data_id}/"),
            None,
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (200, Some("1500004")), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_result_tables_answer_what_bklog_reads() {
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "meta_src"))
        .await
        .unwrap();
    let rt = clean_with_storage(&c, raw.raw_data_id, "meta_rt").await;
    let list = c
        .result_tables_list(json!({"bk_biz_id": 591, "related": ["fields", "storages"]}))
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let t = &list[0];
    assert_eq!(t["result_table_id"], rt);
    assert_eq!(t["processing_type"], "clean");
    assert!(t["fields"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["field_name"] == "ip")));
    let pg = &t["storages"]["postgresql"];
    assert_eq!(pg["storage_cluster"]["cluster_type"], "postgresql", "{t}");
    let info: Value =
        serde_json::from_str(pg["storage_cluster"]["connection_info"].as_str().unwrap()).unwrap();
    assert!(
        info["host"].is_string() && info["port"].is_number(),
        "{info}"
    );
    assert!(info.get("password").is_none(), "{info}");
    assert!(pg["storage_config"].is_string(), "{pg}");
    // Filters: another biz, result_table_ids, related_filter on the cluster type, pages.
    assert!(c
        .result_tables_list(json!({"bk_biz_id": 2}))
        .await
        .unwrap()
        .is_empty());
    let by_id = c
        .result_tables_list(json!({"result_table_ids": [rt.clone()]}))
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert!(by_id[0].get("storages").is_none());
    let es_only =
        json!({"type": "storages", "attr_name": "common_cluster.cluster_type", "attr_value": "es"})
            .to_string();
    assert!(c
        .result_tables_list(json!({"bk_biz_id": 591, "related_filter": es_only}))
        .await
        .unwrap()
        .is_empty());
    let pg_only = json!({"type": "storages", "attr_name": "common_cluster.cluster_type", "attr_value": "postgresql"}).to_string();
    assert_eq!(
        c.result_tables_list(json!({"related_filter": pg_only}))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(c
        .result_tables_list(json!({"page": 2, "page_size": 1}))
        .await
        .unwrap()
        .is_empty());
    // Retrieve with related, fields, storages, mine.
    let one = c
        .result_tables_retrieve(&rt, &["fields", "storages"])
        .await
        .unwrap();
    assert_eq!(one["processing_type"], "clean");
    assert!(one["storages"]["postgresql"]["physical_table_name"].is_string());
    let fields = c.result_tables_fields(&rt).await.unwrap();
    assert!(fields
        .iter()
        .any(|f| f["field_name"] == "mem_res" && f["field_type"] == "long"));
    let storages = c.result_tables_storages(&rt).await.unwrap();
    assert_eq!(storages["postgresql"]["expires"], "7d", "{storages}");
    assert_eq!(c.result_tables_mine(json!({})).await.unwrap().len(), 1);
    // Another app reads nothing of it; a missing table is 1500004 with HTTP 200.
    let other = srv.other_app("other-app");
    let (_, v) = srv
        .bk_as(
            &other,
            reqwest::Method::GET,
            "/v3/meta/result_tables/",
            None,
        )
        .await;
    assert_eq!(v["data"], json!([]), "{v}");
    let (s, v) = srv
        .bk_as(
            &other,
            reqwest::Method::GET,
            &format!("/v3/meta/result_tables/{rt}/storages/"),
            None,
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (200, Some("1500004")), "{v}");
}

/// Rows straight into the storage's table (no worker needed for the query API).
async fn put_rows(srv: &TestServer, table: &str, n: i64) {
    let (client, conn) = tokio_postgres::connect(&srv.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for i in 0..n {
        client
            .execute(
                &format!(
                    "INSERT INTO {table} (ip, mem_res, \"dtEventTimeStamp\") VALUES ($1, $2, $3)"
                ),
                &[&format!("10.0.0.{i}"), &i, &(1_700_000_000_000i64 + i)],
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_queries_the_tables_it_grants_and_nothing_else() {
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "tok_src"))
        .await
        .unwrap();
    let a = clean_with_storage(&c, raw.raw_data_id, "tok_a").await;
    let b = clean_with_storage(&c, raw.raw_data_id, "tok_b").await;
    put_rows(&srv, "mapleleaf_591.tok_a_591", 3).await;
    put_rows(&srv, "mapleleaf_591.tok_b_591", 2).await;
    let token = c
        .create_auth_token(&TokenRequest {
            data_token_bk_app_code: srv.app_code.clone(),
            data_scope: DataScope {
                is_all: false,
                permissions: vec![ScopePermission::query_result_table(&a)],
            },
            reason: "bklog search".into(),
            expire: Some(365),
        })
        .await
        .unwrap();
    assert_eq!(token.len(), 32);
    let by_token = BkDataClient::builder()
        .base_url(&srv.base)
        .app(&srv.app_code, &srv.secret)
        .auth_method(AuthMethod::Token(token.clone()))
        .build()
        .unwrap();
    let sql = |t: &str| QueryRequest {
        sql: format!("SELECT ip, mem_res FROM {t} ORDER BY mem_res"),
        prefer_storage: None,
    };
    let r = by_token.query(&sql(&a)).await.unwrap();
    assert_eq!(r.total_records, 3);
    assert_eq!(r.select_fields_order, ["ip", "mem_res"]);
    assert_eq!(r.list[2]["mem_res"], 2);
    // The other table, even of the same app, is not the token's.
    assert_eq!(api_code(by_token.query(&sql(&b)).await).0, "1500004");
    // Nor is anything but reads: no raw data is created with it.
    let (code, _) = api_code(
        by_token
            .create_raw_data(&RawDataRequest::new(591, "by_token"))
            .await,
    );
    assert!(code.starts_with("auth:"), "{code}");
    // Meta reads are limited to the granted table too.
    let seen = by_token.result_tables_list(json!({})).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["result_table_id"], a);
    // The token reads itself as bklog does (get_auth_token with token auth).
    let id = c.result_tables_mine(json!({})).await.unwrap().len(); // two tables are mine
    assert_eq!(id, 2);
    let mine = srv
        .bk(reqwest::Method::GET, "/v3/auth/tokens/", None)
        .await
        .1;
    let token_id = mine["data"][0]["id"].as_i64().unwrap();
    let info = by_token.get_auth_token(token_id).await.unwrap();
    assert_eq!(info.data_token_bk_app_code, srv.app_code);
    assert_ne!(info.data_token, token, "the token is shown masked");
    assert_eq!(&info.data_token[..4], &token[..4]);
    let perm = &info.permissions[0];
    assert_eq!(
        (
            perm.action_id.as_str(),
            perm.status.as_str(),
            &perm.scope["result_table_id"]
        ),
        ("result_table.query_data", "active", &json!(a))
    );
    // bklog's update_auth_token adds a table; then the token queries it.
    let info = c
        .update_auth_token(
            token_id,
            &TokenRequest {
                data_token_bk_app_code: srv.app_code.clone(),
                data_scope: DataScope {
                    is_all: false,
                    permissions: vec![ScopePermission::query_result_table(&b)],
                },
                reason: "Auto authorize".into(),
                expire: Some(360),
            },
        )
        .await
        .unwrap();
    assert_eq!(info.permissions.len(), 2);
    assert_eq!(by_token.query(&sql(&b)).await.unwrap().total_records, 2);
    // A token cannot grant more than its creator reads.
    let (code, _) = api_code(
        c.create_auth_token(&TokenRequest {
            data_token_bk_app_code: srv.app_code.clone(),
            data_scope: DataScope {
                is_all: false,
                permissions: vec![ScopePermission::query_result_table("591_not_there")],
            },
            ..TokenRequest::default()
        })
        .await,
    );
    assert!(code.starts_with("auth:"), "{code}");
    // A wrong token, and a token presented by another app, are refused.
    let wrong = BkDataClient::builder()
        .base_url(&srv.base)
        .app(&srv.app_code, &srv.secret)
        .auth_method(AuthMethod::Token("x".repeat(32)))
        .build()
        .unwrap();
    assert!(matches!(
        wrong.query(&sql(&a)).await,
        Err(Error::Auth { .. })
    ));
    // Scopes and checks as bklog's BkDataAuthHandler reads them.
    let scopes = c
        .get_user_perm_scope("alice", "result_table.manage_auth")
        .await
        .unwrap();
    let ids: Vec<&str> = scopes
        .iter()
        .filter_map(|s| s["result_table_id"].as_str())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert!(c
        .check_user_perm("alice", "result_table.query_data", &a)
        .await
        .unwrap());
    assert!(!c
        .check_user_perm("alice", "result_table.query_data", "591_nope")
        .await
        .unwrap());
    let checked = c
        .check_auth_token(&bkdata_api::auth::TokenCheckRequest {
            check_app_code: srv.app_code.clone(),
            check_data_token: token.clone(),
            action_id: "result_table.query_data".into(),
            object_id: Some(a.clone()),
        })
        .await
        .unwrap();
    assert!(checked);
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_get_data_as_bklog_adds_it() {
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "proj_src"))
        .await
        .unwrap();
    let rt = clean_with_storage(&c, raw.raw_data_id, "proj_rt").await;
    let project = c
        .create_project(&bkdata_api::databus::ProjectRequest {
            project_name: Some("clustering".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let pid = project.project_id;
    assert!(!c.auth_projects_data_check(pid, &rt).await.unwrap());
    let v = c.add_project_data(pid, 591, &rt).await.unwrap();
    assert_eq!(v["result_table_id"], rt);
    assert!(c.auth_projects_data_check(pid, &rt).await.unwrap());
    // bk-monitor's ticket for a project, granted at once.
    let t = c
        .auth_tickets(
            json!({"ticket_type": "project_biz", "reason": "monitor", "permissions": [
            {"subject_id": pid, "subject_name": "p", "subject_class": "project",
             "action": "result_table.query_data", "object_class": "result_table",
             "scope": {"result_table_id": rt}}]}),
        )
        .await
        .unwrap();
    assert_eq!(t[0]["status"], "succeeded", "{t}");
    assert_eq!(
        c.add_cluster_group(pid, "default").await.unwrap()["project_id"],
        pid
    );
    // The wrong biz is refused in the envelope.
    assert_eq!(
        api_code(c.add_project_data(pid, 2, &rt).await),
        ("1500400".into(), 200)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_es_table_is_searched_and_mapped_through_query_sync() {
    // Elasticsearch cannot run here: the stand-in speaks its documented _search/_mapping API.
    let es = fake_es::FakeEs::start().await;
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    srv.bk_ok(
        reqwest::Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "es-logs", "cluster_type": "es",
            "connection_info": {"host": "127.0.0.1", "port": es.port}})),
    )
    .await;
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "es_src"))
        .await
        .unwrap();
    let (conf, fields) = system_proc_clean();
    let mut tables = Vec::new();
    for name in ["es_logs", "es_other"] {
        let clean = c
            .databus_cleans_post(&CleanRequest {
                bk_biz_id: Some(591),
                ..CleanRequest::new(
                    raw.raw_data_id,
                    name,
                    &conf,
                    serde_json::from_value(json!(fields)).unwrap(),
                )
            })
            .await
            .unwrap();
        c.databus_data_storages_post(&DataStorageRequest {
            storage_cluster: Some("es-logs".into()),
            physical_table_name: Some("{table_id}_{yyyyMMdd}_0".into()),
            ..DataStorageRequest::new(&clean.result_table_id, "es")
        })
        .await
        .unwrap();
        tables.push(clean.result_table_id);
    }
    let (logs, other) = (tables[0].clone(), tables[1].clone());
    {
        let mut st = es.state.lock().unwrap();
        for (index, ip) in [
            ("591_es_logs_20200102_0", "10.0.0.1"),
            ("591_es_logs_20200103_0", "10.0.0.2"),
            ("591_es_other_20200103_0", "10.9.9.9"),
        ] {
            st.indices.insert(
                index.into(),
                json!({"ip": {"type": "keyword"}})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
            st.docs.insert((index.into(), ip.into()), json!({"ip": ip}));
        }
    }
    // bklog's QueryClientBkData.query: {index, body}; the answer's `list` is ES's.
    let v = c
        .es_query(
            &format!("{logs}_*"),
            &json!({"query": {"match_all": {}}, "size": 10}),
        )
        .await
        .unwrap();
    assert_eq!(v["list"]["hits"]["total"]["value"], 2, "{v}");
    let ips: Vec<&str> = v["list"]["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["_source"]["ip"].as_str())
        .collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(v["device"], "es");
    // One day, and a term query.
    let v = c
        .es_query(
            &format!("{logs}_20200103*"),
            &json!({"query": {"term": {"ip": "10.0.0.2"}}}),
        )
        .await
        .unwrap();
    assert_eq!(v["list"]["hits"]["total"]["value"], 1, "{v}");
    // bklog's mapping: {index, mapping: true}; index names as BKData's (`{rt}_{day}_{n}`).
    let v = c.es_mapping(&format!("{logs}_*")).await.unwrap();
    let m = v["list"].as_object().unwrap();
    // The two old days, and today's index the binding made with the table's fields (old
    // days chosen so that today, in any time zone, is another index).
    assert_eq!(m.len(), 3, "{v}");
    assert!(m.contains_key("591_es_logs_20200102_0") && m.contains_key("591_es_logs_20200103_0"));
    for (index, mapping) in m {
        assert_eq!(
            &index[..index.len() - 11],
            logs,
            "bklog's filter_mapping cut"
        );
        assert_eq!(mapping["mappings"]["properties"]["ip"]["type"], "keyword");
    }
    // Only the tables' own indices were asked of ES.
    let reads = es.state.lock().unwrap().reads.clone();
    assert!(
        reads.iter().all(|r| r.starts_with("591_es_logs_")),
        "{reads:?}"
    );
    // Unknown tables, another app's tables, and a body over the row limit are refused.
    assert_eq!(
        api_code(c.es_query("591_nope_*", &json!({})).await).0,
        "1532006"
    );
    let other_app = srv.other_app("other-app");
    let sql = json!({"index": format!("{other}_*"), "body": {}}).to_string();
    let (s, v) = srv
        .bk_as(
            &other_app,
            reqwest::Method::POST,
            "/v3/queryengine/query_sync/",
            Some(json!({"prefer_storage": "es", "sql": sql})),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (200, Some("1532006")), "{v}");
    assert_eq!(
        api_code(c.es_query(&logs, &json!({"size": 100_000})).await).0,
        "1500400"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bklog_clean_update_restarts_no_storage_silently_stopped() {
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "upd_src"))
        .await
        .unwrap();
    let rt = clean_with_storage(&c, raw.raw_data_id, "upd_rt").await;
    c.post_tasks(&TaskRequest::new(&rt, None)).await.unwrap();
    let pg = |t: &bkdata_api::databus::TaskState| t.storages["postgresql"].status.clone();
    assert_eq!(pg(&c.get_tasks(&rt).await.unwrap()), "running");
    // bklog's update: PUT clean, DELETE tasks, POST tasks ["kafka"].
    c.delete_tasks(&rt, None).await.unwrap();
    assert_eq!(pg(&c.get_tasks(&rt).await.unwrap()), "stopped");
    // A shipper's job may still write its status message after the stop (a retry); what it
    // was stopped by is state of its own, not that message.
    {
        use bkdata_models::schema::shippers as sh;
        use diesel::prelude::*;
        diesel::update(sh::table.filter(sh::result_table_id.eq(&rt)))
            .set(sh::status_message.eq("retrying: connection refused"))
            .execute(&mut srv.db.conn())
            .unwrap();
    }
    let after = c
        .post_tasks(&TaskRequest::new(&rt, Some(vec!["kafka".into()])))
        .await
        .unwrap();
    // The answer says which shippers run: the one stopped with the clean runs again.
    assert_eq!(pg(&after), "running", "{after:?}");
    // A storage stopped by name stays stopped when the clean starts again.
    srv.bk_ok(
        reqwest::Method::DELETE,
        &format!("/v3/databus/tasks/{rt}/?storages=postgresql"),
        None,
    )
    .await;
    let after = c
        .post_tasks(&TaskRequest::new(&rt, Some(vec!["kafka".into()])))
        .await
        .unwrap();
    assert_eq!(pg(&after), "stopped", "{after:?}");
    c.delete_tasks(&rt, None).await.unwrap();
    let after = c
        .post_tasks(&TaskRequest::new(&rt, Some(vec!["kafka".into()])))
        .await
        .unwrap();
    assert_eq!(
        pg(&after),
        "stopped",
        "a stop by name outlives a stop of all"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn storekit_and_resource_center_as_bklog_calls_them() {
    let es = fake_es::FakeEs::start().await;
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    // bklog syncs its ES cluster as a resource set (storage.py sync_es_cluster).
    let set = c
        .create_resource_set(json!({
            "bk_biz_id": 591, "resource_set_id": "591_es-bklog", "resource_set_name": "es-bklog",
            "geog_area_code": "inland", "category": "es", "provider": "user", "purpose": "BKLog集群同步",
            "share": false, "admin": ["alice"], "tag": [],
            "connection_info": {"username": "elastic", "password": "s3cret", "enable_auth": true,
                "host": "127.0.0.1", "port": es.port, "transport": 9300, "enable_replica": false,
                "hot_save_days": 1, "cluster_type": "es", "cluster_name": "es-bklog"},
            "version": "7.10.1",
        }))
        .await
        .unwrap();
    let name = set["resource_capacity"]["storage"]["cluster_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(name, "591_es-bklog");
    let digest = c
        .cluster_query_digest(
            json!({"resource_type": "storage", "service_type": "es", "cluster_name": name}),
        )
        .await
        .unwrap();
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0]["resource_group_id"], "default");
    c.add_cluster_group(
        c.create_project(&bkdata_api::databus::ProjectRequest {
            project_name: Some("p".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .project_id,
        digest[0]["resource_group_id"].as_str().unwrap(),
    )
    .await
    .unwrap();
    let mut update = set.clone();
    update["resource_set_id"] = json!(name);
    update["category"] = json!("es");
    update["connection_info"] =
        json!({"username": "elastic", "host": "127.0.0.1", "port": es.port});
    c.update_resource_set(update).await.unwrap();
    // The cluster config, without secrets (the password was kept by the update).
    let conf = c.get_cluster_config(&name).await.unwrap();
    let info: Value = serde_json::from_str(conf["connection_info"].as_str().unwrap()).unwrap();
    assert_eq!(
        (info["host"].as_str(), info["user"].as_str()),
        (Some("127.0.0.1"), Some("elastic"))
    );
    assert!(info.get("password").is_none(), "{info}");
    let stored = bkdata_databus::clusters::get(&mut srv.db.conn(), "es", &name).unwrap();
    assert_eq!(stored.connection["password"], "s3cret");
    // An ES table on it: its schema and sql, and es/route statistics.
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "sk_src"))
        .await
        .unwrap();
    let (cf, fields) = system_proc_clean();
    let clean = c
        .databus_cleans_post(&CleanRequest {
            bk_biz_id: Some(591),
            ..CleanRequest::new(
                raw.raw_data_id,
                "sk_logs",
                &cf,
                serde_json::from_value(json!(fields)).unwrap(),
            )
        })
        .await
        .unwrap();
    let rt = clean.result_table_id;
    c.databus_data_storages_post(&DataStorageRequest {
        storage_cluster: Some(name.clone()),
        ..DataStorageRequest::new(&rt, "es")
    })
    .await
    .unwrap();
    let schema = c.get_schema_and_sql(&rt).await.unwrap();
    let es_fields = schema["storage"]["es"]["fields"].as_array().unwrap();
    assert!(es_fields
        .iter()
        .any(|f| f["field_name"] == "ip" && f["field_type"] == "string"));
    assert_eq!(schema["storages"], json!(["es"]));
    let cat = c
        .storekit_es_route(&name, &format!("_cat/indices/{rt}*?bytes=mb&format=json"))
        .await
        .unwrap();
    let cat: Value = serde_json::from_str(&cat).unwrap();
    assert!(cat.is_array(), "{cat}");
    assert_eq!(
        api_code(c.storekit_es_route(&name, &format!("{rt}/_search")).await).0,
        "1500400"
    );
    let other = srv.other_app("other-app");
    let (_, v) = srv
        .bk_as(
            &other,
            reqwest::Method::GET,
            &format!("/v3/storekit/es/route/?cluster_name={name}&uri=_cluster/stats"),
            None,
        )
        .await;
    assert_eq!(v["code"], "1500004", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn flows_answer_monitor_data_running_info_and_resources() {
    let srv = TestServer::start().await;
    let c = srv.bkdata_client();
    let raw = c
        .create_raw_data(&RawDataRequest::new(591, "system_proc"))
        .await
        .unwrap();
    let (conf, fields) = system_proc_clean();
    c.databus_cleans_post(&CleanRequest {
        bk_biz_id: Some(591),
        ..CleanRequest::new(
            raw.raw_data_id,
            "system_proc",
            &conf,
            serde_json::from_value(json!(fields)).unwrap(),
        )
    })
    .await
    .unwrap();
    let project = c
        .create_project(&bkdata_api::databus::ProjectRequest {
            project_name: Some("monitor".into()),
            bk_biz_id: Some(591),
            description: None,
        })
        .await
        .unwrap()
        .project_id;
    let mut nodes = bkdata_tests::seed004::tutorial_nodes();
    nodes[2] = json!({"id": 3, "bk_biz_id": 591, "node_type": "postgresql_storage", "name": "pg",
        "cluster": "default-postgresql", "expires": 3,
        "from_nodes": [{"id": 2, "from_result_table_ids": ["591_system_proc_ip_grp"]}]});
    // bk-monitor's create: POST flow/flows/.
    let f = c
        .create_data_flow(&bkdata_api::dataflow::CreateFlowRequest {
            project_id: project,
            flow_name: "monitored".into(),
            description: String::new(),
            nodes: nodes.as_array().unwrap().clone(),
        })
        .await
        .unwrap();
    let m = c.get_flow_monitor_data(f.flow_id, None).await.unwrap();
    let io = m["data_loss_io_total"].as_object().unwrap();
    assert_eq!(io.len(), 3, "{m}");
    let rt_node = f.node_ids[1].to_string();
    assert_eq!(io[&rt_node]["node_type"], "realtime");
    assert_eq!(io[&rt_node]["data"]["591_system_proc_ip_grp"]["output"], 0);
    assert_eq!(m["rt_status"][&rt_node]["status"], "no-start");
    assert_eq!(m["dmonitor_alerts"], json!([]));
    let one = c
        .get_node_monitor_data(f.flow_id, f.node_ids[1], Some("data_loss_io_total"))
        .await
        .unwrap();
    assert_eq!(one.as_object().unwrap().len(), 1);
    assert_eq!(one["data_loss_io_total"][&rt_node]["input"], 0);
    let draft = c.get_data_flow_running_info(f.flow_id).await.unwrap();
    let locations = draft["locations"].as_array().unwrap();
    assert_eq!(locations.len(), 3);
    assert!(locations.iter().all(|l| l["status"] == "no-start"
        && l["node_name"].is_string()
        && l["node_type"].is_string()));
    assert_eq!(draft["lines"].as_array().unwrap().len(), 2);
    // set_resource: recorded on the flow (credentials are not).
    let v = c
        .set_dataflow_resource(json!({"flow_id": f.flow_id, "usage_type": "online",
            "input_count_peak_min": 1200, "bk_biz_id": 591}))
        .await
        .unwrap();
    assert_eq!(v["resource_settings"]["usage_type"], "online");
    let kept: Value = {
        use bkdata_models::schema::flows as fl;
        use diesel::prelude::*;
        fl::table
            .find(f.flow_id)
            .select(fl::resource_settings)
            .first(&mut srv.db.conn())
            .unwrap()
    };
    assert_eq!(kept["input_count_peak_min"], 1200);
    assert!(kept.get("bk_app_code").is_none(), "{kept}");
    assert_eq!(
        api_code(c.set_dataflow_resource(json!({"flow_id": 999_999})).await).0,
        "1500004"
    );
}
