//! The one path by which the coordinator hears from a process it started — a worker or the
//! fixture host: a thread accepts its connection, takes its hello and passes on what it sends;
//! its exit is heard by the inbox through a pidfd, or by another thread (see [`super::exit`]).
//! Both turn what they see into [`WorkerEvent`]s tagged with the process's slot, and the exit
//! comes after everything the process sent.

use std::fmt::Debug;
use std::sync::Arc;
use std::thread;

use ipc_channel::IpcError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::event::WorkerEvent;
use super::exit::{ChannelReading, ExitNote, PolledExit, Reading, Started};
use super::inbox::{Inbox, Mail};
use crate::error::Error;
use crate::launch::endpoint::Bootstrap;

/// What a message on a started process's channel is to the scheduler.
pub(crate) enum Said {
    /// The first message: where to send work.
    Hello(WorkerEvent),
    /// Any later message.
    Message(WorkerEvent),
}

/// The messages a started process sends the coordinator.
pub(crate) trait Speaks: Serialize + DeserializeOwned + Debug + Send + 'static {
    fn said(self) -> Said;
}

/// How the coordinator hears a started process: a one-shot server it connects to (a process
/// that was re-executed), or a channel made before it was forked.
pub(crate) enum Connection<M> {
    Server(Bootstrap<M>),
    Channel(ipc_channel::ipc::IpcReceiver<M>),
}

/// How a started process is heard.
pub(crate) enum Heard<'i> {
    /// By threads: one reads its channel, one waits for its exit.
    ByThreads,
    /// By the inbox where it can: its exit through a pidfd (where the system has them), and —
    /// a forked worker whose output is captured, which says hello and announces the first use
    /// of its channel in its pipe — its channel read by a thread only once it is used.
    ByInbox(&'i mut Inbox),
}

/// Watches the started process `child`, which speaks on `connection`: its events go to
/// `events` tagged `slot`, heard as `heard` says; its exit told through `note` when given.
/// `what` names it in thread names ("worker", "host").
pub(crate) fn watch<M: Speaks>(
    slot: usize,
    what: &str,
    connection: Connection<M>,
    child: Started,
    events: &Mail,
    note: Option<ExitNote>,
    mut heard: Heard<'_>,
) -> Result<(), Error> {
    let reading = Arc::new(ChannelReading::default());
    // Made before the process was (a forked worker), and announced in its pipe when used.
    let announced = matches!(
        (&connection, &note, &heard),
        (Connection::Channel(_), Some(_), Heard::ByInbox(_))
    );
    if matches!(connection, Connection::Channel(_)) && !announced {
        // Connected already, so there is something to read to its end, even if this thread
        // has not started reading yet when the exit is seen — a worker that dies in its first
        // test said hello first.
        reading.set(Reading::Connected);
    }
    let tx = events.clone();
    let channel = reading.clone();
    let name = format!("mptest-{what}-channel");
    // ipc-channel's accept has no timeout: if the process dies before connecting, this thread
    // stays blocked, and the scheduler learns of the death from the exit instead.
    let read_channel = move || {
        spawn_thread(&name, move || {
            pass_on(slot, connection, &tx, &channel, !announced);
            channel.set(Reading::Finished);
            // An exit the inbox heard may wait for this.
            tx.ring();
        })
    };
    match &mut heard {
        Heard::ByInbox(inbox) if announced => {
            let (reading, tx) = (reading.clone(), events.clone());
            inbox.on_channel_used(
                slot,
                Box::new(move || {
                    // Before the exit's teller can look (see `Inbox::on_channel_used`).
                    reading.set(Reading::Connected);
                    if let Err(err) = read_channel() {
                        reading.set(Reading::Finished);
                        tx.send((slot, WorkerEvent::Malformed(format!("its channel cannot be read: {err}"))));
                    }
                }),
            );
        }
        _ => read_channel()?,
    }
    // `Some`: a thread waits for the exit.
    let waited = match heard {
        Heard::ByInbox(inbox) => match PolledExit::open(slot, child, reading.clone(), note) {
            Ok(polled) => {
                inbox.hear_exit(polled);
                None
            }
            Err(given_back) => Some(given_back),
        },
        Heard::ByThreads => Some((child, note)),
    };
    match waited {
        Some((child, note)) => wait_in_a_thread(slot, what, child, events, note, reading),
        None => Ok(()),
    }
}

