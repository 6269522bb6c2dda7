//! The webhook basics on every Meta channel: the subscription handshake and signed POSTs.

use e2e::{App, get, post};

const CHANNELS: [&str; 3] = [
    "/webhooks/messenger",
    "/webhooks/whatsapp",
    "/webhooks/instagram",
];

fn handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = App::start();
    for path in CHANNELS {
        let ok = get(&app.url(&format!(
            "{path}?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
            app.verify_token
        )));
        assert_eq!((ok.status, ok.body.as_str()), (200, "1158201444"), "{path}");

        for query in [
            "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".to_string(),
            "hub.mode=subscribe&hub.challenge=1".to_string(),
            format!(
                "hub.mode=unsubscribe&hub.verify_token={}&hub.challenge=1",
                app.verify_token
            ),
        ] {
            let refused = get(&app.url(&format!("{path}?{query}")));
            assert_eq!(refused.status, 403, "{path}?{query}");
            assert!(
                refused.json()["error"].is_string(),
                "{path}: {}",
                refused.body
            );
        }
    }
}

fn posts_need_a_valid_signature() {
    let app = App::start();
    let bodies = [
        r#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"7"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m.1","text":"hello"}}]}]}"#,
        r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"555"},"messages":[{"from":"36301234567","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hello"}}]}}]}]}"#,
        r#"{"object":"instagram","entry":[{"id":"IG1","time":1,"messaging":[{"sender":{"id":"IGSID7"},"recipient":{"id":"IG1"},"timestamp":1,"message":{"mid":"ig.1","text":"hello"}}]}]}"#,
    ];
    for (path, body) in CHANNELS.iter().zip(bodies) {
        let good = app.post_signed(path, body);
        assert_eq!(good.status, 200, "{path}: {}", good.body);

        let wrong_secret = webhook::SignatureChecker::new(b"not-the-secret").sign(body.as_bytes());
        for headers in [
            vec![],
            vec![("x-hub-signature-256", wrong_secret.as_str())],
            vec![("x-hub-signature-256", "sha256=nothex")],
            vec![(
                "x-hub-signature-256",
                "sha1=0123456789abcdef0123456789abcdef01234567",
            )],
        ] {
            let refused = post(&app.url(path), &headers, body.as_bytes());
            assert_eq!(refused.status, 403, "{path} {headers:?}");
            assert!(
                refused.json()["error"].is_string(),
                "{path}: {}",
                refused.body
            );
        }

        // A signature over another body does not carry over.
        let other = webhook::SignatureChecker::new(app.app_secret.as_bytes()).sign(b"{}");
        let refused = post(
            &app.url(path),
            &[("x-hub-signature-256", &other)],
            body.as_bytes(),
        );
        assert_eq!(refused.status, 403, "{path}");
    }
}

