//! The customer panel of the desk: a conversation's customer across channels (their other
//! conversations with outcome and rating, the detected language, the agents' notes and
//! tags), and linking identities of the same person. Reads and changes are scoped like the
//! conversation itself ([`crate::desk::readable`]).

use crate::desk::{Actor, Error, Refusal, readable};
use store::customers::{self, Customer, Identity};
use store::desk::HandoffRecord;
use store::{Conversation, Database};
use vocab::Lang;

/// One of the customer's conversations (one per channel identity).
#[derive(Debug, Clone, PartialEq)]
pub struct Past {
    /// The conversation.
    pub conversation: Conversation,
    /// Its handoffs, oldest first, with their outcome (resolved or open) and rating.
    pub handoffs: Vec<HandoffRecord>,
    /// How many messages it holds.
    pub messages: i64,
}

/// What the desk shows about a conversation's customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The linked identities, notes and tags.
    pub customer: Customer,
    /// The language detected in the conversation asked about.
    pub language: Option<Lang>,
    /// Every conversation of every identity, the one asked about first.
    pub conversations: Vec<Past>,
}

fn identity_of(conversation: &Conversation) -> Identity {
    Identity {
        channel: conversation.channel,
        customer_id: conversation.customer_id.clone(),
    }
}

/// The conversations of the customer's identities (identities with none are skipped), the
/// one with `first_id` first.
fn conversations_of(
    db: &impl Database,
    customer: &Customer,
    first_id: i64,
) -> Result<Vec<Past>, Error> {
    let mut found = Vec::new();
    for identity in &customer.identities {
        let Some(conversation) =
            store::privacy::conversation_of(db, identity.channel, &identity.customer_id)?
        else {
            continue;
        };
        let handoffs = store::desk::handoffs_of(db, conversation.id)?;
        let messages = store::desk::message_count(db, conversation.id)?;
        found.push(Past {
            conversation,
            handoffs,
            messages,
        });
    }
    found.sort_by_key(|p| {
        (
            p.conversation.id != first_id,
            -p.conversation.last_customer_ms,
        )
    });
    Ok(found)
}

/// The panel of conversation `id`'s customer.
///
/// # Errors
///
/// [`Refusal::NotFound`], [`Refusal::NotYours`], or a database error.
pub fn panel(db: &impl Database, id: i64, actor: &Actor) -> Result<Panel, Error> {
    let conversation = readable(db, id, actor)?;
    let customer = customers::customer(db, &identity_of(&conversation))?;
    let conversations = conversations_of(db, &customer, id)?;
    Ok(Panel {
        customer,
        language: conversation.language,
        conversations,
    })
}

/// Sets the notes and tags of conversation `id`'s customer.
///
/// # Errors
///
/// [`Refusal::NotFound`], [`Refusal::NotYours`], or a database error.
pub fn annotate(
    db: &impl Database,
    id: i64,
    actor: &Actor,
    notes: &str,
    tags: &[String],
    now_ms: i64,
) -> Result<Panel, Error> {
    let conversation = readable(db, id, actor)?;
    let identity = identity_of(&conversation);
    store::transaction(db, || {
        customers::annotate(db, &identity, notes, tags, now_ms)
    })?;
    panel(db, id, actor)
}

/// Links `other` (a customer known on another channel, or the same) to conversation `id`'s
/// customer. A link joins two people's data for exports and erasures, so it is written to
/// the audit log (`subject`: the keyed hash naming `other`).
///
/// # Errors
///
/// [`Refusal::NotFound`] (the conversation, or no conversation of `other`; an erased
/// customer is none), [`Refusal::Invalid`] (the conversation's own identity),
/// [`Refusal::NotYours`], or a database error.
pub fn link(
    db: &impl Database,
    id: i64,
    actor: &Actor,
    other: &Identity,
    subject: &str,
    now_ms: i64,
) -> Result<Panel, Error> {
    let conversation = readable(db, id, actor)?;
    let identity = identity_of(&conversation);
    if *other == identity {
        return Err(Refusal::Invalid("a customer is always linked to themselves".into()).into());
    }
    if other.customer_id.starts_with(ERASED) || !customers::known(db, other)? {
        return Err(Refusal::NotFound(format!(
            "customer {} on {}",
            other.customer_id, other.channel
        ))
        .into());
    }
    store::transaction(db, || {
        customers::link(db, &identity, other, now_ms)?;
        store::privacy::audit(db, &actor.key, "link", Some(subject), now_ms)
    })?;
    panel(db, id, actor)
}

/// How an erased customer's id starts (`erased:<conversation id>`).
const ERASED: &str = "erased:";

/// Takes `other` out of conversation `id`'s customer (it may be the conversation's own
/// identity: it then stands alone, and the others keep the notes); audited like [`link`].
///
/// # Errors
///
/// [`Refusal::NotFound`] for an identity not linked to this customer, [`Refusal::NotYours`],
/// or a database error.
pub fn unlink(
    db: &impl Database,
    id: i64,
    actor: &Actor,
    other: &Identity,
    subject: &str,
    now_ms: i64,
) -> Result<Panel, Error> {
    let conversation = readable(db, id, actor)?;
    let customer = customers::customer(db, &identity_of(&conversation))?;
    if customer.identities.len() < 2 || !customer.identities.contains(other) {
        return Err(Refusal::NotFound(format!(
            "link to {} on {}",
            other.customer_id, other.channel
        ))
        .into());
    }
    store::transaction(db, || {
        customers::unlink(db, other)?;
        store::privacy::audit(db, &actor.key, "unlink", Some(subject), now_ms)
    })?;
    panel(db, id, actor)
}

/// Everything held about a customer for a GDPR export: each linked identity's data, and the
/// profile (notes, tags, links). `None` when the identity has no conversation.
///
/// # Errors
///
/// A database error.
pub fn export(
    db: &impl Database,
    identity: &Identity,
) -> Result<Option<(Customer, Vec<store::privacy::CustomerData>)>, Error> {
    if !customers::known(db, identity)? {
        return Ok(None);
    }
    let customer = customers::customer(db, identity)?;
    let mut data = Vec::new();
    // The identity asked about first.
    let mut order = customer.identities.clone();
    order.sort_by_key(|i| i != identity);
    for i in &order {
        if let Some(found) = store::privacy::export_customer(db, i.channel, &i.customer_id)? {
            data.push(found);
        }
    }
    Ok(Some((customer, data)))
}
