//! JSON request bodies whose rejections are problems: 400 for malformed JSON, wrong types and
//! unknown fields; 413 over the size limit. Every body is a JSON object: serde would also take a
//! struct from an array of its fields in order (`[null, null]`), which the API does not.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};

use crate::auth::Language;
use crate::messages;
use crate::problem::ApiError;

/// A JSON body, refused as a problem.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let Ok(Language(lang)) =
            <Language as axum::extract::FromRequestParts<S>>::from_request_parts(&mut parts, state)
                .await;
        let req = Request::from_parts(parts, body);
        if !plainly_json(req.headers()) {
            // Let axum judge (and refuse) any other content type.
            return match axum::Json::<Object<T>>::from_request(req, state).await {
                Ok(axum::Json(Object(v))) => Ok(Json(v)),
                Err(rejection) => Err(rejected(&rejection, lang)),
            };
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| rejected(&JsonRejection::from(e), lang))?;
        // Parsing without tracking the path is much cheaper (a batch of checks is mostly
        // parsing); the tracking parse runs only to say where a refused body went wrong.
        if let Ok(Object(v)) = serde_json::from_slice::<Object<T>>(&bytes) {
            return Ok(Json(v));
        }
        match axum::Json::<Object<T>>::from_bytes(&bytes) {
            Ok(axum::Json(Object(v))) => Ok(Json(v)),
            Err(rejection) => Err(rejected(&rejection, lang)),
        }
    }
}

/// Whether the body is declared `application/json` (parameters aside) or `…+json`.
fn plainly_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// `T`, from a JSON object only.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnlyMap<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyMap<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(OnlyMap(std::marker::PhantomData))
            .map(Object)
    }
}

fn rejected(r: &JsonRejection, lang: canopy_core::messages::Lang) -> ApiError {
    let text = r.body_text();
    match r {
        JsonRejection::JsonDataError(_) if text.contains("unknown field") => {
            ApiError::new("unknown-field", messages::bad_body(&text, lang))
        }
        JsonRejection::JsonDataError(_) => {
            ApiError::new("invalid-field", messages::bad_body(&text, lang))
                .with_status(StatusCode::BAD_REQUEST)
        }
        _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new("payload-too-large", messages::too_large(lang))
        }
        _ => ApiError::new("malformed-json", messages::bad_body(&text, lang)),
    }
}
