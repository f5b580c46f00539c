//! Test support: a fresh database per test, an in-process server on a free port, worker
//! processes (`bkdata-test-worker`, the real worker with test steps), and polling helpers.
pub mod conformance;
pub mod fake_es;
pub mod seed000;
pub mod seed004;

use bkdata_models::db;
use rand::Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub fn pg_base() -> String {
    std::env::var("BKDATA_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of its own, migrated; dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> Self {
        Self::create(true)
    }

    /// A database with no schema (for the "not migrated" checks).
    pub fn empty() -> Self {
        Self::create(false)
    }

    fn create(migrate: bool) -> Self {
        let name = format!(
            "bkdata_t_{}_{:08x}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        );
        // Loopback only: no TLS. (With TLS, libpq's OpenSSL teardown at process exit can race
        // r2d2 threads still reconnecting after the outage test, and crash the test process.)
        let url = format!("{}/{name}?sslmode=disable", pg_base());
        if migrate {
            clone_template(&name);
        } else {
            assert!(db::create_database_if_missing(&url).expect("create test database"));
        }
        TestDb { name, url }
    }

    pub fn pool(&self) -> bkdata_models::PgPool {
        db::pool(&self.url, 8).expect("pool")
    }

    pub fn conn(&self) -> diesel::PgConnection {
        db::connect(&self.url).expect("connect")
    }
}

/// Create database `name` as a copy of the migrated template of this checkout's migrations
/// (`bkdata_tpl_{hash}`), making the template first if no test has yet: one migration run per
/// schema instead of one per test.
fn clone_template(name: &str) {
    use diesel::RunQueryDsl;
    let tpl = template_name();
    let admin_url = format!("{}/postgres?sslmode=disable", pg_base());
    let mut admin = db::connect(&admin_url).expect("connect to postgres");
    let exists = |c: &mut diesel::PgConnection, db: &str| -> bool {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let r: N = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_database WHERE datname = '{db}'"
        ))
        .get_result(c)
        .expect("pg_database");
        r.n > 0
    };
    if !exists(&mut admin, &tpl) {
        // One process builds it (the others wait on the lock), under a temporary name so no
        // one clones a half-migrated database.
        diesel::sql_query("SELECT pg_advisory_lock(7241930116)")
            .execute(&mut admin)
            .expect("lock");
        if !exists(&mut admin, &tpl) {
            let building = format!("{tpl}_building");
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .execute(&mut admin);
            diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
                .execute(&mut admin)
                .expect("create template");
            {
                let mut c = db::connect(&format!("{}/{building}?sslmode=disable", pg_base()))
                    .expect("connect to template");
                db::run_migrations(&mut c).expect("migrate template");
            }
            diesel::sql_query(format!("ALTER DATABASE \"{building}\" RENAME TO \"{tpl}\""))
                .execute(&mut admin)
                .expect("name template");
        }
        diesel::sql_query("SELECT pg_advisory_unlock(7241930116)")
            .execute(&mut admin)
            .expect("unlock");
    }
    diesel::sql_query(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{tpl}\""))
        .execute(&mut admin)
        .expect("clone the template database");
}

