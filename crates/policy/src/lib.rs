//! The bot's decision for one customer message, as a pure function of the conversation's
//! state and the message's analysis: [`decide`].
//!
//! ```
//! use policy::*;
//! let state = ConversationState::new();
//! let analysis = Analysis {
//!     language: Lang::Hu,
//!     language_confidence: 0.97,
//!     intents: vec![("shipping_cost".into(), 0.91)],
//!     out_of_scope: false,
//!     anger: 0.0,
//!     signals: vec![],
//!     rating: None,
//! };
//! let decision = decide(&state, &Incoming::Text(&analysis));
//! assert_eq!(decision.action, Action::Answer { intent: "shipping_cost".into() });
//! assert_eq!(decision.state.language, Some(Lang::Hu));
//! ```
//!
//! The rules, in order: a conversation queued for or owned by a human gets no bot reply; a
//! rating (a `CSAT:<n>` button, or a bare 1-5 right after an agent resolved the conversation)
//! is recorded and thanked; a request for a person, anger or a complaint hands off at once; out of scope gets "here is
//! what I can help with" once, then a handoff; a confident FAQ intent gets its answer (small
//! talk a short reply); a low-confidence guess gets one clarifying question, then a handoff.
//! The conversation's language sticks unless the customer clearly switches.
#![deny(missing_docs)]

/// An FAQ intent at or above this confidence is answered.
pub const ANSWER_CONFIDENCE: f32 = 0.5;

/// A detected language at or above this confidence replaces the conversation's language.
pub const SWITCH_CONFIDENCE: f32 = 0.8;

/// Intents answered with a short social reply rather than an FAQ answer.
pub const SMALL_TALK: [&str; 3] = ["greeting", "thanks", "goodbye"];

/// The payload of the "talk to a person" button.
pub const HUMAN_PAYLOAD: &str = "HUMAN";

/// Prefix of FAQ buttons' payloads: `FAQ:<intent>`.
pub const FAQ_PAYLOAD_PREFIX: &str = "FAQ:";

/// The payload prefix of a rating button: `CSAT:<1-5>`.
pub const RATING_PAYLOAD_PREFIX: &str = "CSAT:";

pub use vocab::{HandoffReason, Lang, Status};

/// The handoff signals the NLU raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The customer asked for a person.
    ExplicitRequest,
    /// Anger at or above the NLU's threshold.
    Anger,
    /// A complaint.
    Complaint,
    /// Out of scope.
    OutOfScope,
    /// The customer asks us to delete their data (GDPR erasure).
    ErasureRequest,
}

/// What the NLU said about a text message (mirrors `chatbot:nlu`'s analysis).
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Detected language.
    pub language: Lang,
    /// Confidence in it.
    pub language_confidence: f32,
    /// Top intents with confidences, best first.
    pub intents: Vec<(String, f32)>,
    /// No intent applies.
    pub out_of_scope: bool,
    /// 0..1.
    pub anger: f32,
    /// Handoff signals.
    pub signals: Vec<Signal>,
    /// The text read as a 1-5 rating ([`parse_rating`]), if it is one.
    pub rating: Option<u8>,
}

/// One incoming customer event.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming<'a> {
    /// A text message and its analysis.
    Text(&'a Analysis),
    /// A button press with our payload.
    Payload(&'a str),
    /// An image, sticker, audio, location, file, ...
    NonText,
}

/// What the conversation remembers between messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationState {
    /// Who handles it.
    pub status: Status,
    /// The language replies are written in, once known.
    pub language: Option<Lang>,
    /// Low-confidence messages in a row.
    pub misses: u8,
    /// Out-of-scope messages in a row.
    pub out_of_scope_streak: u8,
    /// An agent resolved the conversation and the customer was asked for a 1-5 rating.
    pub awaiting_rating: bool,
}

impl ConversationState {
    /// A new conversation, with the bot.
    pub fn new() -> Self {
        Self {
            status: Status::Bot,
            language: None,
            misses: 0,
            out_of_scope_streak: 0,
            awaiting_rating: false,
        }
    }

    /// The language to reply in: the conversation's, else English.
    pub fn reply_language(&self) -> Lang {
        match self.language {
            Some(Lang::Other) | None => Lang::En,
            Some(l) => l,
        }
    }
}

impl Default for ConversationState {
    fn default() -> Self {
        Self::new()
    }
}

