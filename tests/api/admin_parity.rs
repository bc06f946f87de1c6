//! Synapse parity of the user admin API (issue 15): the steps of
//! `data/synapse_admin.json`, recorded against a real Synapse 1.163.2 by
//! `data/record_synapse_admin.py`, replayed against a fresh mxauth. Each
//! answer is compared with the step's `mxauth` answer if it has one (where
//! mxauth is right and Synapse is not, with the reason in `why`), else with
//! Synapse's: the status, the errcode, and every other field after the
//! normalisation the recorder applies (not the `error` text). Every
//! mismatch is collected and the test fails once, listing them all.
//!
//! The steps file's fields and the normalisation are described at the top
//! of the recorder; `normalise` below mirrors its Python.

use crate::both;
use crate::support::{http_client_builder, Backend, TestServer, SERVER_NAME, SHARED_SECRET};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

both!(user_admin_api_answers_as_synapse_does);

const STEPS: &str = include_str!("data/synapse_admin.json");
/// The user agent of every request: it is what `last_seen_user_agent`
/// shows, in the recording and here.
const USER_AGENT: &str = "mxauth-parity";
/// Longest body shown in a mismatch.
const SHOWN: usize = 400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[allow(dead_code)] // for the reader of the file
    about: Vec<String>,
    server_name: String,
    device_ids: HashSet<String>,
    generated: Vec<String>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    name: String,
    #[serde(default)]
    settle: bool,
    #[serde(rename = "as")]
    who: Option<String>,
    method: Option<String>,
    path: Option<String>,
    body: Option<Value>,
    raw_body: Option<String>,
    #[serde(default)]
    mac: bool,
    #[serde(default)]
    save: BTreeMap<String, String>,
    synapse: Option<Answer>,
    mxauth: Option<Override>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    status: u16,
    body: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    status: u16,
    body: Value,
    why: String,
}

