//! `oidc_providers[].user_mapping_provider`: Synapse's default (Jinja)
//! mapping provider, and the subset of Jinja its templates are written in.

use crate::config::yaml::{as_bool, as_string, KResult, KeyError, Map};

/// `user_mapping_provider.config` of Synapse's default (Jinja) provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingConfig {
    pub subject_template: Template,
    pub localpart_template: Option<Template>,
    pub display_name_template: Option<Template>,
    pub email_template: Option<Template>,
    pub confirm_localpart: bool,
}

/// A mapping template: the subset of Jinja that Synapse's documentation
/// uses, `{{ user.claim }}` (nested `user.a.b` too) with the filters
/// `lower`, `upper`, `trim` and `localpart_from_email`, between literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<TemplatePart>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Claim {
        path: Vec<String>,
        filters: Vec<Filter>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Lower,
    Upper,
    Trim,
    LocalpartFromEmail,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(TemplatePart::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "`{{` without a closing `}}`".to_owned())?;
            parts.push(parse_expression(after[..end].trim())?);
            rest = &after[end + 2..];
        }
        if rest.contains("{%") || rest.contains("}}") {
            return Err("only `{{ user.claim | filter }}` expressions are supported".into());
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_owned()));
        }
        Ok(Template(parts))
    }

    /// The template `{{ user.<claim> }}`.
    pub fn claim(claim: &str) -> Template {
        Template(vec![TemplatePart::Claim {
            path: vec![claim.to_owned()],
            filters: Vec::new(),
        }])
    }
}

fn parse_expression(expr: &str) -> Result<TemplatePart, String> {
    let mut pieces = expr.split('|').map(str::trim);
    let target = pieces.next().unwrap_or_default();
    let Some(path) = target.strip_prefix("user.") else {
        return Err(format!(
            "`{{{{ {expr} }}}}`: only claims of `user` can be used (`{{{{ user.sub }}}}`)"
        ));
    };
    let path: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return Err(format!(
            "`{{{{ {expr} }}}}`: `{target}` is not a claim name"
        ));
    }
    let mut filters = Vec::new();
    for f in pieces {
        filters.push(match f {
            "lower" => Filter::Lower,
            "upper" => Filter::Upper,
            "trim" => Filter::Trim,
            "localpart_from_email" => Filter::LocalpartFromEmail,
            other => {
                return Err(format!(
                    "unknown filter `{other}` (lower, upper, trim and localpart_from_email are supported)"
                ))
            }
        });
    }
    Ok(TemplatePart::Claim { path, filters })
}

const MAPPING_KEYS: &[&str] = &[
    "subject_claim",
    "subject_template",
    "localpart_template",
    "display_name_template",
    "email_template",
    "confirm_localpart",
];
/// Accepted and ignored: mxauth has no avatars or extra attributes.
const MAPPING_IGNORED_KEYS: &[&str] = &["picture_claim", "picture_template", "extra_attributes"];

pub(super) fn parse_mapping(provider: &Map<'_>) -> KResult<MappingConfig> {
    let empty = serde_yaml::Value::Null;
    let map = match provider.get("user_mapping_provider") {
        Some(l) => {
            let ump = Map::from_value(l.value, &l.path)?;
            ump.check_keys(&["module", "config"], &[])?;
            if let Some(m) = ump.get("module") {
                let module = as_string(m.node())?;
                let default = [
                    "synapse.handlers.oidc.JinjaOidcMappingProvider",
                    "synapse.handlers.oidc_handler.JinjaOidcMappingProvider",
                ];
                if !default.contains(&module.as_str()) {
                    return Err(KeyError::new(
                        m.path,
                        "only Synapse's default mapping provider (JinjaOidcMappingProvider) is supported",
                    ));
                }
            }
            match ump.get("config") {
                Some(c) => Map::from_value(c.value, &c.path)?,
                None => Map::from_value(&empty, &ump.path_of("config"))?,
            }
        }
        None => Map::from_value(&empty, &provider.path_of("user_mapping_provider.config"))?,
    };
    map.check_keys(MAPPING_KEYS, MAPPING_IGNORED_KEYS)?;
    let template = |key: &str| -> KResult<Option<Template>> {
        match map.get(key) {
            Some(l) => {
                let text = as_string(l.node())?;
                Template::parse(&text)
                    .map(Some)
                    .map_err(|m| KeyError::new(&l.path, format!("invalid template: {m}")))
            }
            None => Ok(None),
        }
    };
    let subject_template = match template("subject_template")? {
        Some(t) => t,
        None => Template::claim(&map.string("subject_claim")?.unwrap_or_else(|| "sub".into())),
    };
    let confirm_localpart = match map.get("confirm_localpart") {
        Some(l) => as_bool(l.node())?,
        None => false,
    };
    Ok(MappingConfig {
        subject_template,
        localpart_template: template("localpart_template")?,
        display_name_template: template("display_name_template")?,
        email_template: template("email_template")?,
        confirm_localpart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_claims_filters_and_text() {
        let t = Template::parse("{{ user.preferred_username | lower }}-x").unwrap();
        assert_eq!(
            t.0,
            vec![
                TemplatePart::Claim {
                    path: vec!["preferred_username".into()],
                    filters: vec![Filter::Lower]
                },
                TemplatePart::Text("-x".into())
            ]
        );
        assert!(Template::parse("{{ user.email | localpart_from_email }}").is_ok());
        assert!(Template::parse("{{ user.a.b }}").is_ok());
        assert!(Template::parse("{{ user.sub").is_err());
        assert!(Template::parse("{{ config.x }}").is_err());
        assert!(Template::parse("{{ user.x | shout }}").is_err());
        assert!(Template::parse("{% if x %}y{% endif %}").is_err());
    }
}
