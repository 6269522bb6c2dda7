//! Web chat: `POST /api/chat`. Built with the channels issue; until then it answers 501.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> Response {
    component_shell::not_implemented("web chat")
}
