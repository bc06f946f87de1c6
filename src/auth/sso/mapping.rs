//! From a provider's claims to local attributes: the templates of
//! `user_mapping_provider.config`, `attribute_requirements`, and the
//! mapping of a proposed username onto a Matrix localpart.

use crate::config::oidc::{AttributeRequirement, Filter, Template, TemplatePart};
use serde_json::{Map, Value};

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

/// Maps a proposed username onto a Matrix localpart as Synapse's
/// `map_username_to_mxid_localpart` does (the spec's "mapping from other
/// character sets"), so that it can never name someone else:
/// - ASCII upper case becomes lower case (nothing else is folded);
/// - every byte of the UTF-8 form outside `a-z 0-9 . _ - /` (Synapse's
///   historical localpart grammar, `=` itself included) becomes `=xx`, its
///   hex value; a leading `_` (the application services' namespace)
///   becomes `=5f`.
///
/// Distinct names stay distinct: `ádmin` is `=c3=a1dmin` and
/// `admin@evil.example` is `admin=40evil.example`, never `admin`.
/// `None` when the result is empty, longer than `max_len` (never cut, so a
/// long name cannot become a shorter existing one) or digits only (left to
/// guests).
pub fn map_username_to_localpart(name: &str, max_len: usize) -> Option<String> {
    let mut mapped = String::with_capacity(name.len());
    for b in name.bytes().map(|b| b.to_ascii_lowercase()) {
        let keep = b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b);
        if keep {
            mapped.push(char::from(b));
        } else {
            mapped.push_str(&format!("={b:02x}"));
        }
    }
    if let Some(rest) = mapped.strip_prefix('_') {
        mapped = format!("=5f{rest}");
    }
    let usable = !mapped.is_empty()
        && mapped.len() <= max_len
        && !mapped.bytes().all(|b| b.is_ascii_digit());
    usable.then_some(mapped)
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
        map_username_to_localpart(s, 200)
    }

    #[test]
    fn mapping_lower_cases_ascii_and_keeps_the_localpart_characters() {
        assert_eq!(n("alice").as_deref(), Some("alice"));
        assert_eq!(n("Alice").as_deref(), Some("alice"));
        assert_eq!(n("ALICE_Smith").as_deref(), Some("alice_smith"));
        assert_eq!(n("a.b_c-d/e").as_deref(), Some("a.b_c-d/e"));
        assert_eq!(n("user42").as_deref(), Some("user42"));
    }

    #[test]
    fn mapping_escapes_non_ascii_bytes_instead_of_folding_them() {
        assert_eq!(n("ádmin").as_deref(), Some("=c3=a1dmin"));
        // Only ASCII is lower-cased (Synapse lower-cases the UTF-8 bytes).
        assert_eq!(n("ÁDMIN").as_deref(), Some("=c3=81dmin"));
        assert_eq!(n("Jöhn").as_deref(), Some("j=c3=b6hn"));
        assert_eq!(
            n("ａｄｍｉｎ").as_deref(),
            Some("=ef=bd=81=ef=bd=84=ef=bd=8d=ef=bd=89=ef=bd=8e")
        );
        assert_eq!(n("日本").as_deref(), Some("=e6=97=a5=e6=9c=ac"));
    }

    #[test]
    fn mapping_escapes_symbols_and_email_addresses() {
        assert_eq!(
            n("admin@evil.example").as_deref(),
            Some("admin=40evil.example")
        );
        assert_eq!(n("alice smith").as_deref(), Some("alice=20smith"));
        assert_eq!(n("a+b").as_deref(), Some("a=2bb"));
        assert_eq!(n("<script>").as_deref(), Some("=3cscript=3e"));
        // `=` itself is escaped, so an escape cannot be forged.
        assert_eq!(n("=40").as_deref(), Some("=3d40"));
        assert_eq!(n("..bob..").as_deref(), Some("..bob.."));
    }

    #[test]
    fn mapping_keeps_the_application_services_namespace_apart() {
        assert_eq!(n("_bot").as_deref(), Some("=5fbot"));
        assert_eq!(n("a_bot").as_deref(), Some("a_bot"));
    }

    #[test]
    fn mapping_never_turns_distinct_names_into_admin() {
        for name in [
            "ádmin",
            "admin@evil.example",
            "admin ",
            "ADMİN",
            "adm\u{0131}n",
            "admın",
            "admin\u{200b}",
        ] {
            assert_ne!(n(name).as_deref(), Some("admin"), "{name:?}");
        }
    }

    #[test]
    fn mapping_with_nothing_usable() {
        assert_eq!(n(""), None);
        assert_eq!(n("12345"), None, "digits only are guests' IDs");
        assert_eq!(n("!!!").as_deref(), Some("=21=21=21"));
    }

    #[test]
    fn mapping_is_never_cut_to_the_length_limit() {
        assert_eq!(
            map_username_to_localpart("abcde", 5).as_deref(),
            Some("abcde")
        );
        assert_eq!(map_username_to_localpart("abcdef", 5), None);
        assert_eq!(map_username_to_localpart("abcdé", 6), None);
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
