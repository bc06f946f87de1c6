//! ARCHITECTURE.md's invariants, enforced by reading the source files
//! under `src/` (rust-analyzer's "architecture invariants" as tests):
//!
//! - the layers: nothing under `auth/` names `axum` or `sqlx`, nothing
//!   under `http/` names `sqlx`, nothing under `store/` names a rule module
//!   (`crate::auth`, `crate::http`);
//! - the rules return domain errors: nothing under `auth/` names the
//!   Matrix error (`crate::error::Error`, `crate::error::Result`) but the
//!   files listed in `AUTH_NAMING_THE_MATRIX_ERROR`;
//! - no circle of imports between source files;
//! - no non-test source file over 800 lines.
//!
//! Code only: comments, strings and `#[cfg(test)]` items are left out.
//!
//! The import graph has an edge from one module (file) to another when it
//! names a path into it (`crate::`, `super::`, `self::`, `use` groups
//! included), to the deepest module the path reaches. A module naming one
//! of its ancestors (`super::Auth` in `auth/login.rs`) is no edge: the
//! parent declares its children and they use what it defines, that is the
//! shape of a Rust module tree, not a circle. A circle is a strongly
//! connected component of two or more files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Circles tolerated, each as its modules, sorted: none. The test fails on
/// any circle not listed here AND on a listed circle that no longer
/// exists, so the list cannot go stale; keep it empty.
const KNOWN_CIRCLES: &[&[&str]] = &[];

/// The files under `auth/` that may name the Matrix error, and why. The
/// test fails on any other AND on a listed file that no longer names it,
/// so the list cannot go stale.
///
/// The UIA stages are plug-ins of every area (passwords, email, SSO) and
/// `uia` may not name those areas (they name it: a circle), so a stage's
/// refusal beyond failing reaches the engine as the Matrix error its area
/// renders to (`StageError::Fatal`), and `UiaError::Stage` carries it on.
const AUTH_NAMING_THE_MATRIX_ERROR: &[&str] = &[
    "auth::uia",
    "auth::uia::email_identity",
    "auth::uia::engine",
    "auth::uia::error",
    "auth::uia::recaptcha",
];

/// No source file (test files aside) may be longer.
const MAX_LINES: usize = 800;