async fn user_admin_api_answers_as_synapse_does(b: Backend) {
    let scenario: Scenario = serde_json::from_str(STEPS).expect("data/synapse_admin.json parses");
    assert_eq!(scenario.server_name, SERVER_NAME);
    let s = TestServer::builder(b)
        // The scenario registers a guest.
        .config(|c| c.allow_guest_access = true)
        .start()
        .await;
    let http = http_client_builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("an HTTP client");

    let mut saved: HashMap<String, Value> = HashMap::new();
    let mut names = HashSet::new();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for (i, step) in scenario.steps.iter().enumerate() {
        assert!(
            names.insert(&step.name),
            "two steps are named {:?}",
            step.name
        );
        if step.settle {
            // What Synapse's 5 s wait is for: the sightings written.
            s.auth.usage.flush().await;
            continue;
        }
        compared += 1;
        let heading = format!(
            "#{i} {}: {} {}",
            step.name,
            step.method.as_deref().unwrap_or("?"),
            step.path.as_deref().unwrap_or("?")
        );
        match run_step(&s.base, &http, step, &mut saved).await {
            Ok((status, got)) => {
                if let Some(problems) = compare(&scenario, step, &saved, status, &got) {
                    mismatches.push(format!("{heading}\n{problems}"));
                }
            }
            Err(why) => mismatches.push(format!("{heading}\n    not run: {why}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} steps answer otherwise than Synapse 1.163.2 \
         (or than the step's `mxauth` answer) in tests/api/data/synapse_admin.json:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}

/// The file is whole, and this normaliser agrees with the recorder's:
/// every answer in it, Synapse's or mxauth's, is already in normal form
/// (sorting included), every request step was recorded, and every
/// `mxauth` answer differs from Synapse's and says why.
#[test]
fn the_recording_is_whole_and_in_normal_form() {
    let scenario: Scenario = serde_json::from_str(STEPS).expect("data/synapse_admin.json parses");
    for step in &scenario.steps {
        let name = &step.name;
        if step.settle {
            assert!(
                step.method.is_none() && step.synapse.is_none(),
                "{name}: a settle step sends nothing"
            );
            continue;
        }
        assert!(
            step.who.is_some() && step.method.is_some() && step.path.is_some(),
            "{name}: as, method, path"
        );
        assert!(
            !(step.body.is_some() && step.raw_body.is_some()),
            "{name}: body or raw_body"
        );
        let synapse = step
            .synapse
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: not recorded"));
        assert_eq!(
            normalise(&synapse.body, &scenario.device_ids),
            synapse.body,
            "{name}: Synapse's answer"
        );
        if let Some(o) = &step.mxauth {
            assert!(
                !o.why.trim().is_empty(),
                "{name}: an mxauth answer says why"
            );
            assert_eq!(
                normalise(&o.body, &scenario.device_ids),
                o.body,
                "{name}: mxauth's answer"
            );
            assert!(
                o.status != synapse.status
                    || comparable(&o.body, &scenario.device_ids)
                        != comparable(&synapse.body, &scenario.device_ids),
                "{name}: the mxauth answer is Synapse's"
            );
        }
    }
}

/// Sends one step's request; saves what it says to save. Returns the
/// status and the JSON body (`null` if not JSON), or why it could not run.
async fn run_step(
    base: &str,
    http: &reqwest::Client,
    step: &Step,
    saved: &mut HashMap<String, Value>,
) -> Result<(u16, Value), String> {
    let method = step.method.as_deref().ok_or("no method")?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let path = substitute_str(step.path.as_deref().ok_or("no path")?, saved)?;
    let mut request = http.request(method, format!("{base}{path}"));
    match step.who.as_deref().ok_or("no `as`")? {
        "none" => {}
        who => {
            let token = saved
                .get(who)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("no token saved as `{who}` (an earlier step failed)"))?;
            request = request.bearer_auth(token);
        }
    }
    let body = match (&step.body, &step.raw_body) {
        (Some(body), _) => {
            let mut body = substitute(body, saved)?;
            if step.mac {
                let mac = registration_mac(&body)?;
                body["mac"] = Value::String(mac);
            }
            Some(serde_json::to_vec(&body).expect("JSON serialises"))
        }
        (None, Some(raw)) => Some(raw.clone().into_bytes()),
        (None, None) => None,
    };
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("body unread: {e}"))?;
    let got: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    for (name, pointer) in &step.save {
        match got.pointer(pointer) {
            Some(v) => saved.insert(name.clone(), v.clone()),
            None => saved.remove(name),
        };
    }
    Ok((status, got))
}

/// Synapse's shared-secret MAC over the body's fields.
fn registration_mac(body: &Value) -> Result<String, String> {
    let field = |k: &str| {
        body[k]
            .as_str()
            .ok_or_else(|| format!("`mac`: no string `{k}` in the body"))
    };
    Ok(mxauth::auth::admin::registration_mac(
        SHARED_SECRET,
        field("nonce")?,
        field("username")?,
        field("password")?,
        body["admin"].as_bool().unwrap_or(false),
        body["user_type"].as_str(),
    ))
}

/// The step's answer against the expected one: `None` if they agree, else
/// the differences, one per line.
fn compare(
    scenario: &Scenario,
    step: &Step,
    saved: &HashMap<String, Value>,
    status: u16,
    got: &Value,
) -> Option<String> {
    let (want_status, want_body, whose, why) = match (&step.mxauth, &step.synapse) {
        (Some(o), _) => (o.status, &o.body, "mxauth's own answer", Some(&o.why)),
        (None, Some(a)) => (a.status, &a.body, "Synapse's answer", None),
        (None, None) => return Some("    not recorded: run the recorder".to_owned()),
    };
    // The values the server generated itself (a guest's user ID) are
    // "$name" in the recording: this server's own go in their place.
    let generated: HashMap<String, Value> = scenario
        .generated
        .iter()
        .filter_map(|n| saved.get(n).map(|v| (n.clone(), v.clone())))
        .collect();
    let want_body = match substitute(want_body, &generated) {
        Ok(w) => w,
        Err(e) => return Some(format!("    not compared: {e}")),
    };
    let want = comparable(&want_body, &scenario.device_ids);
    let got_n = comparable(got, &scenario.device_ids);
    let mut out = Vec::new();
    if status != want_status {
        out.push(format!(
            "    status: want {want_status} ({whose}), got {status}"
        ));
        out.push(format!("    want body: {}", shown(&want)));
        out.push(format!("    got body:  {}", shown(&got_n)));
    } else if want != got_n {
        out.push(format!("    body differs from {whose}:"));
        diff("", &want, &got_n, &mut out);
    }
    if let (false, Some(why)) = (out.is_empty(), why) {
        out.push(format!(
            "    (mxauth differs from Synapse here on purpose: {why})"
        ));
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// The normalised body without the `error` text (Synapse's English is
/// not mxauth's).
fn comparable(body: &Value, device_ids: &HashSet<String>) -> Value {
    let mut body = normalise(body, device_ids);
    if let Value::Object(map) = &mut body {
        map.remove("error");
    }
    body
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s,
    }
}

/// The differences between two bodies, by JSON pointer.
fn diff(at: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let here = format!("{at}/{k}");
                match g.get(k) {
                    Some(gv) => diff(&here, wv, gv, out),
                    None => out.push(format!("      {here}: missing, want {}", shown(wv))),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("      {at}/{k}: not expected, got {}", shown(gv)));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{at}/{i}"), wv, gv, out);
            }
        }
        _ if want != got => {
            let at = if at.is_empty() { "/" } else { at };
            out.push(format!(
                "      {at}: want {}, got {}",
                shown(want),
                shown(got)
            ));
        }
        _ => {}
    }
}

// --- the recorder's normalisation and substitution, in Rust -------------

const TS_KEYS: &[&str] = &[
    "creation_ts",
    "last_seen_ts",
    "validated_at",
    "added_at",
    "consent_ts",
];
const SORTED_KEYS: &[&str] = &["threepids", "external_ids", "devices"];

/// Mirrors `normalise` in data/record_synapse_admin.py.
fn normalise(value: &Value, device_ids: &HashSet<String>) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| normalise(v, device_ids)).collect())
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let k = key.as_str();
                let v = match v {
                    Value::String(_) if k == "access_token" || k == "refresh_token" => {
                        "<token>".into()
                    }
                    Value::String(_) if k == "nonce" => "<nonce>".into(),
                    v if k == "next_token" && !v.is_null() => "<next_token>".into(),
                    Value::Number(n) if TS_KEYS.contains(&k) => {
                        if n.as_f64().is_some_and(|n| n >= 1e11) {
                            "<ts>".into()
                        } else {
                            "<ts_s>".into()
                        }
                    }
                    Value::String(_) if k == "last_seen_ip" => "<ip>".into(),
                    Value::String(d) if k == "device_id" && !device_ids.contains(d) => {
                        "<device_id>".into()
                    }
                    v => {
                        let mut v = normalise(v, device_ids);
                        if let (true, Value::Array(items)) = (SORTED_KEYS.contains(&k), &mut v) {
                            items.sort_by_cached_key(canonical);
                        }
                        v
                    }
                };
                out.insert(key.clone(), v);
            }
            Value::Object(out)
        }
        v => v.clone(),
    }
}

