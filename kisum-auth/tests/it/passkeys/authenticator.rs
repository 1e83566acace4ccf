//! A software authenticator for the passkey tests, built on aws-lc-rs: ES256 keys, `none`
//! attestation, discoverable credentials (assertions carry the user handle), user presence and
//! verification flagged, a signature counter it raises on every assertion.
//!
//! Hand-built rather than `webauthn-authenticator-rs`'s `softpasskey`: that one answers
//! assertions without a user handle and needs the credential named in `allowCredentials`, so it
//! cannot take part in a discoverable (passwordless) sign-in. Here every byte the server checks
//! is written out, so the tests can also forge what an attacker would send (another origin,
//! another relying party, an old counter).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// User present, user verified.
const UP_UV: u8 = 0x01 | 0x04;
/// … with attested credential data.
const AT: u8 = 0x40;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.as_str().expect("a base64url string"))
        .expect("base64url")
}

/// A CBOR byte string.
fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        n @ 0..24 => out.push(0x40 | n as u8),
        n @ 24..256 => out.extend([0x58, n as u8]),
        n => out.extend([0x59, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(bytes);
}

/// A CBOR text string (shorter than 24 bytes).
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    out.push(0x60 | text.len() as u8);
    out.extend_from_slice(text.as_bytes());
}

/// One credential held by the authenticator.
pub(crate) struct SoftPasskey {
    key: EcdsaKeyPair,
    /// The credential id.
    pub(crate) credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    rp_id: String,
    /// The signature counter of the last assertion.
    pub(crate) counter: u32,
}

impl SoftPasskey {
    /// Answers `navigator.credentials.create()` for `options` (the `options` of
    /// `register/start`) as a browser at `origin` would: a new credential and its JSON.
    pub(crate) fn create(options: &Value, origin: &str) -> (Self, Value) {
        let pk = &options["publicKey"];
        assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).unwrap();
        let key = Self {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
            credential_id,
            user_handle: unb64(&pk["user"]["id"]),
            rp_id: pk["rp"]["id"].as_str().unwrap().to_owned(),
            counter: 0,
        };
        let credential = key.attestation(options, origin);
        (key, credential)
    }

    /// This credential's answer to `navigator.credentials.create()` for `options` at `origin`
    /// (an authenticator registering a credential it already holds).
    pub(crate) fn attestation(&self, options: &Value, origin: &str) -> Value {
        let pk = &options["publicKey"];
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65);
        // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
        let mut cose = vec![0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&mut cose, &point[1..33]);
        cose.push(0x22);
        cbor_bytes(&mut cose, &point[33..65]);
        let mut auth_data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        auth_data.push(UP_UV | AT);
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(cose);
        let mut attestation = vec![0xA3];
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        attestation.push(0xA0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": pk["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(client_data.as_bytes()),
            },
            "clientExtensionResults": {},
        })
    }

    /// Answers `navigator.credentials.get()` for `options` (of `login/start`) at `origin`,
    /// raising the counter.
    pub(crate) fn assert(&mut self, options: &Value, origin: &str) -> Value {
        self.counter += 1;
        let rp_id = self.rp_id.clone();
        self.assertion(options, origin, &rp_id, self.counter)
    }

    /// An assertion as `assert` makes it, but claiming relying party `rp_id` and carrying
    /// `counter` (the counter is left alone).
    pub(crate) fn assertion(
        &self,
        options: &Value,
        origin: &str,
        rp_id: &str,
        counter: u32,
    ) -> Value {
        let pk = &options["publicKey"];
        assert!(
            pk["allowCredentials"]
                .as_array()
                .is_none_or(|a| a.is_empty()),
            "a discoverable sign-in names no credential: {pk}"
        );
        self.signed(options, origin, rp_id, counter)
    }

    /// Answers `navigator.credentials.get()` for `options` naming the user's credentials (a
    /// second factor, a reauthentication), raising the counter: this credential must be named.
    pub(crate) fn assert_named(&mut self, options: &Value, origin: &str) -> Value {
        let named = options["publicKey"]["allowCredentials"]
            .as_array()
            .expect("the user's credentials are named");
        assert!(
            named.iter().any(|c| unb64(&c["id"]) == self.credential_id),
            "this credential is not among {named:?}"
        );
        self.counter += 1;
        let rp_id = self.rp_id.clone();
        self.signed(options, origin, &rp_id, self.counter)
    }

    /// The assertion itself: user present and verified, `counter`, signed over `rp_id` and
    /// the client data of `origin`.
    fn signed(&self, options: &Value, origin: &str, rp_id: &str, counter: u32) -> Value {
        let pk = &options["publicKey"];
        assert_eq!(pk["userVerification"], "required");
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(UP_UV);
        auth_data.extend(counter.to_be_bytes());
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": pk["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(client_data.as_bytes()));
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(client_data.as_bytes()),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
