//! m.login.registration_token, its validity endpoint, the admin API for
//! tokens (Synapse's shapes), and m.login.recaptcha against a stand-in for
//! Google's siteverify.

use crate::both;
use crate::support::{assert_error, mock_clock, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const REGISTER: &str = "/_matrix/client/v3/register";
const TOKENS: &str = "/_synapse/admin/v1/registration_tokens";
const VALIDITY: &str = "/_matrix/client/v1/register/m.login.registration_token/validity";

both!(
    token_admin_api_shapes_and_validation,
    registration_with_a_token_counts_its_uses,
    expired_session_gives_its_token_back,
    stages_must_be_done_in_order,
    recaptcha_stage_against_siteverify,
);

async fn token_server(b: Backend) -> TestServer {
    TestServer::builder(b).config(requires_token).start().await
}

fn requires_token(c: &mut mxauth::config::Config) {
    c.registration_requires_token = true;
    c.enable_registration_without_verification = false;
}

async fn token_admin_api_shapes_and_validation(b: Backend) {
    let s = token_server(b).await;
    let admin = s.register_admin("root").await;

    let (status, t) = s
        .post(
            &format!("{TOKENS}/new"),
            Some(&admin),
            json!({"token": "abc.DEF_~-1", "uses_allowed": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        t,
        json!({"token": "abc.DEF_~-1", "uses_allowed": 2, "pending": 0, "completed": 0, "expiry_time": null})
    );
    let (status, gen) = s
        .post(
            &format!("{TOKENS}/new"),
            Some(&admin),
            json!({"length": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let generated = gen["token"].as_str().unwrap();
    assert_eq!(generated.len(), 24);
    assert!(generated
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c)));

    for bad in [
        json!({"token": "abc.DEF_~-1"}),
        json!({"token": "has space"}),
        json!({"token": ""}),
        json!({"token": "x".repeat(65)}),
        json!({"token": 5}),
        json!({"length": 0}),
        json!({"length": 65}),
        json!({"length": "8"}),
        json!({"uses_allowed": -1}),
        json!({"uses_allowed": 1.5}),
        json!({"expiry_time": 1}),
        json!({"expiry_time": "soon"}),
    ] {
        let got = s
            .post(&format!("{TOKENS}/new"), Some(&admin), bad.clone())
            .await;
        assert_error(&got, 400, "M_INVALID_PARAM");
    }

    // A used-up token, and the valid filter.
    let (_, used_up) = s
        .post(
            &format!("{TOKENS}/new"),
            Some(&admin),
            json!({"token": "zero", "uses_allowed": 0}),
        )
        .await;
    assert_eq!(used_up["uses_allowed"], 0);
    let (_, valid) = s.get(&format!("{TOKENS}?valid=true"), Some(&admin)).await;
    let names: Vec<&str> = valid["registration_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"abc.DEF_~-1") && !names.contains(&"zero"),
        "{valid}"
    );
    let (_, invalid) = s.get(&format!("{TOKENS}?valid=false"), Some(&admin)).await;
    assert_eq!(invalid["registration_tokens"], json!([used_up]));
    let (_, all) = s.get(TOKENS, Some(&admin)).await;
    assert_eq!(all["registration_tokens"].as_array().unwrap().len(), 3);

    // Get, update, delete.
    let (status, one) = s.get(&format!("{TOKENS}/zero"), Some(&admin)).await;
    assert_eq!(
        (status, one["token"].clone()),
        (StatusCode::OK, json!("zero"))
    );
    let future = 4_102_444_800_000i64; // 2100-01-01
    let (status, updated) = s
        .request(
            Method::PUT,
            &format!("{TOKENS}/zero"),
            Some(&admin),
            Some(&json!({"uses_allowed": null, "expiry_time": future})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (
            updated["uses_allowed"].clone(),
            updated["expiry_time"].clone()
        ),
        (Value::Null, json!(future))
    );
    let got = s
        .request(
            Method::PUT,
            &format!("{TOKENS}/zero"),
            Some(&admin),
            Some(&json!({"expiry_time": 5})),
        )
        .await;
    assert_error(&got, 400, "M_INVALID_PARAM");
    let (status, _) = s
        .request(
            Method::DELETE,
            &format!("{TOKENS}/zero"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &s.get(&format!("{TOKENS}/zero"), Some(&admin)).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &s.request(
            Method::DELETE,
            &format!("{TOKENS}/zero"),
            Some(&admin),
            None,
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &s.request(
            Method::PUT,
            &format!("{TOKENS}/zero"),
            Some(&admin),
            Some(&json!({})),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );

    // Admins only.
    let registered = s.register_plain_user().await;
    assert_error(&s.get(TOKENS, Some(&registered)).await, 403, "M_FORBIDDEN");
    assert_error(&s.get(TOKENS, None).await, 401, "M_MISSING_TOKEN");

    // Validity, open to anyone.
    let (_, v) = s.get(&format!("{VALIDITY}?token=abc.DEF_~-1"), None).await;
    assert_eq!(v, json!({"valid": true}));
    let (_, v) = s.get(&format!("{VALIDITY}?token=nope"), None).await;
    assert_eq!(v, json!({"valid": false}));
    assert_error(&s.get(VALIDITY, None).await, 400, "M_MISSING_PARAM");
    let plain = TestServer::builder(b).start().await;
    assert_error(
        &plain.get(&format!("{VALIDITY}?token=x"), None).await,
        403,
        "M_FORBIDDEN",
    );
}

impl TestServer {
    /// A normal user made through registration with the token `bootstrap`
    /// (created here by an admin).
    async fn register_plain_user(&self) -> String {
        let admin = self.login("root", "admin-password").await.0;
        self.post(
            &format!("{TOKENS}/new"),
            Some(&admin),
            json!({"token": "bootstrap"}),
        )
        .await;
        let body = json!({"username": "plain", "password": "plain-pw"});
        let (_, c) = self.post(REGISTER, None, body.clone()).await;
        let session = c["session"].clone();
        let mut step = body.clone();
        step["auth"] =
            json!({"type": "m.login.registration_token", "token": "bootstrap", "session": session});
        self.post(REGISTER, None, step).await;
        step = body;
        step["auth"] = json!({"type": "m.login.dummy", "session": session});
        let (status, res) = self.post(REGISTER, None, step).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        res["access_token"].as_str().unwrap().to_owned()
    }
}

async fn token_state(s: &TestServer, admin: &str, token: &str) -> (i64, i64) {
    let (_, t) = s.get(&format!("{TOKENS}/{token}"), Some(admin)).await;
    (
        t["pending"].as_i64().unwrap(),
        t["completed"].as_i64().unwrap(),
    )
}

async fn registration_with_a_token_counts_its_uses(b: Backend) {
    let s = token_server(b).await;
    let admin = s.register_admin("root").await;
    s.post(
        &format!("{TOKENS}/new"),
        Some(&admin),
        json!({"token": "once", "uses_allowed": 1}),
    )
    .await;

    let body = json!({"username": "newbie", "password": "newbie-pw"});
    let (status, c) = s.post(REGISTER, None, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c["flows"],
        json!([{"stages": ["m.login.registration_token", "m.login.dummy"]}])
    );
    let session = c["session"].clone();

    // A wrong token: the stage fails, nothing is reserved.
    let mut step = body.clone();
    step["auth"] =
        json!({"type": "m.login.registration_token", "token": "wrong", "session": session});
    let (status, r) = s.post(REGISTER, None, step).await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_UNAUTHORIZED")),
        "{r}"
    );
    assert_eq!(r["completed"], json!([]));

    let mut step = body.clone();
    step["auth"] =
        json!({"type": "m.login.registration_token", "token": "once", "session": session});
    let (status, r) = s.post(REGISTER, None, step).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(r["completed"], json!(["m.login.registration_token"]));
    assert_eq!(token_state(&s, &admin, "once").await, (1, 0));
    // The pending use makes the token unusable for anyone else.
    let (_, v) = s.get(&format!("{VALIDITY}?token=once"), None).await;
    assert_eq!(v["valid"], false);
    let other = json!({"username": "other", "password": "other-pw"});
    let (_, c2) = s.post(REGISTER, None, other.clone()).await;
    let mut step = other;
    step["auth"] =
        json!({"type": "m.login.registration_token", "token": "once", "session": c2["session"]});
    let (status, r) = s.post(REGISTER, None, step).await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_UNAUTHORIZED"))
    );

    let mut step = body;
    step["auth"] = json!({"type": "m.login.dummy", "session": session});
    let (status, r) = s.post(REGISTER, None, step).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(token_state(&s, &admin, "once").await, (0, 1));
}

async fn expired_session_gives_its_token_back(b: Backend) {
    let clock = mock_clock();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(|c| {
            c.registration_requires_token = true;
            c.mxauth.uia_session_lifetime_ms = 1_000;
        })
        .start()
        .await;
    let admin = s.register_admin("root").await;
    s.post(
        &format!("{TOKENS}/new"),
        Some(&admin),
        json!({"token": "tok", "uses_allowed": 1}),
    )
    .await;
    let body = json!({"username": "slow", "password": "slow-pw"});
    let (_, c) = s.post(REGISTER, None, body.clone()).await;
    let mut step = body.clone();
    step["auth"] =
        json!({"type": "m.login.registration_token", "token": "tok", "session": c["session"]});
    s.post(REGISTER, None, step).await;
    assert_eq!(token_state(&s, &admin, "tok").await, (1, 0));
    clock.advance_ms(1_200);
    let mut step = body;
    step["auth"] = json!({"type": "m.login.dummy", "session": c["session"]});
    let (status, _) = s.post(REGISTER, None, step).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the session has expired");
    assert_eq!(token_state(&s, &admin, "tok").await, (0, 0));
}

async fn stages_must_be_done_in_order(b: Backend) {
    let s = token_server(b).await;
    let body = json!({"username": "hasty", "password": "hasty-pw"});
    let (_, c) = s.post(REGISTER, None, body.clone()).await;
    let mut step = body;
    step["auth"] = json!({"type": "m.login.dummy", "session": c["session"]});
    let (status, r) = s.post(REGISTER, None, step).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{r}");
    assert_eq!(r["errcode"], "M_FORBIDDEN");
    assert_eq!(r["completed"], json!([]));
}

/// Google's siteverify contract: a form with `secret` and `response`,
/// answered with `{"success": bool}`.
async fn siteverify_stand_in() -> String {
    use axum::routing::post;
    async fn verify(body: String) -> axum::Json<Value> {
        let pairs: std::collections::HashMap<String, String> = body
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%2D", "-")))
            .collect();
        let ok = pairs.get("secret").map(String::as_str) == Some("server-secret")
            && pairs.get("response").map(String::as_str) == Some("human");
        axum::Json(json!({"success": ok, "hostname": "localhost"}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/siteverify", post(verify)),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}/siteverify")
}

async fn recaptcha_stage_against_siteverify(b: Backend) {
    let url = siteverify_stand_in().await;
    let s = TestServer::builder(b)
        .config(|c| {
            c.recaptcha = Some(mxauth::config::RecaptchaConfig {
                public_key: "site-key".into(),
                private_key: mxauth::config::Secret::new("server-secret"),
                siteverify_api: url,
            });
        })
        .start()
        .await;
    let body = json!({"username": "robot", "password": "robot-pw"});
    let (_, c) = s.post(REGISTER, None, body.clone()).await;
    assert_eq!(
        c["flows"],
        json!([{"stages": ["m.login.recaptcha", "m.login.dummy"]}])
    );
    assert_eq!(
        c["params"],
        json!({"m.login.recaptcha": {"public_key": "site-key"}})
    );
    let session = c["session"].clone();
    let attempt = |auth: Value| {
        let mut step = body.clone();
        step["auth"] = auth;
        step
    };
    let (status, r) = s
        .post(
            REGISTER,
            None,
            attempt(json!({"type": "m.login.recaptcha", "session": session})),
        )
        .await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_CAPTCHA_NEEDED")),
        "{r}"
    );
    let (status, r) = s
        .post(
            REGISTER,
            None,
            attempt(json!({"type": "m.login.recaptcha", "response": "bot", "session": session})),
        )
        .await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_UNAUTHORIZED")),
        "{r}"
    );
    let (status, r) = s
        .post(
            REGISTER,
            None,
            attempt(json!({"type": "m.login.recaptcha", "response": "human", "session": session})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(r["completed"], json!(["m.login.recaptcha"]));
    let (status, r) = s
        .post(
            REGISTER,
            None,
            attempt(json!({"type": "m.login.dummy", "session": session})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

both!(
    stage_failures_missing_and_expired,
    recaptcha_with_siteverify_down
);

async fn stage_failures_missing_and_expired(b: Backend) {
    let clock = mock_clock();
    let s = TestServer::builder(b)
        .clock(clock.clone())
        .config(requires_token)
        .start()
        .await;
    let admin = s.register_admin("root").await;
    // Valid for a moment only.
    let soon = mxauth::clock::Clock::now_ms(&*clock) + 1_500;
    let (status, t) = s
        .post(
            &format!("{TOKENS}/new"),
            Some(&admin),
            json!({"token": "brief", "expiry_time": soon}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let body = json!({"username": "late", "password": "late-pw"});
    let (_, c) = s.post(REGISTER, None, body.clone()).await;
    let with = |auth: Value| {
        let mut b = body.clone();
        b["auth"] = auth;
        b
    };
    let (status, r) = s
        .post(
            REGISTER,
            None,
            with(json!({"type": "m.login.registration_token", "session": c["session"]})),
        )
        .await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_MISSING_PARAM")),
        "{r}"
    );
    let (status, r) = s
        .post(
            REGISTER,
            None,
            with(
                json!({"type": "m.login.registration_token", "token": 7, "session": c["session"]}),
            ),
        )
        .await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_INVALID_PARAM")),
        "{r}"
    );
    clock.advance_ms(1_600);
    let (status, r) = s
        .post(REGISTER, None, with(json!({"type": "m.login.registration_token", "token": "brief", "session": c["session"]})))
        .await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_UNAUTHORIZED")),
        "{r}"
    );
    let (_, v) = s.get(&format!("{VALIDITY}?token=brief"), None).await;
    assert_eq!(v["valid"], false);
}

async fn recaptcha_with_siteverify_down(b: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/siteverify", closed.local_addr().unwrap());
    drop(closed);
    let s = TestServer::builder(b)
        .config(|c| {
            c.recaptcha = Some(mxauth::config::RecaptchaConfig {
                public_key: "site-key".into(),
                private_key: mxauth::config::Secret::new("server-secret"),
                siteverify_api: url,
            });
        })
        .start()
        .await;
    let body = json!({"username": "unlucky", "password": "unlucky-pw"});
    let (_, c) = s.post(REGISTER, None, body.clone()).await;
    let mut step = body;
    step["auth"] =
        json!({"type": "m.login.recaptcha", "response": "human", "session": c["session"]});
    let (status, r) = s.post(REGISTER, None, step).await;
    assert_eq!(
        (status, r["errcode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("M_UNAUTHORIZED")),
        "{r}"
    );
    assert_eq!(r["completed"], json!([]));
    assert!(
        !r.to_string().contains("server-secret"),
        "no secret in the answer"
    );
}