/// Hears `child`'s exit in a thread of its own, which waits for it.
fn wait_in_a_thread(
    slot: usize,
    what: &str,
    mut child: Started,
    events: &Mail,
    note: Option<ExitNote>,
    channel: Arc<ChannelReading>,
) -> Result<(), Error> {
    let tx = events.clone();
    spawn_thread(&format!("mptest-{what}-exit"), move || {
        // Blocks until the process ends; a kill from the scheduler makes sure it does.
        let event = match child.wait() {
            Ok(status) => WorkerEvent::Exited(status),
            Err(err) => WorkerEvent::Malformed(format!("could not wait for the process: {err}")),
        };
        // What it sent before it died comes first: a test a worker finished just before the
        // next one crashed it is reported as done, not as crashed; a fixture host's last
        // teardowns are reported before its exit ends the run.
        channel.wait_until_read();
        if let (Some(note), WorkerEvent::Exited(status)) = (&note, &event) {
            let _ = crate::stage::write_all_now(std::os::fd::AsRawFd::as_raw_fd(&note.pipe), &note.unwritten());
            if note
                .record(*status)
                .is_some_and(|record| crate::capture::write_record(&note.pipe, &record))
            {
                // The reader passes it on; our write end closes here, so the pipe can end.
                return;
            }
        }
        drop(note);
        let _ = tx.send((slot, event));
    })
}

pub(crate) fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(Error::WorkerSpawn)
}

/// Accepts the connection, then passes each message on until the channel closes.
/// `hello_first`: the process says hello on the channel (else it said it in its pipe).
fn pass_on<M: Speaks>(
    slot: usize,
    connection: Connection<M>,
    tx: &Mail,
    reading: &ChannelReading,
    hello_first: bool,
) {
    let send = |event| tx.send((slot, event));
    let first = match connection {
        Connection::Server(server) => server.accept(),
        Connection::Channel(receiver) if hello_first => {
            crate::ipc_retry::recv(&receiver).map(|first| (receiver, first))
        }
        Connection::Channel(receiver) => return pass_messages_on(slot, receiver, tx),
    };
    let receiver = match first.map(|(receiver, first)| (receiver, first.said())) {
        Ok((receiver, Said::Hello(hello))) => {
            reading.set(Reading::Connected);
            if !send(hello) {
                return;
            }
            receiver
        }
        Ok((_, Said::Message(other))) => {
            send(WorkerEvent::Malformed(format!("expected a hello first, got {other:?}")));
            return;
        }
        Err(err) => {
            send(WorkerEvent::Malformed(format!("bad first message: {err}")));
            return;
        }
    };
    pass_messages_on(slot, receiver, tx)
}

