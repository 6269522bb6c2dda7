//! The agents' desk: the API under `/api/desk/` and the inbox under `/desk/`. Built with
//! the desk issue; until then it answers 501.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> Response {
    component_shell::not_implemented("the agents' desk")
}
