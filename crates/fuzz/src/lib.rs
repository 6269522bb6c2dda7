//! Fuzz targets for every parser of untrusted input, run natively with proptest (cargo-fuzz
//! needs a nightly compiler; this runs on the project's one stable toolchain):
//!
//! - the Messenger and WhatsApp webhook parsers, Meta's subscription handshake and the
//!   signature check;
//! - the web chat and desk request bodies ([`conversation::requests`]);
//! - the FAQ and shop configuration loaders ([`replies::Shop::load`]), the NLU keyword rules
//!   ([`nlu::Rules::compile`]) and the NLU text normalizer ([`nlu::normalize`]).
//!
//! Each [`Target`] takes raw bytes and checks what must hold of the parser's answer; a panic
//! or a broken property is a finding. Inputs ([`inputs`]) are valid seeds mutated byte by byte
//! and node by node, arbitrary JSON, arbitrary bytes (invalid UTF-8, NUL), nesting thousands
//! deep and arrays of 10^5 elements. [`run`] shrinks a finding to a minimal input and keeps it
//! under `crates/fuzz/found/<target>/`, where `cargo test -p fuzz` replays it for ever.
//!
//! `cargo test -p fuzz` runs every target for a few hundred cases; `cargo run --release -p
//! fuzz -- --seconds 600` runs each for ten minutes (README "Fuzzing").

pub mod inputs;
pub mod seeds;

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::path::PathBuf;
use std::time::Instant;

/// A parser of untrusted bytes and what must hold of its answer.
pub struct Target {
    /// Its name (also its directory under `found/`).
    pub name: &'static str,
    /// Valid inputs to mutate.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Parses `input`; `Err` names a property that does not hold (a panic is a finding too).
    pub check: fn(&[u8]) -> Result<(), String>,
}

fn bytes(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "messenger",
        seeds: || bytes(seeds::MESSENGER),
        check: |input| page_webhook(input, meta::parse_page_webhook(input), "messenger"),
    },
    Target {
        name: "instagram",
        seeds: || bytes(seeds::INSTAGRAM),
        check: |input| page_webhook(input, meta::parse_instagram_webhook(input), "instagram"),
    },
    Target {
        name: "whatsapp",
        seeds: || bytes(seeds::WHATSAPP),
        check: |input| webhook_events(input, meta::parse_whatsapp(input), "whatsapp"),
    },
    Target {
        name: "handshake",
        seeds: || bytes(seeds::HANDSHAKE),
        check: handshake,
    },
    Target {
        name: "webchat",
        seeds: || bytes(seeds::WEBCHAT),
        check: webchat,
    },
    Target {
        name: "desk",
        seeds: || bytes(seeds::DESK),
        check: desk,
    },
    Target {
        name: "faq",
        seeds: || bytes(&[seeds::FAQ]),
        check: |input| shop(&String::from_utf8_lossy(input), seeds::SHOP),
    },
    Target {
        name: "shop_config",
        seeds: || bytes(&[seeds::SHOP]),
        check: |input| shop(seeds::FAQ, &String::from_utf8_lossy(input)),
    },
    Target {
        name: "rules",
        seeds: || bytes(seeds::RULES),
        check: rules,
    },
    Target {
        name: "normalize",
        seeds: || bytes(seeds::TEXTS),
        check: normalize,
    },
];

/// A webhook parser's events: of its channel, with a message id and a customer (an empty id
/// would make every such message a redelivery of the first, or answer nobody).
fn webhook_events(
    input: &[u8],
    parsed: Result<Vec<meta::InboundEvent>, meta::ParseError>,
    channel: &str,
) -> Result<(), String> {
    let Ok(events) = parsed else {
        return Ok(());
    };
    if std::str::from_utf8(input).is_err() {
        return Err("a body that is not UTF-8 was accepted".into());
    }
    for event in &events {
        if event.channel.as_str() != channel {
            return Err(format!("a {channel} event on {}", event.channel.as_str()));
        }
        if event.message_id.is_empty() || event.customer_id.is_empty() {
            return Err(format!(
                "an event without a message id or customer: {event:?}"
            ));
        }
    }
    if !events.is_sorted_by_key(|e| e.timestamp_ms) {
        return Err("events are not in the order they were sent".into());
    }
    Ok(())
}

