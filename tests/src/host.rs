//! The local host as a process: started on a manifest with a free port, its log kept, killed
//! when dropped. The host's own tests use it directly; the end-to-end suite starts apps through
//! [`crate::Launcher`], whose default command is this host.

use crate::{unique, workspace_root};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The local host binary built by `cargo build --release -p host`.
pub fn host_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("release").join("host")
}

/// A local host process, killed when dropped. Its stderr (the request log) goes to a file.
pub struct HostProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Where the host's stderr is written.
    pub log_path: PathBuf,
}

/// What to start a local host with.
pub struct HostOptions<'a> {
    /// The host binary.
    pub binary: PathBuf,
    /// The manifest to serve.
    pub manifest: PathBuf,
    /// The state directory (SQLite files, compiled-component cache).
    pub state_dir: PathBuf,
    /// Extra arguments after `up`.
    pub args: Vec<String>,
    /// The compiled-component cache; `None` keeps it in the state directory.
    pub cache_dir: Option<PathBuf>,
    /// Environment variables (e.g. `SPIN_VARIABLE_*`).
    pub env: Vec<(&'a str, String)>,
}

impl HostProcess {
    /// Starts a host on a free port and waits until it serves.
    ///
    /// # Errors
    ///
    /// The host exits before serving; the error carries its log.
    pub fn start(options: HostOptions<'_>) -> Result<Self, String> {
        std::fs::create_dir_all(&options.state_dir).map_err(|e| e.to_string())?;
        let log_path = options.state_dir.join(format!("host-{}.log", unique()));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let mut command = Command::new(&options.binary);
        command
            .arg("up")
            .arg("-f")
            .arg(&options.manifest)
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&options.state_dir)
            .args(
                options
                    .cache_dir
                    .iter()
                    .flat_map(|dir| [std::ffi::OsStr::new("--cache-dir"), dir.as_os_str()]),
            )
            .args(&options.args)
            .env_remove("RUST_BACKTRACE")
            .stdout(Stdio::piped())
            .stderr(log);
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", options.binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("Serving ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let status = child.wait().map_err(|e| e.to_string())?;
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    return Err(format!("host exited ({status}) before serving:\n{log}"));
                }
            }
        };
        // Keep draining stdout so the host never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            base_url,
            log_path,
        })
    }

    /// Everything the host has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the host and waits for it to exit.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