/// JSON with the keys of every object sorted: an order for arrays whose
/// order means nothing.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let s: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::to_value(s).expect("a map of JSON")
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    sorted(v).to_string()
}

/// "$name" in strings replaced by saved values; a string that is exactly
/// "$name" takes the saved JSON value.
fn substitute(value: &Value, saved: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match whole_name(s) {
            Some(name) => saved.get(name).cloned().ok_or_else(|| not_saved(name))?,
            None => Value::String(substitute_str(s, saved)?),
        },
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| substitute(v, saved))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, saved)?)))
                .collect::<Result<_, String>>()?,
        ),
        v => v.clone(),
    })
}

fn substitute_str(s: &str, saved: &HashMap<String, Value>) -> Result<String, String> {
    let re = saved_name_regex();
    let mut out = String::new();
    let mut last = 0;
    for m in re.captures_iter(s) {
        let whole = m.get(0).expect("a match");
        let name = &m[1];
        let value = saved.get(name).ok_or_else(|| not_saved(name))?;
        out.push_str(&s[last..whole.start()]);
        match value {
            Value::String(v) => out.push_str(v),
            v => out.push_str(&v.to_string()),
        }
        last = whole.end();
    }
    out.push_str(&s[last..]);
    Ok(out)
}

fn whole_name(s: &str) -> Option<&str> {
    let m = saved_name_regex().captures(s)?;
    (m.get(0)?.as_str() == s).then(|| m.get(1).map(|n| n.as_str()))?
}

fn saved_name_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\$([A-Za-z_][A-Za-z0-9_]*)").expect("a regex"))
}

fn not_saved(name: &str) -> String {
    format!("${name} was not saved (an earlier step failed)")
}
