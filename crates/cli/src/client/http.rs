//! The HTTP side of the client: one `reqwest` client with the bearer token and the language,
//! answers as JSON, and every problem (RFC 7807) or connection failure turned into one line.

use canopy_api::Problem;
use canopy_core::messages::Lang;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::{Error, Paging};
use crate::messages;

/// What is percent-encoded in a path segment or query value: everything but the unreserved
/// characters of RFC 3986, so that `acme/eng` travels as the one segment `acme%2Feng`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One path segment, percent-encoded (DESIGN §4: a path is one segment in a URL).
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A query string, built in order and encoded.
#[derive(Default, Debug)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    /// No parameters.
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds `key=value`.
    pub fn set(&mut self, key: &'static str, value: impl ToString) -> &mut Query {
        self.0.push((key, value.to_string()));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn opt(&mut self, key: &'static str, value: Option<impl ToString>) -> &mut Query {
        if let Some(v) = value {
            self.set(key, v);
        }
        self
    }

    /// Adds `key=true` when `on`.
    pub fn flag(&mut self, key: &'static str, on: bool) -> &mut Query {
        if on {
            self.set(key, true);
        }
        self
    }

    fn render(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={}", seg(v)))
            .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }
}

/// A connection to one server.
pub struct Api {
    client: reqwest::Client,
    /// The server's base URL, without a trailing `/`.
    pub server: String,
    token: Option<String>,
    lang: Lang,
}

impl Api {
    /// A client of `server`, sending `token` as the bearer when there is one.
    pub fn new(server: String, token: Option<String>, lang: Lang) -> Result<Api, Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("canopy-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error(chain(&e)))?;
        Ok(Api {
            client,
            server,
            token,
            lang,
        })
    }

    /// Sends a request and returns the answer's JSON (a text answer as a JSON string). A
    /// problem, another error status or a failed connection is an [`Error`].
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let response = self.request(method, path, query, body).await?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Error(messages::unreachable(&self.server, &chain(&e), self.lang)))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        ok_or_problem(status, json, self.lang)
    }

    /// Ends the session of the token at the server (`POST /v1/auth/logout`): whether there was
    /// one to end (none: no token, or the server no longer knows it).
    pub async fn end_session(&self) -> Result<bool, Error> {
        if self.token.is_none() {
            return Ok(false);
        }
        let response = self
            .request("POST", "/v1/auth/logout", &Query::new(), None)
            .await?;
        match response.status().as_u16() {
            204 => Ok(true),
            401 => Ok(false),
            status => {
                let text = response.text().await.unwrap_or_default();
                let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Err(failure(status, &json, self.lang))
            }
        }
    }

    /// Sends a request and hands back the response itself once its status is a success (for
    /// streams).
    pub async fn open(&self, path: &str, query: &Query) -> Result<reqwest::Response, Error> {
        let response = self.request("GET", path, query, None).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Err(failure(status, &json, self.lang))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, Error> {
        // Everything under an organisation needs credentials; say how to get them rather
        // than let the server answer 401.
        if self.token.is_none() && path.starts_with("/v1/orgs") {
            return Err(Error(messages::not_logged_in(self.lang)));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| Error(format!("{method}: {e}")))?;
        let url = format!("{}{path}{}", self.server, query.render());
        let mut request = self
            .client
            .request(method, &url)
            .header(reqwest::header::ACCEPT_LANGUAGE, lang_tag(self.lang));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        request
            .send()
            .await
            .map_err(|e| Error(messages::unreachable(&self.server, &chain(&e), self.lang)))
    }

    /// Fetches a listing: with `paging` set, the one page it asks for; otherwise every page,
    /// following `next_cursor`, with the arrays at `merge` (JSON pointers) concatenated into
    /// the first page's answer.
    pub async fn pages(
        &self,
        method: &str,
        path: &str,
        mut query: Query,
        body: Option<&Value>,
        paging: &Paging,
        merge: &[&str],
    ) -> Result<Value, Error> {
        if paging.limit.is_some() || paging.cursor.is_some() {
            query.opt("limit", paging.limit);
            query.opt("cursor", paging.cursor.as_deref());
            return self.send(method, path, &query, body).await;
        }
        let mut all = self.send(method, path, &query, body).await?;
        let mut next = cursor_of(&all);
        while let Some(cursor) = next {
            let mut q = Query(query.0.clone());
            q.set("cursor", &cursor);
            let page = self.send(method, path, &q, body).await?;
            for pointer in merge {
                let more = page.pointer(pointer).and_then(Value::as_array).cloned();
                if let (Some(items), Some(more)) =
                    (all.pointer_mut(pointer).and_then(Value::as_array_mut), more)
                {
                    items.extend(more);
                }
            }
            next = cursor_of(&page);
        }
        all["next_cursor"] = Value::Null;
        Ok(all)
    }
}

fn cursor_of(page: &Value) -> Option<String> {
    page["next_cursor"].as_str().map(str::to_string)
}

/// The answer of a success; a problem or another error status as one line.
fn ok_or_problem(status: u16, body: Value, lang: Lang) -> Result<Value, Error> {
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(failure(status, &body, lang))
    }
}

/// An error answer as one line: the problem's detail, type and status.
fn failure(status: u16, body: &Value, lang: Lang) -> Error {
    match serde_json::from_value::<Problem>(body.clone()) {
        Ok(p) => Error(messages::problem(&p.detail, p.slug(), status, lang)),
        Err(_) => {
            let text = match body {
                Value::String(s) => s.lines().next().unwrap_or("").to_string(),
                other => other.to_string(),
            };
            Error(messages::bad_status(status, &text, lang))
        }
    }
}

/// An error with its causes, on one line (reqwest's own message hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn lang_tag(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Ja => "ja",
    }
}
