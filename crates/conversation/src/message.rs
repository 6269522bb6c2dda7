//! What happens to one customer message: read what the decision needs, decide (the
//! policy), and store the outcome with its replies in one short transaction
//! ([`store::turn`]); decided again if the conversation changed in between.

use crate::{Crisis, Settings};
use meta::EventKind;
use policy::{ConversationState, Decision, Incoming};
use store::metrics::Batch;
use store::turn::{Context, Stored, TurnHandoff, TurnOutbox, TurnWritten};
use store::{Conversation, Database, DbError, NewMessage, NewOutbox};
use vocab::{Button, Channel, HandoffReason, Lang, Status};

/// How often a message is decided again when its conversation changed meanwhile (another
/// message of the same customer, an agent) before it fails.
const ATTEMPTS: usize = 8;

/// The outbox route of handoff notifications (`handoff_notify_url`).
pub const NOTIFY_ROUTE: &str = "notify";

/// A customer message as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// Where.
    pub channel: Channel,
    /// The platform's message id (the dedupe key); `None` where there is none (web chat).
    pub message_id: Option<&'a str>,
    /// The customer on that channel.
    pub customer_id: &'a str,
    /// Page id, WhatsApp phone number id, or `web`.
    pub business_id: &'a str,
    /// Profile name, when the platform gives one.
    pub customer_name: Option<&'a str>,
    /// When the customer wrote (never later than now).
    pub customer_ms: i64,
    /// What they sent.
    pub kind: &'a EventKind,
    /// For the web chat: the conversation the customer says it is in, which must be theirs.
    pub claimed_conversation: Option<i64>,
    /// For a public comment: its post and whether a public reply is allowed.
    pub comment: Option<&'a CommentContext>,
}

/// A public comment being answered (the comment channels; `message_id` is the comment id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentContext {
    /// The post (or media) it is under.
    pub post_id: String,
    /// A link to the post, when known.
    pub permalink: Option<String>,
    /// No public reply went to this customer under this post in the last day.
    pub public_reply_allowed: bool,
}

/// What goes out for a comment: the answer as a private reply, and the short public reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CommentReplies {
    private: Option<String>,
    public: Option<String>,
}

