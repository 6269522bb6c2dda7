//! WhatsApp Cloud API webhook: `GET` handshake and signed `POST` events at
//! `/webhooks/whatsapp`.

use component_shell::{bot, json_error, verified_body};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> Response {
    let body = match verified_body(&req) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match meta::parse_whatsapp(body) {
        Ok(events) => bot::handle(events).await,
        Err(e) => json_error(400, &e.to_string()),
    }
}
