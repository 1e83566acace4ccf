//! `kisum license verify` end to end: a key generated with `kisum keys generate --purpose
//! certificates`, certificates signed with it by Core's signer, and the binary printing the
//! payload or the failure code with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kisum_core::Entitlements;
use kisum_core::certificate::{ActivationTerms, CertificateSigner};
use kisum_guard::certificate::CertificateEnvelope;
use kisum_guard::{Clock as _, CompanyId, ManualClock, SystemClock};

fn kisum(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kisum"))
        .args(args)
        .env_remove("KISUM_SIGNING_KEYS_DIR")
        .env_remove("KISUM_CERT_KEYS_DIR")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Fixture {
    dir: PathBuf,
    keys: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    /// A certificate key made by the CLI, and its published key set in `keys.json`.
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "kisum-license-cli-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let keys_dir = dir.join("cert-keys");
        let out = kisum(&[
            "keys",
            "generate",
            "--alg",
            "Ed25519",
            "--purpose",
            "certificates",
            "--dir",
            keys_dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout(&out).starts_with("eddsa-"));
        let keys = dir.join("keys.json");
        let signer = Self::signer_in(&keys_dir, Arc::new(SystemClock));
        std::fs::write(&keys, serde_json::to_string(&signer.public_keys()).unwrap()).unwrap();
        let keys = keys.to_str().unwrap().to_owned();
        Self { dir, keys }
    }

    fn signer_in(dir: &Path, clock: Arc<dyn kisum_guard::Clock>) -> CertificateSigner {
        CertificateSigner::load_dir(dir, None, clock).unwrap()
    }

    fn signer(&self, clock: Arc<dyn kisum_guard::Clock>) -> CertificateSigner {
        Self::signer_in(&self.dir.join("cert-keys"), clock)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn verify(&self, file: &str, extra: &[&str]) -> Output {
        let mut args = vec!["license", "verify", file, "--keys", &self.keys];
        args.extend_from_slice(extra);
        kisum(&args)
    }
}

fn entitlements() -> Entitlements {
    Entitlements {
        company_id: CompanyId::new(),
        entitlement_version: 5,
        basic_active: true,
        modules: vec![],
        subscription: None,
        add_ons: vec![],
        valid_until: None,
    }
}

/// The payload a successful run printed.
fn valid(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout(out)).unwrap()
}

fn refused(out: &Output, code: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(out), code);
}

#[test]
fn a_valid_company_certificate_prints_its_payload() {
    let f = Fixture::new();
    let cert = f
        .signer(Arc::new(SystemClock))
        .sign_company(&entitlements())
        .unwrap();
    let out = f.verify(&f.write("company.cert", &cert), &[]);
    let payload = valid(&out);
    assert_eq!(payload["typ"], "company");
    assert_eq!(payload["entitlement_version"], 5);
}

#[test]
fn every_refusal_prints_its_code_and_fails() {
    let f = Fixture::new();
    let signer = f.signer(Arc::new(SystemClock));
    let cert = signer.sign_company(&entitlements()).unwrap();

    let old = Arc::new(ManualClock::new(
        SystemClock.now() - chrono::TimeDelta::hours(3),
    ));
    let expired = f.signer(old).sign_company(&entitlements()).unwrap();
    refused(
        &f.verify(&f.write("expired.cert", &expired), &[]),
        "expired",
    );

    // The payload edited (a higher entitlement version), the signature kept.
    let mut envelope = CertificateEnvelope::parse(&cert).unwrap();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(&envelope.enc).unwrap()).unwrap();
    payload["entitlement_version"] = 99.into();
    envelope.enc = STANDARD.encode(payload.to_string());
    refused(
        &f.verify(&f.write("tampered.cert", &envelope.armour()), &[]),
        "bad_signature",
    );

    refused(
        &f.verify(&f.write("garbage.cert", "hello"), &[]),
        "malformed",
    );

    let mark = f.write(
        "mark",
        &(SystemClock.now().timestamp() + 86_400).to_string(),
    );
    refused(
        &f.verify(&f.write("c.cert", &cert), &["--mark", &mark]),
        "clock_rolled_back",
    );

    let other = Fixture::new();
    let stranger = other
        .signer(Arc::new(SystemClock))
        .sign_company(&entitlements())
        .unwrap();
    refused(
        &f.verify(&f.write("stranger.cert", &stranger), &[]),
        "unknown_key",
    );

    let out = kisum(&["license", "verify", "/nonexistent.cert", "--keys", &f.keys]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "unusable input is not a verdict"
    );
}

#[test]
fn an_activation_certificate_verifies_only_on_its_machine() {
    let f = Fixture::new();
    let terms = ActivationTerms {
        license_id: uuid::Uuid::now_v7(),
        license_version: 2,
        modules: None,
        expires_at: None,
        fingerprint: "machine-a",
        license_key: "kisum_lk_cli_test",
    };
    let cert = f
        .signer(Arc::new(SystemClock))
        .sign_activation(&entitlements(), terms)
        .unwrap();
    let file = f.write("activation.cert", &cert);
    let out = f.verify(
        &file,
        &[
            "--license-key",
            "kisum_lk_cli_test",
            "--fingerprint",
            "machine-a",
        ],
    );
    let payload = valid(&out);
    assert_eq!(payload["fingerprint"], "machine-a");
    assert_eq!(payload["license_version"], 2);
    refused(
        &f.verify(
            &file,
            &[
                "--license-key",
                "kisum_lk_cli_test",
                "--fingerprint",
                "machine-b",
            ],
        ),
        "wrong_fingerprint",
    );
    refused(&f.verify(&file, &[]), "wrong_fingerprint");
}

#[test]
fn certificate_keys_are_ed25519_only() {
    let dir =
        std::env::temp_dir().join(format!("kisum-cert-alg-{}", uuid::Uuid::now_v7().simple()));
    let out = kisum(&[
        "keys",
        "generate",
        "--purpose",
        "certificates",
        "--alg",
        "ES256",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Ed25519"));
    let out = Command::new(env!("CARGO_BIN_EXE_kisum"))
        .args(["keys", "generate", "--purpose", "certificates"])
        .env_remove("KISUM_SIGNING_KEYS_DIR")
        .env("KISUM_CERT_KEYS_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).starts_with("eddsa-"),
        "Ed25519 by default, in KISUM_CERT_KEYS_DIR"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
