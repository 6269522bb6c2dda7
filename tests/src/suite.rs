//! The suite's test registry and runner (a `libtest-mimic` harness): every test declares what
//! it needs, so that under `APP_URL` the tests that must start their own app are reported by
//! name as ignored (skipped), never counted as passed.

use libtest_mimic::{Arguments, Failed, Trial};
use std::process::ExitCode;

/// What a test needs from its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any app: one the suite starts, or the deployment at `APP_URL`.
    AnyApp,
    /// An app the suite starts itself (its Graph API pointed at the test's fake, a restart,
    /// a second instance, its log): skipped under `APP_URL`.
    OwnApp,
    /// As [`Needs::OwnApp`], plus Chromium and the npm packages `scripts/setup` installs:
    /// skipped loudly without them, except on CI (`CI` set), where it fails.
    OwnAppAndBrowser,
}

/// One end-to-end test.
#[derive(Debug, Clone, Copy)]
pub struct Test {
    /// `module::function`.
    pub name: &'static str,
    /// What it needs.
    pub needs: Needs,
    /// The test: panics on failure.
    pub run: fn(),
}

/// Declares a test module's `TESTS` by what the tests need:
///
/// ```text
/// e2e::tests! {
///     any_app: [handshake_works],
///     own_app: [a_question_is_answered],
/// }
/// ```
#[macro_export]
macro_rules! tests {
    ($($needs:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        /// This module's tests.
        pub const TESTS: &[$crate::Test] = &[
            $($($crate::Test {
                name: concat!(module_path!(), "::", stringify!($name)),
                needs: $crate::tests!(@needs $needs),
                run: $name,
            },)*)*
        ];
    };
    (@needs any_app) => { $crate::Needs::AnyApp };
    (@needs own_app) => { $crate::Needs::OwnApp };
    (@needs own_app_and_browser) => { $crate::Needs::OwnAppAndBrowser };
}

/// Why a test cannot run here, if it cannot.
fn skip_reason(needs: Needs) -> Option<String> {
    let under_url = std::env::var("APP_URL").is_ok();
    match needs {
        Needs::AnyApp => None,
        Needs::OwnApp | Needs::OwnAppAndBrowser if under_url => Some(
            "APP_URL is set, and this test needs an app the suite starts itself (set APP_CMD instead to run it)".into(),
        ),
        Needs::OwnApp => None,
        Needs::OwnAppAndBrowser => {
            let missing = crate::browser_missing()?;
            // On CI a missing browser is a failure: the test runs and says so.
            if std::env::var("CI").is_ok() {
                None
            } else {
                Some(missing)
            }
        }
    }
}

/// Stops apps that an earlier run of the suite started and could not stop (it was killed or
/// interrupted): processes whose state directory (`target/test-state/<name>-<pid>-...`)
/// names a test process that no longer runs. Their process groups are killed.
#[allow(unsafe_code)] // kill(2), see the SAFETY note
fn stop_leftover_apps() {
    let marker = crate::workspace_root()
        .join("target")
        .join("test-state")
        .display()
        .to_string();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in processes.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let Some(at) = cmdline.find(&format!("{marker}/")) else {
            continue;
        };
        // `<name>-<pid>-<nanos>-<n>`: the pid of the test process that made the directory.
        let dir = &cmdline[at + marker.len() + 1..];
        let owner = dir
            .split(['/', ' '])
            .next()
            .and_then(|name| name.rsplit('-').nth(2))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(owner) = owner
            && owner != std::process::id()
            && !std::path::Path::new(&format!("/proc/{owner}")).exists()
        {
            eprintln!("e2e: stopping a leftover app (pid {pid}) of an earlier run");
            // SAFETY: kill(2) on the process group of a process this suite started earlier
            // (its state directory says so), and on the process itself.
            unsafe {
                let group = libc::getpgid(pid);
                if group > 1 {
                    libc::kill(-group, libc::SIGKILL);
                }
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Starts the app once before the tests do, so that a runtime that compiles components on
/// its first start (`spin up` does, then keeps them in its cache) does it once, not in
/// every test at the same time. A failure is reported; the tests then say the same.
fn warm_up() {
    let started = std::time::Instant::now();
    let env = vec![
        (
            "SPIN_VARIABLE_META_APP_SECRET".to_string(),
            "warm-up".to_string(),
        ),
        (
            "SPIN_VARIABLE_META_VERIFY_TOKEN".to_string(),
            "warm-up".to_string(),
        ),
        (
            "SPIN_VARIABLE_DESK_ADMIN_TOKEN".to_string(),
            "warm-up".to_string(),
        ),
        (
            "SPIN_VARIABLE_ID_HASH_KEY".to_string(),
            "warm-up".to_string(),
        ),
    ];
    match crate::Launcher::from_env().launch(&crate::temp_dir("warm-up"), &env) {
        Ok(mut app) => {
            app.kill();
            eprintln!(
                "e2e: the app starts (first start {:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => eprintln!("e2e: the app does not start: {e}"),
    }
}

/// Runs the tests of `groups` with libtest's command line (filters, `--list`,
/// `--test-threads`, ...), and returns the exit code.
pub fn run_suite(groups: &[&[Test]]) -> ExitCode {
    let args = Arguments::from_args();
    match std::env::var("APP_URL") {
        Ok(url) => eprintln!("e2e: testing the running app at APP_URL={url}"),
        Err(_) => eprintln!(
            "e2e: starting apps with `{}`",
            crate::Launcher::from_env().template()
        ),
    }
    let mut skipped = Vec::new();
    let trials: Vec<Trial> = groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|test| {
            let name = test
                .name
                .split_once("::")
                .map_or(test.name, |(_, rest)| rest);
            let run = test.run;
            let trial = Trial::test(name, move || {
                std::panic::catch_unwind(run).map_err(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                        .unwrap_or_else(|| "the test panicked".into());
                    Failed::from(message)
                })
            });
            match skip_reason(test.needs) {
                Some(reason) => {
                    skipped.push(format!("{name}: {reason}"));
                    trial.with_ignored_flag(true)
                }
                None => trial,
            }
        })
        .collect();
    if std::env::var("APP_URL").is_err() && !args.list {
        stop_leftover_apps();
        warm_up();
    }
    if !skipped.is_empty() && !args.list {
        eprintln!(
            "e2e: {} test(s) SKIPPED (reported as ignored):",
            skipped.len()
        );
        for line in &skipped {
            eprintln!("e2e:   skipped {line}");
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}
