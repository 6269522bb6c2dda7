//! Every fuzz target for a bounded number of random inputs (a fixed seed per run of the
//! suite would find nothing new: the seed changes with the day), and every finding ever kept
//! under `found/`, replayed.

const CASES: u32 = 400;

fn seed() -> u64 {
    // One seed a day: reproducible within a day (`FUZZ_SEED` overrides), new inputs each day.
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() / 86_400)
        })
}

#[test]
fn every_target_survives_random_inputs() {
    let seed = seed();
    let findings: Vec<String> = fuzz::TARGETS
        .iter()
        .filter_map(|target| fuzz::run(target, CASES, None, seed).err())
        .collect();
    assert!(findings.is_empty(), "seed {seed}:\n{}", findings.join("\n"));
}

#[test]
fn every_kept_finding_stays_fixed() {
    let mut replayed = 0;
    for target in fuzz::TARGETS {
        for (name, input) in fuzz::found(target.name).unwrap() {
            if let Err(why) = fuzz::check_one(target, &input) {
                panic!("{}/{name}: {why}", target.name);
            }
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} kept findings");
}

/// The inputs named in the issue, through every target: deeply nested JSON, an array of
/// 10^5 elements, invalid UTF-8 and NUL bytes.
#[test]
fn hostile_inputs_are_refused_not_fatal() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"[".repeat(100_000),
        [b"[".repeat(5_000), b"]".repeat(5_000)].concat(),
        [b"{\"a\":".repeat(5_000), b"1".to_vec(), b"}".repeat(5_000)].concat(),
        b"\xff\xfe\xfd".to_vec(),
        b"{\"text\":\"\xff\"}".to_vec(),
        b"{\"text\":\"a\0b\"}".to_vec(),
        b"{\"text\":\"\\u0000\"}".to_vec(),
        b"\0\0\0\0".to_vec(),
    ];
    let zeros = vec!["0"; 100_000].join(",");
    for prefix in [
        r#"{"object":"page","entry":["#,
        r#"{"object":"whatsapp_business_account","entry":["#,
        r#"{"text":"a","ids":["#,
        r#"{"ids":["#,
    ] {
        inputs.push(format!("{prefix}{zeros}]}}").into_bytes());
    }
    for target in fuzz::TARGETS {
        for input in &inputs {
            if let Err(why) = fuzz::check_one(target, input) {
                panic!("{}: {why} ({} bytes)", target.name, input.len());
            }
        }
    }
}
