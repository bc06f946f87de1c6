//! The SQL of Synapse's admin user list (`GET /_synapse/admin/v2/users`,
//! `v3`): its filters, its sort orders and keyset paging, written once as
//! text with numbered parameters that both backends bind (`users.rs`).

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// The columns the list can be ordered by (Synapse's `order_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserOrder {
    Name,
    Displayname,
    IsGuest,
    Admin,
    Deactivated,
    UserType,
    AvatarUrl,
    ShadowBanned,
    CreationTs,
    LastSeenTs,
    Locked,
}

impl UserOrder {
    /// Synapse's name for it.
    pub fn parse(name: &str) -> Option<UserOrder> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    /// The expression rows are sorted by: never NULL, so that a cursor
    /// compares with every row the same way on both backends (a missing
    /// display name, type or avatar sorts as the empty string, a user never
    /// seen as 0: first going forwards, on both).
    fn expression(self) -> &'static str {
        match self {
            UserOrder::Name => "u.name",
            UserOrder::Displayname => "COALESCE(u.displayname, '')",
            UserOrder::IsGuest => "u.is_guest",
            UserOrder::Admin => "u.admin",
            UserOrder::Deactivated => "u.deactivated",
            UserOrder::UserType => "COALESCE(u.user_type, '')",
            UserOrder::AvatarUrl => "COALESCE(u.avatar_url, '')",
            // mxauth keeps no shadow ban (the homeserver's business): every
            // row is equal, so the order is the names'.
            UserOrder::ShadowBanned => "FALSE",
            UserOrder::CreationTs => "u.created_ts",
            UserOrder::LastSeenTs => LAST_SEEN,
            UserOrder::Locked => "u.locked",
        }
    }

    /// The JSON type of a cursor's sort value.
    fn kind(self) -> SortKind {
        match self {
            UserOrder::Name
            | UserOrder::Displayname
            | UserOrder::UserType
            | UserOrder::AvatarUrl => SortKind::Text,
            UserOrder::CreationTs | UserOrder::LastSeenTs => SortKind::Int,
            UserOrder::IsGuest
            | UserOrder::Admin
            | UserOrder::Deactivated
            | UserOrder::ShadowBanned
            | UserOrder::Locked => SortKind::Bool,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortKind {
    Text,
    Int,
    Bool,
}

/// When the user was last seen making a request (0: never).
const LAST_SEEN: &str =
    "COALESCE((SELECT MAX(i.last_seen_ts) FROM user_ips i WHERE i.user_id = u.name), 0)";

/// Where a page starts: just after the row with this sort value and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCursor {
    pub order: UserOrder,
    pub backwards: bool,
    pub key: serde_json::Value,
    pub name: String,
}

/// A query of the user list. `None` filters nothing.
#[derive(Debug, Clone)]
pub struct UserListQuery {
    /// A substring of the localpart or of the display name (any case).
    pub name: Option<String>,
    /// A substring of the user ID (any case); unused when `name` is given.
    pub user_id: Option<String>,
    pub guests: Option<bool>,
    pub deactivated: Option<bool>,
    pub admins: Option<bool>,
    pub locked: Option<bool>,
    /// User types left out; the empty string leaves out users with no type.
    pub not_user_types: Vec<String>,
    pub order: UserOrder,
    pub backwards: bool,
    /// Keyset paging: the rows after this one.
    pub after: Option<UserCursor>,
    /// Offset paging (Synapse's numeric `from`), after `after` if both.
    pub offset: i64,
    pub limit: i64,
}

/// What a query's filters are, all of them: the key of its total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UserListFilter {
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub guests: Option<bool>,
    pub deactivated: Option<bool>,
    pub admins: Option<bool>,
    pub locked: Option<bool>,
    /// Sorted, each once.
    pub not_user_types: Vec<String>,
}

/// One row of the list, in Synapse's shape.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserListRow {
    #[sqlx(rename = "name")]
    pub user_id: String,
    pub user_type: Option<String>,
    pub is_guest: bool,
    pub admin: bool,
    pub deactivated: bool,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
    pub created_ts: Timestamp,
    pub erased: bool,
    pub locked: bool,
    /// 0 when never seen.
    pub last_seen_ts: i64,
}

