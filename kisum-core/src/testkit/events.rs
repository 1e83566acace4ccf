//! The event-log checks (decision 0015): every change of a company's entitlement version
//! appends its event, numbered without holes, and the log itself (appends from other origins,
//! pruning, gaps) behaves the same in every backend.

use std::sync::Arc;

use kisum_guard::{CompanyId, InvalidationEvent, StreamEvent};

use super::{add_addon, module, seed_catalog, subscribe, t};
use crate::catalog::ModuleKind;
use crate::outbox::{EventLog, Origin};
use crate::store::CoreStore;
use crate::subscription::SubscriptionStatus;

/// The events appended after `after`, in order.
pub async fn events_after(log: &dyn EventLog, after: u64) -> Vec<StreamEvent> {
    log.read(after, 10_000).await.unwrap().events
}

/// The numbers of `events` run on from `after` without a hole.
pub fn assert_contiguous(after: u64, events: &[StreamEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.seq,
            after + 1 + i as u64,
            "event numbers have no holes: {events:?}"
        );
    }
}

pub async fn every_entitlement_change_appends_its_event<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let log = store.event_log();
    let start = log.read(0, 0).await.unwrap().head;
    let (a, b) = (CompanyId::new(), CompanyId::new());
    let company = |company_id| InvalidationEvent::Company { company_id };
    subscribe(&*store, a, "plus", SubscriptionStatus::Active).await;
    add_addon(&*store, b, "finance", SubscriptionStatus::Active).await;
    store
        .remove_company_addon(b, &kisum_guard::AddOnKey::new("finance").unwrap())
        .await
        .unwrap();
    add_addon(&*store, b, "finance", SubscriptionStatus::Active).await;
    let bumps = store
        .put_module(module("finance", ModuleKind::Addon))
        .await
        .unwrap();
    assert_eq!(bumps.len(), 2);
    let events = events_after(&*log, start).await;
    assert_contiguous(start, &events);
    let kinds: Vec<_> = events.into_iter().map(|e| e.event).collect();
    let mut expected = vec![company(a), company(b), company(b), company(b)];
    expected.extend(bumps.iter().map(|v| company(v.company_id)));
    // The catalog edit's two events come in either order; the rest in the order written.
    let (head, tail) = kinds.split_at(4.min(kinds.len()));
    assert_eq!(head, &expected[..4]);
    let mut tail = tail.to_vec();
    let mut want = expected[4..].to_vec();
    tail.sort_by_key(|e| format!("{e:?}"));
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(tail, want);
}

pub async fn the_event_log_appends_once_per_origin_prunes_and_reports_gaps<S: CoreStore>(
    store: Arc<S>,
) {
    let log = store.event_log();
    let start = log.read(0, 0).await.unwrap();
    assert!(!start.is_gap(start.head), "a reader at the head has no gap");
    assert!(
        start.is_gap(start.head + 5),
        "a reader ahead of the log has one"
    );
    let origin = Origin {
        stream: "core:abc",
        seq: 7,
    };
    let first = log
        .append(&InvalidationEvent::KeyRotated, t(0), Some(origin))
        .await
        .unwrap();
    assert_eq!(first, Some(start.head + 1));
    assert_eq!(
        log.append(&InvalidationEvent::KeyRotated, t(1), Some(origin))
            .await
            .unwrap(),
        None,
        "the same origin is appended once"
    );
    assert_eq!(log.origin_cursor("core:abc").await.unwrap(), Some(7));
    assert_eq!(log.origin_cursor("core:other").await.unwrap(), None);
    let second = log
        .append(&InvalidationEvent::Resync, t(10), None)
        .await
        .unwrap()
        .unwrap();
    let third = log
        .append(&InvalidationEvent::KeyRotated, t(20), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second, third), (start.head + 2, start.head + 3));
    let events = events_after(&*log, start.head).await;
    assert_contiguous(start.head, &events);
    assert_eq!(events[1].event, InvalidationEvent::Resync);
    // Pruning everything keeps the newest: the head stays known, older readers find a gap.
    assert!(log.prune(t(1_000)).await.unwrap() >= 2);
    let page = log.read(second, 10).await.unwrap();
    assert_eq!(page.head, third);
    assert_eq!(page.first_kept, third);
    assert!(!page.is_gap(second), "the next event is still there");
    assert!(page.is_gap(start.head), "events after it were pruned");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.epoch, log.read(0, 0).await.unwrap().epoch, "one epoch");
}
