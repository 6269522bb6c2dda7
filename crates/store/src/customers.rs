//! The customer across channels: a profile links identities (a channel and the customer's
//! id there, e.g. the same person on Messenger and WhatsApp) and holds the agents' free-text
//! notes and tags. An identity nobody linked or annotated has no profile: it is a customer
//! of its own.

use crate::{Database, DbError, Row};
use vocab::Channel;

/// Version 11 of the schema: customer profiles and the identities they link.
pub(crate) const CUSTOMERS_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS customer_profiles (
        id INTEGER PRIMARY KEY, notes TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '[]',
        updated_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS customer_identities (
        channel TEXT NOT NULL, customer_id TEXT NOT NULL, profile INTEGER NOT NULL,
        linked_ms INTEGER NOT NULL, PRIMARY KEY (channel, customer_id))",
    "CREATE INDEX IF NOT EXISTS identities_by_profile ON customer_identities (profile)",
];

/// One identity of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Where.
    pub channel: Channel,
    /// The customer's id there.
    pub customer_id: String,
}

/// A customer: the identities linked together, the notes and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The profile, `None` for an identity nobody linked or annotated.
    pub profile: Option<i64>,
    /// Every identity, sorted (at least the one asked about).
    pub identities: Vec<Identity>,
    /// The agents' notes.
    pub notes: String,
    /// The agents' tags, sorted, without duplicates.
    pub tags: Vec<String>,
}

fn profile_of(db: &impl Database, identity: &Identity) -> Result<Option<i64>, DbError> {
    db.execute(
        "SELECT profile FROM customer_identities WHERE channel = ? AND customer_id = ?",
        &[
            identity.channel.into(),
            identity.customer_id.as_str().into(),
        ],
    )?
    .first()
    .map(|values| Row::new(values, "customer identity").int(0))
    .transpose()
}

fn decode_tags(text: &str) -> Result<Vec<String>, DbError> {
    serde_json::from_str(text)
        .map_err(|e| DbError::new(format!("customer profile: tags are not a JSON list: {e}")))
}

/// The customer an identity belongs to.
///
/// # Errors
///
/// A database error, or a profile that does not decode.
pub fn customer(db: &impl Database, identity: &Identity) -> Result<Customer, DbError> {
    let Some(profile) = profile_of(db, identity)? else {
        return Ok(Customer {
            profile: None,
            identities: vec![identity.clone()],
            notes: String::new(),
            tags: Vec::new(),
        });
    };
    let row = db.execute(
        "SELECT notes, tags FROM customer_profiles WHERE id = ?",
        &[profile.into()],
    )?;
    let (notes, tags) = match row.first() {
        Some(values) => {
            let row = Row::new(values, "customer profile");
            (row.text(0)?, decode_tags(&row.text(1)?)?)
        }
        None => {
            return Err(DbError::new(format!(
                "customer profile {profile} is missing"
            )));
        }
    };
    let mut identities = identities_of(db, profile)?;
    identities.sort_by(|a, b| {
        (a.channel.as_str(), &a.customer_id).cmp(&(b.channel.as_str(), &b.customer_id))
    });
    Ok(Customer {
        profile: Some(profile),
        identities,
        notes,
        tags,
    })
}

fn identities_of(db: &impl Database, profile: i64) -> Result<Vec<Identity>, DbError> {
    db.execute(
        "SELECT channel, customer_id FROM customer_identities WHERE profile = ?",
        &[profile.into()],
    )?
    .iter()
    .map(|values| {
        let row = Row::new(values, "customer identity");
        Ok(Identity {
            channel: row.parse(0)?,
            customer_id: row.text(1)?,
        })
    })
    .collect()
}

/// The identity's profile, created (with only that identity) if it has none.
fn ensure_profile(db: &impl Database, identity: &Identity, now_ms: i64) -> Result<i64, DbError> {
    if let Some(profile) = profile_of(db, identity)? {
        return Ok(profile);
    }
    let rows = db.execute(
        "INSERT INTO customer_profiles (updated_ms) VALUES (?) RETURNING id",
        &[now_ms.into()],
    )?;
    let profile = crate::returned_id(&rows)?;
    db.execute(
        "INSERT INTO customer_identities (channel, customer_id, profile, linked_ms) VALUES (?, ?, ?, ?)",
        &[
            identity.channel.into(),
            identity.customer_id.as_str().into(),
            profile.into(),
            now_ms.into(),
        ],
    )?;
    Ok(profile)
}

