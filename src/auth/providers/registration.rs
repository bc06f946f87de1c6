//! What the providers choose for a registration (Synapse's
//! `get_username_for_registration` and `get_displayname_for_registration`):
//! asked once UIA has passed, with what each completed stage recorded.

use crate::auth::uia::UiaPassed;
use crate::auth::Auth;
use crate::store::StoreResult;
use serde_json::Map;

/// The providers' choices for one registration.
#[derive(Debug, Default)]
pub(crate) struct RegistrationChoices {
    /// The localpart to register instead of the request's `username`.
    pub username: Option<String>,
    pub display_name: Option<String>,
}

impl Auth {
    pub(crate) async fn registration_choices(
        &self,
        passed: &UiaPassed,
    ) -> StoreResult<RegistrationChoices> {
        if self.providers.is_empty() {
            return Ok(RegistrationChoices::default());
        }
        let uia_results: Map<_, _> = self
            .store
            .uia()
            .get_uia_completed_stages(&passed.session_id)
            .await?
            .into_iter()
            .collect();
        let params = &passed.params;
        Ok(RegistrationChoices {
            username: self
                .providers
                .username_for_registration(&uia_results, params)
                .await,
            display_name: self
                .providers
                .displayname_for_registration(&uia_results, params)
                .await,
        })
    }
}
