//! Saved replies: canned answers the operator keeps per language, which agents insert into
//! the reply box by their shortcut (`/shipping`). Their text may hold shop placeholders
//! (`{email}`), filled from the shop config when they are listed.

use crate::{Database, DbError, Row, Value};
use vocab::Lang;

/// Version 10 of the schema: saved replies, one per shortcut and language.
pub(crate) const SAVED_REPLIES_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS saved_replies (
        id INTEGER PRIMARY KEY, shortcut TEXT NOT NULL, language TEXT NOT NULL,
        text TEXT NOT NULL, updated_ms INTEGER NOT NULL, UNIQUE (shortcut, language))"];

/// A saved reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedReply {
    /// Its id.
    pub id: i64,
    /// What an agent types after `/`.
    pub shortcut: String,
    /// The language it is written in.
    pub language: Lang,
    /// The text, placeholders unfilled.
    pub text: String,
    /// When it was created or last changed.
    pub updated_ms: i64,
}

fn decode(values: &[Value]) -> Result<SavedReply, DbError> {
    let row = Row::new(values, "saved reply");
    Ok(SavedReply {
        id: row.int(0)?,
        shortcut: row.text(1)?,
        language: row.parse(2)?,
        text: row.text(3)?,
        updated_ms: row.int(4)?,
    })
}

const COLUMNS: &str = "id, shortcut, language, text, updated_ms";

/// Every saved reply, by shortcut then language.
///
/// # Errors
///
/// A database error, or a row that does not decode.
pub fn list(db: &impl Database) -> Result<Vec<SavedReply>, DbError> {
    db.execute(
        &format!("SELECT {COLUMNS} FROM saved_replies ORDER BY shortcut, language"),
        &[],
    )?
    .iter()
    .map(|values| decode(values))
    .collect()
}

/// Saves a new reply, or updates the one with `id`: `Ok(None)` when `id` names none, `Err`
/// also when another reply has the same shortcut and language (see [`taken`]).
///
/// # Errors
///
/// A database error (a duplicate shortcut and language breaks the table's unique key).
pub fn save(
    db: &impl Database,
    id: Option<i64>,
    shortcut: &str,
    language: Lang,
    text: &str,
    now_ms: i64,
) -> Result<Option<SavedReply>, DbError> {
    let params = [
        shortcut.into(),
        language.as_str().into(),
        text.into(),
        now_ms.into(),
    ];
    let rows = match id {
        None => db.execute(
            &format!(
                "INSERT INTO saved_replies (shortcut, language, text, updated_ms)
                 VALUES (?1, ?2, ?3, ?4) RETURNING {COLUMNS}"
            ),
            &params,
        )?,
        Some(id) => {
            let mut params = params.to_vec();
            params.push(id.into());
            db.execute(
                &format!(
                    "UPDATE saved_replies SET shortcut = ?1, language = ?2, text = ?3,
                     updated_ms = ?4 WHERE id = ?5 RETURNING {COLUMNS}"
                ),
                &params,
            )?
        }
    };
    rows.first().map(|values| decode(values)).transpose()
}

/// The id of the saved reply with this shortcut and language other than `except`, if any.
///
/// # Errors
///
/// A database error.
pub fn taken(
    db: &impl Database,
    shortcut: &str,
    language: Lang,
    except: Option<i64>,
) -> Result<Option<i64>, DbError> {
    db.execute(
        "SELECT id FROM saved_replies WHERE shortcut = ?1 AND language = ?2
         AND (?3 IS NULL OR id <> ?3)",
        &[
            shortcut.into(),
            language.as_str().into(),
            except.map_or(Value::Null, Value::from),
        ],
    )?
    .first()
    .map(|values| Row::new(values, "saved reply").int(0))
    .transpose()
}

/// Deletes a saved reply; `false` when there was none with `id`.
///
/// # Errors
///
/// A database error.
pub fn delete(db: &impl Database, id: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "DELETE FROM saved_replies WHERE id = ? RETURNING id",
        &[id.into()],
    )?;
    Ok(!rows.is_empty())
}