/// Applies the comment rules of the shop config to a plan: only an FAQ answer of an intent
/// configured for it goes out, as one private reply (its buttons dropped), with the public
/// reply where configured and allowed; a handoff is never acknowledged (in public or in the
/// one private reply Meta allows, which is left to the agent); everything else is kept for
/// the agents unanswered.
fn comment_replies(
    shop: &replies::Shop,
    plan: &mut Plan,
    comment: &CommentContext,
) -> CommentReplies {
    let lang = plan.decision.state.reply_language();
    let intent = match &plan.decision.action {
        policy::Action::Answer { intent } if plan.handoff_reason.is_none() => Some(intent.clone()),
        _ => None,
    };
    match intent {
        Some(intent) if shop.comments.private_reply(&intent) && !plan.replies.is_empty() => {
            let text = plan
                .replies
                .iter()
                .map(|r| r.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            plan.replies = vec![replies::Reply {
                text: text.clone(),
                buttons: Vec::new(),
            }];
            let public = comment
                .public_reply_allowed
                .then(|| shop.comments.public_reply(&intent, lang))
                .flatten()
                .map(str::to_string);
            CommentReplies {
                private: Some(text),
                public,
            }
        }
        _ => {
            plan.replies.clear();
            CommentReplies::default()
        }
    }
}

impl<'a> Inbound<'a> {
    /// A Meta webhook event received at `now_ms`.
    pub fn from_event(event: &'a meta::InboundEvent, now_ms: i64) -> Self {
        Self {
            channel: event.channel,
            message_id: Some(&event.message_id),
            customer_id: &event.customer_id,
            business_id: &event.business_id,
            customer_name: event.customer_name.as_deref(),
            customer_ms: event.timestamp_ms.min(now_ms),
            kind: &event.kind,
            claimed_conversation: None,
            comment: None,
        }
    }
}

/// What became of a message.
#[derive(Debug)]
pub enum Handled {
    /// Decided and stored: what was decided, and what was written (the outbox rows are
    /// leased to the caller, who sends them next).
    Stored(Box<Plan>, Stored),
    /// Handled before (a redelivery): nothing was written.
    Redelivery,
    /// A web chat message naming a conversation that is not the customer's: nothing was
    /// written.
    UnknownConversation,
}

/// What happened, and whether other outbox rows are due (earlier failures whose back-off
/// has passed), to send with this message's rows.
#[derive(Debug)]
pub struct Outcome {
    /// The message's fate.
    pub handled: Handled,
    /// Other rows are due.
    pub due: bool,
}

/// Decides and stores one customer message (see the module documentation). `analysis` is
/// the NLU's for a text message; `metrics` are the request's, stored with the message.
///
/// # Errors
///
/// A database error (the message is not stored: answer 500 so that it is delivered again),
/// a text message without its analysis, or a conversation that kept changing.
#[allow(clippy::too_many_arguments)]
pub fn handle(
    db: &impl Database,
    shop: &replies::Shop,
    settings: &Settings,
    inbound: &Inbound<'_>,
    analysis: Option<&policy::Analysis>,
    metrics: &Batch,
    now_ms: i64,
) -> Result<Outcome, DbError> {
    let message_key = inbound
        .message_id
        .map(|id| settings.message_key(inbound.channel, id));
    let message_id = message_key
        .as_deref()
        .zip(inbound.message_id)
        .map(|(key, clear)| store::turn::MessageId { key, clear });
    for _ in 0..ATTEMPTS {
        let context = store::turn::context_migrated(
            db,
            inbound.channel,
            inbound.customer_id,
            message_id,
            now_ms,
        )?;
        if context.processed {
            return Ok(Outcome {
                handled: Handled::Redelivery,
                due: context.due,
            });
        }
        let Some((current, version)) = current_conversation(&context, inbound) else {
            return Ok(Outcome {
                handled: Handled::UnknownConversation,
                due: context.due,
            });
        };
        let mut turn_metrics = metrics.clone();
        let plan = plan(
            db,
            shop,
            settings,
            &current,
            context.open_handoff,
            inbound.kind,
            analysis,
            &Crisis::from_context(&context)?,
            now_ms,
            &mut turn_metrics,
        )?;
        let mut plan = plan;
        let comment = inbound.comment.map(|c| comment_replies(shop, &mut plan, c));
        let mut outbox = outbox_rows(shop, inbound, &current, &plan);
        let new_comment = match (inbound.comment, &comment, inbound.message_id) {
            (Some(context), Some(replies), Some(comment_id)) => {
                outbox.retain(|row| row.notification);
                outbox.extend(comment_rows(inbound.channel, comment_id, replies));
                Some(store::comments::NewComment {
                    comment_id: comment_id.to_string(),
                    channel: inbound.channel,
                    post_id: context.post_id.clone(),
                    permalink: context.permalink.clone(),
                    private_reply: replies.private.is_some(),
                    public_reply: replies.public.is_some(),
                })
            }
            _ => None,
        };
        let written = store::turn::write_turn(
            db,
            &store::turn::Turn {
                channel: inbound.channel,
                message_id: message_key.as_deref(),
                customer_id: inbound.customer_id,
                business_id: inbound.business_id,
                customer_name: inbound.customer_name,
                customer_ms: inbound.customer_ms,
                now_ms,
                expected_version: version,
                state: &plan.state,
                messages: &plan.messages(),
                outbox: &outbox,
                lease_until_ms: lease_until_ms(inbound, settings, now_ms),
                handoff: plan.handoff(),
                erasure: plan.erasure,
                rating: plan.rating,
                metrics: &turn_metrics,
                comment: new_comment.as_ref(),
            },
        )?;
        let handled = match written {
            TurnWritten::Stored(stored) => Handled::Stored(Box::new(plan), stored),
            TurnWritten::Redelivery => Handled::Redelivery,
            TurnWritten::Changed => continue,
        };
        return Ok(Outcome {
            handled,
            due: context.due,
        });
    }
    Err(DbError::new(
        "the conversation kept changing while this message was decided",
    ))
}

/// Until when the message's outbox rows are leased to the caller. Web chat messages have no
/// id to find their rows by: any sender takes them.
fn lease_until_ms(inbound: &Inbound<'_>, settings: &Settings, now_ms: i64) -> i64 {
    if inbound.message_id.is_some() {
        now_ms + settings.lease_ms
    } else {
        0
    }
}

/// The conversation as read (with its version), or the one this message starts; `None`
/// when a web chat message names a conversation that is not the customer's.
fn current_conversation(
    context: &Context,
    inbound: &Inbound<'_>,
) -> Option<(Conversation, Option<i64>)> {
    match (&context.conversation, inbound.claimed_conversation) {
        (Some((conversation, _)), Some(claimed)) if conversation.id != claimed => None,
        (None, Some(_)) => None,
        (Some((conversation, version)), _) => {
            let mut conversation = conversation.clone();
            conversation.business_id = inbound.business_id.to_string();
            if let Some(name) = inbound.customer_name {
                conversation.customer_name = Some(name.to_string());
            }
            conversation.last_customer_ms = conversation.last_customer_ms.max(inbound.customer_ms);
            Some((conversation, Some(*version)))
        }
        (None, None) => Some((
            Conversation {
                id: 0,
                channel: inbound.channel,
                customer_id: inbound.customer_id.to_string(),
                business_id: inbound.business_id.to_string(),
                customer_name: inbound.customer_name.map(str::to_string),
                language: None,
                status: Status::Bot,
                misses: 0,
                out_of_scope_streak: 0,
                last_customer_ms: inbound.customer_ms,
                awaiting_rating: false,
            },
            None,
        )),
    }
}

/// The outbox rows of a comment's replies: the private reply (Messenger Platform, to the
/// comment), then the public one (under the comment; its target names the comment).
fn comment_rows(channel: Channel, comment_id: &str, replies: &CommentReplies) -> Vec<TurnOutbox> {
    let private = replies.private.as_deref().map(|text| NewOutbox {
        channel: channel.as_str().to_string(),
        target: "me".to_string(),
        body: meta::private_reply(comment_id, text).to_string(),
    });
    let public = replies.public.as_deref().map(|text| NewOutbox {
        channel: channel.as_str().to_string(),
        target: format!("{PUBLIC_REPLY_TARGET}{comment_id}"),
        body: meta::public_reply(text).to_string(),
    });
    private
        .into_iter()
        .chain(public)
        .map(|row| TurnOutbox {
            row,
            notification: false,
        })
        .collect()
}

/// The outbox target of a public reply: this prefix and the comment id.
pub const PUBLIC_REPLY_TARGET: &str = "public:";

/// The message's outbox rows in the order they go out: WhatsApp's read receipt, a new
/// handoff's notification (the team hears of it before the customer's acknowledgement
/// goes out), then the replies.
fn outbox_rows(
    shop: &replies::Shop,
    inbound: &Inbound<'_>,
    current: &Conversation,
    plan: &Plan,
) -> Vec<TurnOutbox> {
    let mut rows = Vec::new();
    if let (Channel::WhatsApp, Some(message_id)) = (inbound.channel, inbound.message_id) {
        rows.push(TurnOutbox {
            row: NewOutbox {
                channel: Channel::WhatsApp.as_str().to_string(),
                target: inbound.business_id.to_string(),
                body: meta::whatsapp_mark_read(message_id).to_string(),
            },
            notification: false,
        });
    }
    rows.extend(plan.notification.clone().map(|row| TurnOutbox {
        row,
        notification: true,
    }));
    let lang = plan.decision.state.reply_language();
    rows.extend(
        reply_rows(
            shop,
            current,
            &plan.replies,
            lang,
            meta::MessengerMessaging::Response,
        )
        .into_iter()
        .map(|row| TurnOutbox {
            row,
            notification: false,
        }),
    );
    rows
}

/// What the bot does with one customer message, decided from the conversation as read.
#[derive(Debug)]
pub struct Plan {
    /// The policy's decision.
    pub decision: Decision,
    /// The analysis of a text message.
    pub analysis: Option<policy::Analysis>,
    /// The customer's message as the transcript shows it.
    pub incoming_text: String,
    /// What the bot says.
    pub replies: Vec<replies::Reply>,
    /// The conversation with its new state.
    pub state: Conversation,
    /// A new handoff's reason, if one starts.
    pub handoff_reason: Option<HandoffReason>,
    /// A handoff notification to queue, if a new handoff starts.
    pub notification: Option<NewOutbox>,
    /// The customer asked for their data to be erased.
    pub erasure: bool,
    /// The customer's 1–5 rating of the help they had.
    pub rating: Option<u8>,
}

/// What the bot says in a conversation, for its transcript.
pub fn bot_message(text: &str, lang: Lang) -> NewMessage<'_> {
    NewMessage {
        direction: "out",
        author: "bot",
        text,
        intent: None,
        confidence: None,
        anger: None,
        language: Some(lang),
    }
}

