//! `m.login.dummy`: nothing to prove; a flow of it alone lets anyone
//! through (registration without other requirements).

use super::{Stage, StageResult};
use crate::auth::Auth;
use crate::store::UiaSession;
use serde_json::{json, Map, Value};

pub const DUMMY: &str = "m.login.dummy";

pub(crate) struct Dummy;

#[async_trait::async_trait]
impl Stage for Dummy {
    fn kind(&self) -> &str {
        DUMMY
    }

    async fn check(&self, _: &Auth, _: &Map<String, Value>, _: &UiaSession) -> StageResult {
        Ok(json!(true))
    }

    fn fallback_page(&self) -> Option<&'static str> {
        Some("dummy.html")
    }
}