/// A page: its rows, how many rows match in all (a few seconds old at
/// most: `auth/user_counts.rs`), and the cursor after its last row (if
/// there was one).
#[derive(Debug, Clone)]
pub struct UserListPage {
    pub users: Vec<UserListRow>,
    pub total: i64,
    pub last: Option<UserCursor>,
}

/// A value bound to a numbered parameter.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// The statements of a query: (count SQL, page SQL, their arguments; the
/// count uses a prefix of them).
pub(super) struct ListSql {
    pub count: String,
    pub page: String,
    pub count_args: usize,
    pub args: Vec<Arg>,
}

/// `%` and `_` are literal in a substring search.
fn like_pattern(prefix: &str, text: &str, suffix: &str) -> String {
    let mut p = String::from(prefix);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push_str(suffix);
    p
}

impl UserListQuery {
    /// Its filters, as a key (filters that select the same rows the same
    /// way make one key).
    pub fn filter(&self) -> UserListFilter {
        let mut not_user_types = self.not_user_types.clone();
        not_user_types.sort();
        not_user_types.dedup();
        UserListFilter {
            name: self.name.clone(),
            user_id: self.user_id.clone().filter(|_| self.name.is_none()),
            guests: self.guests,
            deactivated: self.deactivated,
            admins: self.admins,
            locked: self.locked,
            not_user_types,
        }
    }

    /// Whether `after` was made for this query's order (a cursor is
    /// only a client's token, decoded).
    pub fn cursor_fits(&self) -> bool {
        self.after
            .as_ref()
            .is_none_or(|c| self.cursor_key(c).is_some())
    }

    /// The cursor's sort value as an argument, if the cursor was made for
    /// this order and its value has the order's type.
    fn cursor_key(&self, c: &UserCursor) -> Option<Arg> {
        if c.order != self.order || c.backwards != self.backwards {
            return None;
        }
        match (self.order.kind(), &c.key) {
            (SortKind::Text, serde_json::Value::String(s)) => Some(Arg::Text(s.clone())),
            (SortKind::Int, serde_json::Value::Number(x)) => x.as_i64().map(Arg::Int),
            (SortKind::Bool, serde_json::Value::Bool(b)) => Some(Arg::Bool(*b)),
            _ => None,
        }
    }

