//! WhatsApp Cloud API webhook: `GET` handshake and signed `POST` events at
//! `/webhooks/whatsapp`.
//!
//! A signed POST is answered as soon as its events are stored with their replies; the replies
//! are delivered after the answer (see `component_shell::bot`).
#![deny(clippy::unwrap_used, clippy::expect_used)]

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// The Spin entry point. The SDK's export macro expands to `unsafe` ABI glue; our own code
/// is not (the workspace denies `unsafe_code`).
#[allow(unsafe_code)]
mod entry {
    use super::*;

    #[http_component]
    async fn handle(request: IncomingRequest, out: ResponseOutparam) {
        component_shell::bot::serve_webhook(request, out, meta::Channel::WhatsApp, |body| {
            meta::parse_whatsapp(body).map(meta::Webhook::from)
        })
        .await
    }
}
