//! The UIA engine on an in-memory SQLite database, with the mock clock and
//! a seeded generator. Most tests plug in stages of their own
//! ([`TestStage`]): the engine knows no stage but the ones it is given.

use super::registration_token::REGISTRATION_TOKEN;
use super::*;
use crate::auth::password::PasswordHasher;
use crate::auth::providers::{AuthChecker, AuthProvider, Providers};
use crate::auth::Requester;
use crate::clock::{MockClock, SeededRandom};
use crate::config::{Config, Secret};
use crate::error::Result;
use crate::store::{NewUser, RegistrationToken};
use serde_json::json;

const A: &str = "org.example.a";
const B: &str = "org.example.b";
const C: &str = "org.example.c";
const START_MS: i64 = 1_700_000_000_000;

/// A stage for these tests: `"ok": true` passes (recording `"value"`),
/// `"ok": false` fails the stage, anything else is a bad request.
struct TestStage {
    kind: &'static str,
    params: Option<Value>,
}

#[async_trait::async_trait]
impl Stage for TestStage {
    fn kind(&self) -> &str {
        self.kind
    }

    async fn check(&self, _: &Auth, dict: &Map<String, Value>, _: &UiaSession) -> StageResult {
        match dict.get("ok") {
            Some(Value::Bool(true)) => Ok(dict.get("value").cloned().unwrap_or(json!(true))),
            Some(Value::Bool(false)) => Err(StageError::Failed(
                ErrCode::Forbidden,
                format!("{} failed", self.kind),
            )),
            _ => Err(Error::bad_json("'ok' must be a boolean").into()),
        }
    }

    fn params(&self, _: &Auth) -> Option<Value> {
        self.params.clone()
    }

    fn fallback_page(&self) -> Option<&'static str> {
        None
    }
}

struct Fixture {
    auth: Auth,
    clock: Arc<MockClock>,
}

/// An `Auth` on a fresh in-memory database; `change` adjusts the config.
async fn fixture_with(change: impl FnOnce(&mut Config)) -> Fixture {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let clock = Arc::new(MockClock::new(START_MS));
    let mut config = Config {
        server_name: "example.org".try_into().expect("a server name"),
        ..Config::default()
    };
    change(&mut config);
    let mut auth = Auth::new(
        Arc::new(config),
        store,
        clock.clone(),
        Arc::new(SeededRandom::new(12)),
    );
    // Cheap hashes: these tests are about the engine, not argon2.
    let weak = argon2::Params::new(8, 1, 1, None).unwrap();
    auth.hasher = PasswordHasher::with_params(1, Secret::new(""), weak);
    Fixture { auth, clock }
}

/// The engine with only the test stages A, B (with params) and C.
async fn fixture() -> Fixture {
    let mut f = fixture_with(|_| {}).await;
    f.auth.uia_stages = Arc::new(Stages::new(vec![
        Arc::new(TestStage {
            kind: A,
            params: None,
        }),
        Arc::new(TestStage {
            kind: B,
            params: Some(json!({ "hint": "b" })),
        }),
        Arc::new(TestStage {
            kind: C,
            params: None,
        }),
    ]));
    f
}

fn flows(flows: &[&[&str]]) -> Flows {
    Flows {
        flows: flows
            .iter()
            .map(|f| f.iter().map(|s| s.to_string()).collect())
            .collect(),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn requester(user_id: &str) -> Requester {
    Requester {
        user_id: crate::auth::identifiers::UserId::parse(user_id).unwrap(),
        device_id: None,
        token_id: 1,
        is_guest: false,
        admin: false,
        puppet_owner: None,
        valid_until_ts: None,
        app_service_id: None,
        oauth_client_id: None,
        scope: None,
    }
}

/// One request: `body` and the `auth` dict (`Value::Null` for none).
struct Call<'a> {
    method: &'a str,
    uri: &'a str,
    body: Value,
    auth: Value,
    requester: Option<&'a Requester>,
    secret_fields: &'a [&'a str],
}

impl<'a> Call<'a> {
    fn new(auth: Value) -> Self {
        Call {
            method: "POST",
            uri: "/_matrix/client/v3/op",
            body: json!({ "k": "v" }),
            auth,
            requester: None,
            secret_fields: &[],
        }
    }

