//! The agents' side of a conversation: claim it, write to the customer through their
//! channel, transfer it, resolve it (the bot asks for a rating); the operator's crisis
//! switch, erasure and retention. Each operation is one transaction over the store, with
//! the clock passed in; a refusal ([`Refusal`]) says what the caller did wrong.

use crate::message::{bot_message, reply_rows};
use crate::{CRISIS_MESSAGE_KEY, CRISIS_MODE_KEY};
use store::desk::Claim;
use store::{Conversation, Database, DbError};
use vocab::window::Window;
use vocab::{Channel, Lang};

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `admin`, or the agent's id: the key stored on claims and messages.
    pub key: String,
    /// The operator (admin token) may act on any conversation.
    pub admin: bool,
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such conversation, agent, customer or request.
    NotFound(String),
    /// Another agent holds the conversation (their key).
    HeldBy(String),
    /// The conversation is not handed off (nothing to transfer or resolve).
    NotHandedOff,
    /// An agent must claim the conversation before resolving it.
    ClaimFirst,
    /// The request makes no sense (a disabled agent, ...).
    Invalid(String),
    /// An agent asked for a conversation that is neither waiting in the queue nor theirs.
    NotYours,
    /// Nothing may go out to the customer now (the platform's messaging window): why.
    WindowClosed(String),
    /// Something with the same name exists already: what.
    Duplicate(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound(what) => write!(f, "unknown {what}"),
            Refusal::HeldBy(holder) => {
                write!(f, "the conversation is claimed by another agent ({holder})")
            }
            Refusal::NotHandedOff => f.write_str("the conversation is not handed off"),
            Refusal::ClaimFirst => {
                f.write_str("claim the conversation before resolving or transferring it")
            }
            Refusal::Invalid(why) => f.write_str(why),
            Refusal::NotYours => f.write_str(
                "the conversation is not in your queue: neither waiting nor held by you",
            ),
            Refusal::WindowClosed(why) => f.write_str(why),
            Refusal::Duplicate(what) => write!(f, "{what} exists already"),
        }
    }
}

/// An operation's failure: refused, or the database failed (answer 500, try again).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Refused; nothing changed.
    Refused(Refusal),
    /// The database failed; nothing changed.
    Database(DbError),
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::Database(e)
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Error::Refused(refusal)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Refused(refusal) => refusal.fmt(f),
            Error::Database(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// Runs `work` in one transaction; a refusal rolls it back.
fn in_transaction<T>(
    db: &impl Database,
    mut work: impl FnMut() -> Result<Result<T, Refusal>, DbError>,
) -> Result<T, Error> {
    store::transaction_or_rollback(db, &mut work)?.map_err(Error::Refused)
}

/// A conversation by id.
///
/// # Errors
///
/// [`Refusal::NotFound`], or a database error.
pub fn conversation(db: &impl Database, id: i64) -> Result<Conversation, Error> {
    store::conversation_by_id(db, id)?
        .ok_or_else(|| Refusal::NotFound(format!("conversation {id}")).into())
}

/// A conversation the actor may read: the operator any; an agent one that waits in the queue
/// (its open handoff is unclaimed) or whose latest handoff is, or was last, theirs.
///
/// # Errors
///
/// [`Refusal::NotFound`], [`Refusal::NotYours`], or a database error.
pub fn readable(db: &impl Database, id: i64, actor: &Actor) -> Result<Conversation, Error> {
    let found = conversation(db, id)?;
    if actor.admin {
        return Ok(found);
    }
    let handoffs = store::desk::handoffs_of(db, id)?;
    match handoffs.last() {
        Some(h) if h.agent.as_deref() == Some(actor.key.as_str()) => Ok(found),
        Some(h) if h.agent.is_none() && h.resolved_ms.is_none() => Ok(found),
        _ => Err(Refusal::NotYours.into()),
    }
}

/// Disables (or enables again) an agent; a disabled agent's open conversations go back to the
/// queue at once, so no customer waits on someone who cannot answer. The agent, or `None`
/// for an unknown id.
///
/// # Errors
///
/// A database error.
pub fn set_agent_disabled(
    db: &impl Database,
    id: i64,
    disabled: bool,
) -> Result<Option<store::desk::Agent>, Error> {
    in_transaction(db, || {
        let agent = store::desk::set_agent_disabled(db, id, disabled)?;
        if disabled && let Some(agent) = &agent {
            store::desk::release_claims(db, &agent.id.to_string())?;
        }
        Ok(Ok(agent))
    })
}

/// The actor takes the conversation (an unclaimed handoff, or the bot's conversation, which
/// becomes a handoff of its own).
///
/// # Errors
///
/// [`Refusal::HeldBy`] another agent, [`Refusal::NotFound`], or a database error.
pub fn claim(db: &impl Database, id: i64, actor: &Actor, now_ms: i64) -> Result<(), Error> {
    conversation(db, id)?;
    match in_transaction(db, || {
        Ok(Ok(store::desk::claim(db, id, &actor.key, now_ms)?))
    })? {
        Claim::Claimed | Claim::AlreadyYours => Ok(()),
        Claim::TakenBy(holder) => Err(Refusal::HeldBy(holder).into()),
    }
}

/// How a message to the customer goes out at a moment, given the platform's messaging
/// window (see [`Window`]) and the WhatsApp templates of the shop config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A normal message (within 24 hours of the customer's last message; the web chat).
    Message,
    /// A person's message tagged `HUMAN_AGENT` (Messenger and Instagram, 24 hours to 7 days).
    HumanAgentTag,
    /// A private reply to the customer's latest public comment (comment channels; Meta
    /// allows one per comment, within 7 days).
    PrivateReply {
        /// The comment.
        comment_id: String,
    },
    /// An approved WhatsApp template (WhatsApp after 24 hours).
    Template {
        /// The template's name.
        name: String,
        /// Its language code for this customer.
        language: String,
    },
    /// Nothing may go out: why.
    Nothing(String),
}

