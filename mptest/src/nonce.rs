//! Random tokens: the end-of-test marker, run directory names, a manager's secret.

/// A fresh random nonce, 32 hex digits (from the kernel's random source; time as a fallback).
pub(crate) fn new_nonce() -> String {
    let mut seed = [0u8; 16];
    if getrandom::fill(&mut seed).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        seed = (now ^ u128::from(std::process::id()) << 64).to_le_bytes();
    }
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    seed.iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}
