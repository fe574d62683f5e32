//! Shared helpers for the loopback tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use jira_sim::{DEFAULT_EMAIL, DEFAULT_TOKEN, SimConfig, Simulator};
use serde_json::{Value, json};

pub async fn start() -> (Simulator, Api) {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> (Simulator, Api) {
    let sim = Simulator::start(config).await;
    let api = Api { base: sim.base_url().to_owned(), http: reqwest::Client::new() };
    (sim, api)
}

/// A tiny client that sends the default credentials.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, self.url(path)).basic_auth(DEFAULT_EMAIL, Some(DEFAULT_TOKEN));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Creates a Task in SIM and returns its key.
    pub async fn create(&self, summary: &str, labels: &[&str]) -> String {
        let r = self
            .post(
                "/rest/api/3/issue",
                json!({"fields": {
                    "project": {"key": "SIM"},
                    "issuetype": {"name": "Task"},
                    "summary": summary,
                    "description": adf("Created by a test."),
                    "labels": labels,
                }}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["key"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

/// One webhook delivery as a receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

#[derive(Default)]
struct ReceiverState {
    got: Vec<Received>,
    /// Statuses to answer, in order, before answering 200.
    script: Vec<u16>,
}

/// A webhook receiver on loopback.
#[derive(Clone)]
pub struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = Router::new().route("/hook", post(receive)).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, url: format!("http://{addr}/hook") }
    }

    /// The next answers, before falling back to 200.
    pub fn answer(&self, statuses: &[u16]) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).script = statuses.to_vec();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).got.clone()
    }

    pub fn events(&self) -> Vec<String> {
        self.received().iter().map(|r| r.json()["webhookEvent"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

async fn receive(State(state): State<Arc<Mutex<ReceiverState>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.got.push(Received { headers, body });
    if s.script.is_empty() {
        StatusCode::OK
    } else {
        let code = s.script.remove(0);
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
    }
}