impl Plan {
    /// The customer's message and the bot's replies, for the transcript, in order.
    pub fn messages(&self) -> Vec<NewMessage<'_>> {
        let lang = self.decision.state.reply_language();
        let top = self
            .analysis
            .as_ref()
            .and_then(|a| a.intents.first())
            .map(|(intent, confidence)| (intent.as_str(), f64::from(*confidence)));
        let incoming = NewMessage {
            direction: "in",
            author: "customer",
            text: &self.incoming_text,
            intent: top.map(|(intent, _)| intent),
            confidence: top.map(|(_, confidence)| confidence),
            anger: self.analysis.as_ref().map(|a| f64::from(a.anger)),
            language: self.analysis.as_ref().map(|a| a.language),
        };
        std::iter::once(incoming)
            .chain(
                self.replies
                    .iter()
                    .map(|reply| bot_message(&reply.text, lang)),
            )
            .collect()
    }

    /// The handoff to open, if one starts.
    pub fn handoff(&self) -> Option<TurnHandoff> {
        self.handoff_reason.map(|reason| TurnHandoff {
            reason,
            anger: self.analysis.as_ref().map_or(0.0, |a| f64::from(a.anger)),
            language: Some(self.decision.state.reply_language()),
        })
    }
}

/// The label of a decision in `chatbot_replies_total`: a fixed set (the FAQ's intents, small
/// talk, the other actions), so no caller can grow the label set with made-up button
/// payloads; an answer for an intent the FAQ does not have is `unknown`.
fn reply_label<'a>(action: &'a policy::Action, shop: &replies::Shop) -> Option<&'a str> {
    Some(match action {
        policy::Action::Silent => return None,
        policy::Action::Answer { intent } if shop.faq.has_intent(intent) => intent,
        policy::Action::Answer { .. } => "unknown",
        policy::Action::SmallTalk { intent } if policy::SMALL_TALK.contains(&intent.as_str()) => {
            intent
        }
        policy::Action::SmallTalk { .. } => "unknown",
        policy::Action::Clarify { .. } => "clarify",
        policy::Action::Capabilities => "capabilities",
        policy::Action::TextOnly => "text_only",
        policy::Action::Handoff { .. } => "handoff",
        policy::Action::Rating { .. } => "rating",
        policy::Action::ErasureRequested => "erasure",
    })
}

