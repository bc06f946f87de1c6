//! `ui_auth`: `session_timeout`, how long after passing user-interactive
//! auth a user may delete devices without passing it again.

use super::yaml::{as_duration_ms, KResult, Map};

/// Top-level keys parsed here.
pub(super) const KEYS: &[&str] = &["ui_auth"];

/// `ui_auth.session_timeout` in milliseconds; 0 (the default) is off.
pub(super) fn parse(top: &Map<'_>) -> KResult<u64> {
    let Some(l) = top.get("ui_auth") else {
        return Ok(0);
    };
    let map = Map::from_node(l.node())?;
    map.check_keys(&["session_timeout"], &[])?;
    match map.get("session_timeout") {
        Some(t) => as_duration_ms(t.node()),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn session_timeout() {
        let c = config("server_name: example.com\n");
        assert_eq!(c.ui_auth_session_timeout_ms, 0);
        let c = config("server_name: example.com\nui_auth:\n  session_timeout: 15s\n");
        assert_eq!(c.ui_auth_session_timeout_ms, 15_000);
        let c = config("server_name: example.com\nui_auth:\n");
        assert_eq!(c.ui_auth_session_timeout_ms, 0);
        let (path, _) = parse_error("server_name: example.com\nui_auth:\n  session_timout: 1s\n");
        assert_eq!(path, "ui_auth.session_timout");
        let (path, _) = parse_error("server_name: example.com\nui_auth:\n  session_timeout: x\n");
        assert_eq!(path, "ui_auth.session_timeout");
    }
}