/// Passes each message of `receiver` on until the channel closes.
fn pass_messages_on<M: Speaks>(slot: usize, receiver: ipc_channel::ipc::IpcReceiver<M>, tx: &Mail) {
    let send = |event| tx.send((slot, event));
    loop {
        let event = match crate::ipc_retry::recv(&receiver).map(Speaks::said) {
            Ok(Said::Message(event)) => event,
            Ok(Said::Hello(_)) => WorkerEvent::Malformed("a second hello".into()),
            Err(IpcError::Disconnected) => {
                send(WorkerEvent::ChannelClosed);
                return;
            }
            Err(IpcError::SerializationError(err)) => {
                WorkerEvent::Malformed(format!("undecodable message ({err}: {err:?})"))
            }
            Err(IpcError::Io(err)) => {
                send(WorkerEvent::Malformed(format!("channel error: {err}")));
                return;
            }
        };
        if !send(event) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FromWorker, Told};
    use ipc_channel::ipc::IpcSender;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    /// Both ways an exit is heard: by a thread (other systems, the fixture host), and by the
    /// inbox through a pidfd (Linux).
    const POLLED: [bool; 2] = [false, true];

    /// Watches a process that ends when told to, `peer` speaking for it on the channel; the
    /// process is told to end once `peer` is done and the first event is in. `polled`: its
    /// exit is heard by the inbox.
    fn watched(polled: bool, peer: impl FnOnce(IpcSender<Told>) + Send + 'static) -> Vec<WorkerEvent> {
        watched_with(false, polled, peer)
    }

    /// The same; `piped`: its output goes to a pipe the inbox reads, where its exit is told
    /// (as a worker's is).
    fn watched_with(
        piped: bool,
        polled: bool,
        peer: impl FnOnce(IpcSender<Told>) + Send + 'static,
    ) -> Vec<WorkerEvent> {
        let server = Bootstrap::<Told>::new().expect("a bootstrap server");
        let name = server.name().to_string();
        let mut inbox = super::super::inbox::Inbox::new().expect("an inbox");
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "read line"]).stdin(std::process::Stdio::piped());
        let mut note = None;
        if piped {
            let sentinel = crate::capture::sentinel_bytes("00112233445566778899aabbccddeeff");
            let (reader, writer) = std::io::pipe().expect("a pipe");
            note = Some(ExitNote {
                pipe: OwnedFd::from(writer.try_clone().expect("a copy")),
                sentinel: sentinel.clone(),
                stage: None,
            });
            command.stdout(writer);
            inbox
                .read_output(0, reader, &sentinel, Default::default())
                .expect("read");
        }
        let mut child = command.spawn().expect("sh starts");
        drop(command);
        let end_it = child.stdin.take();
        let mail = inbox.mail();
        let exit = match polled {
            true => Heard::ByInbox(&mut inbox),
            false => Heard::ByThreads,
        };
        watch(0, "test", Connection::Server(server), Started::Spawned(child), &mail, note, exit).expect("watching");
        thread::spawn(move || peer(IpcSender::connect(name).expect("connects")))
            .join()
            .expect("the peer thread ends");
        let mut seen = vec![inbox.recv_timeout(Duration::from_secs(10)).expect("a first event").1];
        drop(end_it);
        while let Some((_, event)) = inbox.recv_timeout(Duration::from_secs(10)) {
            let exited = matches!(event, WorkerEvent::Exited(_));
            seen.push(event);
            if exited {
                break;
            }
        }
        seen
    }

    fn told(message: FromWorker) -> Told {
        Told {
            carried_before: 0,
            message,
        }
    }

    fn hello() -> Told {
        let (tasks, _) = ipc_channel::ipc::channel().expect("a channel");
        told(FromWorker::Hello { pid: 1, tasks: Some(tasks) })
    }

    /// What each event is, in a word.
    fn kinds(seen: &[WorkerEvent]) -> Vec<&'static str> {
        seen.iter()
            .map(|e| match e {
                WorkerEvent::Connected(..) | WorkerEvent::HelloInPipe => "hello",
                WorkerEvent::Fixtures(_) => "message",
                WorkerEvent::ChannelClosed => "closed",
                WorkerEvent::Exited(_) => "exit",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn the_hello_comes_first_and_the_exit_after_everything_sent() {
        // The exit is seen as soon as it happens; its telling waits for the channel's end.
        for polled in POLLED {
            let seen = watched(polled, |to| {
                to.send(hello()).expect("sent");
                to.send(told(FromWorker::Fixtures(Vec::new()))).expect("sent");
            });
            assert_eq!(kinds(&seen), ["hello", "message", "closed", "exit"], "polled: {polled}");
        }
    }

    #[test]
    fn read_by_the_inbox_the_exit_told_in_the_pipe_comes_after_the_channel_s_messages() {
        // The exit thread writes the exit into the pipe once the channel thread passed on the
        // channel's last message; the inbox reads the pipe itself, and must still take that
        // message first (it empties the channel after each read of the pipes).
        for (polled, round) in POLLED.into_iter().flat_map(|p| (0..20).map(move |r| (p, r))) {
            let seen = watched_with(true, polled, |to| {
                to.send(hello()).expect("sent");
                to.send(told(FromWorker::Fixtures(Vec::new()))).expect("sent");
            });
            assert_eq!(kinds(&seen), ["hello", "message", "closed", "exit"], "polled: {polled}, round {round}");
        }
    }

    #[test]
    fn a_channel_made_before_the_process_is_read_to_its_end_before_its_exit_is_told() {
        // A forked worker can die in its first test before its channel's thread has read a
        // thing: the exit thread must still wait for the hello and the rest.
        for (polled, round) in POLLED.into_iter().flat_map(|p| (0..20).map(move |r| (p, r))) {
            let (to, from) = ipc_channel::ipc::channel::<Told>().expect("a channel");
            to.send(hello()).expect("sent");
            to.send(told(FromWorker::Fixtures(Vec::new()))).expect("sent");
            let child = std::process::Command::new("sh")
                .args(["-c", "exit 3"])
                .spawn()
                .expect("sh starts");
            // Dead (not reaped) before it is watched.
            // SAFETY: waitid on our own child into a siginfo of ours; WNOWAIT leaves it to reap.
            let waited = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::waitid(libc::P_PID, child.id() as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT)
            };
            assert_eq!(waited, 0, "it exits");
            drop(to);
            let mut inbox = super::super::inbox::Inbox::new().expect("an inbox");
            let mail = inbox.mail();
            let exit = match polled {
                true => Heard::ByInbox(&mut inbox),
                false => Heard::ByThreads,
            };
            watch(0, "test", Connection::Channel(from), Started::Spawned(child), &mail, None, exit).expect("watching");
            let mut seen = Vec::new();
            while let Some((_, event)) = inbox.recv_timeout(Duration::from_secs(10)) {
                let exited = matches!(event, WorkerEvent::Exited(_));
                seen.push(event);
                if exited {
                    break;
                }
            }
            assert_eq!(kinds(&seen), ["hello", "message", "closed", "exit"], "polled: {polled}, round {round}");
        }
    }

    #[test]
    fn with_a_note_the_exit_is_told_in_the_output_pipe_after_what_the_process_wrote() {
        use std::io::Read;
        let sentinel = crate::capture::sentinel_bytes("00112233445566778899aabbccddeeff");
        let (mut reader, writer) = std::io::pipe().expect("a pipe");
        let note = ExitNote {
            pipe: OwnedFd::from(writer.try_clone().expect("a copy")),
            sentinel: sentinel.clone(),
            stage: None,
        };
        let child = std::process::Command::new("sh")
            .args(["-c", "printf 'last words'; exit 3"])
            .stdout(writer)
            .spawn()
            .expect("sh starts");
        let server = Bootstrap::<Told>::new().expect("a server");
        let mut inbox = super::super::inbox::Inbox::new().expect("an inbox");
        let exit = Heard::ByThreads;
        watch(0, "test", Connection::Server(server), Started::Spawned(child), &inbox.mail(), Some(note), exit).expect("watching");
        // The pipe ends once the process and the note are done with it: the exit came last.
        let mut text = Vec::new();
        reader.read_to_end(&mut text).expect("read to the end");
        let mut expected = b"last words".to_vec();
        expected.extend(crate::capture::Record::Exited(3 << 8).bytes(&sentinel).expect("a record"));
        assert_eq!(text, expected);
        // Not also on the scheduler's channel (the pipe's reader passes it on): the exit
        // thread was done when the pipe ended (it held the note's end to the last).
        assert!(inbox.try_recv().is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn heard_by_the_inbox_an_exit_is_told_after_all_the_process_wrote_however_much_is_unread() {
        // The process writes more than one read of the inbox takes, then a test's end, and
        // dies before the inbox reads a byte: its exit must still come after that end.
        let sentinel = crate::capture::sentinel_bytes("00112233445566778899aabbccddeeff");
        let (reader, writer) = std::io::pipe().expect("a pipe");
        // Room for all of it, so the process is dead before anything is read.
        // SAFETY: fcntl on a pipe of ours.
        let sized = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&writer), libc::F_SETPIPE_SZ, 1 << 20) };
        assert!(sized >= 1 << 20, "a 1 MiB pipe");
        let note = ExitNote {
            pipe: OwnedFd::from(writer.try_clone().expect("a copy")),
            sentinel: sentinel.clone(),
            stage: None,
        };
        let mut written = vec![b'x'; 300_000];
        written.extend(crate::capture::Record::TestEnded.bytes(&sentinel).expect("a record"));
        let child = dead_after_writing(written, writer);
        let mut inbox = super::super::inbox::Inbox::new().expect("an inbox");
        inbox.read_output(0, reader, &sentinel, Default::default()).expect("read");
        let server = Bootstrap::<Told>::new().expect("a server");
        let mail = inbox.mail();
        let exit = Heard::ByInbox(&mut inbox);
        watch(0, "test", Connection::Server(server), Started::Spawned(child), &mail, Some(note), exit).expect("watching");
        let mut seen = Vec::new();
        while let Some((_, event)) = inbox.recv_timeout(Duration::from_secs(10)) {
            let end = matches!(event, WorkerEvent::OutputClosed(_));
            seen.push(match event {
                WorkerEvent::Output(out) => format!("output of {} bytes", out.total_bytes()),
                WorkerEvent::Exited(status) => format!("exit {:?}", status.code()),
                WorkerEvent::OutputClosed(out) => format!("end of {} bytes", out.total_bytes()),
                other => format!("{other:?}"),
            });
            if end {
                break;
            }
        }
        assert_eq!(seen, ["output of 300000 bytes", "exit Some(3)", "end of 0 bytes"]);
    }

    /// A child that wrote `written` to `stdout` and exited with 3, not reaped yet.
    #[cfg(target_os = "linux")]
    fn dead_after_writing(written: Vec<u8>, stdout: std::io::PipeWriter) -> std::process::Child {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "cat; exit 3"])
            .stdin(std::process::Stdio::piped())
            .stdout(stdout)
            .spawn()
            .expect("sh starts");
        // (`stdout` must have room for all of it: nothing reads it yet.)
        let mut stdin = child.stdin.take().expect("its stdin");
        std::io::Write::write_all(&mut stdin, &written).expect("written");
        drop(stdin);
        // SAFETY: waitid on our own child into a siginfo of ours; WNOWAIT leaves it to reap.
        let waited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, child.id() as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        assert_eq!(waited, 0, "it exits");
        child
    }

    /// Watches a dead process that wrote `records` in its captured output and sent `messages`
    /// on a channel made before it, as a forked worker does; its events, to its pipe's end.
    #[cfg(target_os = "linux")]
    fn forked_like(records: &[crate::capture::Record<'_>], messages: Vec<Told>) -> Vec<WorkerEvent> {
        let sentinel = crate::capture::sentinel_bytes("00112233445566778899aabbccddeeff");
        let (reader, writer) = std::io::pipe().expect("a pipe");
        let note = ExitNote {
            pipe: OwnedFd::from(writer.try_clone().expect("a copy")),
            sentinel: sentinel.clone(),
            stage: None,
        };
        let (to, from) = ipc_channel::ipc::channel::<Told>().expect("a channel");
        for message in messages {
            to.send(message).expect("sent");
        }
        drop(to);
        let written: Vec<u8> = records.iter().flat_map(|r| r.bytes(&sentinel).expect("a record")).collect();
        // Dead before it is watched: what it wrote and sent is all there at the first look.
        let child = dead_after_writing(written, writer);
        let mut inbox = super::super::inbox::Inbox::new().expect("an inbox");
        inbox.read_output(0, reader, &sentinel, Default::default()).expect("read");
        let mail = inbox.mail();
        let heard = Heard::ByInbox(&mut inbox);
        watch(0, "test", Connection::Channel(from), Started::Spawned(child), &mail, Some(note), heard).expect("watching");
        let mut seen = Vec::new();
        while let Some((_, event)) = inbox.recv_timeout(Duration::from_secs(10)) {
            let end = matches!(event, WorkerEvent::OutputClosed(_));
            seen.push(event);
            if end {
                return seen;
            }
        }
        panic!("no end of the pipe: {seen:?}")
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_forked_worker_s_channel_is_read_once_its_pipe_says_it_is_used_and_before_its_exit() {
        use crate::capture::Record;
        let fixtures = || told(FromWorker::Fixtures(Vec::new()));
        // Said in the pipe, read then, to its end before the exit is told.
        let seen = forked_like(&[Record::Hello, Record::ChannelUsed], vec![fixtures()]);
        assert_eq!(kinds(&seen), ["hello", "message", "closed", "exit", "other"], "{seen:?}");
        // Never said: never read (no thread waits on it), and the exit is told at once.
        let seen = forked_like(&[Record::Hello], vec![]);
        assert_eq!(kinds(&seen), ["hello", "exit", "other"], "{seen:?}");
    }

    #[test]
    fn a_first_message_that_is_no_hello_and_a_second_hello_are_malformed() {
        let seen = watched(true, |to| to.send(told(FromWorker::Fixtures(Vec::new()))).expect("sent"));
        assert!(
            matches!(&seen[0], WorkerEvent::Malformed(why) if why.contains("expected a hello first")),
            "{seen:?}"
        );
        let seen = watched(true, |to| {
            to.send(hello()).expect("sent");
            to.send(hello()).expect("sent");
        });
        assert!(
            seen.iter()
                .any(|e| matches!(e, WorkerEvent::Malformed(why) if why == "a second hello")),
            "{seen:?}"
        );
    }
}
