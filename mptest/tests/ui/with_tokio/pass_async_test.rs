// Compiles only with the `tokio` feature (tests/macros.rs picks it then).
use mptest::prelude::*;

#[mptest::fixture]
async fn answer() -> u32 {
    42
}

#[mp_test]
async fn plain() {}

#[mp_test(flavor = "multi_thread", worker_threads = 2)]
async fn with_options(answer: &u32) -> Result<(), String> {
    assert_eq!(*answer, 42);
    Ok(())
}

#[mp_test(start_paused = true)]
async fn paused() {
    tokio::task::yield_now().await;
}

#[mp_test(should_panic = "boom", timeout = "5s", retries = 1)]
async fn with_plain_options() {
    panic!("boom");
}

// Every argument of `#[tokio::test]` (`unhandled_panic` needs `--cfg tokio_unstable`).
#[mp_test(flavor = "local", start_paused = false, name = "local", crate = "tokio")]
async fn local() {
    let not_send = std::rc::Rc::new(1);
    tokio::task::spawn_local(async move { *not_send }).await.unwrap();
}

mptest::main!();
