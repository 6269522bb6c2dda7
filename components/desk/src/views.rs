//! The JSON the desk's API answers with.

use serde_json::{Value, json};
use store::desk::{Agent, HandoffRecord, OpenHandoff, TranscriptMessage};

/// An agent (never its token).
pub fn agent(agent: &Agent) -> Value {
    json!({
        "id": agent.id, "name": agent.name, "disabled": agent.disabled, "created_ms": agent.created_ms,
    })
}

/// A queue item; `priority` is the effective one (base plus waiting).
pub fn queue_item(h: &OpenHandoff, priority: i64) -> Value {
    json!({
        "conversation_id": h.conversation_id.to_string(),
        "channel": h.channel,
        "customer_id": h.customer_id,
        "customer_name": h.customer_name,
        "language": h.language,
        "reason": h.reason,
        "priority": priority,
        "waiting_since": h.created_ms,
        "last_message": h.last_message,
        "intent": h.intent,
        "anger": h.anger,
        "agent": h.agent,
    })
}

/// A customer text the model was unsure about, for labeling.
pub fn uncertain(m: &store::learning::Uncertain) -> Value {
    json!({
        "message_id": m.message_id.to_string(),
        "conversation_id": m.conversation_id.to_string(),
        "channel": m.channel,
        "language": m.language,
        "text": m.text,
        "predicted": m.predicted,
        "confidence": m.confidence,
        "created_ms": m.created_ms,
    })
}

/// A handoff, in a transcript or an export.
pub fn handoff(h: &HandoffRecord) -> Value {
    json!({
        "reason": h.reason, "priority": h.priority, "created_ms": h.created_ms,
        "claimed_ms": h.claimed_ms, "agent": h.agent, "first_reply_ms": h.first_reply_ms,
        "resolved_ms": h.resolved_ms, "note": h.note, "csat": h.csat,
    })
}

/// A message of a transcript.
pub fn message(m: &TranscriptMessage) -> Value {
    json!({
        "id": m.id, "direction": m.direction, "author": m.author,
        "agent_name": m.agent_name, "text": m.text, "intent": m.intent,
        "confidence": m.confidence, "anger": m.anger, "language": m.language,
        "created_ms": m.created_ms,
    })
}

/// How a message goes out: `{"kind": "message" | "human_agent_tag"}`,
/// `{"kind": "template", "template", "language"}` or `{"kind": "nothing", "reason"}`.
pub fn outgoing(how: &conversation::desk::Outgoing) -> Value {
    use conversation::desk::Outgoing;
    match how {
        Outgoing::Template { name, language } => {
            json!({ "kind": how.kind(), "template": name, "language": language })
        }
        Outgoing::PrivateReply { comment_id } => {
            json!({ "kind": how.kind(), "comment_id": comment_id })
        }
        Outgoing::Nothing(reason) => json!({ "kind": how.kind(), "reason": reason }),
        Outgoing::Message | Outgoing::HumanAgentTag => json!({ "kind": how.kind() }),
    }
}

/// A customer's identities, notes and tags.
pub fn customer(c: &store::customers::Customer) -> Value {
    json!({
        "identities": c.identities.iter().map(|i| json!({ "channel": i.channel, "customer_id": i.customer_id })).collect::<Vec<_>>(),
        "notes": c.notes,
        "tags": c.tags,
    })
}

