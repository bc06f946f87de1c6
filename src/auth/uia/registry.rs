//! The UIA stages mxauth knows, built once with `Auth` (and again when
//! the providers are set): the built-in stages, then one stage per login
//! type of the providers. Adding a stage: its file in this folder, its
//! `mod` line in `mod.rs`, its line here.
//!
//! The order is the order of re-authentication's flows.

use super::dummy::Dummy;
use super::email_identity::EmailIdentity;
use super::password::{Password, ProviderLoginType};
use super::recaptcha::Recaptcha;
use super::registration_token::RegistrationToken;
use super::sso::Sso;
use super::terms::Terms;
use super::{Stage, Stages};
use crate::auth::providers::Providers;
use std::sync::Arc;

/// The built-in stages and those of `providers`' login types.
pub(crate) fn stages(providers: &Providers) -> Stages {
    let mut stages: Vec<Arc<dyn Stage>> = vec![
        Arc::new(Dummy),
        Arc::new(Terms),
        Arc::new(Recaptcha),
        Arc::new(RegistrationToken),
        Arc::new(EmailIdentity),
        Arc::new(Password),
        Arc::new(Sso),
    ];
    for login_type in providers.login_types() {
        stages.push(Arc::new(ProviderLoginType(login_type.to_owned())));
    }
    Stages::new(stages)
}
