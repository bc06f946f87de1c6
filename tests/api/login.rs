//! Login, whoami and request authentication (Complement's TestLogin and
//! TestLogout scenarios, and the request-auth rules).

use crate::both;
use crate::support::{assert_error, Backend, TestServer, SERVER_NAME};
use reqwest::{Method, StatusCode};
use serde_json::json;

const LOGIN: &str = "/_matrix/client/v3/login";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

both!(
    get_login_yields_flows,
    login_with_localpart_and_full_id,
    login_returns_requested_device_id,
    login_legacy_user_field_and_case_insensitive,
    login_bad_credentials_look_the_same,
    login_rejects_long_device_id_and_unknown_type,
    logout_current_device,
    logout_all_devices,
    request_auth_token_sources,
    whoami_on_r0_and_v3,
    login_by_phone_number,
    reauth_by_phone_number,
);

async fn get_login_yields_flows(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (status, body) = s.get(LOGIN, None).await;
    assert_eq!(status, StatusCode::OK);
    let flows = body["flows"].as_array().expect("flows");
    assert!(
        flows.iter().any(|f| f["type"] == "m.login.password"),
        "{body}"
    );
}

async fn login_with_localpart_and_full_id(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, _, _) = s.register("alice", "sUp3rs3kr1t").await;
    assert_eq!(user_id, format!("@alice:{SERVER_NAME}"));
    for who in ["alice", user_id.as_str()] {
        let (token, device) = s.login(who, "sUp3rs3kr1t").await;
        let (status, me) = s.get(WHOAMI, Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["user_id"], user_id);
        assert_eq!(me["device_id"], device);
        assert_eq!(me["is_guest"], false);
    }
}

async fn login_returns_requested_device_id(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("bob", "password-bob").await;
    let (status, res) = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"},
                   "password": "password-bob", "device_id": "MYDEVICE",
                   "initial_device_display_name": "Bob's phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["device_id"], "MYDEVICE");
    assert_eq!(res["home_server"], SERVER_NAME);
    let token = res["access_token"].as_str().unwrap();
    let (_, device) = s
        .get("/_matrix/client/v3/devices/MYDEVICE", Some(token))
        .await;
    assert_eq!(device["display_name"], "Bob's phone");

    // Logging in again with the same device_id reuses the device.
    let (status, again) = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "bob", "password": "password-bob",
                   "device_id": "MYDEVICE", "initial_device_display_name": "ignored"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["device_id"], "MYDEVICE");
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(token)).await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 2, "{devices}");
    let (_, device) = s
        .get("/_matrix/client/v3/devices/MYDEVICE", Some(token))
        .await;
    assert_eq!(device["display_name"], "Bob's phone");
}

async fn login_legacy_user_field_and_case_insensitive(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, _, _) = s.register("carol", "carol-pw").await;
    // matrix-js-sdk still sends the deprecated top-level `user` beside `identifier`.
    let (status, res) = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "CAROL", "password": "carol-pw",
                   "identifier": {"type": "m.id.user", "user": "CAROL"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], user_id);
    let (status, res) = s
        .post(LOGIN, None, json!({"type": "m.login.password", "user": "@Carol:test.example", "password": "carol-pw"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["user_id"], user_id);
}

async fn login_bad_credentials_look_the_same(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("dave", "dave-pw").await;
    let wrong_password = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "dave", "password": "nope"}),
        )
        .await;
    let unknown_user = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "nobody", "password": "nope"}),
        )
        .await;
    let foreign_user = s
        .post(LOGIN, None, json!({"type": "m.login.password", "user": "@dave:elsewhere.example", "password": "dave-pw"}))
        .await;
    assert_error(&wrong_password, 403, "M_FORBIDDEN");
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password, foreign_user);
    let missing = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "dave"}),
        )
        .await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
    let bad_type = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "dave", "password": 12}),
        )
        .await;
    assert_error(&bad_type, 400, "M_BAD_JSON");
}

async fn login_rejects_long_device_id_and_unknown_type(b: Backend) {
    let s = TestServer::builder(b).start().await;
    s.register("erin", "erin-pw").await;
    let long = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.password", "user": "erin", "password": "erin-pw", "device_id": "D".repeat(513)}),
        )
        .await;
    assert_error(&long, 400, "M_INVALID_PARAM");
    let unknown = s
        .post(
            LOGIN,
            None,
            json!({"type": "m.login.magic", "user": "erin"}),
        )
        .await;
    assert_error(&unknown, 400, "M_UNKNOWN");
    let no_type = s
        .post(LOGIN, None, json!({"user": "erin", "password": "erin-pw"}))
        .await;
    assert_error(&no_type, 400, "M_BAD_JSON");
}

