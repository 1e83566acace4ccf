//! [`Counters`]: a `metrics` recorder that keeps counter values, installed for one test's thread
//! (`#[tokio::test]` runs the test on one thread, so everything the routers count lands here and
//! nothing of another test does); and the per-method sign-in counters of passwords (issue 17),
//! on every backend.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use kisum_auth::AuthStore;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use serde_json::json;

use crate::backends::memory;
#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;
use crate::client::post;
use crate::mfa::Rig;

/// One counter's name and labels (sorted by label name).
type Series = (String, Vec<(String, String)>);

/// Counter values by name and labels; gauges and histograms are dropped.
#[derive(Default)]
pub(crate) struct Counters(Mutex<BTreeMap<Series, Arc<Value>>>);

#[derive(Default)]
struct Value(AtomicU64);

impl CounterFn for Value {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::SeqCst);
    }
}

fn series(name: &str, labels: impl IntoIterator<Item = (String, String)>) -> Series {
    let mut labels: Vec<_> = labels.into_iter().collect();
    labels.sort();
    (name.to_owned(), labels)
}

impl Counters {
    /// The value of `name` with exactly the labels `labels` (0 when never counted): a series
    /// with one more or one fewer label is another series, as Prometheus sees it.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = series(
            name,
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.0
            .lock()
            .unwrap()
            .get(&key)
            .map_or(0, |v| v.0.load(Ordering::SeqCst))
    }

    /// `kisum_auth_logins_total{method, result}`.
    pub(crate) fn logins(&self, method: &str, result: &str) -> u64 {
        self.get(
            "kisum_auth_logins_total",
            &[("method", method), ("result", result)],
        )
    }

    /// Every series of `kisum_auth_logins_total` (to show in a failed assertion).
    pub(crate) fn all_logins(&self) -> Vec<(Vec<(String, String)>, u64)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|((name, _), _)| name == "kisum_auth_logins_total")
            .map(|((_, labels), v)| (labels.clone(), v.0.load(Ordering::SeqCst)))
            .collect()
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()));
        let value = self
            .0
            .lock()
            .unwrap()
            .entry(series(key.name(), labels))
            .or_default()
            .clone();
        Counter::from_arc(value)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// A refused password sign-in is counted under `method="password"` like a successful one, for
/// an unknown email as for a wrong password.
async fn password_sign_ins_are_counted_by_method(store: Arc<dyn AuthStore>) {
    let counters = Counters::default();
    let _local = metrics::set_default_local_recorder(&counters);
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let login = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password});
        post(&rig.public, "/v1/auth/login", None, body)
    };
    let (status, _, body) = login(&ada.email, crate::mfa::PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let wrong = login(&ada.email, "not the password at all").await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    let unknown = login("nobody@example.test", crate::mfa::PW).await;
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    let seen = counters.all_logins();
    assert_eq!(counters.logins("password", "success"), 1, "{seen:?}");
    assert_eq!(counters.logins("password", "failure"), 2, "{seen:?}");
    assert_eq!(
        counters.get("kisum_auth_logins_total", &[("result", "failure")]),
        0,
        "no failure without its method: {seen:?}"
    );
}

crate::backends::on_every_backend!(password_sign_ins_are_counted_by_method);
