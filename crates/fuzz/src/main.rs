//! Runs the fuzz targets for a while: `cargo run --release -p fuzz -- [--seconds N]
//! [--seed S] [target ...]` (every target when none is named, 60 s each by default). Prints
//! the inputs tried per target; exits 1 on a finding, whose minimal input is kept under
//! `crates/fuzz/found/<target>/` (commit it: `cargo test -p fuzz` replays it).

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let mut seconds = 60u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = |value: Option<String>| value.and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--seconds" => match number(args.next()) {
                Some(n) => seconds = n,
                None => return usage("--seconds needs a number"),
            },
            "--seed" => match number(args.next()) {
                Some(n) => seed = n,
                None => return usage("--seed needs a number"),
            },
            "-h" | "--help" => return usage(""),
            name => names.push(name.to_string()),
        }
    }
    let targets: Vec<&fuzz::Target> = fuzz::TARGETS
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
        .collect();
    if let Some(unknown) = names
        .iter()
        .find(|n| !fuzz::TARGETS.iter().any(|t| t.name == *n))
    {
        return usage(&format!("unknown target {unknown}"));
    }
    let mut failed = false;
    for target in targets {
        let started = Instant::now();
        let until = started + Duration::from_secs(seconds);
        match fuzz::run(target, 1_000, Some(until), seed) {
            Ok(ran) => println!(
                "fuzz: {:<12} {:>9} inputs in {:>5.0} s ({:.0}/s), seed {seed}: no finding",
                target.name,
                ran.cases,
                started.elapsed().as_secs_f64(),
                ran.cases as f64 / started.elapsed().as_secs_f64()
            ),
            Err(finding) => {
                println!("fuzz: FINDING, seed {seed}: {finding}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("fuzz: {problem}");
    }
    let names: Vec<&str> = fuzz::TARGETS.iter().map(|t| t.name).collect();
    eprintln!(
        "usage: fuzz [--seconds N] [--seed S] [target ...]\ntargets: {}",
        names.join(" ")
    );
    ExitCode::from(2)
}