/// A Page or Instagram webhook: its messages as [`webhook_events`], and its comments each
/// name a comment, a commenter other than the business, and a text.
fn page_webhook(
    input: &[u8],
    parsed: Result<meta::Webhook, meta::ParseError>,
    channel: &str,
) -> Result<(), String> {
    let (messages, comments) = match parsed {
        Ok(webhook) => (Ok(webhook.messages), webhook.comments),
        Err(e) => (Err(e), Vec::new()),
    };
    webhook_events(input, messages, channel)?;
    for c in &comments {
        if c.channel.as_str() != channel {
            return Err(format!("a {channel} comment on {}", c.channel.as_str()));
        }
        if c.comment_id.is_empty() || c.from_id.is_empty() || c.from_id == c.business_id {
            return Err(format!("a comment without an id or by the business: {c:?}"));
        }
        if c.text.trim().is_empty() {
            return Err(format!("a comment without a text: {c:?}"));
        }
    }
    if !comments.is_sorted_by_key(|c| c.timestamp_ms) {
        return Err("comments are not in the order they were written".into());
    }
    Ok(())
}

/// The handshake answers only the right token, and the signature check passes only the
/// body's own signature.
fn handshake(input: &[u8]) -> Result<(), String> {
    let query = String::from_utf8_lossy(input);
    if webhook::verify_subscription(&query, "tok").is_ok() && !query.contains("tok") {
        return Err("a handshake without the token passed".into());
    }
    let checker = webhook::SignatureChecker::new(b"secret");
    let header = query.as_ref();
    if checker.verify(Some(header), input).is_ok() && header != checker.sign(input) {
        return Err("a signature that is not the body's passed".into());
    }
    Ok(())
}

/// A 400 or 413, or a message within its limits.
fn webchat(input: &[u8]) -> Result<(), String> {
    use conversation::requests::{self, MAX_CHAT_CHARS};
    match requests::chat_message(input) {
        Err(e) if e.status == 400 || e.status == 413 => Ok(()),
        Err(e) => Err(format!("status {}", e.status)),
        Ok(_) if std::str::from_utf8(input).is_err() => {
            Err("a body that is not UTF-8 was accepted".into())
        }
        Ok(message) => {
            let text = match &message.kind {
                meta::EventKind::Text(text) => text,
                meta::EventKind::Payload {
                    title: Some(title), ..
                } => title,
                other => return Err(format!("a web chat message became {other:?}")),
            };
            if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS {
                return Err(format!(
                    "a text of {} characters passed",
                    text.chars().count()
                ));
            }
            Ok(())
        }
    }
}

/// Every desk body parser: a 400 or 413, or a value within its limits.
fn desk(input: &[u8]) -> Result<(), String> {
    use conversation::requests::{self, BadRequest, MAX_AGENT_MESSAGE_CHARS, MAX_NAME_CHARS};
    let status = |e: BadRequest| match e.status {
        400 | 413 => Ok(()),
        other => Err(format!("status {other}")),
    };
    let within = |text: &str, max: usize| {
        if text.is_empty() || text.chars().count() > max || text.trim() != text {
            Err(format!("{text:?} passed"))
        } else {
            Ok(())
        }
    };
    match requests::agent_name(input) {
        Ok(name) => within(&name, MAX_NAME_CHARS)?,
        Err(e) => status(e)?,
    }
    match requests::agent_message(input) {
        Ok(text) => within(&text, MAX_AGENT_MESSAGE_CHARS)?,
        Err(e) => status(e)?,
    }
    if let Err(e) = requests::transfer(input) {
        status(e)?;
    }
    match requests::resolve_note(input) {
        Ok(_) if std::str::from_utf8(input).is_err() => {
            return Err("a body that is not UTF-8 was accepted".into());
        }
        Ok(_) => {}
        Err(e) => status(e)?,
    }
    match requests::crisis(input) {
        Ok((_, Some(message))) if message.trim().is_empty() => {
            return Err("an empty crisis message passed".into());
        }
        Ok(_) => {}
        Err(e) => status(e)?,
    }
    if let Err(e) = requests::requeue(input) {
        status(e)?;
    }
    match requests::intent_label(input) {
        Ok(intent) => within(&intent, 64)?,
        Err(e) => status(e)?,
    }
    Ok(())
}