/// What the bot does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Store the message for the agent; no bot reply.
    Silent,
    /// Answer an FAQ intent (with related questions and "talk to a person" as options).
    Answer {
        /// The intent whose answer to send.
        intent: String,
    },
    /// A short social reply (greeting, thanks, goodbye).
    SmallTalk {
        /// Which one.
        intent: String,
    },
    /// Ask which of these the customer meant.
    Clarify {
        /// Two or three intents to offer as buttons.
        options: Vec<String>,
    },
    /// "Here is what I can help with".
    Capabilities,
    /// "I can only read text".
    TextOnly,
    /// Acknowledge a request to delete the customer's data; it is queued for an operator.
    ErasureRequested,
    /// Record the customer's 1-5 rating of the human help and thank them.
    Rating {
        /// 1 (bad) to 5 (great).
        score: u8,
    },
    /// Queue for a human and acknowledge.
    Handoff {
        /// Why.
        reason: HandoffReason,
    },
}

/// The decision: the action and the conversation's next state.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The state to store.
    pub state: ConversationState,
}

/// The operator's crisis switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Crisis {
    /// Normal answers.
    #[default]
    Normal,
    /// Hand every conversation to people (with the usual acknowledgement).
    HandoffAll,
    /// Send the operator's holding message, then hand off.
    Holding,
}

/// Decides what to do with one incoming event (no crisis).
pub fn decide(current: &ConversationState, incoming: &Incoming<'_>) -> Decision {
    decide_in(current, incoming, Crisis::Normal)
}

/// Decides what to do with one incoming event while the operator's crisis switch is at
/// `crisis`: in a crisis every conversation still with the bot is handed off (reason
/// `crisis`); queued and human-owned ones stay silent as always; a request to delete one's
/// data is still acknowledged.
pub fn decide_in(current: &ConversationState, incoming: &Incoming<'_>, crisis: Crisis) -> Decision {
    let mut state = current.clone();
    if state.status == Status::Closed {
        state.status = Status::Bot;
    }
    if let Incoming::Text(analysis) = incoming {
        state.language = sticky_language(state.language, analysis);
    }
    if matches!(state.status, Status::Queued | Status::Human) {
        return decision(Action::Silent, state);
    }
    // After an agent resolved the conversation: a rating button, or a bare 1-5 as text.
    let rating = match incoming {
        Incoming::Payload(payload) => payload
            .strip_prefix(RATING_PAYLOAD_PREFIX)
            .and_then(parse_rating),
        Incoming::Text(analysis) if state.awaiting_rating => analysis.rating,
        Incoming::Text(_) | Incoming::NonText => None,
    };
    state.awaiting_rating = false;
    if let Some(score) = rating {
        return decision(Action::Rating { score }, state);
    }
    if let Incoming::Text(analysis) = incoming
        && analysis.signals.contains(&Signal::ErasureRequest)
    {
        return decision(Action::ErasureRequested, reset_streaks(state));
    }
    if crisis != Crisis::Normal {
        return handoff(state, HandoffReason::Crisis);
    }
    match incoming {
        Incoming::NonText => decision(Action::TextOnly, state),
        Incoming::Payload(payload) => decide_payload(state, payload),
        Incoming::Text(analysis) => decide_text(state, analysis),
    }
}

fn decision(action: Action, state: ConversationState) -> Decision {
    Decision { action, state }
}

/// The clarification and out-of-scope counters start again.
fn reset_streaks(mut state: ConversationState) -> ConversationState {
    state.misses = 0;
    state.out_of_scope_streak = 0;
    state
}

/// The conversation goes to the agents' queue.
fn handoff(state: ConversationState, reason: HandoffReason) -> Decision {
    let mut state = reset_streaks(state);
    state.status = Status::Queued;
    decision(Action::Handoff { reason }, state)
}

/// An answer for `intent`, or small talk.
fn answer(intent: &str) -> Action {
    if SMALL_TALK.contains(&intent) {
        Action::SmallTalk {
            intent: intent.into(),
        }
    } else {
        Action::Answer {
            intent: intent.into(),
        }
    }
}

/// A button the customer pressed: talk to a person, a FAQ topic, or anything else (what the
/// bot can do).
fn decide_payload(state: ConversationState, payload: &str) -> Decision {
    if payload == HUMAN_PAYLOAD {
        return handoff(state, HandoffReason::ExplicitRequest);
    }
    let action = match payload.strip_prefix(FAQ_PAYLOAD_PREFIX) {
        Some(intent) if !intent.is_empty() => answer(intent),
        _ => Action::Capabilities,
    };
    decision(action, reset_streaks(state))
}

