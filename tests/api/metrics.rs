//! The Prometheus metrics (`enable_metrics`): where they are served (an
//! http listener listing the `metrics` resource, a `type: metrics`
//! listener and nothing else there), that the text is Prometheus' format,
//! and that the counters move with the requests made.

use crate::both;
use crate::support::{Backend, TestServer};
use mxauth::config::{Config, Listener, ListenerResource, RateLimit};
use serde_json::json;
use std::collections::BTreeMap;

both!(
    counters_move_with_requests,
    a_metrics_listener_serves_only_metrics,
    metrics_are_served_only_when_asked_for,
);

/// The test server's listener with the `client` and `metrics` resources.
fn serve_metrics(c: &mut Config) {
    c.enable_metrics = true;
    c.listeners[0].resources = vec![ListenerResource {
        names: vec!["client".into(), "metrics".into()],
        compress: false,
    }];
}

/// A `type: metrics` listener on a random port of 127.0.0.1.
fn metrics_listener() -> Listener {
    Listener {
        port: 0,
        bind_addresses: vec!["127.0.0.1".into()],
        kind: "metrics".into(),
        tls: false,
        x_forwarded: false,
        resources: vec![],
    }
}

/// GETs `url`: status and body.
async fn get(s: &TestServer, url: &str) -> (u16, String) {
    let res = s.raw().get(url).send().await.expect("request sent");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body read"))
}

/// One sample of the text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The body parsed strictly as Prometheus' text exposition format
/// (version 0.0.4): every line is a `# HELP`, a `# TYPE` or a sample
/// whose family was typed before it; names and label names of the
/// allowed characters, label values quoted with `\\`, `\"` and `\n`
/// escapes, values Go floats, an optional integer timestamp.
fn parse(body: &str) -> Vec<Sample> {
    assert!(body.ends_with('\n'), "the text ends with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_name(name), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(is_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "typed twice: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#') || line.starts_with("# "), "{line}");
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let sample = parse_sample(line);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| sample.name.strip_suffix(suffix))
            .find(|f| {
                types
                    .get(*f)
                    .is_some_and(|k| k == "histogram" || k == "summary")
            })
            .unwrap_or(&sample.name);
        assert!(
            types.contains_key(family),
            "a sample of no TYPE'd family: {line}"
        );
        samples.push(sample);
    }
    samples
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect(line);
    let name = &line[..name_end];
    assert!(is_name(name), "{line}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            let (start, c) = chars.next().expect(line);
            if c == '}' {
                rest = &after[start + 1..];
                break;
            }
            let eq = after[start..].find('=').expect(line) + start;
            let key = &after[start..eq];
            assert!(
                is_name(key) && !key.contains(':'),
                "label name {key:?}: {line}"
            );
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect(line).1 {
                    '"' => break,
                    '\\' => match chars.next().expect(line).1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other}: {line}"),
                    },
                    '\n' => panic!("{line}"),
                    c => value.push(c),
                }
            }
            assert!(labels.insert(key.to_owned(), value).is_none(), "{line}");
            match chars.peek().map(|(_, c)| *c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => panic!("{line}"),
            }
        }
    }
    let mut parts = rest.strip_prefix(' ').expect(line).split(' ');
    let value = match parts.next().expect(line) {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| panic!("value {v:?}: {line}")),
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .unwrap_or_else(|_| panic!("timestamp: {line}"));
    }
    assert!(parts.next().is_none(), "{line}");
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// The sum of the samples `name` with these labels among their own.
fn value(scrape: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn has(scrape: &[Sample], name: &str) -> bool {
    scrape.iter().any(|s| s.name == name)
}

async fn scrape(s: &TestServer) -> Vec<Sample> {
    let (status, body) = get(s, &format!("{}/_synapse/metrics", s.base)).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

async fn counters_move_with_requests(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            serve_metrics(c);
            // Two logins from one address, the third refused.
            c.rate_limits.login_address = RateLimit::new(0.001, 2.0);
        })
        .start()
        .await;
    let before = scrape(&s).await;
    let whoami = ("endpoint", "/_matrix/client/v3/account/whoami");
    assert_eq!(value(&before, "mxauth_http_requests_total", &[whoami]), 0.0);

    let (user_id, token, device_id) = s.register("alice", "a good password").await;
    for _ in 0..3 {
        let (status, body) = s
            .get("/_matrix/client/v3/account/whoami", Some(&token))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = s
        .get(
            &format!("/_matrix/client/v3/devices/{device_id}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s.get("/_matrix/client/v3/nowhere", None).await;
    assert_eq!(status, 404);
    let login = |password: &str| {
        json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
        })
    };
    let (status, _) = s
        .post("/_matrix/client/v3/login", None, login("wrong password"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .post("/_matrix/client/v3/login", None, login("a good password"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "evil.{label}"}),
        )
        .await;
    assert_eq!(status, 429, "the third login from the address is refused");

    let after = scrape(&s).await;
    let ok = ("status", "200");
    let get = ("method", "GET");
    assert_eq!(
        value(&after, "mxauth_http_requests_total", &[whoami, ok, get]),
        3.0
    );
    // The route's template, never the path as sent.
    let device = ("endpoint", "/_matrix/client/v3/devices/{device_id}");
    assert_eq!(
        value(&after, "mxauth_http_requests_total", &[device, ok]),
        1.0
    );
    let unmatched = ("endpoint", "unmatched");
    assert_eq!(
        value(
            &after,
            "mxauth_http_requests_total",
            &[unmatched, ("status", "404")]
        ),
        1.0
    );
    assert!(!after
        .iter()
        .any(|s| s.labels.values().any(|v| v.contains(device_id.as_str())
            || v.contains("nowhere")
            || v.contains("evil"))));
    let latency = "mxauth_http_request_duration_seconds";
    assert_eq!(
        value(&after, &format!("{latency}_count"), &[whoami, get]),
        3.0
    );
    let all = ("le", "+Inf");
    assert_eq!(
        value(&after, &format!("{latency}_bucket"), &[whoami, get, all]),
        3.0
    );

    let password = ("type", "m.login.password");
    let logins = "mxauth_logins_total";
    assert_eq!(
        value(&after, logins, &[password, ("outcome", "success")]),
        1.0
    );
    assert_eq!(
        value(&after, logins, &[password, ("outcome", "M_FORBIDDEN")]),
        1.0
    );
    assert_eq!(
        value(
            &after,
            logins,
            &[("type", "other"), ("outcome", "M_LIMIT_EXCEEDED")]
        ),
        1.0,
        "an unknown type is `other`"
    );
    assert_eq!(
        value(
            &after,
            "mxauth_rate_limited_total",
            &[("limiter", "login.address")]
        ),
        1.0
    );
    let user = ("kind", "user");
    let registrations = "mxauth_registrations_total";
    assert_eq!(
        value(&after, registrations, &[user, ("outcome", "auth_required")]),
        1.0
    );
    assert_eq!(
        value(&after, registrations, &[user, ("outcome", "success")]),
        1.0
    );

    // Two password hashes (registration, good login) and a check of the
    // wrong one waited for a hashing thread: the wait histogram has them.
    assert!(value(&after, "mxauth_password_hashing_wait_seconds_count", &[]) >= 3.0);
    assert_eq!(
        value(&after, "mxauth_password_hashing_queue_depth", &[]),
        0.0
    );
    // Sampled at scrape time.
    assert!(value(&after, "mxauth_db_pool_connections", &[]) >= 1.0);
    assert!(value(&after, "mxauth_db_pool_acquire_wait_seconds_count", &[]) > 0.0);
    for defined in [
        "mxauth_token_cache_hits_total",
        "mxauth_token_cache_misses_total",
        "mxauth_token_cache_invalidations_total",
        "mxauth_token_cache_trusted",
    ] {
        assert!(has(&after, defined), "{defined}");
    }
    // The process's, with Synapse's names.
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&after, "process_open_fds", &[]) > 0.0);
    assert!(has(&after, "process_cpu_seconds_total"));
}

