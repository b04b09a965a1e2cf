//! A small HTTP client for tests that drive a real server: every answer as status, JSON body and
//! headers, never a panic.

use serde_json::Value;

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body as JSON (`null` when it is not JSON).
    pub body: Value,
    /// The `ETag`, if any.
    pub etag: Option<String>,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// Every `Set-Cookie`, in order.
    pub set_cookies: Vec<String>,
    /// The `X-Request-Id`, if any.
    pub request_id: Option<String>,
    /// The body as text (empty for a stream).
    pub text: String,
}

impl Answer {
    /// The problem's slug of an error answer (`urn:canopy:problem:SLUG`).
    pub fn slug(&self) -> String {
        self.body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("urn:canopy:problem:"))
            .unwrap_or("?")
            .to_string()
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// One path segment, percent-encoded (a path such as `acme/eng` becomes one segment).
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Http {
    /// A client of the server at `base`.
    pub fn new(base: &str) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Sends a request; `token` as the bearer, `body` as JSON.
    pub async fn send(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        self.send_with(token, method, path, body, &[]).await
    }

    /// Sends a request with extra headers.
    pub async fn send_with(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        self.exchange(token, method, path, body, headers, false)
            .await
    }

    /// Sends a request whose answer may be an endless stream: a success's status and headers,
    /// without reading its body (an error is read whole).
    pub async fn open(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Answer, String> {
        self.exchange(token, method, path, None, &[], true).await
    }

    /// Sends a request with a raw body (`content-type: application/json`), which need not be
    /// JSON at all.
    pub async fn send_raw(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("{method}: {e}"))?;
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::answer(
            path,
            req.send().await.map_err(|e| format!("{path}: {e}"))?,
            false,
        )
        .await
    }

    async fn exchange(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        stream: bool,
    ) -> Result<Answer, String> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("{method}: {e}"))?;
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        Self::answer(path, r, stream).await
    }

    async fn answer(path: &str, r: reqwest::Response, stream: bool) -> Result<Answer, String> {
        let status = r.status().as_u16();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let set_cookies = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let request_id = header("x-request-id");
        if stream && (200..300).contains(&status) {
            // A stream (server-sent events) does not end: its status and headers are the answer.
            return Ok(Answer {
                status,
                body: Value::Null,
                etag,
                content_type,
                retry_after,
                set_cookies,
                request_id,
                text: String::new(),
            });
        }
        let text = r.text().await.map_err(|e| format!("{path}: {e}"))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            body,
            etag,
            content_type,
            retry_after,
            set_cookies,
            request_id,
            text,
        })
    }

    /// Logs in (`org` `None`: an instance administrator); the bearer token.
    pub async fn login(
        &self,
        org: Option<&str>,
        username: &str,
        password: &str,
    ) -> Result<String, String> {
        let mut body = serde_json::json!({"username": username, "password": password});
        if let Some(o) = org {
            body["org"] = Value::String(o.into());
        }
        let a = self
            .send(None, "POST", "/v1/auth/login", Some(&body))
            .await?;
        a.body["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("login of {username} failed: {} {}", a.status, a.body))
    }
}