/// Sets the notes and tags of the identity's customer (run it in a transaction).
///
/// # Errors
///
/// A database error.
pub fn annotate(
    db: &impl Database,
    identity: &Identity,
    notes: &str,
    tags: &[String],
    now_ms: i64,
) -> Result<(), DbError> {
    let profile = ensure_profile(db, identity, now_ms)?;
    let mut tags = tags.to_vec();
    tags.sort();
    tags.dedup();
    let tags =
        serde_json::to_string(&tags).map_err(|e| DbError::new(format!("customer tags: {e}")))?;
    db.execute(
        "UPDATE customer_profiles SET notes = ?, tags = ?, updated_ms = ? WHERE id = ?",
        &[
            notes.into(),
            tags.as_str().into(),
            now_ms.into(),
            profile.into(),
        ],
    )?;
    Ok(())
}

/// Links `other` (and whoever it is linked with) to `identity`'s customer: one customer
/// from then on, with both notes (joined) and both tag sets. Run it in a transaction.
///
/// # Errors
///
/// A database error.
pub fn link(
    db: &impl Database,
    identity: &Identity,
    other: &Identity,
    now_ms: i64,
) -> Result<(), DbError> {
    let profile = ensure_profile(db, identity, now_ms)?;
    match profile_of(db, other)? {
        Some(theirs) if theirs == profile => {}
        Some(theirs) => {
            let ours = customer(db, identity)?;
            let merged = customer(db, other)?;
            let notes = [ours.notes.trim(), merged.notes.trim()]
                .into_iter()
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            let tags: Vec<String> = ours.tags.into_iter().chain(merged.tags).collect();
            db.execute(
                "UPDATE customer_identities SET profile = ?, linked_ms = ? WHERE profile = ?",
                &[profile.into(), now_ms.into(), theirs.into()],
            )?;
            db.execute(
                "DELETE FROM customer_profiles WHERE id = ?",
                &[theirs.into()],
            )?;
            annotate(db, identity, &notes, &tags, now_ms)?;
        }
        None => {
            db.execute(
                "INSERT INTO customer_identities (channel, customer_id, profile, linked_ms) VALUES (?, ?, ?, ?)",
                &[
                    other.channel.into(),
                    other.customer_id.as_str().into(),
                    profile.into(),
                    now_ms.into(),
                ],
            )?;
            db.execute(
                "UPDATE customer_profiles SET updated_ms = ? WHERE id = ?",
                &[now_ms.into(), profile.into()],
            )?;
        }
    }
    Ok(())
}

/// Takes `identity` out of its customer: it becomes a customer of its own again (without the
/// notes and tags, which stay with the others). `false` when it was not linked to anyone.
/// Run it in a transaction.
///
/// # Errors
///
/// A database error.
pub fn unlink(db: &impl Database, identity: &Identity) -> Result<bool, DbError> {
    let Some(profile) = profile_of(db, identity)? else {
        return Ok(false);
    };
    if identities_of(db, profile)?.len() < 2 {
        return Ok(false);
    }
    db.execute(
        "DELETE FROM customer_identities WHERE channel = ? AND customer_id = ?",
        &[
            identity.channel.into(),
            identity.customer_id.as_str().into(),
        ],
    )?;
    Ok(true)
}

/// Forgets the customer's profile: its notes, tags and links (part of an erasure; the
/// identities' conversations are erased by the caller). Run it in a transaction.
///
/// # Errors
///
/// A database error.
pub fn forget(db: &impl Database, identity: &Identity) -> Result<(), DbError> {
    if let Some(profile) = profile_of(db, identity)? {
        db.execute(
            "DELETE FROM customer_identities WHERE profile = ?",
            &[profile.into()],
        )?;
        db.execute(
            "DELETE FROM customer_profiles WHERE id = ?",
            &[profile.into()],
        )?;
    }
    Ok(())
}

/// Whether a conversation exists for the identity (only known customers can be linked).
///
/// # Errors
///
/// A database error.
pub fn known(db: &impl Database, identity: &Identity) -> Result<bool, DbError> {
    Ok(!db
        .execute(
            "SELECT 1 FROM conversations WHERE channel = ? AND customer_id = ?",
            &[
                identity.channel.into(),
                identity.customer_id.as_str().into(),
            ],
        )?
        .is_empty())
}