#[test]
fn the_layers_hold() {
    let crate_ = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let broken = crate_.layer_violations();
    assert!(
        broken.is_empty(),
        "ARCHITECTURE.md's layers are broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_rules_return_domain_errors() {
    let crate_ = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let (naming, problems) = crate_.naming_the_matrix_error(AUTH_NAMING_THE_MATRIX_ERROR);
    assert!(
        problems.is_empty(),
        "the rules return domain errors (see ARCHITECTURE.md, Errors), \
         mapped to Matrix errors in http/error/:\n{}",
        problems.join("\n")
    );
    let stale: Vec<&&str> = AUTH_NAMING_THE_MATRIX_ERROR
        .iter()
        .filter(|m| !naming.contains(**m))
        .collect();
    assert!(
        stale.is_empty(),
        "no longer naming the Matrix error: take {stale:?} out of \
         AUTH_NAMING_THE_MATRIX_ERROR in tests/api/architecture.rs"
    );
}

#[test]
fn no_import_circles_but_the_known_ones() {
    let crate_ = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let found = crate_.circles();
    let known: BTreeSet<Vec<String>> = KNOWN_CIRCLES
        .iter()
        .map(|c| {
            let mut c: Vec<String> = c.iter().map(|m| m.to_string()).collect();
            c.sort();
            c
        })
        .collect();
    let mut problems = Vec::new();
    for circle in &found {
        if !known.contains(circle) {
            problems.push(format!(
                "a circle of imports: {}\n{}",
                circle.join(", "),
                crate_.edges_within(circle).join("\n")
            ));
        }
    }
    for circle in &known {
        if !found.contains(circle) {
            problems.push(format!(
                "the known circle {} is gone (or changed): take it out of KNOWN_CIRCLES \
                 in tests/api/architecture.rs",
                circle.join(", ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn no_source_file_is_too_long() {
    let crate_ = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let long: Vec<String> = crate_
        .files
        .iter()
        .filter(|f| !f.test_only && f.lines > MAX_LINES)
        .map(|f| format!("{}: {} lines (at most {MAX_LINES})", f.path, f.lines))
        .collect();
    assert!(
        !crate_.files.is_empty() && long.is_empty(),
        "{}",
        long.join("\n")
    );
}

/// One source file, read.
struct File {
    /// As shown in messages: `src/auth/uia.rs`.
    path: String,
    /// Its module path (`auth::uia`; `` for lib.rs), or `None` for the
    /// binary's root `main.rs`, a crate of its own.
    module: Option<String>,
    lines: usize,
    /// Declared with `#[cfg(test)] mod ...;` by its parent.
    test_only: bool,
    /// Code tokens outside `#[cfg(test)]` items.
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

/// A path into the crate that a file names, resolved to a module.
struct Edge {
    from: String,
    to: String,
    line: usize,
}

struct Crate {
    files: Vec<File>,
    edges: Vec<Edge>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut sources = BTreeMap::new();
        collect(src, src, &mut sources);
        Crate::from_sources(sources)
    }

    /// From file paths relative to `src/` and their text.
    fn from_sources(sources: BTreeMap<String, String>) -> Crate {
        let mut files = Vec::new();
        let mut test_modules = BTreeSet::new();
        for (rel, text) in &sources {
            let module = module_of(rel);
            let (tokens, test_children) = code_tokens(text);
            if let Some(m) = &module {
                for child in test_children {
                    test_modules.insert(join(m, &child));
                }
            }
            files.push(File {
                path: format!("src/{rel}"),
                module,
                lines: text.lines().count(),
                test_only: false,
                tokens,
            });
        }
        for f in &mut files {
            f.test_only = f.module.as_ref().is_some_and(|m| {
                test_modules
                    .iter()
                    .any(|t| m == t || m.starts_with(&format!("{t}::")))
            });
        }
        let modules: BTreeSet<String> = files
            .iter()
            .filter(|f| !f.test_only)
            .filter_map(|f| f.module.clone())
            .collect();
        let mut edges = Vec::new();
        for f in files.iter().filter(|f| !f.test_only) {
            let Some(from) = &f.module else { continue };
            for (path, line) in crate_paths(&f.tokens) {
                let Some(to) = resolve(from, &path, &modules) else {
                    continue;
                };
                let is_ancestor = to.is_empty() || from.starts_with(&format!("{to}::"));
                if &to != from && !is_ancestor {
                    edges.push(Edge {
                        from: from.clone(),
                        to,
                        line,
                    });
                }
            }
        }
        Crate { files, edges }
    }

    fn path_of(&self, module: &str) -> &str {
        self.files
            .iter()
            .find(|f| f.module.as_deref() == Some(module))
            .map_or("?", |f| f.path.as_str())
    }

    fn layer_violations(&self) -> Vec<String> {
        let under = |m: &str, top: &str| m == top || m.starts_with(&format!("{top}::"));
        let mut out = Vec::new();
        for f in self.files.iter().filter(|f| !f.test_only) {
            let Some(m) = &f.module else { continue };
            let banned: &[&str] = if under(m, "auth") {
                &["axum", "sqlx"]
            } else if under(m, "http") {
                &["sqlx"]
            } else {
                &[]
            };
            for t in &f.tokens {
                if banned.contains(&t.text.as_str()) {
                    out.push(format!("{}:{}: names `{}`", f.path, t.line, t.text));
                }
            }
        }
        for e in &self.edges {
            if under(&e.from, "store") && (under(&e.to, "auth") || under(&e.to, "http")) {
                out.push(format!(
                    "{}:{}: the store names the rule module `crate::{}`",
                    self.path_of(&e.from),
                    e.line,
                    e.to
                ));
            }
        }
        out
    }

    /// The modules under `auth` that name `crate::error::Error` or
    /// `crate::error::Result`, and a line for each such name in a module
    /// not in `allowed`.
    fn naming_the_matrix_error(&self, allowed: &[&str]) -> (BTreeSet<String>, Vec<String>) {
        let mut naming = BTreeSet::new();
        let mut problems = Vec::new();
        for f in self.files.iter().filter(|f| !f.test_only) {
            let Some(m) = &f.module else { continue };
            if !(m == "auth" || m.starts_with("auth::")) {
                continue;
            }
            for (path, line) in crate_paths(&f.tokens) {
                let names_it = path.len() >= 3
                    && path[0] == "crate"
                    && path[1] == "error"
                    && (path[2] == "Error" || path[2] == "Result");
                if !names_it {
                    continue;
                }
                naming.insert(m.clone());
                if !allowed.contains(&m.as_str()) {
                    problems.push(format!(
                        "{}:{line}: names `crate::error::{}`",
                        f.path, path[2]
                    ));
                }
            }
        }
        (naming, problems)
    }

    /// The strongly connected components of two or more modules, each
    /// sorted (Tarjan's algorithm).
    fn circles(&self) -> BTreeSet<Vec<String>> {
        let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for f in &self.files {
            if let (Some(m), false) = (&f.module, f.test_only) {
                graph.entry(m).or_default();
            }
        }
        for e in &self.edges {
            graph.entry(&e.from).or_default().insert(&e.to);
        }
        let mut t = Tarjan {
            graph: &graph,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            components: BTreeSet::new(),
        };
        for v in graph.keys() {
            if !t.index.contains_key(v) {
                t.visit(v);
            }
        }
        t.components
    }

    /// The edges between members of `circle`, with where they are named.
    fn edges_within(&self, circle: &[String]) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.edges
            .iter()
            .filter(|e| circle.contains(&e.from) && circle.contains(&e.to))
            .filter(|e| seen.insert((&e.from, &e.to)))
            .map(|e| {
                format!(
                    "  {} -> {} ({}:{})",
                    e.from,
                    e.to,
                    self.path_of(&e.from),
                    e.line
                )
            })
            .collect()
    }
}

struct Tarjan<'g> {
    graph: &'g BTreeMap<&'g str, BTreeSet<&'g str>>,
    index: BTreeMap<&'g str, usize>,
    low: BTreeMap<&'g str, usize>,
    stack: Vec<&'g str>,
    on_stack: BTreeSet<&'g str>,
    next: usize,
    components: BTreeSet<Vec<String>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, v: &'g str) {
        self.index.insert(v, self.next);
        self.low.insert(v, self.next);
        self.next += 1;
        self.stack.push(v);
        self.on_stack.insert(v);
        for &w in &self.graph[v] {
            if !self.index.contains_key(w) {
                self.visit(w);
                let low = self.low[v].min(self.low[w]);
                self.low.insert(v, low);
            } else if self.on_stack.contains(w) {
                let low = self.low[v].min(self.index[w]);
                self.low.insert(v, low);
            }
        }
        if self.low[v] == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                self.components.insert(component);
            }
        }
    }
}

/// Every `.rs` file under `dir`, by its path relative to `src`.
fn collect(src: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(src, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).expect("source readable");
            out.insert(rel, text);
        }
    }
}

