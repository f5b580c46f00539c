//! Seed 003's alert path on the real services: events through the HTTP ingest, built into
//! alerts by a worker (Postgres + Redis), searched and acted on through the API; builders at
//! once; Redis down and restarted (a private redis-server of the test's own).
use bkdata_alert::store::{self, Cache};
use bkdata_tests::fake_es::FakeEs;
use bkdata_tests::*;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// dedupe_md5, status, severity, begin, latest, end, event count.
type Row = (String, String, i32, i64, i64, Option<i64>, i64);

fn prefix() -> String {
    format!("bkt{:08x}.ee", rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}

/// Events in the inbox (queued from inside the platform), not yet built.
fn inbox(db: &TestDb) -> i64 {
    use bkdata_models::schema::alert_inbox as ib;
    ib::table.count().get_result(&mut db.conn()).unwrap()
}

/// Events not yet built: on the bus (published, not acked by the builder) or in the inbox.
async fn unbuilt(srv: &TestServer) -> u64 {
    use bkdata_bus::Bus;
    let lag = srv
        .bus
        .lag(bkdata_alert::job::CLEANED_TOPIC, bkdata_alert::job::BUILDER)
        .await
        .unwrap();
    lag + inbox(&srv.db) as u64
}

/// A worker building alerts for `srv`, with its own Redis key prefix, polling every 200 ms.
fn alert_worker(srv: &TestServer, prefix: &str, extra: &[(&str, &str)]) -> WorkerProc {
    let mut env = vec![
        ("BKDATA_ALERT_REDIS_PREFIX", prefix),
        ("BKDATA_ALERT_POLL_MS", "200"),
    ];
    env.extend_from_slice(extra);
    srv.worker(&env)
}

fn event(target: usize, severity: i32, status: &str, time: i64, n: &str) -> Value {
    json!({"event_id": format!("{target}-{n}"), "plugin_id": "bkmonitor", "alert_name": "CPU使用率过高",
           "target_type": "HOST", "target": format!("10.0.{}.{}", target / 250, target % 250),
           "bk_biz_id": 2, "severity": severity, "status": status, "time": time,
           "tags": [{"key": "host", "value": format!("h{target}")}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_of_1000_targets_builds_exactly_the_alerts_the_rules_say() {
    let srv = nats_server().await;
    let pre = prefix();
    let _worker = alert_worker(&srv, &pre, &[]);
    let t0 = chrono::Utc::now().timestamp() - 1000;
    // Every target opens an alert; then by target % 4: 0 repeats, 1 repeats then escalates to
    // fatal, 2 repeats then recovers, 3 repeats then sends a stale event; every fifth target
    // also sends a less severe event (dropped).
    let first: Vec<Value> = (0..1000)
        .map(|i| event(i, 2, "ABNORMAL", t0, "a"))
        .collect();
    let mut second = Vec::new();
    for i in 0..1000 {
        second.push(event(i, 2, "ABNORMAL", t0 + 60, "b"));
        if i % 5 == 0 {
            second.push(event(i, 3, "ABNORMAL", t0 + 90, "c"));
        }
        match i % 4 {
            1 => second.push(event(i, 1, "ABNORMAL", t0 + 120, "d")),
            2 => second.push(event(i, 2, "RECOVERED", t0 + 120, "d")),
            3 => second.push(event(i, 2, "ABNORMAL", t0 - 300, "d")),
            _ => {}
        }
    }
    for batch in [first, second] {
        for chunk in batch.chunks(1000) {
            let v = srv
                .bk_ok(
                    reqwest::Method::POST,
                    "/v3/alert/events/",
                    Some(json!({"events": chunk})),
                )
                .await;
            assert_eq!(v["accepted"].as_u64(), Some(chunk.len() as u64), "{v}");
            assert_eq!(v["rejected"], json!([]));
        }
        eventually(WAIT, "the builder", || async {
            (unbuilt(&srv).await == 0).then_some(())
        })
        .await;
    }
    let count = |status: &str| {
        let srv = &srv;
        let status = status.to_string();
        async move {
            srv.bk_ok(
                reqwest::Method::GET,
                &format!("/v3/alert/alerts/?status={status}&page_size=1"),
                None,
            )
            .await["total"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(count("ABNORMAL").await, 750);
    assert_eq!(count("CLOSED").await, 250);
    assert_eq!(count("RECOVERED").await, 250);
    // Per target, what the rules say.
    use bkdata_models::schema::alerts as al;
    let rows: Vec<Row> = al::table
        .order(al::seq)
        .select((
            al::dedupe_md5,
            al::status,
            al::severity,
            al::begin_time,
            al::latest_time,
            al::end_time,
            al::event_count,
        ))
        .load(&mut srv.db.conn())
        .unwrap();
    let by_target = |i: usize| {
        let md5 = bkdata_alert::event::clean(&event(i, 2, "ABNORMAL", t0, "x"), t0)
            .unwrap()
            .dedupe_md5;
        rows.iter()
            .filter(|r| r.0 == md5)
            .cloned()
            .collect::<Vec<_>>()
    };
    for i in 0..1000 {
        let a = by_target(i);
        match i % 4 {
            0 => {
                assert_eq!(a.len(), 1, "{i}");
                assert_eq!(
                    (a[0].1.as_str(), a[0].2, a[0].4, a[0].6),
                    ("ABNORMAL", 2, t0 + 60, 2),
                    "{i}"
                );
            }
            1 => {
                assert_eq!(a.len(), 2, "{i}: {a:?}");
                assert_eq!((a[0].1.as_str(), a[0].2), ("CLOSED", 2), "{i}");
                assert_eq!(
                    (a[1].1.as_str(), a[1].2, a[1].3),
                    ("ABNORMAL", 1, t0 + 120),
                    "{i}"
                );
            }
            2 => {
                assert_eq!(a.len(), 1, "{i}");
                assert_eq!(
                    (a[0].1.as_str(), a[0].5),
                    ("RECOVERED", Some(t0 + 120)),
                    "{i}"
                );
            }
            _ => {
                assert_eq!(a.len(), 1, "{i}");
                assert_eq!(
                    (a[0].1.as_str(), a[0].3, a[0].4),
                    ("ABNORMAL", t0 - 300, t0 + 60),
                    "{i}"
                );
            }
        }
    }
    // Outcomes of the events.
    use bkdata_models::schema::alert_events as ev;
    let outcomes: Vec<(Option<String>, i64)> = ev::table
        .group_by(ev::outcome)
        .select((ev::outcome, diesel::dsl::count_star()))
        .load(&mut srv.db.conn())
        .unwrap();
    let n = |o: &str| {
        outcomes
            .iter()
            .find(|x| x.0.as_deref() == Some(o))
            .map_or(0, |x| x.1)
    };
    assert_eq!(
        (
            n("created"),
            n("updated"),
            n("dropped"),
            n("stale"),
            n("recovered")
        ),
        (1250, 1000, 200, 250, 250),
        "{outcomes:?}"
    );

    // The Redis cache: content and snapshot keys with bk-monitor's names and TTLs.
    let alert = srv
        .bk_ok(
            reqwest::Method::GET,
            "/v3/alert/alerts/?status=ABNORMAL&ordering=id&page_size=1",
            None,
        )
        .await["alerts"][0]
        .clone();
    let id = alert["id"].as_str().unwrap().to_string();
    assert_eq!(
        &id[..10],
        &alert["create_time"].as_i64().unwrap().to_string()
    );
    let mut r = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection()
        .unwrap();
    let content = format!(
        "{pre}.alert.builder.0.{}.content",
        alert["dedupe_md5"].as_str().unwrap()
    );
    let ttl: i64 = redis::cmd("TTL").arg(&content).query(&mut r).unwrap();
    assert!((7000..=7200).contains(&ttl), "{content}: {ttl}");
    let snap: String = redis::cmd("GET")
        .arg(format!("{pre}.alert.builder.snapshot.0.{id}"))
        .query(&mut r)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&snap).unwrap()["id"],
        id.as_str()
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{pre}.alert.builder.snapshot.0.{id}"))
        .query(&mut r)
        .unwrap();
    assert!((1700..=1800).contains(&ttl), "{ttl}");

    // Search, events, logs, ack and close through the API.
    let v = srv
        .bk_ok(
            reqwest::Method::GET,
            "/v3/alert/alerts/?query=h257&status=ABNORMAL,CLOSED,RECOVERED",
            None,
        )
        .await;
    // Target 257 (% 4 == 1): the closed alert and the fatal one.
    assert_eq!(v["total"], 2, "{v}");
    let v = srv
        .bk_ok(
            reqwest::Method::GET,
            &format!("/v3/alert/alerts/{id}/events/"),
            None,
        )
        .await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"].is_string()),
        "{v}"
    );
    srv.bk_ok(
        reqwest::Method::POST,
        &format!("/v3/alert/alerts/{id}/ack/"),
        Some(json!({"message": "looking"})),
    )
    .await;
    let closed = srv
        .bk_ok(
            reqwest::Method::POST,
            &format!("/v3/alert/alerts/{id}/close/"),
            Some(json!({"message": "fixed"})),
        )
        .await;
    assert_eq!(
        (closed["status"].as_str(), closed["is_ack"].as_bool()),
        (Some("CLOSED"), Some(true))
    );
    let logs = srv
        .bk_ok(
            reqwest::Method::GET,
            &format!("/v3/alert/alerts/{id}/logs/"),
            None,
        )
        .await;
    let ops: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["op_type"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["CREATE", "ACK", "CLOSE"], "{logs}");
    assert_eq!(logs[2]["operator"], "tester");
    let (_, v) = srv
        .bk(
            reqwest::Method::POST,
            &format!("/v3/alert/alerts/{id}/close/"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (v["result"].as_bool(), v["code"].as_str()),
        (Some(false), Some("1500400")),
        "{v}"
    );
    // A business error: HTTP 200 with the code in the envelope, as BKData answers.
    let (s, v) = srv
        .bk(reqwest::Method::GET, "/v3/alert/alerts/nope/", None)
        .await;
    assert_eq!(
        (s, v["result"].clone(), v["code"].clone()),
        (200, json!(false), json!("1500004"))
    );
    srv.cleanup_bus().await;
}

/// An event sent again is stored and counted once: a resend of a built event is answered as
/// a duplicate; copies on their way to the builder (sent twice before it ran, or delivered
/// again by the bus after a commit whose ack was lost) are dropped by the builder.
/// A builder that died holding events (fetched, not acked) leaves them to the next one, which
/// builds them first and in order: left to their ack wait (2 minutes), they would come after
/// newer events and be taken as stale.
#[tokio::test(flavor = "multi_thread")]
async fn events_a_dead_builder_held_are_built_first_by_the_next() {
    use bkdata_bus::{Bus, Consumer, ConsumerOpts};
    let srv = nats_server().await;
    let now = chrono::Utc::now().timestamp();
    let (first, second) = (
        event(1, 2, "ABNORMAL", now - 30, "first"),
        event(1, 2, "ABNORMAL", now - 20, "second"),
    );
    srv.bk_ok(
        reqwest::Method::POST,
        "/v3/alert/events/",
        Some(json!([first])),
    )
    .await;
    // The dead builder: it took the first event from the builders' consumer and never acked.
    let mut dead = srv
        .bus
        .consumer(
            bkdata_alert::job::CLEANED_TOPIC,
            bkdata_alert::job::BUILDER,
            ConsumerOpts {
                ack_wait: Duration::from_secs(120),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let mut held = Vec::new();
    while held.is_empty() && std::time::Instant::now() < deadline {
        held = dead.fetch(10, Duration::from_millis(200)).await.unwrap();
    }
    assert_eq!(held.len(), 1, "the first event on the bus");
    srv.bk_ok(
        reqwest::Method::POST,
        "/v3/alert/events/",
        Some(json!([second])),
    )
    .await;
    let _worker = alert_worker(&srv, &prefix(), &[]);
    // Well within the held event's ack wait.
    eventually(Duration::from_secs(60), "both events built", || async {
        (unbuilt(&srv).await == 0).then_some(())
    })
    .await;
    use bkdata_models::schema::alert_events as ev;
    let stored: Vec<(String, Option<String>)> = ev::table
        .order(ev::time)
        .select((ev::event_id, ev::outcome))
        .load(&mut srv.db.conn())
        .unwrap();
    assert_eq!(
        stored,
        [
            ("1-first".to_string(), Some("created".to_string())),
            ("1-second".to_string(), Some("updated".to_string()))
        ]
    );
    let v = srv
        .bk_ok(reqwest::Method::GET, "/v3/alert/alerts/", None)
        .await;
    assert_eq!(
        (
            v["total"].as_i64(),
            v["alerts"][0]["begin_time"].as_i64(),
            v["alerts"][0]["event_count"].as_i64()
        ),
        (Some(1), Some(now - 30), Some(2)),
        "{v}"
    );
    drop(held);
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_sent_again_is_stored_and_counted_once() {
    use bkdata_bus::Bus;
    let srv = nats_server().await;
    let now = chrono::Utc::now().timestamp();
    let a = event(1, 2, "ABNORMAL", now - 30, "a");
    let b = event(1, 2, "ABNORMAL", now - 20, "b");
    let post = |e: Value| {
        let srv = &srv;
        async move {
            srv.bk_ok(reqwest::Method::POST, "/v3/alert/events/", Some(json!([e])))
                .await
        }
    };
    // Twice before any builder runs: both accepted (neither is stored yet).
    for _ in 0..2 {
        let v = post(a.clone()).await;
        assert_eq!(
            (v["accepted"].as_u64(), v["duplicates"].as_u64()),
            (Some(1), Some(0)),
            "{v}"
        );
    }
    let _worker = alert_worker(&srv, &prefix(), &[]);
    eventually(WAIT, "the builder", || async {
        (unbuilt(&srv).await == 0).then_some(())
    })
    .await;
    // Built: sent again, it is a duplicate.
    let v = post(a.clone()).await;
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    // The bus delivering a built event again, in one message with a new one: the new one is
    // built, the old one not twice (the builder's insert is refused and made again without it).
    let again = store::Incoming::new(&srv.app_code, bkdata_alert::event::clean(&a, now).unwrap());
    let fresh = store::Incoming::new(&srv.app_code, bkdata_alert::event::clean(&b, now).unwrap());
    srv.bus
        .publish(
            bkdata_alert::job::CLEANED_TOPIC,
            &[again.record(), fresh.record()],
        )
        .await
        .unwrap();
    eventually(WAIT, "the builder", || async {
        (unbuilt(&srv).await == 0).then_some(())
    })
    .await;
    use bkdata_models::schema::alert_events as ev;
    let stored: Vec<(String, Option<String>)> = ev::table
        .order(ev::seq)
        .select((ev::id, ev::outcome))
        .load(&mut srv.db.conn())
        .unwrap();
    assert_eq!(
        stored,
        [
            (again.event.id.clone(), Some("created".to_string())),
            (fresh.event.id.clone(), Some("updated".to_string()))
        ]
    );
    let v = srv
        .bk_ok(reqwest::Method::GET, "/v3/alert/alerts/", None)
        .await;
    assert_eq!(
        (v["total"].as_i64(), v["alerts"][0]["event_count"].as_i64()),
        (Some(1), Some(2)),
        "{v}"
    );
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_events_are_rejected_by_index_and_the_rest_accepted() {
    let srv = TestServer::start_with(|c| c.alert_max_events = 5).await;
    let now = chrono::Utc::now().timestamp();
    let events = json!([
        {"severity": 1, "target": "x"},
        {"alert_name": "ok", "time": now},
        {"alert_name": "a", "severity": "critical"},
        {"alert_name": "b", "time": "yesterday"},
        {"strategy_id": 9, "severity": 2},
        {"alert_name": "over the limit"},
        {"alert_name": "over the limit too"}
    ]);
    let v = srv
        .bk_ok(
            reqwest::Method::POST,
            "/v3/alert/events/",
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(v["accepted"], 2, "{v}");
    let rejected: Vec<(u64, String)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let idx: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(idx, [0, 2, 3, 5, 6], "{v}");
    assert!(rejected[0].1.contains("alert_name or strategy_id"));
    assert!(rejected[1].1.contains("unknown severity"));
    assert!(rejected[2].1.contains("unparseable time"));
    assert!(rejected[3].1.contains("batch limit of 5"));
    // A NUL character (Postgres cannot store it) is refused here, not left to fail a build.
    let v = srv
        .bk_ok(
            reqwest::Method::POST,
            "/v3/alert/events/",
            Some(json!([{"alert_name": "nul\u{0}here", "time": now}, {"alert_name": "fine", "time": now}])),
        )
        .await;
    assert_eq!(v["accepted"], 1, "{v}");
    assert_eq!(v["rejected"][0]["index"], 0, "{v}");
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("alert_name holds the NUL character"),
        "{v}"
    );
    // An event a JSON parser refuses (a number out of range) is rejected alone: the body is
    // split into events before any is parsed.
    let body = format!(
        r#"{{"events": [{{"alert_name": "huge", "v": 1e400}}, {{"alert_name": "fine", "time": {now}}}]}}"#
    );
    let (st, v) = srv.post_raw("/v3/alert/events/", body).await;
    assert_eq!((st, &v["result"]), (200, &json!(true)), "{v}");
    assert_eq!(v["data"]["accepted"], 1, "{v}");
    assert_eq!(v["data"]["rejected"][0]["index"], 0, "{v}");
    assert!(
        v["data"]["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("number out of range"),
        "{v}"
    );
    // The same event twice in a batch is stored once.
    let v = srv
        .bk_ok(
            reqwest::Method::POST,
            "/v3/alert/events/",
            Some(
                json!([{"alert_name": "twice", "time": now}, {"alert_name": "twice", "time": now}]),
            ),
        )
        .await;
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let (_, v) = srv
        .bk(
            reqwest::Method::POST,
            "/v3/alert/events/",
            Some(json!({"nope": 1})),
        )
        .await;
    assert_eq!(v["code"], "1500400", "{v}");
    let (_, v) = srv
        .bk(reqwest::Method::GET, "/v3/alert/alerts/?severity=9", None)
        .await;
    assert!(v["errors"]["severity"].is_array(), "{v}");
}

/// Many events for few dedupe_md5s, built by two builders at once in small batches.
#[test]
fn two_builders_at_once_never_open_two_alerts_for_one_dedupe_md5() {
    let db = TestDb::new();
    let now = chrono::Utc::now().timestamp();
    let mut events = Vec::new();
    for round in 0..20 {
        for i in 0..50 {
            let sev = if round % 7 == 6 { 1 } else { 2 };
            let status = if round % 9 == 8 {
                "RECOVERED"
            } else {
                "ABNORMAL"
            };
            events.push(event(
                i,
                sev,
                status,
                now - 500 + round,
                &format!("r{round}"),
            ));
        }
    }
    let r = store::ingest(&mut db.conn(), "app", &events, 10_000, now).unwrap();
    assert_eq!(r.accepted, 1000);
    let pre = prefix();
    let builders: Vec<_> = (0..2)
        .map(|_| {
            let (url, pre) = (db.url.clone(), pre.clone());
            std::thread::spawn(move || {
                let mut conn = bkdata_models::db::connect(&url).unwrap();
                let mut cache = Cache::new(Some("redis://127.0.0.1:6379"), &pre);
                loop {
                    let s = store::build_batch(&mut conn, &mut cache, 37, now).unwrap();
                    if s.events == 0 {
                        break;
                    }
                }
            })
        })
        .collect();
    for b in builders {
        b.join().expect("a builder failed");
    }
    assert_eq!(inbox(&db), 0);
    use bkdata_models::schema::alerts as al;
    let open: Vec<(String, i64)> = al::table
        .filter(al::status.eq("ABNORMAL"))
        .group_by(al::dedupe_md5)
        .select((al::dedupe_md5, diesel::dsl::count_star()))
        .load(&mut db.conn())
        .unwrap();
    assert!(open.iter().all(|(_, n)| *n == 1), "{open:?}");
    let ids: Vec<String> = al::table.select(al::id).load(&mut db.conn()).unwrap();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "alert ids are unique");
    assert!(
        ids.len() > 50,
        "escalations and recoveries made more alerts: {}",
        ids.len()
    );
}

/// A private redis-server, killed on drop.
struct Redis {
    port: u16,
    child: std::process::Child,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_connection()
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { port, child }
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn redis_down_or_restarted_loses_nothing_and_the_snapshot_catches_up() {
    let db = TestDb::new();
    let port = free_port();
    let redis_srv = Redis::start(port);
    let url = redis_srv.url();
    let mut cache = Cache::new(Some(&url), "t.ee");
    let mut conn = db.conn();
    let now = chrono::Utc::now().timestamp();
    let batch = |from: usize, n: &str| {
        (from..from + 100)
            .map(|i| event(i, 2, "ABNORMAL", now - 100, n))
            .collect::<Vec<_>>()
    };
    store::ingest(&mut conn, "app", &batch(0, "a"), 10_000, now).unwrap();
    let s = store::build_batch(&mut conn, &mut cache, 5000, now).unwrap();
    assert!(s.cache_written);
    // Redis down: alerts are still built, and marked for the cache.
    drop(redis_srv);
    store::ingest(&mut conn, "app", &batch(100, "b"), 10_000, now).unwrap();
    let s = store::build_batch(&mut conn, &mut cache, 5000, now).unwrap();
    assert_eq!((s.created, s.cache_written), (100, false));
    use bkdata_models::schema::alerts as al;
    let dirty: i64 = al::table
        .filter(al::cache_dirty.eq(true))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(dirty, 100);
    // Redis back (empty: it keeps nothing): the next pass writes the missed snapshots, and
    // the id sequence continues above what Postgres holds.
    let redis_srv = Redis::start(port);
    store::ingest(&mut conn, "app", &batch(200, "c"), 10_000, now).unwrap();
    let s = store::build_batch(&mut conn, &mut cache, 5000, now).unwrap();
    assert_eq!((s.created, s.cache_written), (100, true));
    let dirty: i64 = al::table
        .filter(al::cache_dirty.eq(true))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(dirty, 0);
    let mut r = redis::Client::open(redis_srv.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let missed: Vec<(String, Option<i64>)> = al::table
        .filter(al::seq.gt(100).and(al::seq.le(200)))
        .select((al::id, al::strategy_id))
        .load(&mut conn)
        .unwrap();
    assert_eq!(missed.len(), 100);
    for (id, _) in &missed {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(format!("t.ee.alert.builder.snapshot.0.{id}"))
            .query(&mut r)
            .unwrap();
        assert_eq!(exists, 1, "{id}");
    }
    let ids: Vec<String> = al::table.select(al::id).load(&mut conn).unwrap();
    assert_eq!(ids.len(), 300);
    let seqs: Vec<i64> = al::table
        .order(al::seq)
        .select(al::seq)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "no id reused after the restart"
    );
}

/// One pass touching more alerts than Postgres' shared lock table holds (6,400 with the
/// default `max_locks_per_transaction` of 64 and 100 connections, plus some slack: a
/// transaction taking 14,000 advisory locks was refused here): built, not refused with "out
/// of shared memory" as it was while a pass took one advisory lock per alert.
#[test]
fn a_pass_over_more_alerts_than_the_lock_table_holds_builds_them_all() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let mut cache = Cache::new(Some("redis://127.0.0.1:6379"), &prefix());
    let t = chrono::Utc::now().timestamp();
    let n = 20_000;
    let incoming: Vec<store::Incoming> = (0..n)
        .map(|i| {
            let e = bkdata_alert::event::clean(&event(i, 2, "ABNORMAL", t - 10, "a"), t).unwrap();
            store::Incoming::new("app", e)
        })
        .collect();
    let s = store::build(&mut conn, &mut cache, incoming, t).unwrap();
    assert_eq!((s.events, s.created), (n, n));
    use bkdata_models::schema::alerts as al;
    let open: i64 = al::table
        .filter(al::status.eq("ABNORMAL"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(open, n as i64);
}

/// An alert no event touched for an hour closes (`next_status`), with a log.
#[test]
fn an_alert_quiet_for_an_hour_closes() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let mut cache = Cache::new(Some("redis://127.0.0.1:6379"), &prefix());
    let t = chrono::Utc::now().timestamp();
    store::ingest(
        &mut conn,
        "app",
        &[event(1, 2, "ABNORMAL", t - 10, "a")],
        10,
        t,
    )
    .unwrap();
    store::build_batch(&mut conn, &mut cache, 100, t).unwrap();
    assert_eq!(
        store::close_due(&mut conn, &mut cache, t + 3599).unwrap(),
        0
    );
    // An update at t + 1800 pushes the close out to t + 5400.
    store::ingest(
        &mut conn,
        "app",
        &[event(1, 2, "ABNORMAL", t + 1800, "b")],
        10,
        t + 1800,
    )
    .unwrap();
    store::build_batch(&mut conn, &mut cache, 100, t + 1800).unwrap();
    assert_eq!(
        store::close_due(&mut conn, &mut cache, t + 3600).unwrap(),
        0
    );
    assert_eq!(
        store::close_due(&mut conn, &mut cache, t + 5400).unwrap(),
        1
    );
    use bkdata_models::schema::{alert_logs as lg, alerts as al};
    let (status, end): (String, Option<i64>) = al::table
        .select((al::status, al::end_time))
        .first(&mut conn)
        .unwrap();
    assert_eq!((status.as_str(), end), ("CLOSED", Some(t + 5400)));
    let ops: Vec<String> = lg::table
        .order(lg::id)
        .select(lg::op_type)
        .load(&mut conn)
        .unwrap();
    assert_eq!(ops, ["CREATE", "CLOSE"]);
}

/// Producers on the bus: events published to `alert.events` are stored and built like the
/// HTTP ones; one without its app, or bad, is skipped and the others go on.
#[tokio::test(flavor = "multi_thread")]
async fn events_published_on_the_bus_build_alerts() {
    use bkdata_bus::Bus;
    let srv = nats_server().await;
    let _worker = alert_worker(&srv, &prefix(), &[]);
    let now = chrono::Utc::now().timestamp();
    let mut ok = event(7, 1, "ABNORMAL", now - 5, "bus");
    ok["bk_app_code"] = json!(srv.app_code);
    let mut no_app = event(8, 1, "ABNORMAL", now - 5, "bus");
    no_app["alert_name"] = json!("no app");
    let mut bad = event(9, 1, "ABNORMAL", now - 5, "bus");
    bad["bk_app_code"] = json!(srv.app_code);
    bad["time"] = json!("not a time");
    let records: Vec<Vec<u8>> = [ok, no_app, bad]
        .iter()
        .map(|e| e.to_string().into_bytes())
        .collect();
    srv.bus
        .publish(bkdata_alert::bus::TOPIC, &records)
        .await
        .unwrap();
    let v = eventually(WAIT, "the alert from the bus", || async {
        let v = srv
            .bk_ok(reqwest::Method::GET, "/v3/alert/alerts/?query=h7", None)
            .await;
        (v["total"] == 1).then_some(v)
    })
    .await;
    assert_eq!(v["alerts"][0]["severity"], 1, "{v}");
    let all = srv
        .bk_ok(reqwest::Method::GET, "/v3/alert/alerts/", None)
        .await;
    assert_eq!(all["total"], 1, "only the good event built: {all}");
    srv.cleanup_bus().await;
}

/// With an `es` cluster named for alerts, alerts are upserted into `write_{day}_bkfta_alert`
/// (with its read alias) and events indexed into `write_{day}_bkfta_event`; 429s are retried
/// and a document refused for good is kept with why. Tested against the documented bulk
/// protocol (an Elasticsearch stand-in: ES cannot be installed here).
#[tokio::test(flavor = "multi_thread")]
async fn alert_and_event_documents_reach_elasticsearch() {
    let es = FakeEs::start().await;
    es.state.lock().unwrap().throttle_every = 3;
    let srv = nats_server().await;
    srv.bk_ok(
        reqwest::Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "alert-es", "cluster_type": "es",
            "connection_info": {"host": "127.0.0.1", "port": es.port}})),
    )
    .await;
    let _worker = alert_worker(&srv, &prefix(), &[("BKDATA_ALERT_ES_CLUSTER", "alert-es")]);
    let now = chrono::Utc::now().timestamp();
    let events: Vec<Value> = (0..20)
        .map(|i| {
            event(
                i % 10,
                2,
                "ABNORMAL",
                now - 100 + (i as i64),
                &format!("n{i}"),
            )
        })
        .collect();
    let refused = bkdata_alert::event::clean(&events[19], now).unwrap().id;
    es.state.lock().unwrap().refuse_ids.insert(refused.clone());
    let v = srv
        .bk_ok(
            reqwest::Method::POST,
            "/v3/alert/events/",
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(v["event_ids"][19], refused.as_str());
    eventually(WAIT, "the outbox to drain", || async {
        use bkdata_models::schema::alert_es_outbox as ob;
        // Built first (outcomes and the outbox commit together), then the outbox empty.
        if unbuilt(&srv).await != 0 {
            return None;
        }
        let n: i64 = ob::table.count().get_result(&mut srv.db.conn()).unwrap();
        (n == 0).then_some(())
    })
    .await;
    let day = chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .format("%Y%m%d")
        .to_string();
    let alerts = es.docs_in(&format!("write_{day}_bkfta_alert"));
    assert_eq!(alerts.len(), 10, "one document per alert");
    assert!(
        alerts.iter().all(|a| a["event_count"] == 2),
        "upserted to the latest: {alerts:?}"
    );
    let events = es.docs_in(&format!("write_{day}_bkfta_event"));
    assert_eq!(events.len(), 19, "every event but the refused one");
    {
        let s = es.state.lock().unwrap();
        assert_eq!(
            s.aliases.get(&format!("bkfta_alert_{day}_read")),
            Some(&format!("write_{day}_bkfta_alert"))
        );
        assert!(
            !s.throttled.is_empty(),
            "some items were answered 429 and retried"
        );
    }
    use bkdata_models::schema::alert_es_rejected as rj;
    let rejected: Vec<(String, String)> = rj::table
        .select((rj::doc_id, rj::error))
        .load(&mut srv.db.conn())
        .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, refused);
    assert!(
        rejected[0].1.contains("mapper_parsing_exception"),
        "{rejected:?}"
    );
    srv.cleanup_bus().await;
}

/// A result table shipped to the data storage type `alert`: its rows become events, built
/// into alerts (here: ERROR lines of a bklog clean, one alert per ip).
#[tokio::test(flavor = "multi_thread")]
async fn a_result_table_shipped_to_the_alert_storage_raises_alerts() {
    use bkdata_tests::seed000::{envelope_with, raw_and_clean};
    let srv = nats_server().await;
    let _worker = alert_worker(&srv, &prefix(), &[]);
    let (raw, rt) = raw_and_clean(&srv, 2, "alert_src").await;
    let d = srv
        .bk_ok(
            reqwest::Method::POST,
            "/v3/databus/data_storages/",
            Some(json!({"result_table_id": rt, "storage_type": "alert",
                "storage_config": {"alert_name": "app log", "severity": 2, "target_field": "ip",
                                   "target_type": "HOST", "dedupe_keys": ["tags.level"]}})),
        )
        .await;
    assert_eq!(d["storage_cluster"], "default-alert", "{d}");
    srv.bk_ok(
        reqwest::Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": rt})),
    )
    .await;
    // 30 lines of now (events older than a day build nothing) over 30 ips; levels by i % 3.
    let utc = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let lines: String = (0..30u64)
        .map(|i| envelope_with(i, &utc, "boom") + "\n")
        .collect();
    let (s, v) = srv.ingest(raw, lines).await;
    assert_eq!(s, 200, "{v}");
    let v = eventually(WAIT, "alerts from the rows", || async {
        let v = srv
            .bk_ok(
                reqwest::Method::GET,
                "/v3/alert/alerts/?page_size=100",
                None,
            )
            .await;
        (v["total"].as_i64() == Some(30)).then_some(v)
    })
    .await;
    let a = &v["alerts"][0];
    assert_eq!(
        (a["alert_name"].as_str(), a["severity"].as_i64()),
        (Some("app log"), Some(2)),
        "{a}"
    );
    assert!(
        a["event"]["target"].as_str().unwrap().starts_with("10.0."),
        "{a}"
    );
    assert!(
        a["dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "level"),
        "{a}"
    );
    let t = srv
        .bk_ok(
            reqwest::Method::GET,
            &format!("/v3/databus/tasks/{rt}/"),
            None,
        )
        .await;
    assert_eq!(t["storages"]["alert"]["rows_written"], 30, "{t}");
    srv.cleanup_bus().await;
}