/// The policy's decision for a message in a conversation in `state`.
fn decide(
    state: &ConversationState,
    kind: &EventKind,
    analysis: Option<&policy::Analysis>,
    crisis: policy::Crisis,
) -> Result<(Decision, String), DbError> {
    Ok(match kind {
        EventKind::Text(text) => {
            let analysis = analysis.ok_or_else(|| {
                DbError::new("a text message reached the policy without its analysis")
            })?;
            (
                policy::decide_in(state, &Incoming::Text(analysis), crisis),
                text.clone(),
            )
        }
        EventKind::Payload { payload, title } => (
            policy::decide_in(state, &Incoming::Payload(payload), crisis),
            title.clone().unwrap_or_else(|| format!("[{payload}]")),
        ),
        EventKind::NonText(kind) => (
            policy::decide_in(state, &Incoming::NonText, crisis),
            format!("[{kind}]"),
        ),
    })
}

/// Decides one customer message in `conversation` as read (`open_handoff`: it has a
/// handoff that is not resolved): the policy's decision, the replies in the conversation's
/// language, the conversation's new state, a handoff and its notification, an erasure
/// request or a rating; metrics go to `metrics`. The database is only read, for the
/// estimated wait of a handoff.
///
/// # Errors
///
/// A database error reading the estimated wait, or a text without its analysis.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    db: &impl Database,
    shop: &replies::Shop,
    settings: &Settings,
    conversation: &Conversation,
    open_handoff: bool,
    kind: &EventKind,
    analysis: Option<&policy::Analysis>,
    crisis: &Crisis,
    now_ms: i64,
    metrics: &mut Batch,
) -> Result<Plan, DbError> {
    let state = ConversationState {
        status: conversation.status,
        language: conversation.language,
        misses: conversation.misses.clamp(0, 255) as u8,
        out_of_scope_streak: conversation.out_of_scope_streak.clamp(0, 255) as u8,
        awaiting_rating: conversation.awaiting_rating,
    };
    let analysis = matches!(kind, EventKind::Text(_))
        .then(|| analysis.cloned())
        .flatten();
    let (decision, incoming_text) = decide(&state, kind, analysis.as_ref(), crisis.mode)?;
    let lang = decision.state.reply_language();
    let channel = conversation.channel.as_str();
    if let Some(label) = reply_label(&decision.action, shop) {
        metrics.count(
            "chatbot_replies_total",
            &[("channel", channel), ("intent", label)],
            1.0,
        );
    }
    let mut wait_minutes = 0;
    let mut handoff_reason = None;
    let mut notification = None;
    if let policy::Action::Handoff { reason } = &decision.action {
        wait_minutes = store::estimated_wait_minutes(db)?;
        if !open_handoff {
            handoff_reason = Some(*reason);
            notification =
                settings.handoff_notification(conversation, *reason, &incoming_text, lang, now_ms);
            metrics.count(
                "chatbot_handoffs_total",
                &[("channel", channel), ("reason", reason.as_str())],
                1.0,
            );
        }
    }
    let replies = replies_for(shop, &decision, crisis, wait_minutes, now_ms);
    let mut state = conversation.clone();
    state.status = decision.state.status;
    state.language = decision.state.language;
    state.misses = i64::from(decision.state.misses);
    state.out_of_scope_streak = i64::from(decision.state.out_of_scope_streak);
    state.awaiting_rating = decision.state.awaiting_rating;
    let erasure = decision.action == policy::Action::ErasureRequested;
    let rating = match &decision.action {
        policy::Action::Rating { score } => Some(*score),
        _ => None,
    };
    Ok(Plan {
        decision,
        analysis,
        incoming_text,
        replies,
        state,
        handoff_reason,
        notification,
        erasure,
        rating,
    })
}

