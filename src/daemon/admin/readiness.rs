//! `/readyz` and its warnings: whether this replica may take traffic (config loaded, Redis
//! and the store gate up, every dispatcher ticking), and what an operator should look at
//! without it being a 503 (failed go-live items, campaigns that could not load).
use std::sync::atomic::Ordering;

use super::Admin;
use crate::http::Readiness;

impl Readiness for Admin {
    fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .go_live
            .read()
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i.is_failed())
                    .map(|i| format!("go-live: {}", i.summary()))
                    .collect()
            })
            .unwrap_or_default();
        // A campaign that cannot load is a warning, not a 503: the others run (issue #20).
        if let Ok(p) = self.0.campaign_problems.read() {
            out.extend(
                p.not_loaded()
                    .iter()
                    .map(|e| format!("{}{e}", crate::http::health::CAMPAIGN_NOT_LOADED)),
            );
        }
        out
    }

    fn ready(&self) -> Result<(), Vec<String>> {
        let s = &self.0;
        let mut reasons = Vec::new();
        if !s.started.load(Ordering::SeqCst) {
            reasons.push("starting: config and campaigns not loaded yet".to_string());
        }
        if !s.redis_up.load(Ordering::SeqCst) {
            reasons.push("redis unreachable".to_string());
        } else if let Some(why) = s.store_gate.why() {
            reasons.push(why);
        }
        if let Err(mut r) = s
            .board
            .healthy(s.clock.now(), chrono::Duration::seconds(30))
        {
            reasons.append(&mut r);
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}
