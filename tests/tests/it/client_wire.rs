//! The client against a recording stand-in server: what it sends (headers and params of
//! wire reference §1.4, tenant rules of §1.2) and how it reads BKData's answers (fixtures in
//! the real shapes, errors of each kind kept apart).
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bkdata_api::client::{AuthMethod, BkDataClient, Error};
use bkdata_api::databus::{CleanRequest, DataStorageRequest, TaskRequest};
use bkdata_api::dataflow::{CreateFlowRequest, DeployRequest};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Stand {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// (status, body, delay) answered next; default `{"result": true, "data": {}}`.
    answer: Arc<Mutex<Option<(u16, String, u64)>>>,
}

async fn record(State(st): State<Stand>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        urlencoding::decode(&v.replace('+', " "))
                            .unwrap()
                            .into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    st.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    // By default an empty success: a list for the list calls, an object otherwise.
    let list = parts.method == axum::http::Method::GET
        && [
            "/cleans/",
            "/data_storages/",
            "/flow/flows/",
            "/deploy_data/",
        ]
        .iter()
        .any(|p| parts.uri.path().ends_with(p));
    let empty = if list {
        r#"{"result": true, "data": [], "code": "1500200"}"#
    } else {
        r#"{"result": true, "data": {"ok": 1}, "code": "1500200"}"#
    };
    let (status, body, delay) = st
        .answer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or((200, empty.into(), 0));
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    (StatusCode::from_u16(status).unwrap(), body).into_response()
}