impl Outgoing {
    /// The name used in the desk's API.
    pub fn kind(&self) -> &'static str {
        match self {
            Outgoing::Message => "message",
            Outgoing::HumanAgentTag => "human_agent_tag",
            Outgoing::PrivateReply { .. } => "private_reply",
            Outgoing::Template { .. } => "template",
            Outgoing::Nothing(_) => "nothing",
        }
    }
}

/// Which message is meant: an agent's reply, or the bot's rating question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A person writes: Messenger and Instagram allow the `HUMAN_AGENT` tag.
    AgentReply,
    /// The bot asks for a rating: no tag; WhatsApp's `csat` template.
    RatingQuestion,
}

/// How a message for `purpose` would go out to `conversation`'s customer at `now_ms`.
///
/// # Errors
///
/// A database error (reading a comment conversation's latest comment).
pub fn outgoing(
    db: &impl Database,
    shop: &replies::Shop,
    conversation: &Conversation,
    purpose: Purpose,
    now_ms: i64,
) -> Result<Outgoing, Error> {
    if conversation.channel.is_comments() {
        return comment_outgoing(db, conversation, purpose, now_ms);
    }
    Ok(message_outgoing(shop, conversation, purpose, now_ms))
}

/// Why a comment gets no second private reply.
const ONE_PRIVATE_REPLY: &str = "the customer's latest comment had its private reply already (Meta allows one per comment); their answer arrives as a direct message";

/// [`outgoing`] on a comment channel: a private reply to the latest comment, if it may
/// still have one.
fn comment_outgoing(
    db: &impl Database,
    conversation: &Conversation,
    purpose: Purpose,
    now_ms: i64,
) -> Result<Outgoing, Error> {
    if purpose == Purpose::RatingQuestion {
        return Ok(Outgoing::Nothing(
            "no rating question after a public comment".into(),
        ));
    }
    Ok(match store::comments::latest(db, conversation.id)? {
        None => Outgoing::Nothing("no comment to answer in this conversation".into()),
        Some(c) if c.private_reply_ms.is_some() => Outgoing::Nothing(ONE_PRIVATE_REPLY.into()),
        Some(c) if now_ms - c.created_ms > vocab::window::HUMAN_AGENT_MS => Outgoing::Nothing(
            "the customer's latest comment is more than 7 days old: Meta allows no private reply any more".into(),
        ),
        Some(c) => Outgoing::PrivateReply {
            comment_id: c.comment_id,
        },
    })
}