async fn a_metrics_listener_serves_only_metrics(b: Backend) {
    let s = TestServer::builder(b)
        .config(|c| {
            c.enable_metrics = true;
            c.listeners.push(metrics_listener());
        })
        .start()
        .await;
    assert_eq!(s.metrics_addrs.len(), 1);
    let base = format!("http://{}", s.metrics_addrs[0]);
    for path in ["/_synapse/metrics", "/metrics"] {
        let (status, body) = get(&s, &format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}");
        let scrape = parse(&body);
        assert!(has(&scrape, "mxauth_token_cache_hits_total"), "{body}");
    }
    for path in [
        "/_matrix/client/versions",
        "/health",
        "/_matrix/client/v3/login",
    ] {
        let (status, body) = get(&s, &format!("{base}{path}")).await;
        assert_eq!(status, 404, "{path}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("a Matrix error");
        assert_eq!(body["errcode"], "M_UNRECOGNIZED");
    }
    // The client listener lists no `metrics` resource: no metrics there.
    let (status, _) = get(&s, &format!("{}/_synapse/metrics", s.base)).await;
    assert_eq!(status, 404);
    let (status, _) = get(&s, &format!("{}/_matrix/client/versions", s.base)).await;
    assert_eq!(status, 200);
}

async fn metrics_are_served_only_when_asked_for(b: Backend) {
    // Without enable_metrics, as Synapse: neither the listener nor the
    // resource serves anything.
    let s = TestServer::builder(b)
        .config(|c| {
            serve_metrics(c);
            c.enable_metrics = false;
            c.listeners.push(metrics_listener());
        })
        .start()
        .await;
    assert!(
        s.metrics_addrs.is_empty(),
        "the metrics listener is not opened"
    );
    let (status, _) = get(&s, &format!("{}/_synapse/metrics", s.base)).await;
    assert_eq!(status, 404);
    let (status, _) = get(&s, &format!("{}/metrics", s.base)).await;
    assert_eq!(status, 404);
}
