//! WhatsApp Cloud API webhook: `GET` handshake and signed `POST` events at
//! `/webhooks/whatsapp`.

use component_shell::{json, json_error, meta_webhook, nlu};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    meta_webhook(&req, on_event)
}

/// A verified POST. The bot's replies come with the channels issue; for now each text is
/// analyzed and the delivery acknowledged.
fn on_event(body: &[u8]) -> Response {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return json_error(400, "malformed JSON payload");
    };
    let texts = payload["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|entry| entry["changes"].as_array().into_iter().flatten())
        .flat_map(|change| change["value"]["messages"].as_array().into_iter().flatten())
        .filter_map(|message| message["text"]["body"].as_str());
    let (mut analyzed, mut needs_human) = (0, 0);
    for text in texts {
        analyzed += 1;
        if !nlu::analyze(text).needs_human.is_empty() {
            needs_human += 1;
        }
    }
    json(
        200,
        &serde_json::json!({ "analyzed": analyzed, "needs_human": needs_human }),
    )
}