/// [`outgoing`] on a messaging channel: by the platform's messaging window.
fn message_outgoing(
    shop: &replies::Shop,
    conversation: &Conversation,
    purpose: Purpose,
    now_ms: i64,
) -> Outgoing {
    let window = Window::at(conversation.channel, conversation.last_customer_ms, now_ms);
    let lang = conversation.language.unwrap_or(Lang::En);
    match (window, conversation.channel, purpose) {
        (Window::Standard, _, _) => Outgoing::Message,
        (Window::HumanAgent, _, Purpose::AgentReply) => Outgoing::HumanAgentTag,
        (_, Channel::WhatsApp, purpose) => {
            let (template, key) = match purpose {
                Purpose::AgentReply => (&shop.templates.agent_reply, "agent_reply"),
                Purpose::RatingQuestion => (&shop.templates.csat, "csat"),
            };
            match template {
                Some(t) => Outgoing::Template {
                    name: t.name.clone(),
                    language: t.language(lang).to_string(),
                },
                None => Outgoing::Nothing(format!(
                    "more than 24 hours since the customer's last message: WhatsApp delivers only an approved template, and config/shop.toml names none for this ([whatsapp_templates.{key}])"
                )),
            }
        }
        (Window::HumanAgent, _, Purpose::RatingQuestion) => Outgoing::Nothing(
            "more than 24 hours since the customer's last message: only a person's reply (HUMAN_AGENT) may go out".into(),
        ),
        (Window::Closed, _, _) => Outgoing::Nothing(
            "more than 7 days since the customer's last message: Messenger and Instagram allow no reply any more".into(),
        ),
    }
}

/// The outbox rows that send `reply` to the conversation's customer as `how` says (nothing
/// for [`Outgoing::Nothing`]).
fn outgoing_rows(
    shop: &replies::Shop,
    conversation: &Conversation,
    reply: &replies::Reply,
    how: &Outgoing,
    lang: Lang,
) -> Vec<store::NewOutbox> {
    match how {
        Outgoing::Nothing(_) => Vec::new(),
        Outgoing::PrivateReply { comment_id } => vec![store::NewOutbox {
            channel: conversation.channel.as_str().to_string(),
            target: "me".to_string(),
            body: meta::private_reply(comment_id, &reply.text).to_string(),
        }],
        Outgoing::Template { name, language } => {
            // The rating question's template carries the ratings on its quick-reply
            // buttons; an agent's reply is the template's body variable.
            let (text, payloads) = if reply.buttons.is_empty() {
                (Some(reply.text.as_str()), Vec::new())
            } else {
                (
                    None,
                    reply.buttons.iter().map(|b| b.payload.clone()).collect(),
                )
            };
            vec![store::NewOutbox {
                channel: conversation.channel.as_str().to_string(),
                target: conversation.business_id.clone(),
                body: meta::whatsapp_template(
                    &conversation.customer_id,
                    name,
                    language,
                    text,
                    &payloads,
                )
                .to_string(),
            }]
        }
        Outgoing::Message | Outgoing::HumanAgentTag => {
            let messaging = if *how == Outgoing::HumanAgentTag {
                meta::MessengerMessaging::HumanAgent
            } else {
                meta::MessengerMessaging::Response
            };
            reply_rows(
                shop,
                conversation,
                std::slice::from_ref(reply),
                lang,
                messaging,
            )
        }
    }
}

/// An agent's message, stored and queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReply {
    /// Its transcript id.
    pub message_id: i64,
    /// The conversation's channel.
    pub channel: Channel,
    /// The messaging window it was sent in.
    pub window: Window,
    /// How it goes out.
    pub sent_as: Outgoing,
}