/// The template of the migrations as they are in this checkout (a hash of their files).
fn template_name() -> String {
    use std::hash::{Hash, Hasher};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<PathBuf> = walk_files(&dir);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        f.strip_prefix(&dir).unwrap_or(f).hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    format!("bkdata_tpl_{:016x}", h.finish())
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        use diesel::RunQueryDsl;
        if let Ok(mut c) = db::connect(&format!("{}/postgres", pg_base())) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

/// A business database of the test's own with seed 002's highway schema and `days` of
/// figures. Its client runs a runtime of its own: call inside `block_in_place`.
pub fn highway_db(days: u32) -> TestDb {
    let biz = TestDb::empty();
    let mut c = bkdata_training::catalog::connect(&biz.url, "test business db").unwrap();
    bkdata_training::demo::create_highway(&mut c, days).unwrap();
    biz
}

/// The business database registry naming `url` `highway_db`, the default.
pub fn highway_registry(url: String) -> bkdata_training::registry::Registry {
    bkdata_training::registry::Registry {
        default: Some("highway_db".into()),
        databases: [(
            "highway_db".to_string(),
            bkdata_training::registry::BusinessDb {
                url,
                description: "test".into(),
            },
        )]
        .into(),
    }
}

/// A folder under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "bkdata-{tag}-{}-{:08x}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p.canonicalize().unwrap())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server running in this process, with its own database, data folder and app.
pub struct TestServer {
    pub db: TestDb,
    pub root: TempDir,
    pub data_dir: PathBuf,
    pub base: String,
    pub app_code: String,
    pub secret: String,
    pub client: reqwest::Client,
    pub bus: bkdata_bus::AnyBus,
    nats_url: String,
    bus_prefix_cfg: String,
    bus_replicas: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server (and, through [`TestServer::worker`], workers) on a private NATS cluster,
    /// each stream kept on every node.
    pub async fn on_cluster(cluster: &PrivateNatsCluster) -> Self {
        let urls = cluster.urls();
        Self::start_with(|c| {
            c.nats_url = urls;
            c.bus_replicas = cluster.nodes.len();
        })
        .await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut bkdata_server::Config)) -> Self {
        let db = TestDb::new();
        let root = TempDir::new("srv");
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut config = bkdata_server::Config {
            database_url: db.url.clone(),
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.clone(),
            max_body_bytes: bkdata_server::DEFAULT_MAX_BODY_BYTES,
            pool_size: 8,
            nats_url: "memory".into(),
            bus_replicas: 1,
            bus_prefix: format!("bkt{:08x}", rand::thread_rng().gen::<u32>()),
            max_ingest_bytes: bkdata_server::DEFAULT_MAX_INGEST_BYTES,
            max_ingest_records: 200_000,
            query_max_rows: 10_000,
            query_timeout_ms: 30_000,
            alert_max_events: 10_000,
            business_dbs: Default::default(),
            console_dir: None,
        };
        tweak(&mut config);
        let secret = {
            let mut c = db.conn();
            bkdata_databus::clusters::ensure_default_postgres(&mut c, &db.url).unwrap();
            bkdata_models::auth::create_app(&mut c, "test-app", "", false).unwrap()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (nats_url, bus_prefix_cfg) = (config.nats_url.clone(), config.bus_prefix.clone());
        let bus_replicas = config.bus_replicas.to_string();
        let bus = bkdata_bus::AnyBus::connect(&config.nats_url, &config.bus_prefix)
            .await
            .expect("bus")
            .with_replicas(config.bus_replicas);
        let state = bkdata_server::AppState::new(config, db.pool(), bus.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bkdata_server::serve(state, listener, async move {
            let _ = rx.await;
        }));
        TestServer {
            db,
            root,
            data_dir,
            base,
            app_code: "test-app".into(),
            secret,
            client: reqwest::Client::new(),
            bus,
            nats_url,
            bus_prefix_cfg,
            bus_replicas,
            _shutdown: tx,
        }
    }

    pub fn bus_prefix(&self) -> String {
        match &self.bus {
            bkdata_bus::AnyBus::Nats(n) => n.subject("x").trim_end_matches(".x").to_string(),
            bkdata_bus::AnyBus::Memory(_) => String::new(),
        }
    }

    /// Delete the bus topics this server created (NATS streams outlive the test otherwise).
    pub async fn cleanup_bus(&self) {
        if let bkdata_bus::AnyBus::Nats(n) = &self.bus {
            n.delete_all_topics().await.expect("delete test streams");
        }
    }

    /// A `bkdata-api` client of this server, as user `alice`.
    pub fn bkdata_client(&self) -> bkdata_api::client::BkDataClient {
        bkdata_api::client::BkDataClient::builder()
            .base_url(&self.base)
            .app(&self.app_code, &self.secret)
            .username("alice")
            .build()
            .unwrap()
    }

    pub fn auth_header(&self) -> String {
        serde_json::json!({"bk_app_code": self.app_code, "bk_app_secret": self.secret, "bk_username": "tester"}).to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v0/data_pipeline{path}", self.base)
    }

    /// A JSON call to any path (BKData endpoints), authenticated; answers status and body.
    pub async fn bk(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.bk_as(&self.auth_header(), method, path, body).await
    }

    /// Create another app; answers its `X-Bkapi-Authorization` header value (user `eve`).
    pub fn other_app(&self, app_code: &str) -> String {
        let mut c = self.db.conn();
        let secret = bkdata_models::auth::create_app(&mut c, app_code, "", false).unwrap();
        serde_json::json!({"bk_app_code": app_code, "bk_app_secret": secret, "bk_username": "eve"})
            .to_string()
    }

    /// `bk` with the credentials of another app (see `other_app`).
    pub async fn bk_as(
        &self,
        auth: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("X-Bkapi-Authorization", auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.api(path))
            .header("X-Bkapi-Authorization", self.auth_header())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.api(path))
            .header("X-Bkapi-Authorization", self.auth_header())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Create a task; `context` drives the test steps (see the test worker).
    pub async fn create_task(&self, context: &str) -> String {
        let (s, v) = self
            .post("/tasks", serde_json::json!({"table_list_file": "tables.txt", "business_context": context, "db_name": "highway_db"}))
            .await;
        assert_eq!(s, 201, "{v}");
        v["data"]["task_id"].as_str().unwrap().to_string()
    }

    /// Poll the task until its status is one of `want`.
    pub async fn wait_status(&self, task_id: &str, want: &[&str], within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (_, v) = self.get(&format!("/tasks/{task_id}")).await;
            let live = v["data"]["current_execution"]["status"]
                .as_str()
                .map(|s| s == "pending" || s == "running")
                .unwrap_or(false);
            if want.contains(&v["data"]["status"].as_str().unwrap_or("")) && !live {
                return v["data"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "task {task_id} never reached {want:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Poll until the task's `step` has `status`.
    pub async fn wait_step(&self, task_id: &str, step: &str, status: &str, within: Duration) {
        eventually(within, &format!("{task_id} {step} {status}"), || async {
            let (_, v) = self.get(&format!("/tasks/{task_id}")).await;
            (v["data"]["step_status"][step] == status).then_some(())
        })
        .await
    }

    /// A worker on this server's database, data folder and bus (its servers and replicas).
    pub fn worker(&self, env: &[(&str, &str)]) -> WorkerProc {
        let mut all = vec![
            ("NATS_URL", self.nats_url.as_str()),
            ("BKDATA_BUS_PREFIX", self.bus_prefix_cfg.as_str()),
            ("BKDATA_BUS_REPLICAS", self.bus_replicas.as_str()),
        ];
        all.extend_from_slice(env);
        WorkerProc::spawn(&self.db.url, &self.data_dir, &all)
    }
}

/// A `bkdata-test-worker` process; SIGKILLed on drop if still running.
pub struct WorkerProc {
    pub child: Child,
}

impl WorkerProc {
    pub fn spawn(db_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn_bin("bkdata-test-worker", db_url, data_dir, env)
    }

    /// A worker of another binary (`bkdata-worker`: the real steps).
    pub fn spawn_bin(bin: &str, db_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(workspace_bin(bin));
        cmd.env("DATABASE_URL", db_url)
            .env("BKDATA_DATA_DIR", data_dir)
            .env("BKDATA_JOB_POLL_MS", "200")
            .env("BKDATA_METRICS_INTERVAL_MS", "500")
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        WorkerProc {
            child: cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}")),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGTERM, then wait for the exit (with a deadline).
    pub fn stop(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "worker did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` until it answers `Some`, or panic after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Poll `f` until it answers `Ok`, or panic after `within` with what it last answered.
pub async fn eventually_showing<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last seen: {last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Path of a workspace binary built beside the test binaries (`target/<profile>/<name>`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    dir.join(name)
}

/// The machine's NATS server (JetStream on).
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A test server on the machine's NATS.
pub async fn nats_server() -> TestServer {
    TestServer::start_with(|c| c.nats_url = nats_url()).await
}

impl TestServer {
    /// POST records to a raw data's ingest endpoint; answers status and body.
    pub async fn ingest(&self, raw_id: i64, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_raw(&format!("/v3/databus/rawdatas/{raw_id}/ingest/"), body)
            .await
    }

    /// POST a body as it is (not necessarily JSON) to any path, authenticated; answers status
    /// and body.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("X-Bkapi-Authorization", self.auth_header())
            .body(body)
            .send()
            .await;
        match r {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(e) => panic!("POST {path} failed: {e}"),
        }
    }

    /// A BKData call that must succeed (`result: true`); answers `data`.
    pub async fn bk_ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.bk(method.clone(), path, body).await;
        assert!(s == 200 && v["result"] == true, "{method} {path}: {s} {v}");
        v["data"].clone()
    }
}

/// A private NATS server with JetStream on a free port, storing under a temp folder, that a
/// test may stop and restart (the store survives).
pub struct PrivateNats {
    pub port: u16,
    pub store: TempDir,
    child: Option<Child>,
    /// More arguments (a cluster node's name and routes).
    extra: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateNats {
    pub fn start() -> Self {
        Self::start_with(free_port(), Vec::new())
    }

    fn start_with(port: u16, extra: Vec<String>) -> Self {
        let mut n = PrivateNats {
            port,
            store: TempDir::new("nats"),
            child: None,
            extra,
        };
        n.restart();
        n
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)start the server and wait until it accepts connections.
    pub fn restart(&mut self) {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("nats-server");
        let child = Command::new(bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .args(&self.extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        // Ready when *our* server answers: it greets with `INFO`. (While it was stopped another
        // process may have taken the port; a bare connect would then pass and the test would
        // wait on a bus that never comes back.)
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "nats-server on port {} exited at start ({status}): is the port taken?",
                        self.port
                    );
                }
            }
            if self.greets() {
                return;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a NATS server answers on the port.
    fn greets(&self) -> bool {
        use std::io::Read;
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut head = [0u8; 4];
        s.read_exact(&mut head).is_ok() && &head == b"INFO"
    }

    /// Stop the server (SIGTERM, as an operator's restart does) and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

/// A private NATS cluster of `n` JetStream servers on loopback ports (as
/// `scripts/nats-cluster.sh` starts one), for replicated streams.
pub struct PrivateNatsCluster {
    pub nodes: Vec<PrivateNats>,
}

impl PrivateNatsCluster {
    pub async fn start(n: usize) -> Self {
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let routes = cluster_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = (0..n)
            .map(|i| {
                PrivateNats::start_with(
                    free_port(),
                    vec![
                        "-n".into(),
                        format!("n{i}"),
                        "--cluster_name".into(),
                        "bkt".into(),
                        "--cluster".into(),
                        format!("nats://127.0.0.1:{}", cluster_ports[i]),
                        "--routes".into(),
                        routes.clone(),
                    ],
                )
            })
            .collect();
        let c = PrivateNatsCluster { nodes };
        c.wait_for_jetstream(n).await;
        c
    }

    /// Every node's URL, comma-separated (what `NATS_URL` takes).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(PrivateNats::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Until the cluster has elected its JetStream leader and a stream of `replicas` can be
    /// made (a few seconds after the servers start).
    pub async fn wait_for_jetstream(&self, replicas: usize) {
        let prefix = format!("ready{:08x}", rand::thread_rng().gen::<u32>());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let made = async {
                let bus = bkdata_bus::NatsBus::connect(&self.urls(), &prefix)
                    .await?
                    .with_replicas(replicas);
                use bkdata_bus::Bus;
                bus.publish("probe", &[b"x".to_vec()]).await
            };
            match tokio::time::timeout(Duration::from_secs(10), made).await {
                Ok(Ok(_)) => return,
                other => assert!(
                    Instant::now() < deadline,
                    "the NATS cluster did not make a stream of {replicas} replicas: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
