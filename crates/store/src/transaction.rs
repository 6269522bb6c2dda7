//! Writing safely while other connections write too: one transaction helper (the only place
//! that begins, commits and rolls back), and retries while SQLite's write lock is held.
//!
//! SQLite has one writer at a time. Under Spin every request opens its own connection, and
//! how a connection waits for the lock is the runtime's choice (rusqlite's default sleeps in
//! steps of up to 100 ms, which starves writers under load). So the app waits itself: the
//! connection is set not to wait at all (`PRAGMA busy_timeout = 0`, see [`Retrying::open`]),
//! and a busy statement or transaction is tried again after a short, jittered pause, up to
//! [`BUSY_DEADLINE`]. The hot path keeps lock holds short by writing with one statement
//! (see [`crate::turn`]).

use crate::{Database, DbError, ErrorKind, Value};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long a write waits for the lock in all before it fails with the busy error (a webhook
/// then answers 500, and Meta delivers it again).
pub const BUSY_DEADLINE: Duration = Duration::from_secs(10);

/// The pause before retry number `attempt` (0-based): 50 µs doubling up to 2 ms, each drawn
/// between half and all of that, so that waiting writers do not retry in lock-step.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = (50u64 << attempt.min(6)).min(2_000);
    // RandomState is seeded from the platform's random source (WASI's in a component).
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let micros = ceiling / 2 + hasher.finish() % (ceiling / 2 + 1);
    Duration::from_micros(micros)
}

/// Runs `work` in one write transaction (`BEGIN IMMEDIATE` … `COMMIT`); an error rolls it
/// back. While another connection holds the write lock, it waits with [`backoff`] and runs
/// `work` again from the start (so `work` must have no effects outside the database), up
/// to [`BUSY_DEADLINE`].
///
/// # Errors
///
/// The first error that is not [`ErrorKind::Busy`], or the busy error after the deadline.
pub fn transaction<T>(
    db: &impl Database,
    mut work: impl FnMut() -> Result<T, DbError>,
) -> Result<T, DbError> {
    transaction_or_rollback(db, || work().map(Ok::<T, std::convert::Infallible>)).map(|result| {
        match result {
            Ok(value) => value,
            Err(never) => match never {},
        }
    })
}

/// As [`transaction`], for work that may decide not to write after all: `Ok(Err(refusal))`
/// rolls the transaction back and returns the refusal.
///
/// # Errors
///
/// As [`transaction`].
pub fn transaction_or_rollback<T, R>(
    db: &impl Database,
    mut work: impl FnMut() -> Result<Result<T, R>, DbError>,
) -> Result<Result<T, R>, DbError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let result = db
            .execute("BEGIN IMMEDIATE", &[])
            .and_then(|_| match work()? {
                Ok(value) => db.execute("COMMIT", &[]).map(|_| Ok(value)),
                Err(refusal) => db.execute("ROLLBACK", &[]).map(|_| Err(refusal)),
            });
        match result {
            Ok(outcome) => return Ok(outcome),
            Err(e) => {
                // Also when BEGIN itself failed: then there is nothing to roll back, and
                // SQLite's "no transaction is active" is of no interest.
                let _ = db.execute("ROLLBACK", &[]);
                if e.kind() != ErrorKind::Busy || started.elapsed() >= BUSY_DEADLINE {
                    return Err(e);
                }
                db.pause(backoff(attempt));
                attempt += 1;
            }
        }
    }
}

/// A connection whose single statements are tried again while the database is busy, up to
/// [`BUSY_DEADLINE`]: a statement outside a transaction is atomic, so running it again is
/// safe. Inside a transaction a busy statement fails, and [`transaction`] starts the whole
/// transaction again.
pub struct Retrying<D> {
    inner: D,
    in_transaction: Cell<bool>,
    deadline: Duration,
}

impl<D: Database> Retrying<D> {
    /// Wraps a connection and makes it report a held lock at once (`PRAGMA busy_timeout =
    /// 0`), so that waiting is done here, in short jittered steps, whatever the runtime's
    /// own busy handler would do.
    ///
    /// # Errors
    ///
    /// A database error from the pragma.
    pub fn open(inner: D) -> Result<Self, DbError> {
        inner.execute("PRAGMA busy_timeout = 0", &[])?;
        Ok(Self::with_deadline(inner, BUSY_DEADLINE))
    }

    /// Wraps a connection as it is, waiting at most `deadline` per statement.
    pub fn with_deadline(inner: D, deadline: Duration) -> Self {
        Self {
            inner,
            in_transaction: Cell::new(false),
            deadline,
        }
    }