/// What the bot says for a decision: the FAQ's texts in the reply language; for a handoff,
/// the wait or (outside business hours) when agents are back, or the operator's holding
/// message in crisis mode.
fn replies_for(
    shop: &replies::Shop,
    decision: &Decision,
    crisis: &Crisis,
    wait_minutes: u32,
    now_ms: i64,
) -> Vec<replies::Reply> {
    let lang = decision.state.reply_language();
    let back = match &decision.action {
        policy::Action::Handoff { .. } => shop.hours.back_phrase(now_ms, lang.faq_code()),
        _ => None,
    };
    let holding = match &decision.action {
        policy::Action::Handoff {
            reason: HandoffReason::Crisis,
        } => crisis.holding_message(lang),
        _ => None,
    };
    match holding {
        Some(text) => vec![replies::Reply {
            text,
            buttons: Vec::new(),
        }],
        None => replies::render(
            &shop.faq,
            &decision.action,
            lang,
            wait_minutes,
            back.as_deref(),
        ),
    }
}

/// Replies to a conversation's customer as outbox rows: Graph API bodies for its channel
/// (Messenger and Instagram quick replies; WhatsApp buttons or a list). Web chat conversations have
/// none: their customers read the transcript.
pub fn reply_rows(
    shop: &replies::Shop,
    conversation: &Conversation,
    replies: &[replies::Reply],
    lang: Lang,
    messaging: meta::MessengerMessaging,
) -> Vec<NewOutbox> {
    replies
        .iter()
        .filter_map(|reply| {
            let buttons: &[Button] = &reply.buttons;
            let (target, body) = match conversation.channel {
                // Instagram direct messages take the Messenger Platform's body (text, up to 13
                // text quick replies, the HUMAN_AGENT tag), sent with the Page's token.
                Channel::Messenger | Channel::Instagram => (
                    "me".to_string(),
                    meta::messenger_text(
                        &conversation.customer_id,
                        &reply.text,
                        buttons,
                        messaging,
                    ),
                ),
                Channel::WhatsApp => (
                    conversation.business_id.clone(),
                    meta::whatsapp_text(
                        &conversation.customer_id,
                        &reply.text,
                        buttons,
                        shop.faq
                            .system("more_options", lang.faq_code())
                            .unwrap_or("Options"),
                    ),
                ),
                // The web chat's customers read the transcript; comments are answered by
                // comment_rows and the desk, to the comment.
                Channel::WebChat | Channel::FacebookComments | Channel::InstagramComments => {
                    return None;
                }
            };
            Some(NewOutbox {
                channel: conversation.channel.as_str().to_string(),
                target,
                body: body.to_string(),
            })
        })
        .collect()
}
