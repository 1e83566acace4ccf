//! `kisum keys` end to end: generate writes an owner-only key named by its kid; list shows it.

use std::process::Command;

fn kisum(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kisum"))
        .args(args)
        .env_remove("KISUM_SIGNING_KEYS_DIR")
        .env_remove("KISUM_ACTIVE_KID")
        .output()
        .unwrap()
}

#[test]
fn generate_then_list() {
    let dir = std::env::temp_dir().join(format!("kisum-keys-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let out = kisum(&["keys", "generate", "--dir", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(kid.starts_with("es256-"), "{kid}");
    let path = dir.join(format!("{kid}.pem"));
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let out = kisum(&["keys", "generate", "--dir", d, "--alg", "EdDSA"]);
    assert!(out.status.success());
    let ed = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let out = kisum(&["keys", "list", "--dir", d, "--active-kid", &kid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains(&format!("{kid}\tES256\tactive")),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("{ed}\tEdDSA\tpublished")),
        "{listing}"
    );
    assert!(!listing.contains("PRIVATE"), "keys are never printed");

    let out = kisum(&["keys", "list", "--dir", d, "--active-kid", "nope"]);
    assert!(
        !out.status.success(),
        "an active kid without a key is an error"
    );
    let out = kisum(&["keys", "generate", "--dir", d, "--alg", "HS256"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a generatable algorithm"));
    std::fs::remove_dir_all(&dir).unwrap();
}