/// A text message: a handoff signal, out of scope (twice in a row: handoff), a confident
/// answer, or a clarifying question (twice in a row: handoff).
fn decide_text(mut state: ConversationState, analysis: &Analysis) -> Decision {
    for (signal, reason) in [
        (Signal::ExplicitRequest, HandoffReason::ExplicitRequest),
        (Signal::Anger, HandoffReason::Anger),
        (Signal::Complaint, HandoffReason::Complaint),
    ] {
        if analysis.signals.contains(&signal) {
            return handoff(state, reason);
        }
    }
    if analysis.out_of_scope || analysis.intents.is_empty() {
        state.misses = 0;
        if state.out_of_scope_streak >= 1 {
            return handoff(state, HandoffReason::OutOfScope);
        }
        state.out_of_scope_streak += 1;
        return decision(Action::Capabilities, state);
    }
    state.out_of_scope_streak = 0;
    let (intent, confidence) = &analysis.intents[0];
    if *confidence >= ANSWER_CONFIDENCE {
        state.misses = 0;
        return decision(answer(intent), state);
    }
    if state.misses >= 1 {
        return handoff(state, HandoffReason::LowConfidence);
    }
    state.misses += 1;
    let options = analysis
        .intents
        .iter()
        .take(3)
        .map(|(i, _)| i.clone())
        .collect();
    decision(Action::Clarify { options }, state)
}

/// A rating 1-5 from a payload or a short reply like "5" or "4/5".
pub fn parse_rating(text: &str) -> Option<u8> {
    let text = text.trim();
    let first = text.split(['/', ' ']).next()?;
    let score: u8 = first.parse().ok()?;
    (1..=5).contains(&score).then_some(score)
}