/// The desk's customer panel: the customer, the detected language and every conversation
/// on every linked channel with its outcome and ratings.
pub fn panel(p: &conversation::customers::Panel) -> Value {
    let mut body = customer(&p.customer);
    body["language"] = json!(p.language);
    body["conversations"] = p
        .conversations
        .iter()
        .map(|past| {
            let c = &past.conversation;
            let outcome = match past.handoffs.last() {
                None => "bot",
                Some(h) if h.resolved_ms.is_some() => "resolved",
                Some(_) => "with_agent",
            };
            let ratings: Vec<i64> = past.handoffs.iter().filter_map(|h| h.csat).collect();
            json!({
                "conversation_id": c.id.to_string(), "channel": c.channel,
                "customer_id": c.customer_id, "customer_name": c.customer_name,
                "language": c.language, "status": c.status,
                "last_customer_ms": c.last_customer_ms, "messages": past.messages,
                "outcome": outcome, "csat": ratings,
                "handoffs": past.handoffs.iter().map(handoff).collect::<Vec<_>>(),
            })
        })
        .collect::<Vec<_>>()
        .into();
    body
}

/// A saved reply: as stored, and `rendered` with the shop's facts (or `problem`).
pub fn saved_reply(saved: &conversation::desk::SavedReply) -> Value {
    let s = &saved.stored;
    let mut body = json!({
        "id": s.id.to_string(), "shortcut": s.shortcut, "language": s.language,
        "text": s.text, "updated_ms": s.updated_ms,
    });
    match &saved.rendered {
        Ok(text) => body["rendered"] = json!(text),
        Err(problem) => body["problem"] = json!(problem),
    }
    body
}

/// A conversation with its handoffs and messages.
pub fn conversation(
    c: &store::Conversation,
    handoffs: &[HandoffRecord],
    messages: &[TranscriptMessage],
) -> Value {
    json!({
        "conversation_id": c.id.to_string(),
        "channel": c.channel,
        "customer_id": c.customer_id,
        "customer_name": c.customer_name,
        "language": c.language,
        "status": c.status,
        "last_customer_ms": c.last_customer_ms,
        "handoffs": handoffs.iter().map(handoff).collect::<Vec<_>>(),
        "messages": messages.iter().map(message).collect::<Vec<_>>(),
    })
}

/// Everything held about a customer (GDPR export).
///
/// # Errors
///
/// A stored outbox body that is not JSON (never written by the app).
pub fn export(data: &store::privacy::CustomerData) -> Result<Value, serde_json::Error> {
    let c = &data.conversation;
    let sent = data
        .outbox
        .iter()
        .map(|(body, state, at)| {
            Ok(json!({
                "body": serde_json::from_str::<Value>(body)?, "state": state, "created_ms": at,
            }))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    Ok(json!({
        "channel": c.channel,
        "customer_id": c.customer_id,
        "customer_name": c.customer_name,
        "language": c.language,
        "status": c.status,
        "conversation_id": c.id.to_string(),
        "last_customer_ms": c.last_customer_ms,
        "messages": data.messages.iter().map(|m| json!({
            "direction": m.direction, "author": m.author, "agent_name": m.agent_name,
            "text": m.text, "intent": m.intent, "confidence": m.confidence,
            "anger": m.anger, "language": m.language, "created_ms": m.created_ms,
        })).collect::<Vec<_>>(),
        "handoffs": data.handoffs.iter().map(|h| json!({
            "reason": h.reason, "created_ms": h.created_ms, "claimed_ms": h.claimed_ms,
            "resolved_ms": h.resolved_ms, "note": h.note, "csat": h.csat,
        })).collect::<Vec<_>>(),
        "sent_to_platform": sent,
    }))
}

/// Outbox counts by state and the rows that failed or wait for a retry, for operators.
pub fn outbox(counts: &[(String, i64)], problems: &[store::OutboxProblem]) -> Value {
    json!({
        "counts": counts
            .iter()
            .map(|(state, n)| (state.clone(), json!(n)))
            .collect::<serde_json::Map<String, Value>>(),
        "problems": problems.iter().map(|p| json!({
            "id": p.id,
            "conversation_id": p.conversation_id.to_string(),
            "channel": p.channel,
            "state": p.state,
            "attempts": p.attempts,
            "last_error": p.last_error,
            "next_attempt_ms": p.next_attempt_ms,
            "created_ms": p.created_ms,
        })).collect::<Vec<_>>(),
    })
}