    async fn run(self, a: &Auth, f: &Flows) -> Result<UiaPassed> {
        let body = object(self.body);
        let auth = match self.auth {
            Value::Null => None,
            v => Some(object(v)),
        };
        a.check_uia(
            UiaRequest {
                method: self.method,
                uri: self.uri,
                body: &body,
                auth: auth.as_ref(),
                requester: self.requester,
                secret_fields: self.secret_fields,
            },
            f,
        )
        .await
        // As the client sees it.
        .map_err(Error::from)
    }
}

/// The 401 body of a challenge.
fn challenge(r: Result<UiaPassed>) -> Map<String, Value> {
    match r {
        Err(Error::AuthRequired(body)) => *body,
        Err(e) => panic!("not a challenge: {e:?}"),
        Ok(p) => panic!("passed: {p:?}"),
    }
}

/// Status, errcode and message of a Matrix error.
fn matrix_error(r: Result<UiaPassed>) -> (u16, &'static str, String) {
    match r {
        Err(Error::Matrix {
            status,
            errcode,
            message,
            ..
        }) => (status, errcode.as_str(), message),
        Err(e) => panic!("not a Matrix error: {e:?}"),
        Ok(p) => panic!("passed: {p:?}"),
    }
}

/// Starts a session of `f` and returns its ID.
async fn start(a: &Auth, f: &Flows) -> String {
    let body = challenge(Call::new(Value::Null).run(a, f).await);
    body["session"].as_str().unwrap().to_owned()
}

