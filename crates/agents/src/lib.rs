//! The agents' desk without Spin: agent tokens ([`new_token`], [`token_hash`]), the queue's
//! order ([`order_queue`]) and the KPIs ([`kpis`]). The desk component authenticates, reads
//! the rows through `store` and answers with what these functions compute.
#![deny(missing_docs)]

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use store::desk::{ConversationFacts, HandoffRecord, OpenHandoff};

/// How an agent token starts (so a leaked one is recognizable in a secret scanner).
pub const TOKEN_PREFIX: &str = "desk_";

/// A new agent token from 32 random bytes: `desk_` and 64 hex digits. Shown once; only its
/// [`token_hash`] is stored.
pub fn new_token(random: &[u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(random))
}

/// What is stored for a token: its SHA-256 in hex (a token has 256 random bits, so no salt
/// or slow hash is needed).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How a customer is named in audit events and logs: the channel and the first 32 hex digits
/// (128 bits) of the keyed hash of the customer id ([`webhook::keyed_hash`] with the
/// `id_hash_key` Spin variable), never the id itself: without the key a guessed phone number
/// cannot be checked against the log.
pub fn subject_hash(key: &[u8], channel: &str, customer_id: &str) -> String {
    let digest = webhook::keyed_hash(key, &format!("{channel}:{customer_id}"));
    format!("{channel}:{}", &digest[..32])
}

/// Waiting raises a handoff's priority by one for every this many milliseconds.
pub const WAIT_STEP_MS: i64 = 10 * 60_000;

/// At most this much priority comes from waiting.
pub const MAX_WAIT_BONUS: i64 = 5;

/// A handoff's priority now: its base (reason and anger) plus one per
/// [`WAIT_STEP_MS`] waited, at most [`MAX_WAIT_BONUS`].
pub fn effective_priority(base: i64, created_ms: i64, now_ms: i64) -> i64 {
    base + ((now_ms - created_ms).max(0) / WAIT_STEP_MS).min(MAX_WAIT_BONUS)
}

/// Orders open handoffs for the queue: highest [`effective_priority`] first, then the
/// longest waiting.
pub fn order_queue(items: &mut [OpenHandoff], now_ms: i64) {
    items.sort_by_key(|h| {
        (
            std::cmp::Reverse(effective_priority(h.priority, h.created_ms, now_ms)),
            h.created_ms,
            h.conversation_id,
        )
    });
}

/// The nearest-rank percentile `p` (0..=100) of `values`; `None` when empty.
pub fn percentile(values: &[i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).copied()
}

fn spread(values: &[i64]) -> serde_json::Value {
    serde_json::json!({
        "count": values.len(),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
    })
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0)
}

/// The KPIs of one group of conversations (with their handoffs) as JSON:
/// `conversations`, `handed_off`, `containment_rate` (share never handed to a human),
/// `handoffs_by_reason` (count and rate per conversation), `first_response_ms` (`bot`: from
/// the customer's first message to the bot's first reply; `human`: from handoff to the
/// agent's first reply), `time_to_claim_ms`, `resolution_ms` (p50/p90 in ms), and `csat`
/// (average and count of 1-5 ratings).
fn group_kpis(
    conversations: &[&ConversationFacts],
    handoffs: &[&HandoffRecord],
) -> serde_json::Value {
    let handed_off: std::collections::BTreeSet<i64> =
        handoffs.iter().map(|h| h.conversation_id).collect();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for h in handoffs {
        *by_reason.entry(h.reason.as_str()).or_default() += 1;
    }
    let bot_first: Vec<i64> = conversations
        .iter()
        .filter_map(|c| Some(c.first_bot_ms? - c.first_customer_ms?))
        .filter(|d| *d >= 0)
        .collect();
    let human_first: Vec<i64> = handoffs
        .iter()
        .filter_map(|h| Some(h.first_reply_ms? - h.created_ms))
        .collect();
    let to_claim: Vec<i64> = handoffs
        .iter()
        .filter_map(|h| Some(h.claimed_ms? - h.created_ms))
        .collect();
    let resolution: Vec<i64> = handoffs
        .iter()
        .filter_map(|h| Some(h.resolved_ms? - h.created_ms))
        .collect();
    let ratings: Vec<i64> = handoffs.iter().filter_map(|h| h.csat).collect();
    let n = conversations.len();
    serde_json::json!({
        "conversations": n,
        "handed_off": handed_off.len(),
        "containment_rate": ratio(n.saturating_sub(handed_off.len()), n),
        "handoffs_by_reason": by_reason.iter().map(|(reason, count)| {
            ((*reason).to_string(), serde_json::json!({ "count": count, "rate": ratio(*count, n) }))
        }).collect::<serde_json::Map<_, _>>(),
        "first_response_ms": { "bot": spread(&bot_first), "human": spread(&human_first) },
        "time_to_claim_ms": spread(&to_claim),
        "resolution_ms": spread(&resolution),
        "csat": {
            "count": ratings.len(),
            "average": (!ratings.is_empty()).then(|| {
                (ratings.iter().sum::<i64>() as f64 / ratings.len() as f64 * 100.0).round() / 100.0
            }),
        },
    })
}