/// `auth/uia.rs` → `auth::uia`, `auth/mod.rs` → `auth`, `lib.rs` → ``;
/// `main.rs` (the binary, another crate) → `None`.
fn module_of(rel: &str) -> Option<String> {
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    if rel == "main" {
        return None;
    }
    let mut parts: Vec<&str> = rel.split('/').collect();
    if matches!(parts.last(), Some(&"mod") | Some(&"lib")) {
        parts.pop();
    }
    Some(parts.join("::"))
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}::{child}")
    }
}

/// The tokens of `text` (identifiers, `::`, other punctuation; no
/// comments, strings, characters or numbers), without `#[cfg(test)]`
/// items; and the names of the child modules declared `#[cfg(test)] mod
/// name;` (test-only files).
fn code_tokens(text: &str) -> (Vec<Token>, Vec<String>) {
    let all = tokenize(text);
    let mut out = Vec::new();
    let mut test_children = Vec::new();
    let is = |i: usize, s: &str| all.get(i).is_some_and(|t| t.text == s);
    let mut i = 0;
    while i < all.len() {
        let cfg_test = ["#", "[", "cfg", "(", "test", ")", "]"]
            .iter()
            .enumerate()
            .all(|(k, s)| is(i + k, s));
        if !cfg_test {
            out.push(all[i].clone());
            i += 1;
            continue;
        }
        i += 7;
        // Further attributes of the same item.
        while is(i, "#") && is(i + 1, "[") {
            i = skip_group(&all, i + 1);
        }
        if is(i, "mod") && is(i + 2, ";") {
            test_children.push(all[i + 1].text.clone());
            i += 3;
            continue;
        }
        // The item: up to its `;` or through its `{ ... }`.
        while i < all.len() {
            match all[i].text.as_str() {
                ";" => {
                    i += 1;
                    break;
                }
                "{" => {
                    i = skip_group(&all, i);
                    break;
                }
                "(" | "[" => i = skip_group(&all, i),
                _ => i += 1,
            }
        }
    }
    (out, test_children)
}