    pub(super) fn sql(&self) -> Result<ListSql, &'static str> {
        let mut args = Vec::new();
        let arg = |a: Arg, args: &mut Vec<Arg>| {
            args.push(a);
            format!("${}", args.len())
        };
        let mut filters: Vec<String> = Vec::new();
        if let Some(name) = &self.name {
            let a = arg(Arg::Text(like_pattern("@%", name, "%:%")), &mut args);
            let b = arg(Arg::Text(like_pattern("%", name, "%")), &mut args);
            filters.push(format!(
                "(lower(u.name) LIKE {a} ESCAPE '\\' OR lower(u.displayname) LIKE {b} ESCAPE '\\')"
            ));
        } else if let Some(user_id) = &self.user_id {
            let a = arg(Arg::Text(like_pattern("%", user_id, "%")), &mut args);
            filters.push(format!("lower(u.name) LIKE {a} ESCAPE '\\'"));
        }
        for (column, value) in [
            ("u.is_guest", self.guests),
            ("u.deactivated", self.deactivated),
            ("u.admin", self.admins),
            ("u.locked", self.locked),
        ] {
            if let Some(v) = value {
                let a = arg(Arg::Bool(v), &mut args);
                filters.push(format!("{column} = {a}"));
            }
        }
        let named: Vec<&String> = self
            .not_user_types
            .iter()
            .filter(|t| !t.is_empty())
            .collect();
        let no_null = self.not_user_types.iter().any(|t| t.is_empty());
        if !named.is_empty() {
            let list: Vec<String> = named
                .iter()
                .map(|t| arg(Arg::Text((*t).clone()), &mut args))
                .collect();
            let not_in = format!("u.user_type NOT IN ({})", list.join(", "));
            filters.push(match no_null {
                true => format!("(u.user_type IS NOT NULL AND {not_in})"),
                false => format!("(u.user_type IS NULL OR {not_in})"),
            });
        } else if no_null {
            filters.push("u.user_type IS NOT NULL".to_owned());
        }
        let filter_sql = match filters.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", filters.join(" AND ")),
        };
        let count = format!("SELECT COUNT(*) FROM users u{filter_sql}");
        let count_args = args.len();

        // Two steps: the page's names first, from the order's index and
        // the filters alone, then the rest of each of those rows (and its
        // `last_seen_ts`, an aggregate over `user_ips`): with the extras in
        // one select, PostgreSQL computed them for every row an offset
        // skips too (seconds at `from=500000` of a million users). Only
        // `order_by=last_seen_ts` needs the aggregate of every matching
        // row, to sort by it.
        let key = self.order.expression();
        let dir = if self.backwards { "DESC" } else { "ASC" };
        let cmp = if self.backwards { "<" } else { ">" };
        let base = format!("SELECT u.name, {key} AS sort_key FROM users u{filter_sql}");
        let order = format!("ORDER BY t.sort_key {dir}, t.name ASC");
        let names = match &self.after {
            None => {
                let limit = arg(Arg::Int(self.limit), &mut args);
                let offset = arg(Arg::Int(self.offset), &mut args);
                format!("SELECT * FROM ({base}) t {order} LIMIT {limit} OFFSET {offset}")
            }
            Some(cursor) => {
                let value = self
                    .cursor_key(cursor)
                    .ok_or("the token was made for another order")?;
                let n = arg(Arg::Text(cursor.name.clone()), &mut args);
                let limit = arg(Arg::Int(self.limit), &mut args);
                let offset = arg(Arg::Int(self.offset), &mut args);
                if self.order == UserOrder::Name {
                    format!(
                        "SELECT * FROM ({base}) t WHERE t.name {cmp} {n} {order} \
                         LIMIT {limit} OFFSET {offset}"
                    )
                } else {
                    let k = arg(value, &mut args);
                    let both = arg(Arg::Int(self.limit.saturating_add(self.offset)), &mut args);
                    // The rest of the cursor's sort value (the tie-break is
                    // the name, ascending either way, as Synapse's), then
                    // the values after it: two ranges each an index can
                    // serve (`users_*_order`), where one `OR` could not.
                    format!(
                        "SELECT * FROM (\
                         SELECT * FROM (SELECT * FROM ({base}) t \
                         WHERE t.sort_key = {k} AND t.name > {n} {order} LIMIT {both}) a \
                         UNION ALL \
                         SELECT * FROM (SELECT * FROM ({base}) t \
                         WHERE t.sort_key {cmp} {k} {order} LIMIT {both}) b) t \
                         {order} LIMIT {limit} OFFSET {offset}"
                    )
                }
            }
        };
        let page = format!(
            "SELECT u.name, u.user_type, u.is_guest, u.admin, u.deactivated, \
             u.displayname, u.avatar_url, u.created_ts, u.erased, u.locked, \
             {LAST_SEEN} AS last_seen_ts \
             FROM ({names}) t JOIN users u ON u.name = t.name {order}"
        );
        Ok(ListSql {
            count,
            page,
            count_args,
            args,
        })
    }

    /// The cursor just after `row`.
    pub fn cursor_after(&self, row: &UserListRow) -> UserCursor {
        use serde_json::json;
        let key = match self.order {
            UserOrder::Name => json!(row.user_id),
            UserOrder::Displayname => json!(row.displayname.clone().unwrap_or_default()),
            UserOrder::IsGuest => json!(row.is_guest),
            UserOrder::Admin => json!(row.admin),
            UserOrder::Deactivated => json!(row.deactivated),
            UserOrder::UserType => json!(row.user_type.clone().unwrap_or_default()),
            UserOrder::AvatarUrl => json!(row.avatar_url.clone().unwrap_or_default()),
            UserOrder::ShadowBanned => json!(false),
            UserOrder::CreationTs => json!(row.created_ts),
            UserOrder::LastSeenTs => json!(row.last_seen_ts),
            UserOrder::Locked => json!(row.locked),
        };
        UserCursor {
            order: self.order,
            backwards: self.backwards,
            key,
            name: row.user_id.clone(),
        }
    }
}
