//! A small typed walker over a parsed YAML tree.
//!
//! Every accessor knows the key path of the value it reads (for example
//! `listeners[0].port`), so every error names the exact place in the file.
//! Unknown keys are detected per mapping, with a "did you mean" suggestion
//! drawn from the keys that mapping accepts.

use serde_yaml::Value;

/// An error at one place in the file, before the file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyError {
    pub path: String,
    pub message: String,
}

impl KeyError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub(crate) type KResult<T> = Result<T, KeyError>;

/// One value in the tree with its key path.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    pub value: &'a Value,
    pub path: &'a str,
}

/// The string value of a node, owned path included.
pub(crate) struct Located<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Located<'a> {
    pub fn node(&self) -> Node<'_> {
        Node {
            value: self.value,
            path: &self.path,
        }
    }
}

/// Join a parent path and a key: `""` + `a` = `a`, `a` + `b` = `a.b`.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A short description of a YAML value for "expected X, found Y" messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            let ellipsis = if s.chars().count() > 40 { "…" } else { "" };
            format!("the string `{shown}{ellipsis}`")
        }
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged `{}`", t.tag),
    }
}

/// The closest candidate to `unknown`, if one is close enough to be a likely typo.
pub(crate) fn suggest<'k>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'k str>,
) -> Option<&'k str> {
    let lowered = unknown.to_ascii_lowercase();
    let mut best: Option<(&'k str, f64)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(&lowered, candidate)
            .max(strsim::normalized_damerau_levenshtein(&lowered, candidate));
        let better = match best {
            Some((_, best_score)) => score > best_score,
            None => true,
        };
        if score >= 0.85 && better {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

/// The message for an unknown key, with a suggestion when one is close.
pub(crate) fn unknown_key_message<'k>(
    key: &str,
    candidates: impl IntoIterator<Item = &'k str>,
) -> String {
    match suggest(key, candidates) {
        Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
        None => format!("unknown key `{key}`"),
    }
}

/// A mapping with string keys, with its path.
pub(crate) struct Map<'a> {
    pub path: String,
    entries: Vec<(&'a str, &'a Value)>,
}

impl<'a> Map<'a> {
    /// Read `node` as a mapping; null (an empty section such as `password_config:`)
    /// is an empty mapping.
    pub fn from_node(node: Node<'a>) -> KResult<Map<'a>> {
        Self::from_value(node.value, node.path)
    }

    pub fn from_value(value: &'a Value, path: &str) -> KResult<Map<'a>> {
        let mapping = match value {
            Value::Null => {
                return Ok(Map {
                    path: path.to_owned(),
                    entries: Vec::new(),
                })
            }
            Value::Mapping(m) => m,
            other => {
                return Err(KeyError::new(
                    path,
                    format!("expected a mapping of keys, found {}", describe(other)),
                ))
            }
        };
        let mut entries = Vec::with_capacity(mapping.len());
        for (k, v) in mapping {
            match k {
                Value::String(s) => entries.push((s.as_str(), v)),
                other => {
                    return Err(KeyError::new(
                        path,
                        format!("keys must be strings, found {} as a key", describe(other)),
                    ))
                }
            }
        }
        Ok(Map {
            path: path.to_owned(),
            entries,
        })
    }

    /// The keys present, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.entries.iter().map(|(k, _)| *k)
    }

    /// Fail on the first key that is neither in `known` nor in `ignored`.
    /// Suggestions are drawn from both lists (both are valid keys).
    pub fn check_keys(&self, known: &[&str], ignored: &[&str]) -> KResult<()> {
        for key in self.keys() {
            if !known.contains(&key) && !ignored.contains(&key) {
                return Err(KeyError::new(
                    join(&self.path, key),
                    unknown_key_message(key, known.iter().chain(ignored).copied()),
                ));
            }
        }
        Ok(())
    }

    /// The value at `key`, unless absent or null (null means "use the default",
    /// as with an empty `key:` line).
    pub fn get(&self, key: &str) -> Option<Located<'a>> {
        self.entries
            .iter()
            .find(|(k, v)| *k == key && !v.is_null())
            .map(|(_, v)| Located {
                value: v,
                path: join(&self.path, key),
            })
    }

    /// Whether `key` is present with an explicit null (`key: null`, `key: ~`
    /// or an empty `key:` line), which some keys read as "off".
    pub fn is_null(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, v)| *k == key && v.is_null())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    // ----- typed accessors with defaults -----

    pub fn bool_or(&self, key: &str, default: bool) -> KResult<bool> {
        self.get(key).map_or(Ok(default), |l| as_bool(l.node()))
    }

    pub fn string(&self, key: &str) -> KResult<Option<String>> {
        self.get(key).map(|l| as_string(l.node())).transpose()
    }

    /// A secret string. A wrong type is reported without showing the value.
    pub fn secret(&self, key: &str) -> KResult<Option<String>> {
        self.get(key)
            .map(|l| match l.value {
                Value::String(s) => Ok(s.clone()),
                _ => Err(KeyError::new(
                    &l.path,
                    "expected a string (put the value in quotes to make it one; \
                     the value is not shown because it is a secret)",
                )),
            })
            .transpose()
    }

    pub fn u32_or(&self, key: &str, default: u32) -> KResult<u32> {
        self.get(key).map_or(Ok(default), |l| as_u32(l.node()))
    }

    pub fn opt_u32(&self, key: &str) -> KResult<Option<u32>> {
        self.get(key).map(|l| as_u32(l.node())).transpose()
    }

    pub fn usize_or(&self, key: &str, default: usize) -> KResult<usize> {
        self.get(key).map_or(Ok(default), |l| as_usize(l.node()))
    }
}

