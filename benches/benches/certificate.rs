//! Offline verification of Core's signed entitlement certificates (`kisum_guard::certificate`):
//!
//! - `certificate/verify_company`: `CertificateVerifier::verify_company` of a company
//!   certificate (6 modules, 5 add-ons): armour, base64, JSON envelope, Ed25519 signature,
//!   payload JSON, clock, high-water mark;
//! - `certificate/verify_activation`: `verify_activation` of an activation certificate (the
//!   same plus AES-256-GCM decryption with SHA-256(licence key ‖ fingerprint)).
//!
//! The budget is 100 µs a verification (issue 15): after criterion's run, in bench mode, the
//! median of 101 timed batches of 200 verifications is asserted within it for both.
//!
//! Run with `cargo bench -p kisum-benches --bench certificate`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::Ed25519KeyPair;
use criterion::Criterion;
use kisum_core::certificate::{ActivationTerms, CertificateSigner};
use kisum_core::entitlements::{EnabledModule, Entitlements, ModuleSource};
use kisum_core::subscription::{CompanyAddOn, SubscriptionStatus};
use kisum_guard::certificate::{ActivationSecret, CertificateVerifier, MemoryHighWaterMark};
use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey, SystemClock};

/// The verification budget of issue 15.
const BUDGET: Duration = Duration::from_micros(100);
const LICENSE_KEY: &str = "kisum_lk_3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e";
const FINGERPRINT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

struct Fixture {
    verifier: CertificateVerifier,
    company: String,
    activation: String,
    secret: ActivationSecret,
}

type Error = Box<dyn std::error::Error>;

fn build() -> Result<Fixture, Error> {
    let clock = Arc::new(SystemClock);
    let key = Ed25519KeyPair::generate()?;
    let signer = CertificateSigner::new(
        "eddsa-20270115-bench",
        [("eddsa-20270115-bench".to_owned(), key)],
        clock,
    )?;
    let company_id = CompanyId::new();
    let modules = ["core", "finance", "market", "touring", "venue", "ai"];
    let entitlements = Entitlements {
        company_id,
        entitlement_version: 42,
        basic_active: true,
        modules: modules
            .iter()
            .map(|m| {
                Ok(EnabledModule {
                    key: ModuleKey::new(m)?,
                    source: ModuleSource::Package(PackageKey::new("basic")?),
                })
            })
            .collect::<Result<_, Error>>()?,
        subscription: None,
        add_ons: modules
            .iter()
            .skip(1)
            .map(|m| {
                Ok(CompanyAddOn {
                    company_id,
                    addon: AddOnKey::new(m)?,
                    status: SubscriptionStatus::Active,
                    current_period_end: None,
                })
            })
            .collect::<Result<_, Error>>()?,
        valid_until: None,
    };
    let company = signer.sign_company(&entitlements)?;
    let activation = signer.sign_activation(
        &entitlements,
        ActivationTerms {
            license_id: uuid::Uuid::now_v7(),
            license_version: 3,
            modules: None,
            expires_at: None,
            fingerprint: FINGERPRINT,
            license_key: LICENSE_KEY,
        },
    )?;
    let verifier =
        CertificateVerifier::new(&signer.public_keys(), Arc::new(MemoryHighWaterMark::new()))?;
    let secret = ActivationSecret::new(LICENSE_KEY, FINGERPRINT);
    verifier.verify_company(&company)?;
    verifier.verify_activation(&activation, &secret)?;
    eprintln!(
        "certificates: company {} bytes, activation {} bytes",
        company.len(),
        activation.len()
    );
    Ok(Fixture {
        verifier,
        company,
        activation,
        secret,
    })
}

/// The median time of one `verify` over 101 batches of 200.
fn median(mut verify: impl FnMut() -> bool) -> Duration {
    const BATCH: u32 = 200;
    let mut samples: Vec<Duration> = (0..101)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..BATCH {
                assert!(black_box(verify()), "a valid certificate was refused");
            }
            started.elapsed() / BATCH
        })
        .collect();
    samples.sort();
    samples
        .get(samples.len() / 2)
        .copied()
        .unwrap_or(Duration::MAX)
}

#[expect(
    clippy::expect_used,
    reason = "a bench cannot run without its fixture; failing loudly is the point"
)]
fn main() {
    let f = build().expect("building the bench fixture");
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut g = c.benchmark_group("certificate");
    g.bench_function("verify_company", |b| {
        b.iter(|| black_box(f.verifier.verify_company(black_box(&f.company))))
    });
    g.bench_function("verify_activation", |b| {
        b.iter(|| {
            black_box(
                f.verifier
                    .verify_activation(black_box(&f.activation), &f.secret),
            )
        })
    });
    g.finish();
    c.final_summary();

    // `cargo bench` passes `--bench`; `cargo test --benches` runs each bench once, unoptimized,
    // and asserts nothing about time.
    if std::env::args().any(|a| a == "--bench") {
        let company = median(|| f.verifier.verify_company(&f.company).is_ok());
        let activation = median(|| {
            f.verifier
                .verify_activation(&f.activation, &f.secret)
                .is_ok()
        });
        eprintln!(
            "certificate verification medians: company {company:.2?}, activation {activation:.2?} (budget {BUDGET:?})"
        );
        assert!(
            company <= BUDGET,
            "verify_company median {company:?} over {BUDGET:?}"
        );
        assert!(
            activation <= BUDGET,
            "verify_activation median {activation:?} over {BUDGET:?}"
        );
    }
}