/// Writes `text` to the customer through their channel as the actor: a normal reply within
/// 24 hours of the customer's last message; later on Messenger and Instagram (up to 7 days)
/// with the `HUMAN_AGENT` tag, on WhatsApp as the approved `agent_reply` template. When
/// nothing may go out it is refused ([`Refusal::WindowClosed`]) and nothing is stored.
/// Writing to a conversation nobody holds claims it; the admin may write to any.
///
/// # Errors
///
/// [`Refusal::HeldBy`] another agent, [`Refusal::NotFound`], [`Refusal::WindowClosed`], or a
/// database error.
pub fn reply(
    db: &impl Database,
    shop: &replies::Shop,
    id: i64,
    actor: &Actor,
    text: &str,
    now_ms: i64,
) -> Result<AgentReply, Error> {
    let conversation = conversation(db, id)?;
    let window = Window::at(conversation.channel, conversation.last_customer_ms, now_ms);
    let how = outgoing(db, shop, &conversation, Purpose::AgentReply, now_ms)?;
    if let Outgoing::Nothing(why) = &how {
        return Err(Refusal::WindowClosed(why.clone()).into());
    }
    let author = format!("agent:{}", actor.key);
    let lang = conversation.language.unwrap_or(Lang::En);
    let message_id = in_transaction(db, || {
        match store::desk::claim(db, id, &actor.key, now_ms)? {
            Claim::Claimed | Claim::AlreadyYours => {}
            Claim::TakenBy(_) if actor.admin => {}
            Claim::TakenBy(holder) => return Ok(Err(Refusal::HeldBy(holder))),
        }
        let message_id = store::add_message(
            db,
            id,
            &store::NewMessage {
                author: &author,
                language: conversation.language,
                ..bot_message(text, lang)
            },
            now_ms,
        )?;
        store::desk::note_agent_reply(db, id, now_ms)?;
        let reply = replies::Reply {
            text: text.to_string(),
            buttons: Vec::new(),
        };
        // One private reply per comment, also when two agents send at once.
        if let Outgoing::PrivateReply { comment_id } = &how
            && !store::comments::mark_private_reply(db, comment_id, now_ms)?
        {
            return Ok(Err(Refusal::WindowClosed(ONE_PRIVATE_REPLY.into())));
        }
        let rows = outgoing_rows(shop, &conversation, &reply, &how, lang);
        store::enqueue_all(db, id, &rows, now_ms, 0, conversation.last_customer_ms)?;
        Ok(Ok(message_id))
    })?;
    Ok(AgentReply {
        message_id,
        channel: conversation.channel,
        window,
        sent_as: how,
    })
}

/// Where a conversation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTo {
    /// Back to the queue.
    Queue,
    /// To this agent.
    Agent(i64),
}

/// Hands the conversation to another agent or back to the queue; returns the new holder's
/// key. Only its holder (or the admin) may transfer it.
///
/// # Errors
///
/// [`Refusal::NotFound`] (conversation or agent), [`Refusal::Invalid`] for a disabled agent,
/// [`Refusal::NotHandedOff`], [`Refusal::HeldBy`], or a database error.
pub fn transfer(
    db: &impl Database,
    id: i64,
    actor: &Actor,
    to: TransferTo,
    now_ms: i64,
) -> Result<Option<String>, Error> {
    conversation(db, id)?;
    let to = match to {
        TransferTo::Queue => None,
        TransferTo::Agent(agent_id) => {
            let agent = store::desk::agent_by_id(db, agent_id)?
                .ok_or_else(|| Refusal::NotFound(format!("agent {agent_id}")))?;
            if agent.disabled {
                return Err(Refusal::Invalid(format!("agent {agent_id} is disabled")).into());
            }
            Some(agent.id.to_string())
        }
    };
    in_transaction(db, || {
        // Only the holder passes a conversation on; the operator may move any.
        match store::desk::holder(db, id)? {
            None => return Ok(Err(Refusal::NotHandedOff)),
            Some(_) if actor.admin => {}
            Some(Some(holder)) if holder == actor.key => {}
            Some(Some(holder)) => return Ok(Err(Refusal::HeldBy(holder))),
            Some(None) => return Ok(Err(Refusal::ClaimFirst)),
        }
        store::desk::transfer(db, id, to.as_deref(), now_ms)?;
        Ok(Ok(()))
    })?;
    Ok(to)
}

