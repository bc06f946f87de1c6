//! From a provider's claims to local attributes: the templates of
//! `user_mapping_provider.config`, `attribute_requirements`, and the
//! normalisation of a proposed username into a Matrix localpart.

use crate::config::oidc::{AttributeRequirement, Filter, Template, TemplatePart};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

/// Renders `template` with the claims as `user`. A missing claim renders
/// as nothing (as Jinja's undefined does); the result is trimmed.
pub fn render(template: &Template, claims: &Map<String, Value>) -> String {
    let mut out = String::new();
    for part in &template.0 {
        match part {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Claim { path, filters } => {
                let mut value = claim_text(claims, path);
                for f in filters {
                    value = match f {
                        Filter::Lower => value.to_lowercase(),
                        Filter::Upper => value.to_uppercase(),
                        Filter::Trim => value.trim().to_owned(),
                        Filter::LocalpartFromEmail => match value.rsplit_once('@') {
                            Some((local, _)) => local.to_owned(),
                            None => value,
                        },
                    };
                }
                out.push_str(&value);
            }
        }
    }
    out.trim().to_owned()
}

fn claim_text(claims: &Map<String, Value>, path: &[String]) -> String {
    let mut current = path.first().and_then(|k| claims.get(k));
    for key in path.iter().skip(1) {
        current = current.and_then(|v| v.get(key));
    }
    match current {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Whether the claims meet every requirement (Synapse's rules: the claim
/// must exist; with `value` it must equal it, or contain it if a list;
/// with `one_of`, one of them).
pub fn meets_requirements(
    claims: &Map<String, Value>,
    requirements: &[AttributeRequirement],
) -> bool {
    requirements.iter().all(|r| meets(claims, r))
}

fn meets(claims: &Map<String, Value>, req: &AttributeRequirement) -> bool {
    let Some(value) = claims.get(&req.attribute) else {
        return false;
    };
    let values: Vec<&str> = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    match (&req.value, &req.one_of) {
        (Some(v), _) => values.contains(&v.as_str()),
        (None, Some(one_of)) => one_of.iter().any(|v| values.contains(&v.as_str())),
        (None, None) => true,
    }
}

/// Normalises a proposed username into a Matrix localpart, after
/// Sourcegraph's `NormalizeUsername`, with Matrix's characters:
/// - a name with exactly one `@` is an email address: the part before it;
/// - lower case; accents dropped (NFKD, combining marks removed);
/// - every character outside `a-z 0-9 . _ = -` becomes `-`;
/// - runs of `-` and `.` become one `-`; `-`, `.` and `_` are trimmed from
///   both ends (a leading `_` is the application services' namespace);
/// - at most `max_len` characters;
/// - digits only are left to guests.
///
/// `None` when nothing usable is left.
pub fn normalize_localpart(name: &str, max_len: usize) -> Option<String> {
    let name = match name.matches('@').count() {
        1 => name.split('@').next().unwrap_or_default(),
        _ => name,
    };
    let mut mapped = String::with_capacity(name.len());
    for c in name.to_lowercase().nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-".contains(c);
        mapped.push(if keep { c } else { '-' });
    }
    let mut collapsed = String::with_capacity(mapped.len());
    let mut run = String::new();
    for c in mapped.chars() {
        if c == '-' || c == '.' {
            run.push(c);
            continue;
        }
        flush_run(&mut run, &mut collapsed);
        collapsed.push(c);
    }
    flush_run(&mut run, &mut collapsed);
    let trimmed: String = collapsed
        .trim_matches(|c| c == '-' || c == '.' || c == '_')
        .chars()
        .take(max_len)
        .collect();
    let trimmed = trimmed.trim_end_matches(['-', '.', '_']);
    // Digits only are reserved for guests.
    let usable = !trimmed.is_empty() && !trimmed.bytes().all(|b| b.is_ascii_digit());
    usable.then(|| trimmed.to_owned())
}

fn flush_run(run: &mut String, out: &mut String) {
    match run.len() {
        0 => {}
        1 => out.push_str(run),
        _ => out.push('-'),
    }
    run.clear();
}

/// The localpart to try after `failures` clashes: `base`, `base1`, `base2`...
/// kept within `max_len`.
pub fn candidate(base: &str, failures: u32, max_len: usize) -> String {
    if failures == 0 {
        return base.to_owned();
    }
    let suffix = failures.to_string();
    let keep = max_len.saturating_sub(suffix.len());
    let stem: String = base.chars().take(keep).collect();
    format!("{stem}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(s: &str) -> Option<String> {
        normalize_localpart(s, 200)
    }

    #[test]
    fn normalisation_lower_cases_and_keeps_matrix_characters() {
        assert_eq!(n("alice").as_deref(), Some("alice"));
        assert_eq!(n("Alice").as_deref(), Some("alice"));
        assert_eq!(n("ALICE_Smith").as_deref(), Some("alice_smith"));
        assert_eq!(n("a.b_c=d-e").as_deref(), Some("a.b_c=d-e"));
        assert_eq!(n("user42").as_deref(), Some("user42"));
    }

    #[test]
    fn normalisation_of_non_ascii() {
        assert_eq!(n("Jöhn").as_deref(), Some("john"));
        assert_eq!(n("ÅNGSTRÖM").as_deref(), Some("angstrom"));
        assert_eq!(n("Ｆｕｌｌｗｉｄｔｈ").as_deref(), Some("fullwidth"));
        assert_eq!(n("josé maría").as_deref(), Some("jose-maria"));
        assert_eq!(n("日本語"), None);
        assert_eq!(n("ユーザー1"), None, "digits only are guests' IDs");
        assert_eq!(n("ユーザーa1").as_deref(), Some("a1"));
    }

    #[test]
    fn normalisation_of_symbols() {
        assert_eq!(n("alice smith").as_deref(), Some("alice-smith"));
        assert_eq!(n("x!!y").as_deref(), Some("x-y"));
        assert_eq!(n("a/b+c").as_deref(), Some("a-b-c"));
        assert_eq!(n("..bob..").as_deref(), Some("bob"));
        assert_eq!(n("-bob-").as_deref(), Some("bob"));
        assert_eq!(n("_bot").as_deref(), Some("bot"));
        assert_eq!(n("a..b").as_deref(), Some("a-b"));
        assert_eq!(n("a.-.b").as_deref(), Some("a-b"));
        assert_eq!(n("a.b").as_deref(), Some("a.b"));
        assert_eq!(n("<script>").as_deref(), Some("script"));
    }

    #[test]
    fn normalisation_of_email_addresses() {
        assert_eq!(n("Alice@Example.com").as_deref(), Some("alice"));
        assert_eq!(n("a@b@c").as_deref(), Some("a-b-c"));
        assert_eq!(n("@example.com"), None);
    }

    #[test]
    fn normalisation_with_nothing_left() {
        assert_eq!(n(""), None);
        assert_eq!(n("   "), None);
        assert_eq!(n("!!!"), None);
        assert_eq!(n("...---___"), None);
    }

    #[test]
    fn normalisation_respects_the_length_limit() {
        assert_eq!(normalize_localpart("abcdefgh", 5).as_deref(), Some("abcde"));
        assert_eq!(normalize_localpart("abcd-efgh", 5).as_deref(), Some("abcd"));
    }

    #[test]
    fn candidates_count_up_within_the_limit() {
        assert_eq!(candidate("alice", 0, 10), "alice");
        assert_eq!(candidate("alice", 1, 10), "alice1");
        assert_eq!(candidate("alice", 12, 10), "alice12");
        assert_eq!(candidate("abcdefghij", 3, 10), "abcdefghi3");
    }

    #[test]
    fn templates_render_claims() {
        let claims = json!({
            "sub": "123",
            "preferred_username": "Alice",
            "email": "alice@example.org",
            "n": 7,
            "address": {"locality": "Paris"},
        });
        let claims = claims.as_object().unwrap();
        let t = |s: &str| render(&Template::parse(s).unwrap(), claims);
        assert_eq!(t("{{ user.preferred_username }}"), "Alice");
        assert_eq!(t("{{ user.preferred_username | lower }}"), "alice");
        assert_eq!(t("{{ user.email | localpart_from_email }}"), "alice");
        assert_eq!(t("{{ user.n }}"), "7");
        assert_eq!(t("{{ user.address.locality }}"), "Paris");
        assert_eq!(t("x-{{ user.missing }}-y"), "x--y");
        assert_eq!(t(" {{ user.missing }} "), "");
    }

    #[test]
    fn attribute_requirements() {
        let claims = json!({"groups": ["staff", "dev"], "org": "acme"});
        let claims = claims.as_object().unwrap();
        let req =
            |attribute: &str, value: Option<&str>, one_of: Option<&[&str]>| AttributeRequirement {
                attribute: attribute.into(),
                value: value.map(str::to_owned),
                one_of: one_of.map(|l| l.iter().map(|s| s.to_string()).collect()),
            };
        assert!(meets_requirements(claims, &[]));
        assert!(meets_requirements(
            claims,
            &[req("groups", Some("staff"), None)]
        ));
        assert!(meets_requirements(
            claims,
            &[req("org", Some("acme"), None)]
        ));
        assert!(!meets_requirements(
            claims,
            &[req("org", Some("evil"), None)]
        ));
        assert!(!meets_requirements(
            claims,
            &[req("groups", Some("admin"), None)]
        ));
        assert!(meets_requirements(
            claims,
            &[req("groups", None, Some(&["admin", "dev"]))]
        ));
        assert!(!meets_requirements(
            claims,
            &[req("groups", None, Some(&["admin"]))]
        ));
        assert!(meets_requirements(claims, &[req("org", None, None)]));
        assert!(!meets_requirements(claims, &[req("missing", None, None)]));
        assert!(!meets_requirements(
            claims,
            &[
                req("org", Some("acme"), None),
                req("groups", Some("admin"), None)
            ]
        ));
    }
}