/// The KPIs of the conversations started in a period (see [`store::desk::kpi_facts`]):
/// `overall`, and the same per channel (`by_channel`) and per language (`by_language`).
pub fn kpis(conversations: &[ConversationFacts], handoffs: &[HandoffRecord]) -> serde_json::Value {
    let group = |keep: &dyn Fn(&ConversationFacts) -> bool| {
        let chosen: Vec<&ConversationFacts> = conversations.iter().filter(|c| keep(c)).collect();
        let ids: std::collections::BTreeSet<i64> = chosen.iter().map(|c| c.id).collect();
        let theirs: Vec<&HandoffRecord> = handoffs
            .iter()
            .filter(|h| ids.contains(&h.conversation_id))
            .collect();
        group_kpis(&chosen, &theirs)
    };
    let channels: std::collections::BTreeSet<&str> =
        conversations.iter().map(|c| c.channel.as_str()).collect();
    // Conversations that never said anything in a known language count as "unknown".
    let language_of = |c: &ConversationFacts| c.language.map_or("unknown", store::Lang::as_str);
    let languages: std::collections::BTreeSet<&str> =
        conversations.iter().map(language_of).collect();
    serde_json::json!({
        "overall": group(&|_| true),
        "by_channel": channels.iter().map(|ch| {
            ((*ch).to_string(), group(&|c: &ConversationFacts| c.channel.as_str() == *ch))
        }).collect::<serde_json::Map<_, _>>(),
        "by_language": languages.iter().map(|l| {
            ((*l).to_string(), group(&|c: &ConversationFacts| language_of(c) == *l))
        }).collect::<serde_json::Map<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_stored_hashed() {
        let token = new_token(&[7; 32]);
        assert!(
            token.starts_with("desk_") && token.len() == 5 + 64,
            "{token}"
        );
        assert_ne!(token, new_token(&[8; 32]));
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token_hash("desk_other"));
        assert!(!hash.contains(&token[5..]));
    }

    #[test]
    fn subjects_are_hashed_with_the_key() {
        let subject = subject_hash(b"key", "whatsapp", "36301234567");
        assert!(
            subject.starts_with("whatsapp:") && subject.len() == 9 + 32,
            "{subject}"
        );
        assert!(!subject.contains("36301234567"));
        assert_ne!(subject, subject_hash(b"key", "messenger", "36301234567"));
        // Another key, another name: the log cannot be searched for a guessed number.
        assert_ne!(subject, subject_hash(b"other", "whatsapp", "36301234567"));
    }

    #[test]
    fn waiting_raises_priority_up_to_a_cap() {
        for (base, waited_min, want) in [
            (1, 0, 1),
            (1, 9, 1),
            (1, 10, 2),
            (3, 25, 5),
            (1, 600, 1 + MAX_WAIT_BONUS),
            (2, -5, 2),
        ] {
            assert_eq!(
                effective_priority(base, 0, waited_min * 60_000),
                want,
                "{base} {waited_min}"
            );
        }
    }

    fn open(id: i64, priority: i64, created_ms: i64) -> OpenHandoff {
        OpenHandoff {
            conversation_id: id,
            channel: store::Channel::Messenger,
            customer_id: format!("c{id}"),
            customer_name: None,
            language: Some(store::Lang::En),
            reason: store::HandoffReason::ExplicitRequest,
            priority,
            created_ms,
            agent: None,
            last_message: None,
            intent: None,
            anger: None,
        }
    }

    #[test]
    fn the_queue_is_ordered_by_priority_then_age() {
        let now = 60 * 60_000;
        // An angry customer (5) first; a calm one waiting 50 min (1 + 5) overtakes it;
        // equal priorities in order of age.
        let mut items = vec![
            open(1, 2, now - 60_000),
            open(2, 5, now - 60_000),
            open(3, 1, now - 50 * 60_000),
            open(4, 2, now - 120_000),
        ];
        order_queue(&mut items, now);
        let order: Vec<i64> = items.iter().map(|h| h.conversation_id).collect();
        assert_eq!(order, [3, 2, 4, 1]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values = [50, 10, 40, 20, 30];
        assert_eq!(percentile(&values, 50), Some(30));
        assert_eq!(percentile(&values, 90), Some(50));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 50), None);
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 90), Some(90));
    }

    fn conversation(id: i64, channel: &str, language: &str, bot_ms: i64) -> ConversationFacts {
        ConversationFacts {
            id,
            channel: channel.parse().unwrap(),
            language: Some(language.parse().unwrap()),
            created_ms: 0,
            first_customer_ms: Some(1_000),
            first_bot_ms: Some(1_000 + bot_ms),
        }
    }

    fn handoff(
        conversation_id: i64,
        reason: &str,
        claim: i64,
        reply: i64,
        resolve: i64,
        csat: Option<i64>,
    ) -> HandoffRecord {
        HandoffRecord {
            id: conversation_id,
            conversation_id,
            channel: store::Channel::Messenger,
            language: None,
            reason: reason.parse().unwrap(),
            priority: 1,
            created_ms: 10_000,
            claimed_ms: Some(10_000 + claim),
            agent: Some("1".into()),
            first_reply_ms: Some(10_000 + reply),
            resolved_ms: Some(10_000 + resolve),
            note: None,
            csat,
        }
    }

    #[test]
    fn kpis_of_a_scripted_period() {
        // Four conversations: two contained by the bot, two handed off.
        let conversations = [
            conversation(1, "messenger", "en", 20),
            conversation(2, "whatsapp", "hu", 40),
            conversation(3, "messenger", "hu", 60),
            conversation(4, "webchat", "pl", 80),
        ];
        let handoffs = [
            handoff(3, "anger", 30_000, 60_000, 600_000, Some(4)),
            handoff(4, "explicit_request", 90_000, 120_000, 300_000, Some(5)),
        ];
        let k = kpis(&conversations, &handoffs);
        let all = &k["overall"];
        assert_eq!(all["conversations"], 4);
        assert_eq!(all["handed_off"], 2);
        assert_eq!(all["containment_rate"], 0.5);
        assert_eq!(all["handoffs_by_reason"]["anger"]["count"], 1);
        assert_eq!(all["handoffs_by_reason"]["anger"]["rate"], 0.25);
        assert_eq!(all["first_response_ms"]["bot"]["p50"], 40);
        assert_eq!(all["first_response_ms"]["bot"]["p90"], 80);
        assert_eq!(all["first_response_ms"]["human"]["p50"], 60_000);
        assert_eq!(all["time_to_claim_ms"]["p90"], 90_000);
        assert_eq!(all["resolution_ms"]["p50"], 300_000);
        assert_eq!(all["csat"]["average"], 4.5);
        assert_eq!(all["csat"]["count"], 2);
        let messenger = &k["by_channel"]["messenger"];
        assert_eq!(messenger["conversations"], 2);
        assert_eq!(messenger["containment_rate"], 0.5);
        assert_eq!(k["by_channel"]["whatsapp"]["handed_off"], 0);
        assert_eq!(k["by_language"]["hu"]["conversations"], 2);
        assert_eq!(k["by_language"]["pl"]["csat"]["average"], 5.0);
        // An empty period has counts of zero and no rates.
        let empty = kpis(&[], &[]);
        assert_eq!(empty["overall"]["conversations"], 0);
        assert_eq!(
            empty["overall"]["containment_rate"],
            serde_json::Value::Null
        );
    }
}
