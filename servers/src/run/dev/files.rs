//! The files `kisum dev` keeps in its data directory: signing and certificate keys, the
//! secret keyring and the service key, each generated on the first start (mode 0600).

use std::path::Path;
use std::sync::Arc;

use kisum_auth::key_rotation::{KeyDirectory, KeyRotationConfig};
use kisum_auth::keys::{KeyRing, SigningAlgorithm, generate_into};
use kisum_core::certificate::CertificateSigner;
use kisum_guard::{Clock, ServiceKeys};

use super::DevArgs;
use crate::app::StartError;
use crate::config::env;

fn random_hex(bytes: usize) -> Result<String, StartError> {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| StartError("no system randomness".into()))?;
    Ok(b.iter().map(|b| format!("{b:02x}")).collect())
}

/// The signing keys of the data directory, generating the first one when there is none: the
/// directory (reloaded as in `kisum auth`, with the default lead time and reload interval) and
/// the keys it starts with.
pub(super) fn dev_keys(
    dir: &Path,
    clock: &dyn Clock,
) -> Result<(KeyDirectory, KeyRing), StartError> {
    first_key(
        dir,
        SigningAlgorithm::Es256,
        clock,
        "generating the signing key",
    )?;
    let directory = KeyDirectory::new(KeyRotationConfig::new(dir));
    let ring = directory
        .load(clock.now())
        .map_err(|e| StartError::new("signing keys", e))?
        .ring;
    Ok((directory, ring))
}

/// Generates a first `alg` key into `dir` when it holds no `*.pem`.
fn first_key(
    dir: &Path,
    alg: SigningAlgorithm,
    clock: &dyn Clock,
    what: &str,
) -> Result<(), StartError> {
    let has_key = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".pem")))
    });
    if !has_key {
        generate_into(dir, alg, clock.now().date_naive()).map_err(|e| StartError::new(what, e))?;
    }
    Ok(())
}

/// The certificate signer of the data directory (`<data-dir>/cert-keys`), generating its first
/// Ed25519 key when there is none.
pub(super) fn dev_certificates(
    dir: &Path,
    clock: &Arc<dyn Clock>,
) -> Result<CertificateSigner, StartError> {
    first_key(
        dir,
        SigningAlgorithm::EdDsa,
        clock.as_ref(),
        "generating the certificate key",
    )?;
    CertificateSigner::load_dir(dir, None, Arc::clone(clock))
        .map_err(|e| StartError::new("certificate keys", e))
}

/// The keyring of `--secret-key`, else the one kept in the data directory, generated (one
/// random 32-byte key, mode 0600) on the first start: so authenticator apps work on `kisum dev`
/// as they would with `KISUM_SECRET_KEY`.
pub(super) fn dev_secret_key(
    args: &DevArgs,
) -> Result<Arc<kisum_auth::secrets::SecretBox>, StartError> {
    let parse = |raw: &str| {
        kisum_auth::secrets::SecretBox::parse(raw.trim())
            .map(Arc::new)
            .map_err(|e| StartError::new(env::SECRET_KEY, e))
    };
    if let Some(k) = args.secret_key.as_ref() {
        return parse(k.expose());
    }
    let path = args.data_dir.join("secret-key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return parse(&k);
    }
    let (keys, raw) = kisum_auth::secrets::SecretBox::generate("dev1")
        .map_err(|e| StartError::new("generating the secret key", e))?;
    write_private(&path, &raw).map_err(|e| StartError::new("writing the secret key", e))?;
    Ok(Arc::new(keys))
}

pub(super) fn dev_service_key(args: &DevArgs) -> Result<String, StartError> {
    if let Some(k) = args.internal_api_key.as_deref().filter(|k| !k.is_empty()) {
        return Ok(k.to_owned());
    }
    let path = args.data_dir.join("internal-api-key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim().to_owned();
        if k.len() >= ServiceKeys::MIN_SECRET_LEN {
            // Kept by an older `kisum dev` that wrote it world-readable: narrow it.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let wide = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o077 != 0)
                    .unwrap_or(false);
                if wide {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| StartError::new("narrowing the service key's mode", e))?;
                }
            }
            return Ok(k);
        }
    }
    let k = random_hex(24)?;
    write_private(&path, &k).map_err(|e| StartError::new("writing the service key", e))?;
    Ok(k)
}

/// Writes `contents` to `path` readable by its owner only (mode 0600 on Unix), also when the
/// file existed with a wider mode.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // `mode` applies only when the file is created: narrow an older, wider file too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kisum_guard::SystemClock;

    fn dev_args(data_dir: &Path) -> DevArgs {
        super::super::parse_args(["kisum", "--data-dir", data_dir.to_str().unwrap()])
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_dev_service_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir =
            std::env::temp_dir().join(format!("kisum-dev-key-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = dev_args(&dir);
        let path = dir.join("internal-api-key");
        let key = dev_service_key(&args).unwrap();
        assert_eq!(mode(&path), 0o600, "a new key file is 0600");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
        // Kept across restarts; a key file left world-readable by an older version is
        // narrowed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(dev_service_key(&args).unwrap(), key);
        assert_eq!(mode(&path), 0o600);
        // A short (damaged) key is replaced, still 0600.
        std::fs::write(&path, "short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let fresh = dev_service_key(&args).unwrap();
        assert_ne!(fresh, key);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn dev_generates_its_certificate_key_once_and_keeps_it() {
        let dir =
            std::env::temp_dir().join(format!("kisum-dev-cert-{}", uuid::Uuid::now_v7().simple()));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let first = dev_certificates(&dir, &clock).unwrap();
        assert!(
            first.active_kid().starts_with("eddsa-"),
            "{}",
            first.active_kid()
        );
        let again = dev_certificates(&dir, &clock).unwrap();
        assert_eq!(
            again.active_kid(),
            first.active_kid(),
            "no new key on restart"
        );
        assert_eq!(again.public_keys(), first.public_keys());
        #[cfg(unix)]
        assert_eq!(
            mode(&dir.join(format!("{}.pem", first.active_kid()))),
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_generates_its_secret_key_once_and_keeps_it() {
        let dir = std::env::temp_dir().join(format!(
            "kisum-dev-secret-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let args = dev_args(&dir);
        let path = dir.join("secret-key");
        let first = dev_secret_key(&args).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "a new key file is 0600");
        let kept = std::fs::read_to_string(&path).unwrap();
        // What it seals, the restarted keyring opens: no new key on restart.
        let sealed = first.seal("totp:u", b"seed").unwrap();
        let again = dev_secret_key(&args).unwrap();
        assert_eq!(again.open("totp:u", &sealed).unwrap(), b"seed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), kept);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