/// The loaders: an error, or a shop whose FAQ survives its own JSON round trip (the nlu
/// component's build step stores it so) and whose business hours answer at any instant.
fn shop(faq: &str, config: &str) -> Result<(), String> {
    let Ok(shop) = replies::Shop::load(faq, config) else {
        return Ok(());
    };
    if let Err(e) = faq::Faq::from_json(&shop.faq.to_json()) {
        return Err(format!("the FAQ does not survive its JSON round trip: {e}"));
    }
    // 2026-12-01 10:00 Budapest, and the hours around both daylight-saving switches of 2026.
    for utc_ms in [1_796_115_600_000, 1_774_746_000_000, 1_792_890_000_000] {
        let _ = shop.hours.is_open(utc_ms);
        let _ = shop.hours.next_opening(utc_ms);
        for lang in ["en", "hu", "pl"] {
            let _ = shop.hours.back_phrase(utc_ms, lang);
            let _ = shop.faq.system("outside_hours", lang);
        }
    }
    Ok(())
}

/// Rule files: an error, or rules that match normalized text.
fn rules(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    if let Ok(rules) = nlu::Rules::compile(&[("fuzz.toml", &text)]) {
        let _ = rules.matches(&nlu::normalize(&text));
        for seed in seeds::TEXTS {
            let _ = rules.matches(&nlu::normalize(seed));
        }
    }
    Ok(())
}

/// The normalizer: lower case, no combining marks, single spaces inside, none at the ends,
/// and normalizing again changes nothing.
fn normalize(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    let once = nlu::normalize(&text);
    if once.starts_with(' ') || once.ends_with(' ') || once.contains("  ") {
        return Err(format!("spaces left in {once:?}"));
    }
    let twice = nlu::normalize(&once);
    if twice != once {
        return Err(format!("not idempotent: {once:?} became {twice:?}"));
    }
    Ok(())
}

/// The directory of a target's kept findings.
pub fn found_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("found")
        .join(target)
}

/// The findings kept for `target`, as (file name, bytes).
///
/// # Errors
///
/// An unreadable directory or file.
pub fn found(target: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = found_dir(target);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        inputs.push((name, std::fs::read(&path)?));
    }
    inputs.sort();
    Ok(inputs)
}

/// Runs `input` through `target`, a panic included, as a finding.
pub fn check_one(target: &Target, input: &[u8]) -> Result<(), String> {
    match std::panic::catch_unwind(|| (target.check)(input)) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?")
        )),
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// Inputs tried.
    pub cases: u64,
}

/// Runs `target` for rounds of `cases` random inputs each, until `until` (one round when
/// `None`), each round from a new random seed (`seed` for the first).
///
/// # Errors
///
/// A finding: the property that failed (or the panic) and the file where its minimal input
/// was kept.
pub fn run(target: &Target, cases: u32, until: Option<Instant>, seed: u64) -> Result<Ran, String> {
    let strategy = inputs::inputs((target.seeds)());
    let mut ran = Ran { cases: 0 };
    let mut round = seed;
    loop {
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 4096,
            ..Config::default()
        };
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&round.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let result = runner.run(&strategy, |input| {
            (target.check)(&input).map_err(TestCaseError::fail)
        });
        ran.cases += u64::from(cases);
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, input)) => return Err(keep(target.name, &why, &input)),
            Err(TestError::Abort(why)) => return Err(format!("{}: aborted: {why}", target.name)),
        }
        round = round
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        if until.is_none_or(|until| Instant::now() >= until) {
            return Ok(ran);
        }
    }
}

/// Keeps a finding's minimal input under `found/<target>/` and says where.
fn keep(target: &str, why: &impl std::fmt::Display, input: &[u8]) -> String {
    let dir = found_dir(target);
    // FNV-1a: a stable name for the same input.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{hash:016x}"));
    let kept = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
    let input_shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
    match kept {
        Ok(()) => format!(
            "{target}: {why}\n  minimal input ({} bytes) kept in {}: {input_shown:?}",
            input.len(),
            path.display()
        ),
        Err(e) => format!("{target}: {why}\n  minimal input not kept ({e}): {input_shown:?}"),
    }
}
