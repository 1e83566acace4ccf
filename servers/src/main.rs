//! The `kisum` binary: reference servers and operator commands.
//!
//! The servers (`auth`, `core`, `module`, `dev`) and the operator commands (`migrate`, `keys`,
//! `audit`) are being built; until they land this binary only reports its version and which
//! commands exist.

use std::process::ExitCode;

const PLANNED: [(&str, &str); 7] = [
    ("auth", "the Auth service (public and internal listeners)"),
    ("core", "the Core service (internal listener)"),
    ("module", "a reference business backend behind the guard"),
    ("dev", "everything in one process on embedded SQLite"),
    ("migrate", "apply the SQL migrations"),
    ("keys", "generate and list signing keys"),
    ("audit", "prune audit events"),
];

fn usage() -> String {
    let mut s = format!(
        "kisum {}\n\nusage: kisum <command>\n\ncommands:\n  version    print the version\n\nnot yet available in this build:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, what) in PLANNED {
        s.push_str(&format!("  {name:<10} {what}\n"));
    }
    s
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("version" | "--version" | "-V") => {
            println!("kisum {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        None | Some("help" | "--help" | "-h") => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Some(cmd) if PLANNED.iter().any(|(name, _)| *name == cmd) => {
            eprintln!(
                "kisum: `{cmd}` is not available in this build yet\n\n{}",
                usage()
            );
            ExitCode::from(2)
        }
        Some(cmd) => {
            eprintln!("kisum: unknown command `{cmd}`\n\n{}", usage());
            ExitCode::from(2)
        }
    }
}