/// From the opening bracket at `i` to just after its closing one.
fn skip_group(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < tokens.len() {
        match tokens[i].text.as_str() {
            "{" | "(" | "[" => depth += 1,
            "}" | ")" | "]" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn tokenize(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            line += c[i..end].iter().filter(|&&x| x == '\n').count();
            i = end;
        } else if ch == '"' || (ch == 'b' && next == Some('"')) {
            i += if ch == 'b' { 2 } else { 1 };
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if c.get(i) == Some(&'\n') {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '\'' || (ch == 'b' && next == Some('\'')) {
            let q = if ch == 'b' { i + 1 } else { i };
            if c.get(q + 1) == Some(&'\\') {
                // An escaped character (`'\''`, `'\u{..}'`): past the
                // escaped one, to the closing quote.
                i = q + 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(q + 2) == Some(&'\'') {
                i = q + 3;
            } else {
                // A lifetime or a label: the name follows as an identifier.
                i = q + 1;
            }
        } else if ch == 'r' && next == Some('#') && c.get(i + 2).is_some_and(|&x| ident_start(x)) {
            // A raw identifier, `r#type`.
            let start = i + 2;
            i = start;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            out.push(Token {
                text: c[start..i].iter().collect(),
                line,
            });
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            out.push(Token {
                text: c[start..i].iter().collect(),
                line,
            });
        } else if ch.is_ascii_digit() {
            while i < c.len()
                && (ident_char(c[i])
                    || (c[i] == '.' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                i += 1;
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: ch.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `i` ends.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') || (i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

/// Every path starting with `crate`, `super` or `self` (`use` groups
/// expanded), as its segments, with its line.
fn crate_paths(tokens: &[Token]) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].text;
        let starts = matches!(t.as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1).is_some_and(|n| n.text == "::")
            && !(i > 0 && (tokens[i - 1].text == "::" || tokens[i - 1].text == "in"));
        if starts {
            let line = tokens[i].line;
            let (paths, next) = parse_path(tokens, i);
            out.extend(paths.into_iter().map(|p| (p, line)));
            i = next;
        } else {
            i += 1;
        }
    }
    out
}

/// The path whose first segment is at `i`; a `{ … }` group gives one path
/// per member.
fn parse_path(tokens: &[Token], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut segments = vec![tokens[i].text.clone()];
    i += 1;
    while tokens.get(i).is_some_and(|t| t.text == "::") {
        let Some(next) = tokens.get(i + 1) else { break };
        if next.text == "{" {
            let (members, after) = parse_group(tokens, i + 1);
            let paths = members
                .into_iter()
                .map(|m| segments.iter().cloned().chain(m).collect())
                .collect();
            return (paths, after);
        }
        if !next
            .text
            .starts_with(|c: char| c.is_alphabetic() || c == '_')
        {
            break;
        }
        segments.push(next.text.clone());
        i += 2;
    }
    (vec![segments], i)
}

/// The members of the group opening at `i`, and where it ends.
fn parse_group(tokens: &[Token], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut out = Vec::new();
    i += 1;
    while i < tokens.len() {
        let t = tokens[i].text.as_str();
        if t == "}" {
            return (out, i + 1);
        }
        if t == "as" {
            i += 2;
        } else if t == "{" {
            let (members, after) = parse_group(tokens, i);
            out.extend(members);
            i = after;
        } else if t.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            let (paths, after) = parse_path(tokens, i);
            out.extend(paths);
            i = after;
        } else {
            i += 1;
        }
    }
    (out, i)
}

/// The deepest module of `modules` that `path`, named in `from`, reaches.
fn resolve(from: &str, path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut full: Vec<&str> = base;
    full.extend(rest.iter().map(String::as_str).filter(|s| *s != "self"));
    (0..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// The analysis itself, on made-up sources.
mod checker {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> Crate {
        Crate::from_sources(
            files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        )
    }

    fn circles(c: &Crate) -> Vec<Vec<String>> {
        c.circles().into_iter().collect()
    }

    #[test]
    fn finds_a_circle_through_use_groups_and_super() {
        let c = crate_of(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
            ("a/mod.rs", "mod x; use crate::{b::Thing, c};"),
            ("a/x.rs", "use super::super::c::Other; use super::A;"),
            ("b.rs", "pub fn f() { crate::a::x::g() }"),
            ("c.rs", "use crate::{d as _, b};"),
        ]);
        assert_eq!(
            circles(&c),
            vec![vec!["a::x", "b", "c"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()]
        );
    }

    #[test]
    fn ignores_comments_strings_tests_and_parents() {
        let c = crate_of(&[
            ("lib.rs", "pub mod a; pub mod b;"),
            (
                "a.rs",
                "// crate::b::x\n/* crate::b */ const S: &str = \"crate::b::y\";\n\
                 const R: &str = r#\"crate::b\"#; const C: char = '\"'; const Q: char = '\\'';\n\
                 pub(crate) fn f<'a>(x: &'a str) {}\n\
                 #[cfg(test)]\nmod tests { use crate::b::X; }",
            ),
            ("b.rs", "use super::a::f; #[cfg(test)] mod more;"),
            ("b/more.rs", "use crate::a::f; use sqlx::Pool;"),
        ]);
        assert!(circles(&c).is_empty(), "{:?}", circles(&c));
        assert!(c
            .files
            .iter()
            .any(|f| f.path == "src/b/more.rs" && f.test_only));
        // A child naming its parent is no edge.
        let c = crate_of(&[
            ("lib.rs", "pub mod a;"),
            ("a/mod.rs", "mod x; use self::x::X;"),
            ("a/x.rs", "use super::A; use crate::a::B;"),
        ]);
        assert!(circles(&c).is_empty());
    }

    #[test]
    fn reports_layer_violations_with_file_and_line() {
        let c = crate_of(&[
            ("lib.rs", "pub mod auth; pub mod http; pub mod store;"),
            ("auth/mod.rs", "mod uia;\nuse std::sync::Arc;"),
            ("auth/uia.rs", "// axum\nfn f() {}\n\nuse axum::Json;"),
            ("http/mod.rs", "fn f() -> sqlx::Error { todo!() }"),
            (
                "store/mod.rs",
                "use crate::{auth::uia::Session, clock::Clock};",
            ),
            ("clock.rs", ""),
        ]);
        assert_eq!(
            c.layer_violations(),
            vec![
                "src/auth/uia.rs:4: names `axum`",
                "src/http/mod.rs:1: names `sqlx`",
                "src/store/mod.rs:1: the store names the rule module `crate::auth::uia`",
            ]
        );
    }

    #[test]
    fn finds_the_rules_naming_the_matrix_error() {
        let c = crate_of(&[
            ("lib.rs", "pub mod auth; pub mod error; pub mod http;"),
            ("error.rs", "pub enum Error {} pub enum ErrCode {}"),
            ("auth/mod.rs", "mod a; mod b; mod c;"),
            ("auth/a.rs", "use crate::error::{ErrCode, Error};"),
            (
                "auth/b.rs",
                "\nfn f() -> crate::error::Result<()> { todo!() }",
            ),
            ("auth/c.rs", "use crate::error::ErrCode;"),
            ("http/mod.rs", "use crate::error::Error;"),
        ]);
        let (naming, problems) = c.naming_the_matrix_error(&["auth::a"]);
        assert_eq!(
            naming,
            BTreeSet::from(["auth::a".to_owned(), "auth::b".to_owned()])
        );
        assert_eq!(
            problems,
            vec!["src/auth/b.rs:2: names `crate::error::Result`"]
        );
    }
}
