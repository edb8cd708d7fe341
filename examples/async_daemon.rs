//! A small tokio daemon of two processes, tested with async tests: a *store* serves a counter
//! over TCP (`INC` adds one and answers the count, `GET` answers it), and a *ticker* connects
//! to it and sends `INC` every hour of the test's clock, reconnecting when the store goes away.
//!
//! ```text
//! cargo run -p examples --example async_daemon -- --show-output
//! ```
//!
//! - each test is an `#[mp_test] async fn` on a runtime of its own;
//! - the store and the ticker are async functions run in child processes (`mptest::rt::spawn`),
//!   each on its own runtime, found through a shared queue and value (`*_async`, never
//!   blocking the test's runtime);
//! - the ticker's timer is `mptest::rt::interval`, so a day of it runs in accelerated time.

use std::time::Duration;

use mptest::prelude::*;
use mptest::{Recorder, SharedQueue, SharedValue};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Bounds every wait.
const LIMIT: Duration = Duration::from_secs(20);

// ---- the daemon (production code would live in its own crate) ----

/// The store: listens on a free port, says which on `ports`, serves until killed.
async fn store(ports: SharedQueue<u16>) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    ports.put_async(port).await.map_err(|e| e.to_string())?;
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let count = count.clone();
        tokio::spawn(async move {
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let now = match line.trim() {
                    "INC" => count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
                    _ => count.load(std::sync::atomic::Ordering::SeqCst),
                };
                if writer.write_all(format!("{now}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends `line` on a connection and reads the one-line answer.
async fn ask(stream: &mut BufReader<TcpStream>, line: &str) -> std::io::Result<u64> {
    stream.get_mut().write_all(format!("{line}\n").as_bytes()).await?;
    let mut answer = String::new();
    if stream.read_line(&mut answer).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    answer
        .trim()
        .parse()
        .map_err(|_| std::io::ErrorKind::InvalidData.into())
}

/// The ticker: every hour, `INC` on the store whose port `port` holds now; records each
/// answer (`tick`) and each connection it makes (`connected`).
async fn ticker((port, calls): (SharedValue<u16>, Recorder)) {
    let mut hourly = mptest::rt::interval(Duration::from_secs(3600));
    let mut connection: Option<BufReader<TcpStream>> = None;
    loop {
        hourly.tick().await;
        if connection.is_none() {
            let Ok(port) = port.get_async().await else { return };
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
                calls.record("connected", port).ok();
                connection = Some(BufReader::new(stream));
            }
        }
        if let Some(stream) = connection.as_mut() {
            match ask(stream, "INC").await {
                Ok(count) => calls.record("tick", count).ok(),
                // The store went away: connect again at the next tick.
                Err(_) => connection.take().map(drop),
            };
        }
    }
}

// ---- the tests ----

/// Starts a store in a child process; its port.
async fn start_store(
    manager: &mptest::Manager,
) -> Result<(mptest::ChildHandle<Result<(), String>>, u16), Box<dyn std::error::Error>> {
    let ports = manager.queue::<u16>(None)?;
    let child = mptest::rt::spawn(ports.clone(), store);
    let port = ports.get_timeout_async(LIMIT).await?;
    Ok((child, port))
}

#[mp_test(timeout = "60s")]
async fn the_store_answers_a_tokio_client() -> Result<(), Box<dyn std::error::Error>> {
    let manager = mptest::Manager::start()?;
    let (mut store, port) = start_store(&manager).await?;
    let mut client = BufReader::new(TcpStream::connect(("127.0.0.1", port)).await?);
    assert_eq!(ask(&mut client, "INC").await?, 1);
    assert_eq!(ask(&mut client, "INC").await?, 2);
    assert_eq!(ask(&mut client, "GET").await?, 2);
    store.kill()?;
    Ok(())
}

#[mp_test(timeout = "60s")]
async fn the_ticker_recovers_when_the_store_crashes() -> Result<(), Box<dyn std::error::Error>> {
    mptest::clock::set_speed(3600.0 * 10.0); // an hour every 100 ms
    let manager = mptest::Manager::start()?;
    let (mut first, port) = start_store(&manager).await?;
    let current = manager.value(port)?;
    let calls = Recorder::new()?;
    let mut ticker = mptest::rt::spawn((current.clone(), calls.clone()), ticker);
    calls
        .wait_for_async(|c| c.iter().any(|c| c.name == "tick"), LIMIT)
        .await?;
    // The store dies (as a crash would take it); a new one starts on another port.
    first.kill()?;
    let (mut second, new_port) = start_store(&manager).await?;
    current.set_async(new_port).await?;
    // The ticker finds it on its own and goes on counting there, from 1.
    let seen = calls
        .wait_for_async(
            move |c| {
                c.iter()
                    .any(|c| c.name == "connected" && c.args_as::<u16>().ok() == Some(new_port))
                    && c.iter().filter(|c| c.name == "tick").count() >= 2
            },
            LIMIT,
        )
        .await?;
    let reconnected = seen
        .iter()
        .position(|c| c.name == "connected" && c.args_as::<u16>().ok() == Some(new_port))
        .ok_or("no reconnection")?;
    let after: Vec<u64> = seen[reconnected..]
        .iter()
        .filter(|c| c.name == "tick")
        .filter_map(|c| c.args_as::<u64>().ok())
        .collect();
    assert_eq!(after.first(), Some(&1), "{seen:?}");
    ticker.kill()?;
    second.kill()?;
    mptest::clock::reset();
    Ok(())
}

#[mp_test(timeout = "60s")]
async fn a_day_of_ticks_in_accelerated_time() -> Result<(), Box<dyn std::error::Error>> {
    mptest::clock::set_speed(3600.0 * 20.0); // an hour every 50 ms
    let manager = mptest::Manager::start()?;
    let (mut store, port) = start_store(&manager).await?;
    let calls = Recorder::new()?;
    let started = mptest::clock::now();
    let real = std::time::Instant::now();
    let mut ticker = mptest::rt::spawn((manager.value(port)?, calls.clone()), ticker);
    // 24 hourly ticks: the first at once, the last 23 hours later.
    let ticks = calls
        .wait_for_async(|c| c.iter().filter(|c| c.name == "tick").count() >= 24, LIMIT)
        .await?;
    let counts: Vec<u64> = ticks
        .iter()
        .filter(|c| c.name == "tick")
        .filter_map(|c| c.args_as::<u64>().ok())
        .collect();
    assert_eq!(counts[..24], (1..=24).collect::<Vec<u64>>()[..]);
    assert!(mptest::clock::now().duration_since(started) >= Duration::from_secs(23 * 3600));
    println!("a day of ticks took {:?} of real time", real.elapsed());
    ticker.kill()?;
    store.kill()?;
    mptest::clock::reset();
    Ok(())
}

mptest::main!();
