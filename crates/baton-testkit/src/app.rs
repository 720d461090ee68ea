use baton_server::store::Store;
use baton_server::{Application, Config, telemetry};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::database::TestDatabase;
use crate::{Api, Backend};

/// The `BATON_SECRETS_KEY` test apps run with (32 bytes, base64).
pub const SECRETS_KEY: &str = "q1Xy0VbqP0n3q9mNQmv0kqzYb3o4uV9cX2yT1ZzGm8Y=";

/// The real application on a random port, over a database of its own.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: Client,
    pub config: Config,
    store: Store,
    // Dropped last: the database outlives everything that uses it.
    pub database: TestDatabase,
}

impl Api for TestApp {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts the app with extra environment variables on top of the test defaults, on a fresh
    /// store of the [`Backend`] the run is given.
    pub async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(Backend::from_env().fresh_database(), vars).await
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
            // Secrets on, whatever the store; the key-file default has tests of its own.
            ("BATON_SECRETS_KEY".into(), SECRETS_KEY.into()),
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

    /// How many SQL statements the app has sent so far.
    pub fn statements(&self) -> u64 {
        self.store.statements_executed()
    }

    /// A digest of every row: equal before and after means the request changed nothing.
    pub async fn snapshot(&self) -> String {
        self.database.snapshot().await
    }

    /// Puts a workflow in `status` directly in the store, as if a run had moved it there.
    pub async fn force_workflow_status(&self, workflow_id: &str, status: &str) {
        self.database
            .force_workflow_status(workflow_id, status)
            .await;
    }

    /// A workflow's events in order, as `(type, data)`.
    pub async fn events(&self, workflow_id: &str) -> Vec<(String, Value)> {
        self.database.events(workflow_id).await
    }

    /// The data of every event of `event_type`.
    pub async fn events_of_type(&self, event_type: &str) -> Vec<Value> {
        self.database.events_of_type(event_type).await
    }

    /// Every stored API key row, as text.
    pub async fn snapshot_api_keys(&self) -> String {
        self.database.api_keys_text().await
    }

    /// Makes every idempotency key `hours` older.
    pub async fn age_idempotency_keys(&self, hours: i32) {
        self.database.age_idempotency_keys(hours).await;
    }

    /// Marks `key` as held by a request still in flight for `principal`.
    pub async fn hold_idempotency_key(&self, principal: uuid::Uuid, key: &str, fingerprint: &[u8]) {
        self.database
            .hold_idempotency_key(principal, key, fingerprint)
            .await;
    }

    /// Rows in one of Baton's tables (`workflows`, `tasks`, `events`, `documents`, `users`,
    /// `api_keys`, `idempotency_keys`, `secrets`, `definitions`, `schedules`).
    pub async fn count(&self, table: &str) -> i64 {
        self.database.count(table).await
    }

    /// Rows of a table of `database` (for tests that run `baton` as a process).
    pub async fn count_in(database: &TestDatabase, table: &str) -> i64 {
        database.count(table).await
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
