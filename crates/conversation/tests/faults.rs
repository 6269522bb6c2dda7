//! A database error at any statement of a message's path (the context read, the write
//! transaction, the delivery's claim, lease renewal and outcome record) loses nothing and
//! answers nothing twice: an error before the write commits leaves nothing behind and the
//! platform's redelivery stores it then; an error after it leaves the reply queued for the
//! next sender. Fixed instants, a real SQLite database, one injected fault per run.

use conversation::message::{Handled, Inbound, handle};
use conversation::{Settings, delivery};
use meta::EventKind;
use policy::Analysis;
use store::metrics::Batch;
use store::sqlite::Sqlite;
use store::{Database, DbError, Outcome, Value};
use vocab::{Channel, Lang};

const NOW: i64 = 1_796_115_600_000;

fn shop() -> replies::Shop {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    replies::Shop::load(&read("models/faq/shop.toml"), &read("config/shop.toml")).unwrap()
}

fn database(name: &str) -> Sqlite {
    let dir =
        std::env::temp_dir().join(format!("conversation-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = Sqlite::open(&dir.join("db.sqlite")).unwrap();
    store::migrate(&db).unwrap();
    db
}

/// The database, with the `fail_at`-th statement from now on (0-based) failing once with a
/// driver error that is not "busy" (`usize::MAX`: never).
struct Faulty<'a> {
    inner: &'a Sqlite,
    calls: std::cell::Cell<usize>,
    fail_at: usize,
}

impl Database for Faulty<'_> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if n == self.fail_at {
            return Err(DbError::new("injected fault: disk I/O error"));
        }
        self.inner.execute(sql, params)
    }

    fn pause(&self, _: std::time::Duration) {}
}

fn analysis() -> Analysis {
    Analysis {
        language: Lang::En,
        language_confidence: 0.95,
        intents: vec![("shipping_cost".into(), 0.9)],
        out_of_scope: false,
        anger: 0.0,
        signals: Vec::new(),
        rating: None,
    }
}

/// What one webhook invocation does with the message: store it (or fail: 500), then send
/// its leased rows and record the outcomes. Returns whether it answered 200 and how many
/// sends it made.
fn invocation(db: &impl Database, shop: &replies::Shop, now: i64) -> (bool, usize) {
    let kind = EventKind::Text("How much does shipping cost?".into());
    let inbound = Inbound {
        channel: Channel::Messenger,
        message_id: Some("m.1"),
        customer_id: "PSID-1",
        business_id: "PAGE",
        customer_name: None,
        customer_ms: now,
        kind: &kind,
        claimed_conversation: None,
        comment: None,
    };
    let analysis = analysis();
    let settings = Settings::default();
    let outcome = match handle(
        db,
        shop,
        &settings,
        &inbound,
        Some(&analysis),
        &Batch::default(),
        now,
    ) {
        Ok(outcome) => outcome,
        Err(_) => return (false, 0),
    };
    let leased = match outcome.handled {
        Handled::Stored(_, stored) => stored.outbox,
        _ => Vec::new(),
    };
    (true, send(db, leased, outcome.due, now))
}

/// A sender's run: the rows it holds or claims, each "sent" if its lease is still ours,
/// and the outcomes recorded. Returns how many sends it made.
fn send(db: &impl Database, leased: Vec<store::Delivery>, due: bool, now: i64) -> usize {
    let Ok(rows) = delivery::rows_to_send(db, leased, due, now) else {
        return 0;
    };
    let mut outcomes = Vec::new();
    for mut row in rows {
        if !matches!(delivery::keep_reserved(db, &mut row, now), Ok(true)) {
            continue;
        }
        outcomes.push((row, Outcome::Sent));
    }
    let sent = outcomes.len();
    let _ = delivery::record(db, &outcomes, now, 2_000);
    sent
}

fn count(db: &Sqlite, sql: &str) -> i64 {
    match db.execute(sql, &[]).unwrap()[0][0] {
        Value::Integer(n) => n,
        ref other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn a_database_error_at_any_statement_loses_nothing_and_answers_once() {
    let shop = shop();
    // How many statements a healthy invocation makes.
    let healthy = database("healthy");
    let counter = Faulty {
        inner: &healthy,
        calls: std::cell::Cell::new(0),
        fail_at: usize::MAX,
    };
    assert_eq!(invocation(&counter, &shop, NOW), (true, 1));
    let statements = counter.calls.get();
    assert!(statements >= 5, "{statements}");

    for fail_at in 0..statements {
        let db = database(&format!("at-{fail_at}"));
        let faulty = Faulty {
            inner: &db,
            calls: std::cell::Cell::new(0),
            fail_at,
        };
        let (answered, mut sends) = invocation(&faulty, &shop, NOW);
        if !answered {
            // 500: the platform delivers the message again.
            let (again, more) = invocation(&db, &shop, NOW + 1_000);
            assert!(again, "statement {fail_at}: the redelivery is stored");
            sends += more;
        }
        // Later traffic after the leases ran out: any reply still queued goes now.
        sends += send(&db, Vec::new(), true, NOW + delivery::LEASE_MS + 5_000);
        sends += send(&db, Vec::new(), true, NOW + 2 * delivery::LEASE_MS + 10_000);

        let what = format!("fault at statement {fail_at} of {statements}");
        assert_eq!(sends, 1, "{what}: the reply is sent exactly once");
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
            1,
            "{what}: the message is stored once"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox"), 1, "{what}");
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'"),
            1,
            "{what}: recorded as sent"
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM processed_messages"),
            1,
            "{what}"
        );
    }
}
