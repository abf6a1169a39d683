//! The dry-run provider accepts every message and logs it with the contact's last four digits only.
use std::io::Write;
use std::sync::{Arc, Mutex};

use tierpace::contact::E164;
use tierpace::provider::{
    DryRunProvider, Provider, ProviderKind, SendOutcome, TemplateMessage, TemplateRef,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn dry_run_accepts_and_logs_only_the_last_four_digits() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let p = DryRunProvider::new("sac");
    let msg = TemplateMessage {
        to: E164::from_validated_digits("5585988881234".into()),
        template: TemplateRef {
            id: Some("tpl-uuid".into()),
            ..TemplateRef::default()
        },
        params: vec!["Ana".into()],
        media: None,
        header_params: vec![],
        buttons: vec![],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first = rt.block_on(p.send(&msg));
    let second = rt.block_on(p.send(&msg));

    assert_eq!(p.kind(), ProviderKind::DryRun);
    let (
        SendOutcome::Accepted {
            message_id: a,
            wa_id: None,
        },
        SendOutcome::Accepted {
            message_id: b,
            wa_id: None,
        },
    ) = (first, second)
    else {
        panic!("dry run always accepts");
    };
    assert_ne!(a, b, "message ids are unique");
    assert_eq!(p.sent(), 2);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("would send"), "{text}");
    assert!(text.contains("1234"), "{text}");
    assert!(
        !text.contains("5585988881234"),
        "the full number must not be logged: {text}"
    );
    assert!(text.contains("sac"));
}
