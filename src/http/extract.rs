//! Extractors that turn requests into parsed values, with the spec's
//! errors: the JSON body, the access token, the client's address.

use super::AppState;
use crate::auth::requester::IfLocked;
use crate::auth::Requester;
use crate::error::{ErrCode, Error, Result};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::net::SocketAddr;

/// A request body that must be a JSON object. An empty body is `{}` (some
/// clients send none on DELETE). Not JSON or not UTF-8 → 400 M_NOT_JSON;
/// JSON but not an object → 400 M_BAD_JSON; too large → 413 M_TOO_LARGE.
/// The Content-Type is not looked at, as Synapse does not.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        Ok(JsonObject(read_object(req, state, true).await?))
    }
}

/// A request body that must be a JSON object and must be there: an empty
/// body is 400 M_NOT_JSON (Synapse's `parse_json_object_from_request`
/// without `allow_empty_body`, for the admin API's writes), otherwise as
/// [`JsonObject`].
pub struct RequiredJsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for RequiredJsonObject {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        Ok(RequiredJsonObject(read_object(req, state, false).await?))
    }
}

/// The body as a JSON object; an empty one is `{}` if `empty_ok`.
async fn read_object(req: Request, state: &AppState, empty_ok: bool) -> Result<Map<String, Value>> {
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::new(
                413,
                crate::error::ErrCode::TooLarge,
                "Request body too large",
            )
        } else {
            Error::not_json("Could not read the request body")
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return match empty_ok {
            true => Ok(Map::new()),
            false => Err(Error::not_json("Content not JSON.")),
        };
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::not_json("Content not JSON."))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::bad_json("Content must be a JSON object.")),
        Err(_) => Err(Error::not_json("Content not JSON.")),
    }
}

impl JsonObject {
    /// The body as a typed value: wrong field types → 400 M_BAD_JSON.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        parse_object(&self.0)
    }

    /// Takes `auth` out of the body: `null` counts as absent.
    fn take_auth(&mut self) -> Result<Option<Map<String, Value>>> {
        match self.0.remove("auth") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(a)) => Ok(Some(a)),
            Some(_) => Err(Error::bad_json("'auth' must be an object")),
        }
    }
}

/// A request to an endpoint behind User-Interactive Auth: where it was
/// sent (method, path and query), its JSON body with `auth` taken out, and
/// the `auth` dict.
pub struct UiaBody {
    pub method: String,
    pub uri: String,
    pub body: Map<String, Value>,
    pub auth: Option<Map<String, Value>>,
}

impl FromRequest<AppState> for UiaBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let method = req.method().as_str().to_owned();
        let uri = req
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map(|u| u.0.to_string())
            .unwrap_or_else(|| req.uri().to_string());
        let mut body = JsonObject::from_request(req, state).await?;
        let auth = body.take_auth()?;
        Ok(UiaBody {
            method,
            uri,
            body: body.0,
            auth,
        })
    }
}

impl UiaBody {
    /// The body as a typed value: wrong field types → 400 M_BAD_JSON.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        parse_object(&self.body)
    }

    /// This request as a re-authentication by `requester`.
    pub fn reauth<'a>(&'a self, requester: &'a Requester) -> crate::auth::uia::Reauth<'a> {
        crate::auth::uia::Reauth {
            method: &self.method,
            uri: &self.uri,
            body: &self.body,
            auth: self.auth.as_ref(),
            requester,
        }
    }
}

fn parse_object<T: DeserializeOwned>(map: &Map<String, Value>) -> Result<T> {
    T::deserialize(Value::Object(map.clone())).map_err(|e| Error::bad_json(e.to_string()))
}

/// The client's address: the peer, or X-Forwarded-For's first entry when
/// the listener is configured with `x_forwarded` (as Synapse reads it),
/// if that is an IP address.
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(ClientIp(client_ip(parts, state.x_forwarded)))
    }
}

fn client_ip(parts: &Parts, x_forwarded: bool) -> Option<String> {
    if x_forwarded {
        if let Some(first) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
        {
            if let Ok(ip) = first.trim().parse::<std::net::IpAddr>() {
                return Some(ip.to_string());
            }
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// The authenticated user, never a guest: a guest's token → 403
/// M_GUEST_ACCESS_FORBIDDEN (Synapse's `get_user_by_req` without
/// `allow_guest`). Endpoints guests may use take [`AuthedOrGuest`]. A
/// locked user's token → 401 M_USER_LOCKED, but at the endpoints that
/// take [`AuthedEvenIfLocked`].
pub struct Authed(pub Requester);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let requester = requester(parts, state, IfLocked::Refuse).await?;
        Ok(Authed(refuse_guest(requester)?))
    }
}

/// [`Authed`], a locked user included: only for `POST /logout` and
/// `/logout/all`, which the spec leaves open to a locked user (Synapse's
/// `allow_locked=True`).
pub struct AuthedEvenIfLocked(pub Requester);

impl FromRequestParts<AppState> for AuthedEvenIfLocked {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let requester = requester(parts, state, IfLocked::Allow).await?;
        Ok(AuthedEvenIfLocked(refuse_guest(requester)?))
    }
}

