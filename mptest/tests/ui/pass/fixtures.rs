use mptest::prelude::*;

#[derive(mptest::serde::Serialize, mptest::serde::Deserialize)]
#[serde(crate = "mptest::serde")]
pub struct Server {
    address: String,
}

/// A run fixture.
#[mptest::fixture(scope = "run")]
fn server() -> Server {
    Server {
        address: "127.0.0.1:1".into(),
    }
}

#[mptest::fixture(scope = "group")]
fn session(server: &Server) -> std::io::Result<String> {
    Ok(server.address.clone())
}

#[mptest::fixture]
pub fn counter() -> std::sync::atomic::AtomicU32 {
    std::sync::atomic::AtomicU32::new(0)
}

#[mp_test(group = "g")]
fn uses_all(server: &Server, session: &String, counter: &std::sync::atomic::AtomicU32) {
    assert_eq!(&server.address, session);
    let _ = counter;
}

mptest::main!();
