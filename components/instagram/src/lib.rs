//! Instagram webhook: `GET` handshake and signed `POST` events at `/webhooks/instagram` (the
//! Messenger Platform's `object: "instagram"`): direct messages and public comments.
//!
//! The same bot as Messenger: a signed POST is answered as soon as its events are stored with
//! their replies; the replies are delivered after the answer (see `component_shell::bot`).
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
        component_shell::bot::serve_webhook(
            request,
            out,
            meta::Channel::Instagram,
            meta::parse_instagram_webhook,
        )
        .await
    }
}
