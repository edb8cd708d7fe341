use mptest::prelude::*;

#[mptest::fixture]
fn db() -> u32 {
    1
}

#[mptest::fixture]
fn site() -> String {
    "greenhouse".into()
}

// A misspelt fixture: one error, naming the fixture meant.
#[mp_test]
fn misspelt(dbb: &u32, site: &String) {
    let _ = (dbb, site);
}

// The wrong type: the error names the fixture's type, not mptest's wrapper of it.
#[mp_test]
fn wrong_type(db: &String) {
    let _ = db;
}

mptest::main!();
