//! The twin suite under mptest, every `#[test]` made an mptest test by the import: see
//! `twin/semantics.rs`.

use mptest::test;

include!("twin/semantics.rs");

mptest::main!();
