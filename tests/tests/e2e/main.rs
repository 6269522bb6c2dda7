//! The end-to-end suite: one test binary (a libtest-mimic harness, see `e2e::run_suite`) over
//! an app the suite starts from a command template (`APP_CMD`, default the local host) or a
//! running deployment (`APP_URL`, where the tests that need their own app are skipped by name).

mod bot;
mod browser;
mod comments;
mod desk;
mod instagram;
mod operations;
mod webchat;
mod webhooks;

fn main() -> std::process::ExitCode {
    e2e::run_suite(&[
        webhooks::TESTS,
        webchat::TESTS,
        bot::TESTS,
        instagram::TESTS,
        comments::TESTS,
        desk::TESTS,
        operations::TESTS,
        browser::TESTS,
    ])
}