/// The conversation keeps its language unless the customer clearly writes in another one of
/// ours; the first message with a known language sets it.
fn sticky_language(current: Option<Lang>, analysis: &Analysis) -> Option<Lang> {
    let detected = analysis.language;
    match current {
        None | Some(Lang::Other) if detected != Lang::Other => Some(detected),
        Some(current)
            if detected != Lang::Other
                && detected != current
                && analysis.language_confidence >= SWITCH_CONFIDENCE =>
        {
            Some(detected)
        }
        None => Some(Lang::Other),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(language: Lang, intents: &[(&str, f32)], oos: bool, signals: &[Signal]) -> Analysis {
        Analysis {
            language,
            language_confidence: 0.95,
            intents: intents.iter().map(|(i, c)| (i.to_string(), *c)).collect(),
            out_of_scope: oos,
            anger: if signals.contains(&Signal::Anger) {
                0.8
            } else {
                0.0
            },
            signals: signals.to_vec(),
            rating: None,
        }
    }

    fn state(status: Status, language: Option<Lang>, misses: u8, oos: u8) -> ConversationState {
        ConversationState {
            status,
            language,
            misses,
            out_of_scope_streak: oos,
            awaiting_rating: false,
        }
    }

    #[test]
    fn crisis_mode_hands_everything_off_and_erasure_requests_are_acknowledged() {
        let bot = state(Status::Bot, Some(Lang::En), 0, 0);
        let faq = text(Lang::En, &[("shipping_cost", 0.9)], false, &[]);
        for crisis in [Crisis::HandoffAll, Crisis::Holding] {
            let d = decide_in(&bot, &Incoming::Text(&faq), crisis);
            assert_eq!(
                d.action,
                Action::Handoff {
                    reason: HandoffReason::Crisis
                }
            );
            assert_eq!(d.state.status, Status::Queued);
            let queued = state(Status::Queued, Some(Lang::En), 0, 0);
            assert_eq!(
                decide_in(&queued, &Incoming::Text(&faq), crisis).action,
                Action::Silent
            );
        }
        assert_eq!(
            decide_in(&bot, &Incoming::Text(&faq), Crisis::Normal).action,
            Action::Answer {
                intent: "shipping_cost".into()
            }
        );
        let erase = text(
            Lang::Hu,
            &[("complaint", 0.4)],
            false,
            &[Signal::ErasureRequest],
        );
        for crisis in [Crisis::Normal, Crisis::HandoffAll] {
            let d = decide_in(&bot, &Incoming::Text(&erase), crisis);
            assert_eq!(d.action, Action::ErasureRequested);
            assert_eq!(d.state.status, Status::Bot);
        }
    }

    #[test]
    fn ratings_after_a_resolved_handoff() {
        let asked = ConversationState {
            awaiting_rating: true,
            ..state(Status::Bot, Some(Lang::Hu), 0, 0)
        };
        let mut five = text(Lang::Other, &[("greeting", 0.3)], false, &[]);
        five.rating = parse_rating("5");
        // A bare "5" while a rating is awaited is the rating.
        let d = decide(&asked, &Incoming::Text(&five));
        assert_eq!(d.action, Action::Rating { score: 5 });
        assert!(!d.state.awaiting_rating);
        assert_eq!(
            d.state.language,
            Some(Lang::Hu),
            "a digit does not switch language"
        );
        // The same text later is just a message (clarified like any other).
        let d = decide(&d.state, &Incoming::Text(&five));
        assert!(matches!(d.action, Action::Clarify { .. }), "{:?}", d.action);
        // A rating button works whenever it is pressed; a bad one is not a rating.
        let bot = state(Status::Bot, Some(Lang::En), 0, 0);
        assert_eq!(
            decide(&bot, &Incoming::Payload("CSAT:2")).action,
            Action::Rating { score: 2 }
        );
        assert_eq!(
            decide(&bot, &Incoming::Payload("CSAT:9")).action,
            Action::Capabilities
        );
        // Anything else ends the wait for a rating and is handled normally.
        let faq = text(Lang::Hu, &[("shipping_cost", 0.9)], false, &[]);
        let d = decide(&asked, &Incoming::Text(&faq));
        assert_eq!(
            d.action,
            Action::Answer {
                intent: "shipping_cost".into()
            }
        );
        assert!(!d.state.awaiting_rating);
        for (input, want) in [
            ("5", Some(5)),
            (" 1 ", Some(1)),
            ("4/5", Some(4)),
            ("3 stars", Some(3)),
            ("0", None),
            ("6", None),
            ("five", None),
            ("", None),
        ] {
            assert_eq!(parse_rating(input), want, "{input:?}");
        }
    }

    #[test]
    fn decision_table() {
        use Action::*;
        let bot = state(Status::Bot, Some(Lang::En), 0, 0);
        let faq = text(
            Lang::En,
            &[("shipping_cost", 0.9), ("delivery_time", 0.05)],
            false,
            &[],
        );
        let unsure = text(
            Lang::En,
            &[
                ("order_status", 0.35),
                ("delivery_time", 0.3),
                ("shipping_cost", 0.1),
            ],
            false,
            &[],
        );
        let oos = text(
            Lang::En,
            &[("opening_hours", 0.1)],
            true,
            &[Signal::OutOfScope],
        );
        let human = text(
            Lang::En,
            &[("contact_human", 1.0)],
            false,
            &[Signal::ExplicitRequest],
        );
        let angry = text(Lang::En, &[("order_status", 0.9)], false, &[Signal::Anger]);
        let complaint = text(Lang::En, &[("complaint", 0.8)], false, &[Signal::Complaint]);
        let hello = text(Lang::En, &[("greeting", 0.95)], false, &[]);
        // (name, state before, incoming, action, (status, misses, out-of-scope streak) after)
        type Case<'a> = (
            &'a str,
            ConversationState,
            Incoming<'a>,
            Action,
            (Status, u8, u8),
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "faq answered",
                bot.clone(),
                Incoming::Text(&faq),
                Answer {
                    intent: "shipping_cost".into(),
                },
                (Status::Bot, 0, 0),
            ),
            (
                "small talk",
                bot.clone(),
                Incoming::Text(&hello),
                SmallTalk {
                    intent: "greeting".into(),
                },
                (Status::Bot, 0, 0),
            ),
            (
                "first miss clarifies",
                bot.clone(),
                Incoming::Text(&unsure),
                Clarify {
                    options: vec![
                        "order_status".into(),
                        "delivery_time".into(),
                        "shipping_cost".into(),
                    ],
                },
                (Status::Bot, 1, 0),
            ),
            (
                "second miss hands off",
                state(Status::Bot, Some(Lang::En), 1, 0),
                Incoming::Text(&unsure),
                Handoff {
                    reason: HandoffReason::LowConfidence,
                },
                (Status::Queued, 0, 0),
            ),
            (
                "a hit resets misses",
                state(Status::Bot, Some(Lang::En), 1, 0),
                Incoming::Text(&faq),
                Answer {
                    intent: "shipping_cost".into(),
                },
                (Status::Bot, 0, 0),
            ),
            (
                "first out of scope",
                bot.clone(),
                Incoming::Text(&oos),
                Capabilities,
                (Status::Bot, 0, 1),
            ),
            (
                "second out of scope",
                state(Status::Bot, Some(Lang::En), 0, 1),
                Incoming::Text(&oos),
                Handoff {
                    reason: HandoffReason::OutOfScope,
                },
                (Status::Queued, 0, 0),
            ),
            (
                "explicit request",
                bot.clone(),
                Incoming::Text(&human),
                Handoff {
                    reason: HandoffReason::ExplicitRequest,
                },
                (Status::Queued, 0, 0),
            ),
            (
                "anger",
                bot.clone(),
                Incoming::Text(&angry),
                Handoff {
                    reason: HandoffReason::Anger,
                },
                (Status::Queued, 0, 0),
            ),
            (
                "complaint",
                bot.clone(),
                Incoming::Text(&complaint),
                Handoff {
                    reason: HandoffReason::Complaint,
                },
                (Status::Queued, 0, 0),
            ),
            (
                "queued stays silent",
                state(Status::Queued, Some(Lang::En), 0, 0),
                Incoming::Text(&faq),
                Silent,
                (Status::Queued, 0, 0),
            ),
            (
                "human owned stays silent",
                state(Status::Human, Some(Lang::En), 0, 0),
                Incoming::Text(&angry),
                Silent,
                (Status::Human, 0, 0),
            ),
            (
                "closed reopens",
                state(Status::Closed, Some(Lang::En), 0, 0),
                Incoming::Text(&faq),
                Answer {
                    intent: "shipping_cost".into(),
                },
                (Status::Bot, 0, 0),
            ),
            (
                "non-text",
                bot.clone(),
                Incoming::NonText,
                TextOnly,
                (Status::Bot, 0, 0),
            ),
            (
                "human button",
                bot.clone(),
                Incoming::Payload("HUMAN"),
                Handoff {
                    reason: HandoffReason::ExplicitRequest,
                },
                (Status::Queued, 0, 0),
            ),
            (
                "faq button",
                state(Status::Bot, Some(Lang::En), 1, 0),
                Incoming::Payload("FAQ:return_item"),
                Answer {
                    intent: "return_item".into(),
                },
                (Status::Bot, 0, 0),
            ),
            (
                "unknown button",
                bot.clone(),
                Incoming::Payload("???"),
                Capabilities,
                (Status::Bot, 0, 0),
            ),
        ];
        for (name, current, incoming, want, (status, misses, oos_streak)) in cases {
            let decision = decide(&current, &incoming);
            assert_eq!(decision.action, want, "{name}");
            assert_eq!(
                (
                    decision.state.status,
                    decision.state.misses,
                    decision.state.out_of_scope_streak
                ),
                (status, misses, oos_streak),
                "{name}"
            );
        }
    }

    #[test]
    fn language_sticks_unless_clearly_switched() {
        let with = |language, confidence| Analysis {
            language_confidence: confidence,
            ..text(language, &[("greeting", 0.9)], false, &[])
        };
        let cases = [
            (None, with(Lang::Hu, 0.5), Some(Lang::Hu)),
            (None, with(Lang::Other, 0.9), Some(Lang::Other)),
            (Some(Lang::Other), with(Lang::Pl, 0.4), Some(Lang::Pl)),
            (Some(Lang::Hu), with(Lang::En, 0.6), Some(Lang::Hu)),
            (Some(Lang::Hu), with(Lang::En, 0.9), Some(Lang::En)),
            (Some(Lang::Pl), with(Lang::Other, 0.99), Some(Lang::Pl)),
        ];
        for (current, analysis, want) in cases {
            let decided = decide(
                &state(Status::Bot, current, 0, 0),
                &Incoming::Text(&analysis),
            );
            assert_eq!(
                decided.state.language, want,
                "{current:?} + {:?}",
                analysis.language
            );
        }
        assert_eq!(
            state(Status::Bot, Some(Lang::Other), 0, 0).reply_language(),
            Lang::En
        );
        assert_eq!(state(Status::Bot, None, 0, 0).reply_language(), Lang::En);
    }
}