/// Resolves the conversation (with an optional note) and hands it back to the bot, which
/// asks the customer for a 1–5 rating in their language: as a message within 24 hours of
/// the customer's last message, on WhatsApp later as the approved `csat` template; when
/// neither may go out it is not asked, and the returned [`Outgoing::Nothing`] says why.
/// Agents must hold the conversation; the admin may resolve any.
///
/// # Errors
///
/// [`Refusal::NotFound`], [`Refusal::NotHandedOff`], [`Refusal::HeldBy`],
/// [`Refusal::ClaimFirst`], or a database error.
pub fn resolve(
    db: &impl Database,
    shop: &replies::Shop,
    id: i64,
    actor: &Actor,
    note: Option<&str>,
    now_ms: i64,
) -> Result<Outgoing, Error> {
    let conversation = conversation(db, id)?;
    let lang = conversation.language.unwrap_or(Lang::En);
    let prompt = replies::rating_prompt(&shop.faq, lang);
    let how = outgoing(db, shop, &conversation, Purpose::RatingQuestion, now_ms)?;
    in_transaction(db, || {
        match store::desk::holder(db, id)? {
            None => return Ok(Err(Refusal::NotHandedOff)),
            Some(Some(holder)) if holder != actor.key && !actor.admin => {
                return Ok(Err(Refusal::HeldBy(holder)));
            }
            Some(None) if !actor.admin => return Ok(Err(Refusal::ClaimFirst)),
            _ => {}
        }
        let ask = !matches!(how, Outgoing::Nothing(_));
        store::desk::resolve(db, id, note, ask, now_ms)?;
        if ask {
            store::add_message(db, id, &bot_message(&prompt.text, lang), now_ms)?;
            let rows = outgoing_rows(shop, &conversation, &prompt, &how, lang);
            store::enqueue_all(db, id, &rows, now_ms, 0, conversation.last_customer_ms)?;
        }
        Ok(Ok(()))
    })?;
    Ok(how)
}

/// A saved reply, with its text filled from the shop's facts for the agent to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedReply {
    /// As stored.
    pub stored: store::saved_replies::SavedReply,
    /// The text with its placeholders filled, or why it cannot be (a fact since removed
    /// from the shop config).
    pub rendered: Result<String, String>,
}

fn rendered(shop: &replies::Shop, stored: store::saved_replies::SavedReply) -> SavedReply {
    let what = format!("saved reply /{} ({})", stored.shortcut, stored.language);
    let rendered = shop
        .facts
        .fill(&what, stored.language.as_str(), &stored.text)
        .map_err(|e| e.to_string());
    SavedReply { stored, rendered }
}

/// Every saved reply, filled for the agents.
///
/// # Errors
///
/// A database error.
pub fn saved_replies(db: &impl Database, shop: &replies::Shop) -> Result<Vec<SavedReply>, Error> {
    Ok(store::saved_replies::list(db)?
        .into_iter()
        .map(|stored| rendered(shop, stored))
        .collect())
}

/// Saves a new reply (`id` `None`) or changes one. Its placeholders must have values in
/// the shop config.
///
/// # Errors
///
/// [`Refusal::Invalid`] for a placeholder without a value, [`Refusal::Duplicate`] for a
/// shortcut the language has already, [`Refusal::NotFound`] for an unknown `id`, or a
/// database error.
pub fn save_reply(
    db: &impl Database,
    shop: &replies::Shop,
    id: Option<i64>,
    reply: &crate::requests::SavedReplyBody,
    now_ms: i64,
) -> Result<SavedReply, Error> {
    let what = format!("saved reply /{}", reply.shortcut);
    shop.facts
        .fill(&what, reply.language.as_str(), &reply.text)
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    let stored = in_transaction(db, || {
        let (shortcut, language) = (reply.shortcut.as_str(), reply.language);
        if let Some(id) = id
            && !store::saved_replies::list(db)?.iter().any(|r| r.id == id)
        {
            return Ok(Err(Refusal::NotFound(format!("saved reply {id}"))));
        }
        if store::saved_replies::taken(db, shortcut, language, id)?.is_some() {
            return Ok(Err(Refusal::Duplicate(format!(
                "a saved reply /{shortcut} in {language}"
            ))));
        }
        Ok(
            store::saved_replies::save(db, id, shortcut, language, &reply.text, now_ms)?
                .ok_or_else(|| Refusal::NotFound(format!("saved reply {}", id.unwrap_or(0)))),
        )
    })?;
    Ok(rendered(shop, stored))
}

