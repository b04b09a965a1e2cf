//! Browser sessions: the session cookie a login sets when asked to (`"cookie": true`), and the
//! CSRF token that every request changing something must carry beside it.
//!
//! The cookie is `__Host-` prefixed (so only this origin can set it), `HttpOnly` (scripts never
//! see the session token), `Secure`, and `SameSite=Strict` (other sites' pages do not send it).
//! On top of that, a request authenticated by the cookie with a method other than GET, HEAD or
//! OPTIONS must carry the session's CSRF token in [`CSRF_HEADER`] (the console's form posts,
//! still to come, will carry it in a field checked by the same [`csrf_matches`]), and is refused
//! when the browser says it comes from another site (`Sec-Fetch-Site: cross-site`).

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "__Host-canopy_session";

/// The header that carries the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "canopy-csrf-token";

/// The value of the cookie `name` among a request's cookies, if it sent one.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, value)| value.trim())
}

/// The `Set-Cookie` value that gives a browser the session `token` for `max_age_secs`.
pub fn set_session_cookie(token: &str, max_age_secs: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_secs}"
    ))
    .ok()
}

/// Adds to `headers` the `Set-Cookie` that removes the session cookie from the browser.
pub fn clear_session_cookie(headers: &mut HeaderMap) {
    headers.append(
        SET_COOKIE,
        HeaderValue::from_static(
            "__Host-canopy_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
}

/// The CSRF token of the session `token`. Deriving it from the token (instead of storing it)
/// keeps it valid on every replica and as long as the session; a page of another site can
/// neither read the token (HttpOnly) nor, SHA-256 being one-way, compute this from anything it
/// can read.
pub fn csrf_token(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"canopy csrf\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `presented` is the CSRF token of the session `token`. Both sides are hashed before
/// they are compared, so the comparison's time says nothing about the expected value.
pub fn csrf_matches(token: &str, presented: &str) -> bool {
    Sha256::digest(csrf_token(token).as_bytes()) == Sha256::digest(presented.as_bytes())
}

/// Why a request authenticated by the session cookie is refused before it is looked at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CsrfRefusal {
    /// The browser says the request comes from another site.
    CrossSite,
    /// The request changes something without the session's CSRF token (or with another one).
    MissingToken,
}

impl CsrfRefusal {
    /// How the audit log names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CsrfRefusal::CrossSite => "cross_site_request",
            CsrfRefusal::MissingToken => "csrf_token_missing_or_wrong",
        }
    }
}

/// Checks a request authenticated by the session cookie `token`: a safe method passes unless
/// the browser says it comes from another site; any other needs the CSRF token.
pub fn check_request(parts: &Parts, token: &str) -> Result<(), CsrfRefusal> {
    let from_elsewhere = parts
        .headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if from_elsewhere {
        return Err(CsrfRefusal::CrossSite);
    }
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if csrf_matches(token, presented) {
        Ok(())
    } else {
        Err(CsrfRefusal::MissingToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder().method(method).uri("/v1/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_cookie_is_found_among_several_headers_and_pairs() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; b=2"));
        h.append(
            COOKIE,
            HeaderValue::from_static(" __Host-canopy_session = cnp_x ;c=3"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE), Some("cnp_x"));
        assert_eq!(cookie_value(&h, "b"), Some("2"));
        assert_eq!(cookie_value(&h, "canopy_session"), None);
    }

    #[test]
    fn changes_need_the_sessions_own_csrf_token_and_reads_do_not() {
        let token = "cnp_session";
        let good = csrf_token(token);
        let other = csrf_token("cnp_other");
        assert_eq!(check_request(&parts(Method::GET, &[]), token), Ok(()));
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(
                check_request(&parts(method.clone(), &[]), token),
                Err(CsrfRefusal::MissingToken)
            );
            assert_eq!(
                check_request(&parts(method.clone(), &[(CSRF_HEADER, &other)]), token),
                Err(CsrfRefusal::MissingToken)
            );
            assert_eq!(
                check_request(&parts(method, &[(CSRF_HEADER, &good)]), token),
                Ok(())
            );
        }
    }

    #[test]
    fn a_cross_site_request_is_refused_even_a_read() {
        let token = "cnp_session";
        let good = csrf_token(token);
        let cross = [
            ("sec-fetch-site", "cross-site"),
            (CSRF_HEADER, good.as_str()),
        ];
        assert_eq!(
            check_request(&parts(Method::GET, &cross), token),
            Err(CsrfRefusal::CrossSite)
        );
        let same = [
            ("sec-fetch-site", "same-origin"),
            (CSRF_HEADER, good.as_str()),
        ];
        assert_eq!(check_request(&parts(Method::POST, &same), token), Ok(()));
    }
}