fn the_desk_needs_a_token_and_serves_its_inbox_page() {
    let app = App::start();
    let reply = get(&app.url("/api/desk/queue"));
    assert_eq!(reply.status, 401);
    assert!(reply.json()["error"].is_string(), "{}", reply.body);
    let page = get(&app.url("/desk/"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Agents' desk"), "{}", page.body);
    let queue = app.get_auth("/api/desk/queue", &app.admin_token);
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.json()["items"].is_array());
}

fn unknown_paths_are_404_and_oversized_bodies_413() {
    let app = App::start();
    assert_eq!(get(&app.url("/no/such/route")).status, 404);
    // Every component refuses a body over 1 MiB itself (a runtime need not): declared
    // just over the limit, declared far over it (refused before reading), and chunked with
    // no length at all.
    let signature = webhook::SignatureChecker::new(app.app_secret.as_bytes()).sign(b"{}");
    for path in [
        "/webhooks/messenger",
        "/webhooks/whatsapp",
        "/api/chat",
        "/api/desk/agents",
    ] {
        for (length, chunked) in [
            (1024 * 1024 + 1, false),
            (3 * 1024 * 1024, false),
            (2 * 1024 * 1024, true),
        ] {
            let body = vec![b'x'; length];
            let status = e2e::post_streaming(
                &app.url(path),
                &[
                    ("content-type", "application/json"),
                    ("x-hub-signature-256", &signature),
                    ("authorization", &format!("Bearer {}", app.admin_token)),
                ],
                &body,
                chunked,
            );
            assert_eq!(
                status,
                Ok(413),
                "{path}: {length} bytes, chunked: {chunked}"
            );
        }
    }
    // Just under the limit is read (and refused for its signature or content, not its size).
    let under = vec![b' '; 1024 * 1024 - 16];
    let reply = post(&app.url("/webhooks/messenger"), &[], &under);
    assert_eq!(reply.status, 403, "{}", reply.body);
}

/// An empty app secret would make an HMAC keyed with "" pass for anyone, and an empty
/// `id_hash_key` would make the stored hashes of message ids recomputable from a guessed
/// phone number: the local host refuses to start with either; a runtime that starts anyway
/// (Spin does) gets 500s from the components, which store and answer nothing.
fn an_empty_app_secret_is_refused_never_used() {
    for variable in ["meta_app_secret", "id_hash_key"] {
        let graph = e2e::FakeGraph::start();
        let started = App::try_start_with_graph_and(
            &graph,
            vec![(
                match variable {
                    "meta_app_secret" => "SPIN_VARIABLE_META_APP_SECRET",
                    _ => "SPIN_VARIABLE_ID_HASH_KEY",
                },
                String::new(),
            )],
        );
        let app = match started {
            Err(log) => {
                assert!(log.contains(variable), "{log}");
                continue;
            }
            Ok(app) => app,
        };
        let body = r#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"7"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m.empty","text":"hello"}}]}]}"#;
        let signature =
            webhook::SignatureChecker::new(app.app_secret.as_bytes()).sign(body.as_bytes());
        let reply = post(
            &app.url("/webhooks/messenger"),
            &[("x-hub-signature-256", &signature)],
            body.as_bytes(),
        );
        let message = format!("{variable} is empty");
        assert_eq!(reply.status, 500, "{variable}: {}", reply.body);
        assert!(reply.body.contains(&message), "{}", reply.body);
        assert!(
            app.log().contains(&message),
            "a clear log line: {}",
            app.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(graph.requests().is_empty(), "{variable}: nothing answered");
    }
}

/// Every parser of a request body, sent what breaks parsers: JSON nested 5,000 deep, arrays
/// of 10^5 elements, invalid UTF-8 and raw NUL bytes. Each is a 400 with an error, never a
/// 500 or a trap, and the app answers normally after all of them.
fn hostile_bodies_are_400_never_a_trap() {
    let app = App::start();
    let zeros = vec!["0"; 100_000].join(",");
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "nested arrays",
            [b"[".repeat(5_000), b"]".repeat(5_000)].concat(),
        ),
        (
            "nested objects",
            [
                b"{\"entry\":".repeat(5_000),
                b"1".to_vec(),
                b"}".repeat(5_000),
            ]
            .concat(),
        ),
        (
            "10^5 entries",
            format!(r#"{{"object":"page","entry":[{zeros}]}}"#).into_bytes(),
        ),
        (
            "10^5 WhatsApp entries",
            format!(r#"{{"object":"whatsapp_business_account","entry":[{zeros}]}}"#).into_bytes(),
        ),
        (
            "10^5 ids",
            format!(r#"{{"text":"hi","ids":[{zeros}]}}"#).into_bytes(),
        ),
        (
            "invalid UTF-8",
            b"{\"text\":\"\xff\xfe\",\"object\":\"page\"}".to_vec(),
        ),
        ("raw NUL", b"{\"text\":\"a\0b\",\"name\":\"\0\"}".to_vec()),
        ("only NUL", b"\0\0\0\0".to_vec()),
    ];
    let admin = format!("Bearer {}", app.admin_token);
    for (what, body) in &bodies {
        let signature = webhook::SignatureChecker::new(app.app_secret.as_bytes()).sign(body);
        let signed = [("x-hub-signature-256", signature.as_str())];
        let authorized = [("authorization", admin.as_str())];
        let routes: [(&str, &[(&str, &str)]); 10] = [
            ("/webhooks/messenger", &signed),
            ("/webhooks/whatsapp", &signed),
            ("/webhooks/instagram", &signed),
            ("/api/chat", &[]),
            ("/api/desk/agents", &authorized),
            ("/api/desk/crisis", &authorized),
            ("/api/desk/outbox/requeue", &authorized),
            ("/api/desk/conversations/1/messages", &authorized),
            ("/api/desk/conversations/1/transfer", &authorized),
            ("/api/desk/conversations/1/resolve", &authorized),
        ];
        for (path, headers) in routes {
            let reply = post(&app.url(path), headers, body);
            assert_eq!(reply.status, 400, "{what} to {path}: {}", reply.body);
            assert!(
                reply.json()["error"].is_string(),
                "{what} to {path}: a JSON error: {}",
                reply.body
            );
        }
    }
    // Still serving: a valid signed event is accepted.
    let ok = app.post_signed(
        "/webhooks/messenger",
        &e2e::messenger_text("PSID-hostile", "m.hostile.1", "hello"),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
}

e2e::tests! {
    own_app: [
        an_empty_app_secret_is_refused_never_used,
    ],
    any_app: [
        handshake_echoes_the_challenge_only_for_the_right_token,
        posts_need_a_valid_signature,
        the_desk_needs_a_token_and_serves_its_inbox_page,
        unknown_paths_are_404_and_oversized_bodies_413,
        hostile_bodies_are_400_never_a_trap,
    ],
}