fn refuse_guest(requester: Requester) -> Result<Requester> {
    if requester.is_guest {
        return Err(Error::new(
            403,
            ErrCode::GuestAccessForbidden,
            "Guest access not allowed",
        ));
    }
    Ok(requester)
}

/// The authenticated user, guests included: only for the endpoints where
/// Synapse passes `allow_guest=True` (whoami, capabilities, GET /devices,
/// GET and PUT /devices/{id}). Token from `Authorization: Bearer` or
/// `?access_token=`; both, several, or a malformed header → 401
/// M_MISSING_TOKEN, as is none.
pub struct AuthedOrGuest(pub Requester);

impl FromRequestParts<AppState> for AuthedOrGuest {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(AuthedOrGuest(
            requester(parts, state, IfLocked::Refuse).await?,
        ))
    }
}

/// The requester of a request, guests included.
async fn requester(parts: &Parts, state: &AppState, if_locked: IfLocked) -> Result<Requester> {
    let token = access_token(parts)?;
    let ip = client_ip(parts, state.x_forwarded);
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded_pairs(q).collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let masquerade = crate::auth::appservice::Masquerade {
        user_id: param("user_id"),
        device_id: param("device_id").or_else(|| param("org.matrix.msc3202.device_id")),
    };
    let requester = state
        .auth
        .authenticate_request(
            &token,
            crate::auth::activity::Connection {
                ip: ip.as_deref(),
                user_agent: parts
                    .headers
                    .get(axum::http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            },
            masquerade,
            if_locked,
        )
        .await?;
    // The request's log line names its user (`http/observe.rs`).
    if let Some(slot) = parts.extensions.get::<crate::http::observe::RequestUser>() {
        slot.set(requester.user_id.as_str());
    }
    Ok(requester)
}

/// The access token of a request, as Synapse's `get_access_token_from_request` reads it.
pub fn access_token(parts: &Parts) -> Result<String> {
    access_token_from(&parts.headers, &parts.uri)
}

/// [`access_token`] from the headers and URI of a request.
pub fn access_token_from(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Result<String> {
    let mut headers = headers.get_all(header::AUTHORIZATION).iter();
    let from_header = match (headers.next(), headers.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(Error::missing_token("Too many Authorization headers.")),
        (Some(value), None) => {
            let value = value
                .to_str()
                .map_err(|_| Error::missing_token("Invalid Authorization header."))?;
            let (scheme, token) = value
                .split_once(' ')
                .ok_or_else(|| Error::missing_token("Invalid Authorization header."))?;
            let token = token.trim();
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
                return Err(Error::missing_token("Invalid Authorization header."));
            }
            Some(token.to_owned())
        }
    };
    let mut from_query: Vec<String> = uri
        .query()
        .map(|q| {
            form_urlencoded_pairs(q)
                .filter(|(k, _)| k == "access_token")
                .map(|(_, v)| v)
                .collect()
        })
        .unwrap_or_default();
    match (from_header, from_query.len()) {
        (Some(_), 1..) => Err(Error::missing_token(
            "Mixing Authorization headers and access_token query parameters.",
        )),
        (Some(t), 0) => Ok(t),
        (None, 0) => Err(Error::missing_token("Missing access token.")),
        (None, 1) => Ok(from_query.remove(0)),
        (None, _) => Err(Error::missing_token(
            "Too many access_token query parameters.",
        )),
    }
}

/// The first value of the query parameter `name`, decoded.
pub fn query_param(uri: &axum::http::Uri, name: &str) -> Option<String> {
    uri.query()
        .and_then(|q| form_urlencoded_pairs(q).find(|(k, _)| k == name))
        .map(|(_, v)| v)
}

/// The value of the cookie `name` the request carries.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `application/x-www-form-urlencoded` pairs of a query string.
pub fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, auth: &[&str]) -> Parts {
        let mut b = axum::http::Request::builder().uri(uri);
        for a in auth {
            b = b.header(header::AUTHORIZATION, *a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn token_sources_and_their_errors() {
        assert_eq!(access_token(&parts("/x", &["Bearer abc"])).unwrap(), "abc");
        assert_eq!(access_token(&parts("/x", &["bearer abc"])).unwrap(), "abc");
        assert_eq!(
            access_token(&parts("/x?access_token=a%2Bb", &[])).unwrap(),
            "a+b"
        );
        for (uri, auth) in [
            ("/x", vec![]),
            ("/x", vec!["Bearer a", "Bearer b"]),
            ("/x", vec!["Basic abc"]),
            ("/x", vec!["Bearer"]),
            ("/x?access_token=a", vec!["Bearer a"]),
            ("/x?access_token=a&access_token=b", vec![]),
        ] {
            let e = access_token(&parts(uri, &auth)).unwrap_err();
            assert_eq!(
                e.errcode(),
                Some(crate::error::ErrCode::MissingToken),
                "{uri} {auth:?}"
            );
        }
    }

    #[test]
    fn percent_decoding_never_panics() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%é"), "%é");
    }
}