    /// The wrapped connection.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Database> Database for Retrying<D> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
        let started = Instant::now();
        let mut attempt = 0;
        let verb = sql
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        loop {
            match self.inner.execute(sql, params) {
                Err(e)
                    if e.kind() == ErrorKind::Busy
                        && !self.in_transaction.get()
                        && started.elapsed() < self.deadline =>
                {
                    self.inner.pause(backoff(attempt));
                    attempt += 1;
                }
                result => {
                    match verb.as_str() {
                        "BEGIN" if result.is_ok() => self.in_transaction.set(true),
                        "COMMIT" | "END" if result.is_ok() => self.in_transaction.set(false),
                        "ROLLBACK" => self.in_transaction.set(false),
                        _ => {}
                    }
                    return result;
                }
            }
        }
    }

    fn pause(&self, duration: Duration) {
        self.inner.pause(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A fake connection that answers busy to chosen statements a number of times, and
    /// records what ran and every pause.
    #[derive(Default)]
    struct Scripted {
        busy: RefCell<Vec<(&'static str, u32)>>,
        ran: RefCell<Vec<String>>,
        paused: RefCell<Vec<Duration>>,
    }

    impl Scripted {
        fn busy(statements: &[(&'static str, u32)]) -> Self {
            Self {
                busy: RefCell::new(statements.to_vec()),
                ..Self::default()
            }
        }
    }

    impl Database for Scripted {
        fn execute(&self, sql: &str, _: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
            self.ran.borrow_mut().push(sql.to_string());
            for (statement, left) in self.busy.borrow_mut().iter_mut() {
                if sql.starts_with(*statement) && *left > 0 {
                    *left -= 1;
                    return Err(DbError::new("Io(\"database is locked\")"));
                }
            }
            Ok(Vec::new())
        }

        fn pause(&self, duration: Duration) {
            self.paused.borrow_mut().push(duration);
        }
    }

    #[test]
    fn errors_are_classified_by_the_drivers_message() {
        let cases = [
            ("Io(\"database is locked\")", ErrorKind::Busy),
            ("database table is locked: outbox", ErrorKind::Busy),
            ("SQLITE_BUSY: cannot commit", ErrorKind::Busy),
            ("Io(\"no such table: outbox\")", ErrorKind::Other),
            (
                "UNIQUE constraint failed: agents.token_hash",
                ErrorKind::Other,
            ),
        ];
        for (message, kind) in cases {
            assert_eq!(DbError::new(message).kind(), kind, "{message}");
        }
    }

    #[test]
    fn backoff_grows_to_two_milliseconds_with_jitter() {
        for attempt in 0..40 {
            let pause = backoff(attempt);
            let ceiling = Duration::from_micros((50u64 << attempt.min(6)).min(2_000));
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{attempt}: {pause:?}"
            );
        }
    }

    #[test]
    fn a_busy_transaction_runs_again_from_the_start() {
        let db = Scripted::busy(&[("BEGIN", 2), ("COMMIT", 1)]);
        let mut runs = 0;
        let value = transaction(&db, || {
            runs += 1;
            db.execute("INSERT", &[])?;
            Ok(runs)
        });
        assert_eq!(
            value,
            Ok(2),
            "the work ran twice: once rolled back at COMMIT"
        );
        let ran = db.ran.borrow().join(",");
        assert_eq!(
            ran,
            "BEGIN IMMEDIATE,ROLLBACK,BEGIN IMMEDIATE,ROLLBACK,BEGIN IMMEDIATE,INSERT,COMMIT,ROLLBACK,BEGIN IMMEDIATE,INSERT,COMMIT"
        );
        assert_eq!(db.paused.borrow().len(), 3);
    }

    #[test]
    fn other_errors_roll_back_at_once_and_refusals_too() {
        let db = Scripted::default();
        let failed: Result<(), DbError> =
            transaction(&db, || Err(DbError::new("constraint failed")));
        assert_eq!(failed.map_err(|e| e.kind()), Err(ErrorKind::Other));
        let refused = transaction_or_rollback(&db, || Ok(Err::<(), _>("no such agent")));
        assert_eq!(refused, Ok(Err("no such agent")));
        assert_eq!(
            db.ran.borrow().join(","),
            "BEGIN IMMEDIATE,ROLLBACK,BEGIN IMMEDIATE,ROLLBACK"
        );
        assert!(db.paused.borrow().is_empty());
    }

    #[test]
    fn single_statements_are_retried_but_not_inside_a_transaction() {
        let db = Retrying::with_deadline(
            Scripted::busy(&[("SELECT", 3), ("UPDATE", 1)]),
            BUSY_DEADLINE,
        );
        assert!(db.execute("SELECT 1", &[]).is_ok());
        assert_eq!(db.inner().paused.borrow().len(), 3);
        db.execute("BEGIN IMMEDIATE", &[]).ok();
        let inside = db.execute("UPDATE outbox SET x = 1", &[]);
        assert_eq!(inside.map_err(|e| e.kind()), Err(ErrorKind::Busy));
        db.execute("ROLLBACK", &[]).ok();
        assert!(db.execute("UPDATE outbox SET x = 1", &[]).is_ok());
    }

    #[test]
    fn a_statement_gives_up_after_the_deadline() {
        let db = Retrying::with_deadline(Scripted::busy(&[("SELECT", u32::MAX)]), Duration::ZERO);
        let result = db.execute("SELECT 1", &[]);
        assert_eq!(result.map_err(|e| e.kind()), Err(ErrorKind::Busy));
    }
}
