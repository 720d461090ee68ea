//! Authenticated test apps: a JWT secret and a first administrator, members, and requests sent
//! with a member's credentials.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::Api;
use crate::{TestApp, expect_status};

/// The `BATON_JWT_SECRET` of authenticated test apps.
pub const JWT_SECRET: &str = "test-only secret, 32 bytes or more: 0123456789";
pub const ADMIN_EMAIL: &str = "admin@baton.test";
pub const ADMIN_PASSWORD: &str = "the admin's password";
/// The password of members created by [`TestApp::create_member`].
pub const MEMBER_PASSWORD: &str = "a member's password";

/// A user created for a test, logged in.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// Requests sent with one set of credentials.
pub struct Session<'a> {
    app: &'a TestApp,
    header: (&'static str, String),
}

impl TestApp {
    /// The app with authentication on (`BATON_JWT_SECRET`) and a first administrator.
    pub async fn spawn_authenticated() -> TestApp {
        Self::spawn_authenticated_with(&[]).await
    }

    pub async fn spawn_authenticated_with(vars: &[(&str, &str)]) -> TestApp {
        let mut all = vec![
            ("BATON_JWT_SECRET", JWT_SECRET),
            ("BATON_ADMIN_EMAIL", ADMIN_EMAIL),
            ("BATON_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ];
        all.extend_from_slice(vars);
        Self::spawn_with(&all).await
    }

    /// `POST /api/auth/login` as-is.
    pub async fn login_response(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in and returns the access token, failing the test unless it answers 200.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = expect_status(self.login_response(email, password).await, StatusCode::OK).await;
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// The first administrator's access token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates a user with `role` as the administrator of `admin_token`, and logs them in.
    pub async fn create_user(&self, admin_token: &str, email: &str, role: &str) -> Member {
        let user = self
            .bearer(admin_token)
            .post_json(
                "/api/admin/users",
                &json!({"email": email, "password": MEMBER_PASSWORD, "role": role}),
            )
            .await;
        let user = expect_status(user, StatusCode::CREATED).await;
        Member {
            id: user["id"].as_str().expect("a user id").to_owned(),
            email: email.to_owned(),
            token: self.login(email, MEMBER_PASSWORD).await,
        }
    }

    /// Creates a member (see [`TestApp::create_user`]).
    pub async fn create_member(&self, admin_token: &str, email: &str) -> Member {
        self.create_user(admin_token, email, "member").await
    }

    /// Requests with `Authorization: Bearer <token>` (an access token or an API key).
    pub fn bearer(&self, token: &str) -> Session<'_> {
        Session {
            app: self,
            header: ("Authorization", format!("Bearer {token}")),
        }
    }

    /// Requests with `X-API-Key: <key>`.
    pub fn api_key(&self, key: &str) -> Session<'_> {
        Session {
            app: self,
            header: ("X-API-Key", key.to_owned()),
        }
    }
}

impl Api for Session<'_> {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.app
            .request(method, path)
            .header(self.header.0, &self.header.1)
    }
}

impl Session<'_> {
    pub async fn create_api_key(&self, name: &str) -> Value {
        expect_status(
            self.post_json("/api/api-keys", &json!({"name": name}))
                .await,
            StatusCode::CREATED,
        )
        .await
    }
}