async fn stand() -> (Stand, String) {
    let st = Stand::default();
    let app = axum::Router::new().fallback(record).with_state(st.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (st, base)
}

fn client(base: &str) -> BkDataClient {
    BkDataClient::builder()
        .base_url(base)
        .app("bklog", "s3cret")
        .username("alice")
        .tenant_of(|biz| format!("tenant-{biz}"))
        .tenant_id("system")
        .retries(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_carry_what_bkdata_expects() {
    let (st, base) = stand().await;
    let c = client(&base);
    let last = || st.seen.lock().unwrap().last().cloned().unwrap();

    // A GET: params in the query string, with bklog's injected ones.
    c.get_cleans(json!({"raw_data_id": 42, "bk_biz_id": 2}))
        .await
        .unwrap();
    let s = last();
    assert_eq!(
        (s.method.as_str(), s.path.as_str()),
        ("GET", "/v3/databus/cleans/")
    );
    assert_eq!(s.param("raw_data_id"), Some("42"));
    assert_eq!(s.param("bk_app_code"), Some("bklog"));
    assert_eq!(s.param("bk_username"), Some("alice"));
    assert_eq!(s.param("operator"), Some("alice"));
    assert_eq!(s.param("bkdata_authentication_method"), Some("user"));
    assert!(s.param("bklog_request_id").is_some_and(|r| r.len() == 36));
    let auth: Value = serde_json::from_str(s.header("X-Bkapi-Authorization").unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": "bklog", "bk_app_secret": "s3cret", "bk_username": "alice"})
    );
    assert_eq!(
        s.header("X-Bk-Tenant-Id"),
        Some("tenant-2"),
        "tenant from bk_biz_id"
    );
    let rid = s.header("X-Request-Id").unwrap().to_string();
    assert_eq!(s.header("X-DATA-REQUEST-ID"), Some(rid.as_str()));
    assert_eq!(rid.len(), 36);

    // A POST: a JSON body with the injected params, bklog_request_id in the query.
    c.post_tasks(&TaskRequest::new(
        "591_system_proc",
        Some(vec!["kafka".into()]),
    ))
    .await
    .unwrap();
    let s = last();
    assert_eq!(
        (s.method.as_str(), s.path.as_str()),
        ("POST", "/v3/databus/tasks/")
    );
    assert_eq!(s.body["storages"], json!(["kafka"]));
    assert_eq!(s.body["bk_username"], "alice");
    assert_eq!(s.body["bkdata_authentication_method"], "user");
    assert!(s.param("bklog_request_id").is_some());
    assert!(s
        .header("Content-Type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        s.header("X-Bk-Tenant-Id"),
        Some("tenant-591"),
        "tenant from the table's biz"
    );

    // Tenant rules: clean debug uses the static tenant; a call without a biz too.
    c.databus_clean_debug(json!({"bk_biz_id": 7, "input": "x"}))
        .await
        .unwrap();
    let s = last();
    assert_eq!(s.path, "/v4/databus/clean/debug/");
    assert_eq!(s.header("X-Bk-Tenant-Id"), Some("system"));
    c.get_raw_data_tail(9).await.unwrap();
    assert_eq!(last().header("X-Bk-Tenant-Id"), Some("system"));
    c.add_flow_nodes(5, json!({"config": {"bk_biz_id": 33}, "from_links": []}))
        .await
        .unwrap();
    assert_eq!(last().header("X-Bk-Tenant-Id"), Some("tenant-33"));

    // Every method's verb and path (§1.2, §1.3).
    let n = st.seen.lock().unwrap().len();
    c.get_config_db_list(json!({"raw_data_id": 1}))
        .await
        .unwrap();
    c.databus_data_storages_post(&DataStorageRequest::default())
        .await
        .unwrap();
    c.databus_data_storages_put("2_x", &DataStorageRequest::default())
        .await
        .unwrap();
    c.get_clean("2_x").await.unwrap();
    c.databus_cleans_post(&CleanRequest::default())
        .await
        .unwrap();
    c.databus_cleans_put("2_x", &CleanRequest::default())
        .await
        .unwrap();
    c.get_tasks("2_x").await.unwrap();
    c.delete_tasks("2_x", None).await.unwrap();
    c.get_result_table("2_x").await.unwrap();
    c.get_result_table_tail("2_x").await.unwrap();
    c.export_flow(5).await.unwrap();
    c.create_flow(&CreateFlowRequest::default()).await.unwrap();
    c.start_flow(
        5,
        &DeployRequest {
            consuming_mode: Some("from_tail".into()),
            cluster_group: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        st.seen.lock().unwrap().last().unwrap().body["consuming_mode"],
        "from_tail"
    );
    c.stop_flow(5).await.unwrap();
    c.restart_flow(5, &DeployRequest::default()).await.unwrap();
    c.get_flow_graph(5).await.unwrap();
    c.get_latest_deploy_data(5).await.unwrap();
    c.get_dataflow(5).await.unwrap();
    c.patch_flow_nodes(5, 6, json!({"sql": "SELECT 1"}))
        .await
        .unwrap();
    let got: Vec<(String, String)> = st.seen.lock().unwrap()[n..]
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    let want = [
        ("GET", "/v3/databus/data_storages/"),
        ("POST", "/v3/databus/data_storages/"),
        ("PUT", "/v3/databus/data_storages/2_x/"),
        ("GET", "/v3/databus/cleans/2_x/"),
        ("POST", "/v3/databus/cleans/"),
        ("PUT", "/v3/databus/cleans/2_x/"),
        ("GET", "/v3/databus/tasks/2_x/"),
        ("DELETE", "/v3/databus/tasks/2_x/"),
        ("GET", "/v3/databus/result_tables/2_x/"),
        ("GET", "/v3/databus/result_tables/2_x/tail/"),
        ("GET", "/v3/dataflow/flow/flows/5/export/"),
        ("POST", "/v3/dataflow/flow/flows/create/"),
        ("POST", "/v3/dataflow/flow/flows/5/start/"),
        ("POST", "/v3/dataflow/flow/flows/5/stop/"),
        ("POST", "/v3/dataflow/flow/flows/5/restart/"),
        ("GET", "/v3/dataflow/flow/flows/5/graph/"),
        ("GET", "/v3/dataflow/flow/flows/5/latest_deploy_data/"),
        ("GET", "/v3/dataflow/flow/flows/5/"),
        ("PATCH", "/v3/dataflow/flow/flows/5/nodes/6/"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(got, want);

    // get_config_db_list is cached 60 s; writes never are.
    let n = st.seen.lock().unwrap().len();
    c.get_config_db_list(json!({"raw_data_id": 1}))
        .await
        .unwrap();
    c.databus_data_storages_post(&DataStorageRequest::default())
        .await
        .unwrap();
    c.databus_data_storages_post(&DataStorageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        st.seen.lock().unwrap().len(),
        n + 2,
        "one cached read, two writes sent"
    );
    c.get_config_db_list(json!({"raw_data_id": 2}))
        .await
        .unwrap();
    assert_eq!(
        st.seen.lock().unwrap().len(),
        n + 3,
        "other params: not cached"
    );

    // Token mode.
    let t = BkDataClient::builder()
        .base_url(&base)
        .app("bklog", "s3cret")
        .username("alice")
        .auth_method(AuthMethod::Token("tok-1".into()))
        .build()
        .unwrap();
    t.get_dataflow(1).await.unwrap();
    let s = last();
    assert_eq!(s.param("bkdata_authentication_method"), Some("token"));
    assert_eq!(s.param("bkdata_data_token"), Some("tok-1"));
    assert_eq!(
        s.param("bk_username"),
        Some("admin"),
        "bklog's user in token mode"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_in_bkdata_shapes_are_read() {
    let (st, base) = stand().await;
    let c = client(&base);
    let answer = |status: u16, body: &str| {
        *st.answer.lock().unwrap() = Some((status, body.to_string(), 0));
    };
    // Unknown fields ignored, data unwrapped.
    answer(
        200,
        r#"{"result": true, "data": {"flow_id": 25966, "node_ids": [1, 2, 3]}, "code": "1500200", "message": "ok", "errors": null, "request_id": "x", "trace": {}}"#,
    );
    let v = c.create_flow(&CreateFlowRequest::default()).await.unwrap();
    assert_eq!((v.flow_id, v.node_ids), (25966, vec![1, 2, 3]));
    // Null data.
    answer(
        200,
        r#"{"result": true, "data": null, "code": "1500200", "message": "ok", "errors": null}"#,
    );
    assert_eq!(c.get_latest_deploy_data(1).await.unwrap(), None);
    // A real BKData graph: none of this platform's additions, some of BKData's own.
    answer(
        200,
        r#"{"result": true, "code": "1500200", "message": "ok", "errors": null, "data": {"version": "V202611221430",
            "nodes": [{"node_id": 179686, "node_type": "realtime", "node_name": "统计", "status": "warning",
                       "has_modify": true, "node_config": {"sql": "SELECT 1"}, "related": false, "flow_id": "25966"}],
            "links": [{"from_node_id": 179685, "to_node_id": 179686, "frontend_info": {}}]}}"#,
    );
    let g = c.get_flow_graph(25966).await;
    let g = match g {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        (
            g.nodes[0].status.as_str(),
            g.nodes[0].has_modify,
            g.nodes[0].runtime.clone()
        ),
        ("warning", true, None)
    );
    assert_eq!(g.links[0].to_node_id, 179686);
    // A body without `result` is a success (bklog's rule).
    answer(200, r#"{"list": [1, 2]}"#);
    assert_eq!(
        c.get_result_table_tail("2_x").await.unwrap()["list"],
        json!([1, 2])
    );
    // status_display as BKData answers it.
    answer(
        200,
        r#"{"result": true, "data": [{"result_table_id": "2_x", "storage_type": "es", "status": "running", "status_display": "正常",
            "bk_biz_id": "2", "raw_data_id": 77, "storage_cluster": "es-1", "expires": "7d", "unknown_extra": {"x": 1}}], "code": "1500200"}"#,
    );
    let v = c
        .get_config_db_list(json!({"raw_data_id": 77}))
        .await
        .unwrap();
    assert_eq!(
        (
            v[0].status_display.as_str(),
            v[0].bk_biz_id,
            v[0].raw_data_id
        ),
        ("正常", 2, Some(77))
    );
    // result=false: the code string, message and errors map.
    answer(
        200,
        r#"{"result": false, "data": null, "code": "1570001", "message": "清洗配置校验失败", "errors": {"json_config": ["bad"]}}"#,
    );
    match c.databus_cleans_post(&CleanRequest::default()).await {
        Err(Error::Api {
            code,
            message,
            errors,
            status,
        }) => {
            assert_eq!(
                (code.as_str(), message.as_str(), status),
                ("1570001", "清洗配置校验失败", 200)
            );
            assert_eq!(errors, Some(json!({"json_config": ["bad"]})));
        }
        other => panic!("{other:?}"),
    }
    // Wrong credentials, a 5xx, non-JSON, a timeout, nobody listening: distinct errors.
    answer(
        401,
        r#"{"result": false, "code": "1511401", "message": "app secret is wrong", "errors": null}"#,
    );
    assert!(matches!(c.get_dataflow(1).await, Err(Error::Auth { .. })));
    answer(502, "<html>Bad Gateway</html>");
    assert!(matches!(
        c.get_dataflow(1).await,
        Err(Error::Http { status: 502, .. })
    ));
    answer(200, "not json at all");
    assert!(matches!(c.get_dataflow(1).await, Err(Error::Decode { .. })));
    *st.answer.lock().unwrap() = Some((200, "{}".into(), 3000));
    let slow = BkDataClient::builder()
        .base_url(&base)
        .app("bklog", "s")
        .timeout(Duration::from_millis(300))
        .retries(0)
        .build()
        .unwrap();
    assert!(matches!(
        slow.get_dataflow(1).await,
        Err(Error::Timeout { .. })
    ));
    let nobody = BkDataClient::builder()
        .base_url("http://127.0.0.1:9")
        .app("bklog", "s")
        .retries(0)
        .build()
        .unwrap();
    assert!(matches!(
        nobody.get_dataflow(1).await,
        Err(Error::Connect { .. })
    ));

    // Idempotent calls are retried after a 503; a POST is not.
    *st.answer.lock().unwrap() = Some((503, "unavailable".into(), 0));
    let retrying = BkDataClient::builder()
        .base_url(&base)
        .app("bklog", "s")
        .retries(2)
        .build()
        .unwrap();
    let n = st.seen.lock().unwrap().len();
    assert!(retrying.get_dataflow(1).await.is_err());
    assert_eq!(
        st.seen.lock().unwrap().len(),
        n + 3,
        "a GET: tried three times"
    );
    assert!(retrying
        .start_flow(1, &DeployRequest::default())
        .await
        .is_err());
    assert_eq!(st.seen.lock().unwrap().len(), n + 4, "a POST: once");
}
