use baton_postgres::PgStore;
use baton_server::{Application, Config, telemetry};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::database::{self, TestDatabase};

/// The real application on a random port, over a database of its own.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: Client,
    pub config: Config,
    store: PgStore,
    // Dropped last: the database outlives everything that uses it.
    pub database: TestDatabase,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts the app with extra environment variables on top of the test defaults.
    pub async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(TestDatabase::new(), vars).await
    }

    /// Another instance of the app on this app's database (as a second Baton process would be).
    pub async fn sibling(&self, vars: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(self.database.shared(), vars).await
    }

    async fn spawn_on(database: TestDatabase, vars: &[(&str, &str)]) -> TestApp {
        telemetry::init_for_test();
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database.url.clone()),
            ("BATON_BIND".into(), "127.0.0.1:0".into()),
            ("BATON_HTTP_WORKERS".into(), "1".into()),
            ("BATON_DB_POOL_SIZE".into(), "8".into()),
            // Tests run their fake third parties on 127.0.0.1; the SSRF guard's own tests turn
            // this off.
            ("BATON_FETCH_ALLOW_PRIVATE".into(), "true".into()),
            // Tests poll and hammer; the rate limit's own tests set a small one.
            ("BATON_RATE_LIMIT_PER_MINUTE".into(), "10000000".into()),
        ];
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("test configuration");
        let app = Application::build(config.clone())
            .await
            .expect("build the application");
        let port = app.port();
        let store = app.store().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
            config,
            store,
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("GET request")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE request")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("request with a JSON body")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, body).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    /// Creates a workflow and returns its JSON, failing the test unless it answers 201.
    pub async fn create_workflow(&self, body: &Value) -> Value {
        let response = self.post_json("/api/workflows", body).await;
        expect_status(response, StatusCode::CREATED).await
    }

    /// How many SQL statements the app has sent so far.
    pub fn statements(&self) -> u64 {
        self.store.statements_executed()
    }

    /// A digest of every row: equal before and after means the request changed nothing.
    pub async fn snapshot(&self) -> String {
        database::snapshot(&mut self.database.connect().await).await
    }

    /// Puts a workflow in `status` directly in the database, as if a run had moved it there.
    pub async fn force_workflow_status(&self, workflow_id: &str, status: &str) {
        database::force_workflow_status(&mut self.database.connect().await, workflow_id, status)
            .await;
    }

    /// A workflow's events in order, as `(type, data)`.
    pub async fn events(&self, workflow_id: &str) -> Vec<(String, Value)> {
        database::events(&mut self.database.connect().await, workflow_id).await
    }

    /// The data of every event of `event_type`.
    pub async fn events_of_type(&self, event_type: &str) -> Vec<Value> {
        database::events_of_type(&mut self.database.connect().await, event_type).await
    }

    /// Polls the workflow until its status is one of `statuses` (failing after `timeout`).
    pub async fn wait_for_workflow(
        &self,
        workflow_id: &str,
        statuses: &[&str],
        timeout: std::time::Duration,
    ) -> Value {
        wait_for_workflow(&self.client, &self.address, workflow_id, statuses, timeout).await
    }

    /// Every stored API key row, as text.
    pub async fn snapshot_api_keys(&self) -> String {
        database::api_keys_text(&mut self.database.connect().await).await
    }

    /// Makes every idempotency key `hours` older.
    pub async fn age_idempotency_keys(&self, hours: i32) {
        database::age_idempotency_keys(&mut self.database.connect().await, hours).await;
    }

    /// Marks `key` as held by a request still in flight for `principal`.
    pub async fn hold_idempotency_key(&self, principal: uuid::Uuid, key: &str, fingerprint: &[u8]) {
        database::hold_idempotency_key(
            &mut self.database.connect().await,
            principal,
            key,
            fingerprint,
        )
        .await;
    }

    /// Rows in one of Baton's tables (`workflows`, `tasks`, `events`, `documents`, `users`,
    /// `api_keys`, `idempotency_keys`).
    pub async fn count(&self, table: &str) -> i64 {
        Self::count_in(&self.database, table).await
    }

    /// Rows of a table of `database` (for tests that run `baton` as a process).
    pub async fn count_in(database: &TestDatabase, table: &str) -> i64 {
        database::count(&mut database.connect().await, table).await
    }
}

/// The body of `response` as JSON after checking its status (the body is shown when it differs).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Polls `GET /api/workflows/{id}` on `address` until its status is one of `statuses`.
pub async fn wait_for_workflow(
    client: &Client,
    address: &str,
    workflow_id: &str,
    statuses: &[&str],
    timeout: std::time::Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let response = client
            .get(format!("{address}/api/workflows/{workflow_id}"))
            .send()
            .await
            .expect("GET the workflow");
        let workflow: Value = response.json().await.expect("workflow JSON");
        let status = workflow["status"].as_str().unwrap_or_default();
        if statuses.contains(&status) {
            return workflow;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "workflow {workflow_id} still {status} after {timeout:?}: {workflow}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