/// Deletes a saved reply.
///
/// # Errors
///
/// [`Refusal::NotFound`], or a database error.
pub fn delete_reply(db: &impl Database, id: i64) -> Result<(), Error> {
    if store::saved_replies::delete(db, id)? {
        Ok(())
    } else {
        Err(Refusal::NotFound(format!("saved reply {id}")).into())
    }
}

/// The operator's crisis switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrisisMode {
    /// The bot answers.
    Normal,
    /// Everything goes to people.
    Handoff,
    /// Everything goes to people, with the operator's holding message first.
    Holding,
}

impl CrisisMode {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CrisisMode::Normal => "normal",
            CrisisMode::Handoff => "handoff",
            CrisisMode::Holding => "holding",
        }
    }

    /// Parses [`CrisisMode::as_str`].
    ///
    /// # Errors
    ///
    /// [`Refusal::Invalid`] for another name.
    pub fn parse(name: &str) -> Result<Self, Refusal> {
        [CrisisMode::Normal, CrisisMode::Handoff, CrisisMode::Holding]
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| Refusal::Invalid("mode must be normal, handoff or holding".into()))
    }
}

/// The crisis switch as stored: the mode and the holding message (JSON text or plain).
///
/// # Errors
///
/// A database error, or a stored mode this code does not know.
pub fn crisis(db: &impl Database) -> Result<(CrisisMode, Option<String>), Error> {
    let mode = match store::privacy::setting(db, CRISIS_MODE_KEY)? {
        None => CrisisMode::Normal,
        Some(name) => CrisisMode::parse(&name).map_err(|_| {
            DbError::new(format!("settings.{CRISIS_MODE_KEY}: unknown mode `{name}`"))
        })?,
    };
    Ok((mode, store::privacy::setting(db, CRISIS_MESSAGE_KEY)?))
}

/// Switches crisis mode (audited); `holding` needs a message.
///
/// # Errors
///
/// [`Refusal::Invalid`] for holding without a message, or a database error.
pub fn set_crisis(
    db: &impl Database,
    actor: &Actor,
    mode: CrisisMode,
    message: Option<&str>,
    now_ms: i64,
) -> Result<(), Error> {
    if mode == CrisisMode::Holding && message.is_none() {
        return Err(Refusal::Invalid("holding mode needs a message".into()).into());
    }
    in_transaction(db, || {
        store::privacy::set_setting(db, CRISIS_MODE_KEY, mode.as_str(), now_ms)?;
        if let Some(message) = message {
            store::privacy::set_setting(db, CRISIS_MESSAGE_KEY, message, now_ms)?;
        }
        let action = format!("crisis:{}", mode.as_str());
        store::privacy::audit(db, &actor.key, &action, None, now_ms)?;
        Ok(Ok(()))
    })
}

/// Erases a customer and closes their open erasure requests, in one transaction, audited
/// by `subject` (a keyed hash, never the id); returns how many messages went. A customer
/// linked across channels is erased on each, with the notes, tags and links of the desk's
/// customer panel.
///
/// # Errors
///
/// [`Refusal::NotFound`] for an unknown customer, or a database error.
pub fn erase(
    db: &impl Database,
    actor: &Actor,
    channel: Channel,
    customer_id: &str,
    subject: &str,
    now_ms: i64,
) -> Result<i64, Error> {
    let asked = store::customers::Identity {
        channel,
        customer_id: customer_id.to_string(),
    };
    in_transaction(db, || {
        // The customer on every linked channel, with the profile's notes and tags.
        let customer = store::customers::customer(db, &asked)?;
        if !store::customers::known(db, &asked)? {
            return Ok(Err(Refusal::NotFound("customer on this channel".into())));
        }
        let mut erased = 0;
        for identity in &customer.identities {
            let (channel, customer_id) = (identity.channel, identity.customer_id.as_str());
            // Before the erasure, which anonymizes the customer id the requests are found by.
            store::privacy::close_erasure_requests_of(
                db,
                channel,
                customer_id,
                &actor.key,
                now_ms,
            )?;
            erased += store::privacy::erase_customer(db, channel, customer_id)?.unwrap_or(0);
        }
        store::customers::forget(db, &asked)?;
        store::privacy::audit(db, &actor.key, "erase", Some(subject), now_ms)?;
        Ok(Ok(erased))
    })
}

