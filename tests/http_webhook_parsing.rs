//! The webhook parsers against payloads written from the documented shapes (DOMAIN.md §4-§5).
//! Pure: no HTTP here (see `http_webhooks.rs`), so each rule reads on its own.

use chrono::{TimeZone, Utc};
use tierpace::http::{
    is_optout_keyword, parse_gupshup, parse_gupshup_callback, parse_meta, DeliveryStatus,
    ProviderEvent, WebhookError, WebhookSource,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn gupshup_events(name: &str) -> Vec<ProviderEvent> {
    let received = parse_gupshup(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    for r in &received {
        assert_eq!(
            r.source,
            WebhookSource::Gupshup {
                app: Some("AcmeSAC".into())
            }
        );
    }
    received.into_iter().map(|r| r.event).collect()
}

fn meta_events(name: &str) -> Vec<ProviderEvent> {
    parse_meta(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .into_iter()
        .map(|r| r.event)
        .collect()
}

#[test]
fn gupshup_enqueued_is_matched_by_our_message_id() {
    let events = gupshup_events("gupshup_message_event_enqueued.json");
    assert_eq!(
        events,
        vec![ProviderEvent::MessageStatus {
            provider_message_id: "ee4a68a0-1203-4c85-8dc3-49d0b3226a35".into(),
            alt_id: None,
            status: DeliveryStatus::Enqueued,
            at: Utc.timestamp_millis_opt(1_764_158_400_123).single(),
        }]
    );
}

#[test]
fn gupshup_from_sent_on_gsid_wins_over_whatsapp_id() {
    for (file, status, ts) in [
        (
            "gupshup_message_event_sent.json",
            DeliveryStatus::Sent,
            1_764_158_401,
        ),
        (
            "gupshup_message_event_delivered.json",
            DeliveryStatus::Delivered,
            1_764_158_402,
        ),
        (
            "gupshup_message_event_read.json",
            DeliveryStatus::Read,
            1_764_158_460,
        ),
    ] {
        assert_eq!(
            gupshup_events(file),
            vec![ProviderEvent::MessageStatus {
                provider_message_id: "ee4a68a0-1203-4c85-8dc3-49d0b3226a35".into(),
                alt_id: Some("gBEGVYWZmZkAAgk0RR8qhAMhHrc".into()),
                status,
                at: Utc.timestamp_opt(ts, 0).single(),
            }],
            "{file}"
        );
    }
}

#[test]
fn gupshup_failure_carries_code_and_reason() {
    let events = gupshup_events("gupshup_message_event_failed.json");
    match &events[..] {
        [ProviderEvent::MessageStatus { status, .. }] => assert_eq!(
            status,
            &DeliveryStatus::Failed {
                code: Some("1002".into()),
                reason: Some("Number Does Not Exists On WhatsApp".into())
            }
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn gupshup_inbound_text_and_quick_reply() {
    assert_eq!(
        gupshup_events("gupshup_message_text.json"),
        vec![ProviderEvent::Inbound {
            from: "5585999990001".into(),
            text: Some("Olá, quero saber mais".into()),
            at: Utc.timestamp_millis_opt(1_764_158_500_000).single(),
        }]
    );
    match &gupshup_events("gupshup_message_quick_reply.json")[..] {
        [ProviderEvent::Inbound { from, text, .. }] => {
            assert_eq!(from, "5585999990004");
            assert_eq!(text.as_deref(), Some("PARAR"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn gupshup_user_events_opt_out_and_in() {
    assert_eq!(
        gupshup_events("gupshup_user_event_opted_out.json"),
        vec![ProviderEvent::OptOut {
            phone: "5585999990005".into()
        }]
    );
    assert_eq!(
        gupshup_events("gupshup_user_event_opted_in.json"),
        vec![ProviderEvent::OptIn {
            phone: "5585999990005".into()
        }]
    );
}

#[test]
fn gupshup_tier_events() {
    assert_eq!(
        gupshup_events("gupshup_account_tier_upgrade.json"),
        vec![ProviderEvent::Tier {
            event: "UPGRADE".into(),
            current: Some("TIER_1K".into()),
            new: Some("TIER_10K".into()),
        }]
    );
    assert_eq!(
        gupshup_events("gupshup_account_tier_flagged.json"),
        vec![ProviderEvent::Tier {
            event: "FLAGGED".into(),
            current: Some("TIER_10K".into()),
            new: None,
        }]
    );
}

#[test]
fn gupshup_template_paused() {
    assert_eq!(
        gupshup_events("gupshup_template_paused.json"),
        vec![ProviderEvent::Template {
            id: Some("6f1c2a44-8d0e-4b9b-9a55-0c5e1a2b3c4d".into()),
            name: Some("promo_black_friday".into()),
            status: "paused".into(),
        }]
    );
}

#[test]
fn gupshup_unknown_and_malformed_bodies_are_told_apart() {
    assert!(matches!(
        parse_gupshup(&fixture("gupshup_unknown_type.json")),
        Err(WebhookError::Unsupported(_))
    ));
    assert!(matches!(
        parse_gupshup(&fixture("gupshup_malformed.json")),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        parse_gupshup(b"not json"),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        parse_gupshup(b"[]"),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        parse_gupshup(br#"{"type":"message-event","payload":{"id":"x","type":"bounced"}}"#),
        Err(WebhookError::Unsupported(_))
    ));
}

#[test]
fn gupshup_codes_may_be_strings() {
    let body = br#"{"type":"message-event","payload":{"id":"a","type":"failed","payload":{"code":"4003","reason":"Template params mismatch"}}}"#;
    match &parse_gupshup(body).expect("parses")[0].event {
        ProviderEvent::MessageStatus {
            status: DeliveryStatus::Failed { code, .. },
            ..
        } => assert_eq!(code.as_deref(), Some("4003")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn meta_statuses_with_failure_code_and_source() {
    let received = parse_meta(&fixture("meta_statuses.json")).expect("parses");
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].source,
        WebhookSource::Meta {
            waba_id: Some("102290129340398".into()),
            phone_number_id: Some("106540352242922".into()),
            display_phone_number: Some("558530000000".into()),
        }
    );
    assert_eq!(
        received[0].event,
        ProviderEvent::MessageStatus {
            provider_message_id: "wamid.HBgNNTU4NTk5OTk5MDAwMRUCABEYEjRBQjM0".into(),
            alt_id: None,
            status: DeliveryStatus::Delivered,
            at: Utc.timestamp_opt(1_764_158_402, 0).single(),
        }
    );
    match &received[1].event {
        ProviderEvent::MessageStatus {
            status: DeliveryStatus::Failed { code, reason },
            ..
        } => {
            assert_eq!(code.as_deref(), Some("131048"));
            assert!(reason
                .as_deref()
                .is_some_and(|r| r.contains("restrictions")));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn meta_inbound_text_and_button() {
    assert_eq!(
        meta_events("meta_inbound.json"),
        vec![
            ProviderEvent::Inbound {
                from: "5585999990001".into(),
                text: Some("stop".into()),
                at: Utc.timestamp_opt(1_764_158_500, 0).single(),
            },
            ProviderEvent::Inbound {
                from: "5585999990006".into(),
                text: Some("Quero saber mais".into()),
                at: Utc.timestamp_opt(1_764_158_501, 0).single(),
            },
        ]
    );
}

#[test]
fn meta_quality_capability_and_template_updates() {
    assert_eq!(
        meta_events("meta_quality_update.json"),
        vec![ProviderEvent::Tier {
            event: "DOWNGRADE".into(),
            current: Some("TIER_10K".into()),
            new: Some("TIER_1K".into()),
        }]
    );
    assert_eq!(
        meta_events("meta_business_capability_update.json"),
        vec![ProviderEvent::Tier {
            event: "CAPABILITY_UPDATE".into(),
            current: None,
            new: Some("TIER_2K".into()),
        }]
    );
    assert_eq!(
        meta_events("meta_template_status_update.json"),
        vec![ProviderEvent::Template {
            id: Some("594425479261596".into()),
            name: Some("promo_black_friday".into()),
            status: "paused".into(),
        }]
    );
}

#[test]
fn meta_unknown_fields_and_bad_bodies() {
    assert!(matches!(
        parse_meta(&fixture("meta_unknown_field.json")),
        Err(WebhookError::Unsupported(_))
    ));
    assert!(matches!(parse_meta(b"{"), Err(WebhookError::Malformed(_))));
    assert!(matches!(
        parse_meta(b"{\"object\":\"x\"}"),
        Err(WebhookError::Malformed(_))
    ));
}

#[test]
fn default_keywords_cover_the_fixture_replies() {
    let keywords: Vec<String> = ["STOP", "SAIR", "PARAR", "CANCELAR", "DESCADASTRAR"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(is_optout_keyword(" Sair ", &keywords));
    assert!(is_optout_keyword("stop", &keywords));
    assert!(!is_optout_keyword("Olá, quero saber mais", &keywords));
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: [&str; 8] = [
        "gupshup_message_event_failed.json",
        "gupshup_message_quick_reply.json",
        "gupshup_account_tier_upgrade.json",
        "gupshup_template_paused.json",
        "meta_statuses.json",
        "meta_inbound.json",
        "meta_quality_update.json",
        "meta_business_capability_update.json",
    ];

    /// JSON pieces that turn a valid callback into a strange but parseable one.
    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "null",
            "1",
            "-1",
            "\"\"",
            "[]",
            "{}",
            "\"x\"",
            "1e400",
            "true",
            "\"+55 (85)\"",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A provider (or an attacker) may send anything: the parsers answer, never panic.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_gupshup(&body);
            let _ = parse_meta(&body);
        }

        /// Values of the wrong JSON type in any place give an error or events, never a panic,
        /// and any event that comes out still names a message or a number when it must.
        #[test]
        fn wrong_value_types_never_panic(
            which in 0..FIXTURES.len(),
            at in any::<prop::sample::Index>(),
            replacement in token(),
        ) {
            let text = String::from_utf8(fixture(FIXTURES[which])).expect("utf8");
            // Replace one string or number value (what follows a `:`) with another JSON value.
            let colons: Vec<usize> = text.match_indices(':').map(|(i, _)| i).collect();
            let start = colons[at.index(colons.len())] + 1;
            let end = text[start..]
                .find([',', '}', ']'])
                .map_or(text.len(), |n| start + n);
            if text[start..end].trim_start().starts_with(['{', '[']) {
                return Ok(());
            }
            let mutated = format!("{}{}{}", &text[..start], replacement, &text[end..]);
            for parsed in [parse_gupshup(mutated.as_bytes()), parse_meta(mutated.as_bytes())] {
                for received in parsed.into_iter().flatten() {
                    match received.event {
                        ProviderEvent::MessageStatus { provider_message_id, .. } => {
                            prop_assert!(!provider_message_id.is_empty())
                        }
                        ProviderEvent::Inbound { from, .. } => {
                            prop_assert!(from.chars().all(|c| c.is_ascii_digit()) && !from.is_empty())
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

#[test]
fn meta_user_preferences_stop_and_resume_marketing_only() {
    assert_eq!(
        meta_events("meta_user_preferences.json"),
        vec![
            ProviderEvent::MarketingOptOut {
                phone: "5585999990007".into()
            },
            ProviderEvent::MarketingOptIn {
                phone: "5585999990008".into()
            },
            // An unknown category is not a marketing opt-out: skipped, not guessed at.
        ]
    );
    let no_wa_id = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"user_preferences","value":{"user_preferences":[{"category":"marketing_messages","value":"stop"}]}}]}]}"#;
    assert!(matches!(
        parse_meta(no_wa_id),
        Err(WebhookError::Malformed(_))
    ));
}

/// Gupshup v3: Meta's envelope plus `gs_app_id`, read by the Meta parser and labelled Gupshup.
fn gupshup_v3_events(name: &str) -> Vec<ProviderEvent> {
    let received = parse_gupshup_callback(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    for r in &received {
        assert_eq!(r.source, WebhookSource::Gupshup { app: None }, "{name}");
    }
    received.into_iter().map(|r| r.event).collect()
}

#[test]
fn gupshup_v3_messages_statuses_and_preferences() {
    assert_eq!(
        gupshup_v3_events("gupshup_v3_message.json"),
        vec![ProviderEvent::Inbound {
            from: "5585999990004".into(),
            text: Some("SAIR".into()),
            at: Utc.timestamp_opt(1_764_158_700, 0).single(),
        }]
    );
    // `gs_id` is Gupshup's messageId (what our send got back): it is the alternative id.
    match &gupshup_v3_events("gupshup_v3_status_failed.json")[..] {
        [ProviderEvent::MessageStatus {
            provider_message_id,
            alt_id,
            status: DeliveryStatus::Failed { code, .. },
            ..
        }] => {
            assert!(provider_message_id.starts_with("wamid."));
            assert_eq!(
                alt_id.as_deref(),
                Some("ee4a68a0-1203-4c85-8dc3-49d0b3226a35")
            );
            assert_eq!(code.as_deref(), Some("131050"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        gupshup_v3_events("gupshup_v3_user_preferences.json"),
        vec![ProviderEvent::MarketingOptOut {
            phone: "5585999990006".into()
        }]
    );
}

#[test]
fn gupshup_callback_reads_both_versions() {
    // v2 goes to the v2 parser unchanged.
    assert_eq!(
        parse_gupshup_callback(&fixture("gupshup_user_event_opted_out.json")).unwrap(),
        parse_gupshup(&fixture("gupshup_user_event_opted_out.json")).unwrap()
    );
    assert!(matches!(
        parse_gupshup_callback(b"not json"),
        Err(WebhookError::Malformed(_))
    ));
    // A v3 body without anything tierpace reads is unsupported, not silently empty.
    let v3_other = br#"{"object":"whatsapp_business_account","gs_app_id":"x","entry":[{"id":"1","changes":[{"field":"account_alerts","value":{}}]}]}"#;
    assert!(matches!(
        parse_gupshup_callback(v3_other),
        Err(WebhookError::Unsupported(_))
    ));
}

/// Every shape a Gupshup v2 keyword reply or user event comes in (docs.gupshup.io "Inbound
/// message events", "Interactive"): the text a customer tapped or typed reaches the keyword
/// check, and a `+`/spaces in a phone do not lose the opt-out.
#[test]
fn gupshup_v2_reply_and_user_event_shapes() {
    let keywords = tierpace::http::event::default_optout_keywords();
    let v2 = |payload: serde_json::Value| {
        let body = serde_json::json!({"app":"AcmeSAC","timestamp":1764158700000_i64,"version":2,
            "type":"message","payload":payload});
        let events = parse_gupshup(&serde_json::to_vec(&body).unwrap()).unwrap();
        match &events[..] {
            [r] => match &r.event {
                ProviderEvent::Inbound { from, text, .. } => (from.clone(), text.clone()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    };
    let sender = serde_json::json!({"phone":"5585999990004","name":"Ana","country_code":"55","dial_code":"85999990004"});
    for (kind, inner) in [
        ("text", serde_json::json!({"text":"SAIR"})),
        (
            "quick_reply",
            serde_json::json!({"text":"Sair","type":"button","payload":"optout"}),
        ),
        (
            "button_reply",
            serde_json::json!({"title":"PARAR","id":"b2","reply":"PARAR 2","postbackText":"stop"}),
        ),
        (
            "list_reply",
            serde_json::json!({"title":"Descadastrar","id":"l1","reply":"Descadastrar 1","postbackText":"stop"}),
        ),
    ] {
        let (from, text) = v2(
            serde_json::json!({"id":"in","source":"5585999990004","type":kind,
            "payload":inner,"sender":sender}),
        );
        assert_eq!(from, "5585999990004", "{kind}");
        let text = text.unwrap_or_else(|| panic!("{kind}: no text"));
        assert!(is_optout_keyword(&text, &keywords), "{kind}: {text:?}");
    }
    // Without `sender`, `source` names the customer.
    let (from, _) = v2(
        serde_json::json!({"id":"in","source":"+55 85 99999-0004","type":"text",
        "payload":{"text":"STOP"}}),
    );
    assert_eq!(from, "5585999990004");
    // A user event with a formatted phone is still the customer's opt-out.
    let body = br#"{"app":"AcmeSAC","timestamp":1,"version":2,"type":"user-event","payload":{"phone":"+55 85 99999-0005","type":"opted-out"}}"#;
    assert_eq!(
        parse_gupshup(body).unwrap()[0].event,
        ProviderEvent::OptOut {
            phone: "5585999990005".into()
        }
    );
    // Other user events (sandbox-start, ...) are unsupported: counted, never an opt-out.
    let body = br#"{"app":"AcmeSAC","timestamp":1,"version":2,"type":"user-event","payload":{"phone":"5585999990005","type":"sandbox-start"}}"#;
    assert!(matches!(
        parse_gupshup(body),
        Err(WebhookError::Unsupported(_))
    ));
}
