//! Fingerprints the migration sources, so that the migrated templates are named after the
//! schema they hold: a changed or added migration makes a new template, and an unchanged one
//! lets every test process of every run reuse the template already built.

use std::fs;
use std::path::Path;

/// FNV-1a, 64 bits: stable across toolchains (the std hasher is not), and no dependency.
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

fn main() {
    let dir = Path::new("../adapters-postgres/src/migration");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        fnv1a(&mut hash, name.unwrap_or_default().as_bytes());
        fnv1a(&mut hash, &fs::read(&file).unwrap_or_default());
    }
    println!("cargo::rustc-env=MIGRATIONS_FINGERPRINT={hash:016x}");
}
