//! Random tokens: the end-of-test marker, run directory names, a manager's secret.

use std::io::Read;

/// A fresh random nonce, 32 hex digits (from the kernel's random source; time as a fallback).
pub(crate) fn new_nonce() -> String {
    let mut seed = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .is_err()
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        seed = (now ^ u128::from(std::process::id()) << 64).to_le_bytes();
    }
    seed.iter().map(|b| format!("{b:02x}")).collect()
}