async fn completed(a: &Auth, session: &str) -> Vec<(String, Value)> {
    a.store
        .uia()
        .get_uia_completed_stages(session)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_without_auth_starts_a_session_and_gets_the_challenge() {
    let f = fixture().await;
    let offered = flows(&[&[A, B], &[C]]);
    let body = challenge(Call::new(Value::Null).run(&f.auth, &offered).await);
    let session = body["session"].as_str().unwrap();
    assert_eq!(session.len(), 24);
    assert_eq!(
        body["flows"],
        json!([{ "stages": [A, B] }, { "stages": [C] }])
    );
    // Only the stages the flows offer, and only those with params.
    assert_eq!(body["params"], json!({ B: { "hint": "b" } }));
    assert!(!body.contains_key("completed"));
    assert!(!body.contains_key("errcode"));

    let stored = f
        .auth
        .store
        .uia()
        .get_uia_session(session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.method, "POST");
    assert_eq!(stored.uri, "/_matrix/client/v3/op");
    assert_eq!(stored.user_id, None);
    assert_eq!(stored.created_ts, START_MS);
    assert_eq!(Value::Object(stored.client_dict), json!({ "k": "v" }));
    assert_eq!(stored.result, None);

    // A flow without B has no params.
    let body = challenge(Call::new(Value::Null).run(&f.auth, &flows(&[&[A]])).await);
    assert_eq!(body["params"], json!({}));
    assert_ne!(body["session"].as_str().unwrap(), session);
}

#[tokio::test]
async fn stages_are_completed_in_order_until_a_flow_is_satisfied() {
    let f = fixture().await;
    let offered = flows(&[&[A, B], &[C, A]]);
    let s = start(&f.auth, &offered).await;

    // B before A: the stage fails, nothing is recorded.
    let body = challenge(
        Call::new(json!({ "session": s, "type": B, "ok": true }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!(body["errcode"], "M_FORBIDDEN");
    assert_eq!(
        body["error"],
        format!("Complete the stages before '{B}' first")
    );
    assert_eq!(body["completed"], json!([]));
    assert!(completed(&f.auth, &s).await.is_empty());

    // A is the first stage of a flow.
    let body = challenge(
        Call::new(json!({ "session": s, "type": A, "ok": true, "value": "a-result" }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!(body["completed"], json!([A]));
    assert!(!body.contains_key("errcode"));
    assert_eq!(body["session"], s);

    // Then B: the first flow is satisfied.
    let passed = Call::new(json!({ "session": s, "type": B, "ok": true }))
        .run(&f.auth, &offered)
        .await
        .unwrap();
    assert_eq!(passed.session_id, s);
    assert_eq!(Value::Object(passed.params), json!({ "k": "v" }));
    assert_eq!(passed.previous_result, None);
    assert_eq!(
        completed(&f.auth, &s).await,
        vec![
            (A.to_owned(), json!("a-result")),
            (B.to_owned(), json!(true))
        ]
    );
}

#[tokio::test]
async fn a_completed_stage_counts_for_every_flow() {
    let f = fixture().await;
    let offered = flows(&[&[A, B], &[A, C]]);
    let s = start(&f.auth, &offered).await;
    challenge(
        Call::new(json!({ "session": s, "type": A, "ok": true }))
            .run(&f.auth, &offered)
            .await,
    );
    let passed = Call::new(json!({ "session": s, "type": C, "ok": true }))
        .run(&f.auth, &offered)
        .await
        .unwrap();
    assert_eq!(passed.session_id, s);
}

#[tokio::test]
async fn a_stage_no_flow_offers_is_refused_before_anything_is_recorded() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let s = start(&f.auth, &offered).await;
    // Known to the registry, but not offered here.
    let (status, errcode, message) = matrix_error(
        Call::new(json!({ "session": s, "type": C, "ok": true }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!((status, errcode), (400, "M_UNRECOGNIZED"));
    assert_eq!(
        message,
        format!("Unrecognised or unavailable auth stage type '{C}'")
    );
    // Unknown altogether.
    let (status, errcode, _) = matrix_error(
        Call::new(json!({ "session": s, "type": "m.login.nothing" }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!((status, errcode), (400, "M_UNRECOGNIZED"));
    assert!(completed(&f.auth, &s).await.is_empty());
}

#[tokio::test]
async fn a_flow_naming_a_stage_the_registry_lacks_is_an_unrecognised_stage() {
    let f = fixture().await;
    let offered = flows(&[&["m.login.nothing"]]);
    let s = start(&f.auth, &offered).await;
    let (status, errcode, message) = matrix_error(
        Call::new(json!({ "session": s, "type": "m.login.nothing" }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!((status, errcode), (400, "M_UNRECOGNIZED"));
    assert_eq!(message, "Unrecognised auth stage type 'm.login.nothing'");
}

#[tokio::test]
async fn a_failed_stage_answers_the_challenge_with_its_error() {
    let f = fixture().await;
    let offered = flows(&[&[A, B]]);
    let s = start(&f.auth, &offered).await;
    let body = challenge(
        Call::new(json!({ "session": s, "type": A, "ok": false }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!(body["errcode"], "M_FORBIDDEN");
    assert_eq!(body["error"], format!("{A} failed"));
    assert_eq!(body["completed"], json!([]));
    assert_eq!(body["flows"], json!([{ "stages": [A, B] }]));
    // A request error of the stage is answered as it is.
    let (status, errcode, _) = matrix_error(
        Call::new(json!({ "session": s, "type": A, "ok": "yes" }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!((status, errcode), (400, "M_BAD_JSON"));
    assert!(completed(&f.auth, &s).await.is_empty());
}

#[tokio::test]
async fn malformed_session_and_type_are_bad_json() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let (status, errcode, _) = matrix_error(
        Call::new(json!({ "session": 5 }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!((status, errcode), (400, "M_BAD_JSON"));
    let s = start(&f.auth, &offered).await;
    let (status, errcode, _) = matrix_error(
        Call::new(json!({ "session": s, "type": 5 }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!((status, errcode), (400, "M_BAD_JSON"));
    // A dict without a type only asks for the challenge again.
    let body = challenge(
        Call::new(json!({ "session": s }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!(body["completed"], json!([]));
}

#[tokio::test]
async fn a_session_is_bound_to_its_method_and_uri_without_the_access_token() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let body = challenge(
        Call {
            uri: "/_matrix/client/v3/op?access_token=syt_secret&x=1",
            ..Call::new(Value::Null)
        }
        .run(&f.auth, &offered)
        .await,
    );
    let s = body["session"].as_str().unwrap().to_owned();
    let stored = f
        .auth
        .store
        .uia()
        .get_uia_session(&s)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.uri, "/_matrix/client/v3/op?x=1");

    let changed = "Requested operation has changed during the UI authentication session.";
    for (method, uri) in [
        ("PUT", "/_matrix/client/v3/op?x=1"),
        ("POST", "/_matrix/client/v3/op?x=2"),
        ("POST", "/_matrix/client/v3/other?x=1"),
    ] {
        let (status, errcode, message) = matrix_error(
            Call {
                method,
                uri,
                ..Call::new(json!({ "session": s, "type": A, "ok": true }))
            }
            .run(&f.auth, &offered)
            .await,
        );
        assert_eq!(
            (status, errcode, message.as_str()),
            (403, "M_FORBIDDEN", changed)
        );
    }
    assert!(completed(&f.auth, &s).await.is_empty());
    // The same request with its token sent another way goes on.
    Call {
        uri: "/_matrix/client/v3/op?x=1",
        ..Call::new(json!({ "session": s, "type": A, "ok": true }))
    }
    .run(&f.auth, &offered)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_session_is_bound_to_its_user() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let alice = requester("@alice:example.org");
    let bob = requester("@bob:example.org");
    let body = challenge(
        Call {
            requester: Some(&alice),
            ..Call::new(Value::Null)
        }
        .run(&f.auth, &offered)
        .await,
    );
    let s = body["session"].as_str().unwrap().to_owned();
    let stored = f
        .auth
        .store
        .uia()
        .get_uia_session(&s)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.user_id.as_deref(), Some("@alice:example.org"));
    for other in [Some(&bob), None] {
        let (status, errcode, message) = matrix_error(
            Call {
                requester: other,
                ..Call::new(json!({ "session": s, "type": A, "ok": true }))
            }
            .run(&f.auth, &offered)
            .await,
        );
        assert_eq!((status, errcode), (403, "M_FORBIDDEN"));
        assert_eq!(
            message,
            "This authentication session belongs to another user."
        );
    }
    Call {
        requester: Some(&alice),
        ..Call::new(json!({ "session": s, "type": A, "ok": true }))
    }
    .run(&f.auth, &offered)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_body_may_gain_keys_but_no_key_may_change() {
    let f = fixture().await;
    let offered = flows(&[&[A, B]]);
    let s = start(&f.auth, &offered).await;
    challenge(
        Call {
            body: json!({ "k": "v", "more": 1 }),
            ..Call::new(json!({ "session": s, "type": A, "ok": true }))
        }
        .run(&f.auth, &offered)
        .await,
    );
    let stored = f
        .auth
        .store
        .uia()
        .get_uia_session(&s)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::Object(stored.client_dict),
        json!({ "k": "v", "more": 1 })
    );
    let (status, errcode, _) = matrix_error(
        Call {
            body: json!({ "k": "changed" }),
            ..Call::new(json!({ "session": s, "type": B, "ok": true }))
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!((status, errcode), (403, "M_FORBIDDEN"));
    // Leaving the body out is fine; the session's body is what passes.
    let passed = Call {
        body: json!({}),
        ..Call::new(json!({ "session": s, "type": B, "ok": true }))
    }
    .run(&f.auth, &offered)
    .await
    .unwrap();
    assert_eq!(Value::Object(passed.params), json!({ "k": "v", "more": 1 }));
}

#[tokio::test]
async fn secret_fields_are_kept_only_as_hashes_and_must_not_change() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let secret = &["password"];
    let body = challenge(
        Call {
            body: json!({ "k": "v", "password": "hunter2" }),
            secret_fields: secret,
            ..Call::new(Value::Null)
        }
        .run(&f.auth, &offered)
        .await,
    );
    let s = body["session"].as_str().unwrap().to_owned();
    let stored = f
        .auth
        .store
        .uia()
        .get_uia_session(&s)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(stored.client_dict), json!({ "k": "v" }));
    let hash = stored.server_dict["secret:password"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!serde_json::to_string(&stored.server_dict)
        .unwrap()
        .contains("hunter2"));

    let (status, errcode, _) = matrix_error(
        Call {
            body: json!({ "password": "other" }),
            secret_fields: secret,
            ..Call::new(json!({ "session": s, "type": A, "ok": true }))
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!((status, errcode), (403, "M_FORBIDDEN"));
    let (status, errcode, _) = matrix_error(
        Call {
            body: json!({ "password": 5 }),
            secret_fields: secret,
            ..Call::new(json!({ "session": s, "type": A, "ok": true }))
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!((status, errcode), (400, "M_BAD_JSON"));
    let passed = Call {
        body: json!({ "password": "hunter2" }),
        secret_fields: secret,
        ..Call::new(json!({ "session": s, "type": A, "ok": true }))
    }
    .run(&f.auth, &offered)
    .await
    .unwrap();
    assert_eq!(passed.secret_hashes["password"], hash);
    assert!(!passed.params.contains_key("password"));
}

#[tokio::test]
async fn an_anonymous_session_keeps_a_bounded_body() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let big = "x".repeat(MAX_ANONYMOUS_SESSION_BYTES);
    let (status, errcode, _) = matrix_error(
        Call {
            body: json!({ "k": big }),
            ..Call::new(Value::Null)
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!((status, errcode), (413, "M_TOO_LARGE"));
    // Growing an existing session past the bound is refused too.
    let s = start(&f.auth, &offered).await;
    let (status, errcode, _) = matrix_error(
        Call {
            body: json!({ "k": "v", "more": big }),
            ..Call::new(json!({ "session": s }))
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!((status, errcode), (413, "M_TOO_LARGE"));
    // A signed-in user's session is not bounded.
    let alice = requester("@alice:example.org");
    challenge(
        Call {
            body: json!({ "k": big }),
            requester: Some(&alice),
            ..Call::new(Value::Null)
        }
        .run(&f.auth, &offered)
        .await,
    );
}

#[tokio::test]
async fn unknown_and_expired_sessions_are_refused_and_expired_ones_deleted() {
    let f = fixture().await;
    let offered = flows(&[&[A, B]]);
    let unknown = (400, "M_UNKNOWN", "Unknown session ID".to_owned());
    assert_eq!(
        matrix_error(
            Call::new(json!({ "session": "nope", "type": A, "ok": true }))
                .run(&f.auth, &offered)
                .await
        ),
        unknown
    );
    let s = start(&f.auth, &offered).await;
    let lifetime = f.auth.config.mxauth.uia_session_lifetime_ms as i64;
    f.clock.advance_ms(lifetime - 1);
    challenge(
        Call::new(json!({ "session": s, "type": A, "ok": true }))
            .run(&f.auth, &offered)
            .await,
    );
    f.clock.advance_ms(1);
    assert_eq!(
        matrix_error(
            Call::new(json!({ "session": s, "type": B, "ok": true }))
                .run(&f.auth, &offered)
                .await
        ),
        unknown
    );
    assert!(f
        .auth
        .store
        .uia()
        .get_uia_session(&s)
        .await
        .unwrap()
        .is_none());
    assert!(f.auth.fallback_session(&s).await.is_err());
}

#[tokio::test]
async fn a_spent_session_replays_what_its_operation_recorded() {
    let f = fixture().await;
    let offered = flows(&[&[A]]);
    let s = start(&f.auth, &offered).await;
    let passed = Call::new(json!({ "session": s, "type": A, "ok": true }))
        .run(&f.auth, &offered)
        .await
        .unwrap();
    assert_eq!(passed.previous_result, None);
    let result = json!({ "done": 1 });
    assert_eq!(f.auth.finish_uia(&s, &result).await.unwrap(), None);
    // A second finish loses to the first.
    assert_eq!(
        f.auth.finish_uia(&s, &json!({ "done": 2 })).await.unwrap(),
        Some(result.clone())
    );
    // Replaying the session: nothing is checked again, the result comes back.
    let replay = Call::new(json!({ "session": s }))
        .run(&f.auth, &offered)
        .await
        .unwrap();
    assert_eq!(replay.previous_result, Some(result));
    // Skipped UIA (no session) has nothing to finish.
    assert_eq!(f.auth.finish_uia("", &json!({})).await.unwrap(), None);
}

#[tokio::test]
async fn an_expired_session_gives_back_the_registration_token_it_held() {
    // The built-in registry: registration offers the token stage.
    let f = fixture_with(|c| c.registration_requires_token = true).await;
    let token = RegistrationToken {
        token: "tok".to_owned(),
        uses_allowed: Some(1),
        pending: 0,
        completed: 0,
        expires_ts: None,
    };
    assert!(f
        .auth
        .store
        .registration()
        .create_registration_token(&token)
        .await
        .unwrap());
    let offered = f.auth.registration_flows();
    assert_eq!(
        offered.flows,
        vec![vec![
            REGISTRATION_TOKEN.to_owned(),
            "m.login.dummy".to_owned()
        ]]
    );
    let s = start(&f.auth, &offered).await;
    let body = challenge(
        Call::new(json!({ "session": s, "type": REGISTRATION_TOKEN, "token": "tok" }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!(body["completed"], json!([REGISTRATION_TOKEN]));
    let held = f
        .auth
        .store
        .registration()
        .get_registration_token("tok")
        .await
        .unwrap();
    assert_eq!(held.unwrap().pending, 1);
    // The only use is held: another session cannot have it.
    let other = start(&f.auth, &offered).await;
    let body = challenge(
        Call::new(json!({ "session": other, "type": REGISTRATION_TOKEN, "token": "tok" }))
            .run(&f.auth, &offered)
            .await,
    );
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");

    let lifetime = f.auth.config.mxauth.uia_session_lifetime_ms as i64;
    f.clock.advance_ms(lifetime + 1);
    assert_eq!(f.auth.sweep_uia_sessions().await.unwrap(), 2);
    let back = f
        .auth
        .store
        .registration()
        .get_registration_token("tok")
        .await
        .unwrap();
    assert_eq!(back.unwrap().pending, 0);
}

#[tokio::test]
async fn fallback_pages_complete_stages_in_order() {
    let f = fixture_with(|c| c.registration_requires_token = true).await;
    // An anonymous session: its flows are registration's.
    let offered = f.auth.registration_flows();
    let s = start(&f.auth, &offered).await;
    let (_, fallback_flows) = f.auth.fallback_session(&s).await.unwrap();
    assert_eq!(fallback_flows.flows, offered.flows);

    let dummy = object(json!({ "type": "m.login.dummy" }));
    assert_eq!(
        f.auth
            .complete_stage_via_fallback(&s, "m.login.dummy", &dummy)
            .await
            .unwrap(),
        Some("Complete the stages before 'm.login.dummy' first".to_owned())
    );
    let wrong = object(json!({ "type": REGISTRATION_TOKEN, "token": "nope" }));
    assert_eq!(
        f.auth
            .complete_stage_via_fallback(&s, REGISTRATION_TOKEN, &wrong)
            .await
            .unwrap(),
        Some("Invalid registration token".to_owned())
    );
    let err = f
        .auth
        .complete_stage_via_fallback(&s, "m.login.terms", &dummy)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UiaError::StageNotInSession(stage) if stage == "m.login.terms"),
        "{err:?}"
    );
    assert!(completed(&f.auth, &s).await.is_empty());
}

#[tokio::test]
async fn params_come_from_the_built_in_stages_the_flows_offer() {
    let f = fixture_with(|c| {
        c.public_baseurl = Some("https://hs.example.org/".to_owned());
        c.recaptcha = Some(crate::config::RecaptchaConfig {
            public_key: "site-key".to_owned(),
            private_key: Secret::new("private"),
            siteverify_api: "https://captcha.example.org/siteverify".to_owned(),
        });
        c.user_consent = Some(crate::config::ConsentConfig {
            version: "1.0".to_owned(),
            template_dir: "/nonexistent".into(),
            require_at_registration: true,
            policy_name: "Privacy Policy".to_owned(),
        });
    })
    .await;
    let offered = f.auth.registration_flows();
    let body = challenge(Call::new(Value::Null).run(&f.auth, &offered).await);
    assert_eq!(
        body["flows"],
        json!([{ "stages": ["m.login.recaptcha", "m.login.terms", "m.login.dummy"] }])
    );
    assert_eq!(
        body["params"],
        json!({
            "m.login.recaptcha": { "public_key": "site-key" },
            "m.login.terms": { "policies": { "privacy_policy": {
                "version": "1.0",
                "en": {
                    "name": "Privacy Policy",
                    "url": "https://hs.example.org/_matrix/consent?v=1.0",
                },
            }}},
        })
    );
    // Re-authentication offers neither: no params.
    let body = challenge(
        Call::new(Value::Null)
            .run(&f.auth, &flows(&[&["m.login.password"]]))
            .await,
    );
    assert_eq!(body["params"], json!({}));
}

/// A provider checking `org.example.login`, then `m.login.password`.
struct TwoTypes;

#[async_trait::async_trait]
impl AuthProvider for TwoTypes {
    fn name(&self) -> &str {
        "two-types"
    }

    fn auth_checkers(&self) -> Vec<AuthChecker> {
        vec![
            AuthChecker::new("org.example.login", &["secret"]),
            AuthChecker::new("m.login.password", &["password"]),
        ]
    }
}

async fn add_user(a: &Auth, user_id: &str, password: Option<&str>) {
    let password_hash = match password {
        Some(p) => Some(a.hash_password(p).await.unwrap()),
        None => None,
    };
    let new = NewUser {
        user_id: user_id.to_owned(),
        password_hash,
        created_ts: START_MS,
        ..NewUser::default()
    };
    assert!(a.store.users().create_user(&new).await.unwrap());
}

fn flow_types(f: &Flows) -> Vec<&str> {
    f.flows
        .iter()
        .map(|flow| {
            assert_eq!(flow.len(), 1);
            flow[0].as_str()
        })
        .collect()
}

#[tokio::test]
async fn reauthentication_offers_each_stage_that_offers_itself_in_order() {
    let f = fixture_with(|_| {}).await;
    add_user(&f.auth, "@alice:example.org", Some("pw")).await;
    add_user(&f.auth, "@bob:example.org", None).await;
    let flows = f
        .auth
        .reauth_flows(&uid("@alice:example.org"))
        .await
        .unwrap();
    assert_eq!(flow_types(&flows), ["m.login.password"]);
    let err = f
        .auth
        .reauth_flows(&uid("@bob:example.org"))
        .await
        .unwrap_err();
    assert!(matches!(err, UiaError::NoWayToReauthenticate), "{err:?}");

    let auth = f
        .auth
        .clone()
        .with_providers(Providers::new(vec![Arc::new(TwoTypes)]).unwrap());
    // The local password first, then the providers' types in their order.
    let flows = auth.reauth_flows(&uid("@alice:example.org")).await.unwrap();
    assert_eq!(
        flow_types(&flows),
        ["m.login.password", "org.example.login"]
    );
    // Without a local password, m.login.password comes where the provider put it.
    let flows = auth.reauth_flows(&uid("@bob:example.org")).await.unwrap();
    assert_eq!(
        flow_types(&flows),
        ["org.example.login", "m.login.password"]
    );
}

#[tokio::test]
async fn reauthentication_checks_the_password_of_the_session_user() {
    let f = fixture_with(|_| {}).await;
    add_user(&f.auth, "@alice:example.org", Some("pw")).await;
    add_user(&f.auth, "@bob:example.org", Some("bob-pw")).await;
    let alice = requester("@alice:example.org");
    let offered = f
        .auth
        .reauth_flows(&uid("@alice:example.org"))
        .await
        .unwrap();
    let body = challenge(
        Call {
            requester: Some(&alice),
            ..Call::new(Value::Null)
        }
        .run(&f.auth, &offered)
        .await,
    );
    let s = body["session"].as_str().unwrap().to_owned();
    let login = |user: &str, password: &str| {
        json!({
            "session": s,
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
        })
    };
    let body = challenge(
        Call {
            requester: Some(&alice),
            ..Call::new(login("alice", "wrong"))
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!(body["errcode"], "M_FORBIDDEN");
    assert_eq!(body["error"], "Invalid username or password");
    // Bob's right password proves nothing about Alice.
    let (status, errcode, message) = matrix_error(
        Call {
            requester: Some(&alice),
            ..Call::new(login("bob", "bob-pw"))
        }
        .run(&f.auth, &offered)
        .await,
    );
    assert_eq!((status, errcode), (403, "M_FORBIDDEN"));
    assert_eq!(message, "Invalid auth: wrong user");
    let passed = Call {
        requester: Some(&alice),
        ..Call::new(login("alice", "pw"))
    }
    .run(&f.auth, &offered)
    .await
    .unwrap();
    assert_eq!(
        completed(&f.auth, &passed.session_id).await,
        vec![("m.login.password".to_owned(), json!("@alice:example.org"))]
    );
}

/// The fallback page each built-in stage has, by the name of its template;
/// the stages deliberately without one, and why.
const FALLBACK_PAGES: &[(&str, &str)] = &[
    ("m.login.dummy", "dummy.html"),
    ("m.login.terms", "terms.html"),
    ("m.login.recaptcha", "recaptcha.html"),
    ("m.login.registration_token", "registration_token.html"),
    ("m.login.password", "password.html"),
    ("m.login.sso", "sso_auth_confirm.html"),
];
const WITHOUT_FALLBACK_PAGE: &[(&str, &str)] = &[(
    "m.login.email.identity",
    "the link in the validation mail is its page",
)];

#[test]
fn every_built_in_stage_has_its_fallback_page() {
    let stages = registry::stages(&Providers::default());
    let mut seen = Vec::new();
    for stage in stages.iter() {
        let kind = stage.kind();
        seen.push(kind.to_owned());
        let expected = FALLBACK_PAGES.iter().find(|(k, _)| *k == kind);
        let without = WITHOUT_FALLBACK_PAGE.iter().any(|(k, _)| *k == kind);
        match (stage.fallback_page(), expected) {
            (Some(page), Some((_, want))) => assert_eq!(page, *want, "{kind}"),
            (None, None) if without => {}
            (page, _) => panic!(
                "built-in stage {kind} has fallback page {page:?}: give it a page (and list it \
                 in FALLBACK_PAGES), or list it in WITHOUT_FALLBACK_PAGE with the reason"
            ),
        }
    }
    for (kind, _) in FALLBACK_PAGES.iter().chain(WITHOUT_FALLBACK_PAGE) {
        assert!(seen.iter().any(|s| s == kind), "{kind} is not registered");
    }
    assert_eq!(
        seen.len(),
        FALLBACK_PAGES.len() + WITHOUT_FALLBACK_PAGE.len()
    );
}

#[test]
fn every_fallback_page_is_a_template_that_loads() {
    let names: Vec<&str> = crate::templates::PAGES.iter().map(|(n, _)| *n).collect();
    for stage in registry::stages(&Providers::default()).iter() {
        if let Some(page) = stage.fallback_page() {
            assert!(
                names.contains(&page),
                "{}'s fallback page {page} is not a template of templates::PAGES",
                stage.kind()
            );
        }
    }
}

#[test]
fn providers_login_types_are_stages_after_the_built_in_ones() {
    let providers = Providers::new(vec![Arc::new(TwoTypes)]).unwrap();
    let stages = registry::stages(&providers);
    let custom = stages.get("org.example.login").unwrap();
    assert_eq!(custom.kind(), "org.example.login");
    assert_eq!(custom.fallback_page(), None);
    assert_eq!(stages.fallback_page("org.example.login"), None);
    // A provider's m.login.password is checked by the built-in stage.
    assert_eq!(
        stages.fallback_page("m.login.password"),
        Some("password.html")
    );
    let kinds: Vec<&str> = stages.iter().map(|s| s.kind()).collect();
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["org.example.login", "m.login.password"]
    );
    assert_eq!(stages.fallback_page("m.login.nothing"), None);
}

#[test]
fn the_engine_names_no_stage() {
    for (file, source) in [
        ("engine.rs", include_str!("engine.rs")),
        ("reauth.rs", include_str!("reauth.rs")),
        ("mod.rs", include_str!("mod.rs")),
    ] {
        let code: String = source
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let stage_modules = [
            "dummy",
            "terms",
            "recaptcha",
            "registration_token",
            "email_identity",
            "password",
            "sso",
        ];
        let mut names = vec!["\"m.login.".to_owned()];
        for m in stage_modules {
            names.push(format!("super::{m}::"));
            names.push(format!("self::{m}::"));
            names.push(format!("uia::{m}::"));
        }
        // Nor the areas the stages reach.
        for area in ["login", "ratelimit", "threepids", "sso", "providers"] {
            names.push(format!("crate::auth::{area}::"));
        }
        for name in &names {
            assert!(
                !code.contains(name.as_str()),
                "{file} names a stage: {name}"
            );
        }
    }
}

fn uid(raw: &str) -> crate::auth::identifiers::OwnedUserId {
    crate::auth::identifiers::UserId::parse(raw).unwrap()
}
