use mptest::prelude::*;

#[mp_test(worker_threads = 2)]
async fn threads_without_multi_thread() {}

#[mp_test(flavor = "multi_thread")]
fn options_on_a_plain_fn() {}

#[mp_test(flavor = "single")]
async fn unknown_flavor() {}

#[mp_test(flavor = "multi_thread", start_paused = true)]
async fn paused_on_many_threads() {}

#[mp_test(flavor = "multi_thread", unhandled_panic = "shutdown_runtime")]
async fn unhandled_panic_on_many_threads() {}

#[mp_test(unhandled_panic = "abort")]
async fn unknown_unhandled_panic() {}

#[mp_test(name = " ")]
async fn empty_name() {}

mptest::main!();
