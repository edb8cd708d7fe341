//! The twin suite under libtest: see `twin/semantics.rs`.

use core::prelude::v1::test;

include!("twin/semantics.rs");