async fn logout_current_device(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, first, _) = s.register("frank", "frank-pw").await;
    let (second, second_device) = s.login("frank", "frank-pw").await;
    let (status, _) = s
        .post("/_matrix/client/v3/logout", Some(&second), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = s.get(WHOAMI, Some(&second)).await;
    assert_error(&gone, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(gone.1["soft_logout"], false);
    // The device went with it; the other session lives.
    let (status, devices) = s.get("/_matrix/client/v3/devices", Some(&first)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["device_id"] != second_device.as_str()));
    let without = s.post("/_matrix/client/v3/logout", None, json!({})).await;
    assert_error(&without, 401, "M_MISSING_TOKEN");
    let invalid = s
        .post(
            "/_matrix/client/v3/logout",
            Some("syt_bogus_token_000000"),
            json!({}),
        )
        .await;
    assert_error(&invalid, 401, "M_UNKNOWN_TOKEN");
}

async fn logout_all_devices(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (_, first, _) = s.register("grace", "grace-pw").await;
    let (second, _) = s.login("grace", "grace-pw").await;
    let (status, _) = s
        .post("/_matrix/client/r0/logout/all", Some(&second), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for t in [&first, &second] {
        assert_error(&s.get(WHOAMI, Some(t)).await, 401, "M_UNKNOWN_TOKEN");
    }
    let (third, _) = s.login("grace", "grace-pw").await;
    let (_, devices) = s.get("/_matrix/client/v3/devices", Some(&third)).await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1, "{devices}");
}

async fn request_auth_token_sources(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, _) = s.register("heidi", "heidi-pw").await;
    let url = format!("{}{WHOAMI}", s.base);
    // The query parameter works.
    let res = s
        .raw()
        .get(format!("{url}?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["user_id"],
        user_id
    );
    // Both at once, two headers, a malformed header: M_MISSING_TOKEN.
    for req in [
        s.raw()
            .get(format!("{url}?access_token={token}"))
            .bearer_auth(&token),
        s.raw()
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Authorization", format!("Bearer {token}")),
        s.raw()
            .get(&url)
            .header("Authorization", format!("Token {token}")),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap()["errcode"],
            "M_MISSING_TOKEN"
        );
    }
    // A token with a broken checksum and a well-formed unknown one.
    let mut broken = token.clone();
    broken.pop();
    broken.push(if token.ends_with('A') { 'B' } else { 'A' });
    let got = s.get(WHOAMI, Some(&broken)).await;
    assert_error(&got, 401, "M_UNKNOWN_TOKEN");
    assert_eq!(got.1["soft_logout"], false);
}

async fn whoami_on_r0_and_v3(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let (user_id, token, device) = s.register("ivan", "ivan-pw").await;
    for prefix in ["/_matrix/client/r0", "/_matrix/client/v3"] {
        let (status, me) = s
            .get(&format!("{prefix}/account/whoami"), Some(&token))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            me,
            json!({"user_id": user_id, "device_id": device, "is_guest": false})
        );
    }
}

/// Creates `@{localpart}` with `password` and the phone number `msisdn`
/// through the admin API (`admin`'s token), as Synapse stores numbers
/// (E.164 digits, no `+`); returns the user ID.
async fn user_with_phone(
    s: &TestServer,
    admin: &str,
    localpart: &str,
    password: &str,
    msisdn: &str,
) -> String {
    let user_id = format!("@{localpart}:{SERVER_NAME}");
    let body = json!({"password": password,
                      "threepids": [{"medium": "msisdn", "address": msisdn}]});
    let (status, created) = s
        .request(
            Method::PUT,
            &format!("/_synapse/admin/v2/users/{user_id}"),
            Some(admin),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["threepids"][0]["medium"], "msisdn", "{created}");
    assert_eq!(created["threepids"][0]["address"], msisdn, "{created}");
    user_id
}

fn by_phone(country: &str, phone: &str, password: &str) -> serde_json::Value {
    json!({"type": "m.login.password", "password": password,
           "identifier": {"type": "m.id.phone", "country": country, "phone": phone}})
}