/// The shortest window for processed message ids: WhatsApp redelivers a webhook for up to
/// 7 days (Messenger for less), and a redelivery after the id is gone would be answered
/// again.
pub const MIN_DEDUPE_DAYS: i64 = 7;

/// What a purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Messages older than the retention.
    pub messages: i64,
    /// Processed message ids older than the dedupe window.
    pub message_ids: i64,
}

/// Deletes messages older than `retention_days` (with delivered outbox bodies), processed
/// message ids older than `dedupe_days`, the counters of past abuse-limit windows and web
/// chat sessions that got no conversation within a day, in one transaction.
///
/// # Errors
///
/// [`Refusal::Invalid`] for a dedupe window under [`MIN_DEDUPE_DAYS`] or a negative
/// retention, or a database error.
pub fn purge(
    db: &impl Database,
    retention_days: i64,
    dedupe_days: i64,
    now_ms: i64,
) -> Result<Purged, Error> {
    if retention_days < 0 {
        return Err(Refusal::Invalid("retention_days must not be negative".into()).into());
    }
    if dedupe_days < MIN_DEDUPE_DAYS {
        return Err(Refusal::Invalid(format!(
            "dedupe_days must be at least {MIN_DEDUPE_DAYS}: platforms redeliver webhooks for up to 7 days"
        ))
        .into());
    }
    let day = 24 * 3_600_000;
    in_transaction(db, || {
        store::privacy::purge_rate_limits_before(db, now_ms - 2 * crate::limits::WINDOW_MS)?;
        store::privacy::purge_unused_web_sessions_before(db, now_ms - day)?;
        Ok(Ok(Purged {
            messages: store::privacy::purge_before(db, now_ms - retention_days * day)?,
            message_ids: store::privacy::purge_processed_before(db, now_ms - dedupe_days * day)?,
        }))
    })
}

/// Customer texts whose top intent had a confidence below this are offered to agents for
/// labeling: the bot clarified (below `policy::ANSWER_CONFIDENCE`), handed off, or answered
/// without being sure.
pub const REVIEW_BELOW: f64 = 0.8;

/// The newest unlabeled customer texts the model was unsure about that `actor` may read
/// (the operator all; an agent those waiting in the queue or handed to them), at most
/// `limit`.
///
/// # Errors
///
/// A database error.
pub fn uncertain(
    db: &impl Database,
    actor: &Actor,
    limit: i64,
) -> Result<Vec<store::learning::Uncertain>, Error> {
    let reader = if actor.admin {
        store::learning::Reader::Operator
    } else {
        store::learning::Reader::Agent(&actor.key)
    };
    Ok(store::learning::uncertain(
        db,
        reader,
        REVIEW_BELOW,
        limit.clamp(1, 500),
    )?)
}

/// Labels a customer message with the intent it really had (one of `known`, the model's
/// labels, `out_of_scope` included), as `actor`, who must be allowed to read its
/// conversation.
///
/// # Errors
///
/// [`Refusal::Invalid`] for an intent the model does not know, [`Refusal::NotFound`] for
/// an unknown customer message, [`Refusal::NotYours`], or a database error.
pub fn label(
    db: &impl Database,
    actor: &Actor,
    message_id: i64,
    intent: &str,
    known: &[String],
    now_ms: i64,
) -> Result<(), Error> {
    if !known.iter().any(|k| k == intent) {
        return Err(Refusal::Invalid(format!(
            "unknown intent {intent:?}; one of: {}",
            known.join(", ")
        ))
        .into());
    }
    let conversation = store::learning::customer_message_conversation(db, message_id)?
        .ok_or_else(|| Refusal::NotFound(format!("customer message {message_id}")))?;
    readable(db, conversation, actor)?;
    if store::learning::label(db, message_id, intent, &actor.key, now_ms)? {
        Ok(())
    } else {
        Err(Refusal::NotFound(format!("customer message {message_id}")).into())
    }
}