// ----- scalar conversions -----

fn type_error(node: Node<'_>, expected: &str) -> KeyError {
    KeyError::new(
        node.path,
        format!("expected {expected}, found {}", describe(node.value)),
    )
}

/// A boolean. YAML 1.1 spellings (`yes`, `no`, `on`, `off`), which PyYAML and so
/// Synapse read as booleans, are accepted too.
pub(crate) fn as_bool(node: Node<'_>) -> KResult<bool> {
    match node.value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
                Ok(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
            | "OFF" => Ok(false),
            _ => Err(type_error(node, "true or false")),
        },
        _ => Err(type_error(node, "true or false")),
    }
}

pub(crate) fn as_string(node: Node<'_>) -> KResult<String> {
    match node.value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Err(type_error(
            node,
            "a string (put the value in quotes to make it one)",
        )),
        _ => Err(type_error(node, "a string")),
    }
}

fn as_u64_with(node: Node<'_>, expected: &str) -> KResult<u64> {
    match node.value {
        Value::Number(n) => n.as_u64().ok_or_else(|| type_error(node, expected)),
        _ => Err(type_error(node, expected)),
    }
}

pub(crate) fn as_u32(node: Node<'_>) -> KResult<u32> {
    let expected = "a whole number (0 or more)";
    let n = as_u64_with(node, expected)?;
    u32::try_from(n).map_err(|_| type_error(node, "a whole number no larger than 4294967295"))
}

pub(crate) fn as_usize(node: Node<'_>) -> KResult<usize> {
    let n = as_u64_with(node, "a whole number (0 or more)")?;
    usize::try_from(n).map_err(|_| type_error(node, "a smaller whole number"))
}

pub(crate) fn as_port(node: Node<'_>) -> KResult<u16> {
    let expected = "a port number (0-65535)";
    let n = as_u64_with(node, expected)?;
    u16::try_from(n).map_err(|_| type_error(node, expected))
}

pub(crate) fn as_list<'a>(node: Node<'a>) -> KResult<Vec<Located<'a>>> {
    match node.value {
        Value::Sequence(items) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| Located {
                value: v,
                path: format!("{}[{i}]", node.path),
            })
            .collect()),
        _ => Err(type_error(node, "a list")),
    }
}

/// An http(s) base URL with a host and no query or fragment, normalised to
/// end with `/` (`public_baseurl`, `matrix.endpoint`).
pub(crate) fn as_base_url(node: Node<'_>) -> KResult<String> {
    let mut text = as_string(node)?;
    let err = |m: String| KeyError::new(node.path, m);
    let parsed =
        url::Url::parse(&text).map_err(|e| err(format!("`{text}` is not a valid URL: {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(err(format!(
            "`{text}` must be an http:// or https:// URL, not {}://",
            parsed.scheme()
        )));
    }
    if matches!(parsed.host_str(), None | Some("")) {
        return Err(err(format!("`{text}` has no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(err(format!(
            "`{text}` must not have a query (`?`) or fragment (`#`)"
        )));
    }
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(text)
}

const DURATION_HELP: &str = "a duration: a number of milliseconds, or a string such as \
     `500ms`, `30s`, `5m`, `48h`, `7d`, `1w`, `1y`";

/// Synapse's duration syntax (`synapse.config._base.Config.parse_duration`): an
/// integer is milliseconds; a string is an integer followed by an optional
/// suffix `ms`, `s`, `m`, `h`, `d`, `w` or `y` (no suffix: milliseconds).
pub(crate) fn as_duration_ms(node: Node<'_>) -> KResult<u64> {
    match node.value {
        Value::Number(n) => n.as_u64().ok_or_else(|| type_error(node, DURATION_HELP)),
        Value::String(s) => parse_duration_ms(s).ok_or_else(|| type_error(node, DURATION_HELP)),
        _ => Err(type_error(node, DURATION_HELP)),
    }
}

pub(crate) fn parse_duration_ms(s: &str) -> Option<u64> {
    const SECOND: u64 = 1000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const WEEK: u64 = 7 * DAY;
    const YEAR: u64 = 365 * DAY;
    let (digits, unit) = if let Some(d) = s.strip_suffix("ms") {
        (d, 1)
    } else {
        match s.chars().last()? {
            's' => (&s[..s.len() - 1], SECOND),
            'm' => (&s[..s.len() - 1], MINUTE),
            'h' => (&s[..s.len() - 1], HOUR),
            'd' => (&s[..s.len() - 1], DAY),
            'w' => (&s[..s.len() - 1], WEEK),
            'y' => (&s[..s.len() - 1], YEAR),
            _ => (s, 1),
        }
    };
    parse_digits(digits)?.checked_mul(unit)
}

const SIZE_HELP: &str =
    "a size: a number of bytes, or a string such as `64K`, `10M` or `1G` (1K = 1024 bytes)";

/// Synapse's size syntax (`Config.parse_size`): an integer is bytes; a string is
/// an integer with an optional suffix `K` or `M` (powers of 1024). `G` is also
/// accepted here.
pub(crate) fn as_size_bytes(node: Node<'_>) -> KResult<u64> {
    match node.value {
        Value::Number(n) => n.as_u64().ok_or_else(|| type_error(node, SIZE_HELP)),
        Value::String(s) => parse_size_bytes(s).ok_or_else(|| type_error(node, SIZE_HELP)),
        _ => Err(type_error(node, SIZE_HELP)),
    }
}

pub(crate) fn parse_size_bytes(s: &str) -> Option<u64> {
    let (digits, unit) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    parse_digits(digits)?.checked_mul(unit)
}

/// ASCII digits only (no sign, no spaces), at least one.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