fn by_msisdn(address: &str, password: &str) -> serde_json::Value {
    json!({"type": "m.login.password", "password": password,
           "identifier": {"type": "m.id.thirdparty", "medium": "msisdn", "address": address}})
}

async fn login_by_phone_number(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    let user_id = user_with_phone(&s, &admin, "phoebe", "phoebe-pw", "447700900123").await;
    let logins = [
        // National form in its country, international form anywhere.
        by_phone("GB", "07700 900123", "phoebe-pw"),
        by_phone("US", "+44 7700 900123", "phoebe-pw"),
        // The `number` Synapse once required instead of `phone`.
        json!({"type": "m.login.password", "password": "phoebe-pw",
               "identifier": {"type": "m.id.phone", "country": "GB", "number": "07700900123"}}),
        by_msisdn("447700900123", "phoebe-pw"),
    ];
    for login in logins {
        let (status, res) = s.post(LOGIN, None, login.clone()).await;
        assert_eq!(status, StatusCode::OK, "{login}: {res}");
        assert_eq!(res["user_id"], user_id, "{login}");
        let token = res["access_token"].as_str().unwrap();
        let (_, me) = s.get(WHOAMI, Some(token)).await;
        assert_eq!(me["user_id"], user_id);
    }

    let unparsable = s
        .post(LOGIN, None, by_phone("GB", "not a number", "phoebe-pw"))
        .await;
    assert_error(&unparsable, 400, "M_INVALID_PARAM");
    assert_eq!(unparsable.1["error"], "Unable to parse phone number");
    // A national number needs a country phonenumbers knows.
    let nowhere = s
        .post(LOGIN, None, by_phone("XX", "07700 900123", "phoebe-pw"))
        .await;
    assert_error(&nowhere, 400, "M_INVALID_PARAM");

    // An unknown number looks like a wrong password.
    let wrong_password = s
        .post(LOGIN, None, by_phone("GB", "07700 900123", "nope"))
        .await;
    assert_error(&wrong_password, 403, "M_FORBIDDEN");
    let unknown_number = s
        .post(LOGIN, None, by_phone("GB", "07700 900999", "phoebe-pw"))
        .await;
    assert_eq!(unknown_number, wrong_password);
    let unknown_msisdn = s
        .post(LOGIN, None, by_msisdn("447700900999", "phoebe-pw"))
        .await;
    assert_eq!(unknown_msisdn, wrong_password);
    // As at Synapse, m.id.thirdparty's address is not normalised: only
    // the stored form finds the user.
    let with_plus = s
        .post(LOGIN, None, by_msisdn("+447700900123", "phoebe-pw"))
        .await;
    assert_eq!(with_plus, wrong_password);
}

async fn reauth_by_phone_number(b: Backend) {
    let s = TestServer::builder(b).start().await;
    let admin = s.register_admin("root").await;
    user_with_phone(&s, &admin, "phoebe", "phoebe-pw", "447700900123").await;
    user_with_phone(&s, &admin, "quentin", "quentin-pw", "447700900456").await;
    let (token, _) = s.login("phoebe", "phoebe-pw").await;
    let (_, victim) = s.login("phoebe", "phoebe-pw").await;
    let path = format!("/_matrix/client/v3/devices/{victim}");
    let delete = |auth: Option<serde_json::Value>| {
        let body = match auth {
            Some(auth) => json!({ "auth": auth }),
            None => json!({}),
        };
        let (s, token, path) = (&s, &token, &path);
        async move {
            s.request(Method::DELETE, path, Some(token), Some(&body))
                .await
        }
    };
    let (status, challenge) = delete(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    let session = &challenge["session"];
    let stage = |country: &str, phone: &str, password: &str| {
        let mut auth = by_phone(country, phone, password);
        auth["session"] = session.clone();
        Some(auth)
    };
    // Another user's number and password: not the session's user.
    let other = delete(stage("GB", "07700 900456", "quentin-pw")).await;
    assert_error(&other, 403, "M_FORBIDDEN");
    let wrong = delete(stage("GB", "07700 900123", "nope")).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED, "{}", wrong.1);
    assert_eq!(wrong.1["errcode"], "M_FORBIDDEN", "{}", wrong.1);
    let done = delete(stage("US", "+44 7700 900123", "phoebe-pw")).await;
    assert_eq!(done.0, StatusCode::OK, "{}", done.1);
    let gone = s.get(&path, Some(&token)).await;
    assert_error(&gone, 404, "M_NOT_FOUND");
}
