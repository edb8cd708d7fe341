//! Where the scheduler hears everything: what the threads that watch processes send it (a
//! channel that rings a bell the scheduler polls), the workers' output pipes, which it reads
//! itself, — through pidfds — the workers' exits, and the first interrupt (see
//! [`Inbox::hear_signals`]).
//!
//! A test's end and its report come in its worker's output pipe (see
//! [`crate::capture::Record`]). Read here, in the scheduler's own thread, each costs one
//! wake-up of the coordinator; read by a thread of its own, it cost two (that thread's and the
//! scheduler's, woken by it), and a thread per worker to start.
//!
//! Order: what another thread sent before a worker wrote something in its pipe is taken before
//! it — the channel is emptied after each read of the pipes, before what was read is passed on.
//! A worker's exit, told once its channel was read to the end (see [`super::exit`]), after what
//! its pipe held, so comes after every message the worker sent.

use std::collections::VecDeque;
use std::io::{PipeReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use super::event::WorkerEvent;
use super::exit::PolledExit;
use crate::capture::{Cutter, Piece, SharedBuffer};
use crate::protocol::CarriedReport;
use crate::signals::Signals;

/// An event for the scheduler, and whose it is (a worker's slot, or one of the scheduler's
/// own ids: the interrupt, the fixture host).
pub(crate) type Envelope = (usize, WorkerEvent);

/// What other threads send the scheduler events with.
#[derive(Clone)]
pub(crate) struct Mail {
    tx: mpsc::Sender<Envelope>,
    bell: Arc<OwnedFd>,
}

impl Mail {
    /// Sends `envelope` and rings the bell, which wakes the scheduler if it waits; false when
    /// the scheduler is gone.
    pub(crate) fn send(&self, envelope: Envelope) -> bool {
        if self.tx.send(envelope).is_err() {
            return false;
        }
        self.ring();
        true
    }

    /// Wakes the scheduler if it waits, to look again at what it waits for.
    pub(crate) fn ring(&self) {
        // Non-blocking: a full pipe has been rung already.
        let _ = nix::unistd::write(&*self.bell, &[1]);
    }
}

/// A worker's output pipe, read by the scheduler.
struct Watched {
    id: usize,
    pipe: PipeReader,
    cutter: Cutter,
    buffer: SharedBuffer,
    /// Left to fill until then (a flood of small writes, see [`Cutter::feed`]).
    resume: Option<Instant>,
    /// What starts reading the worker's channel when the pipe says it is used (see
    /// [`Inbox::on_channel_used`]).
    channel_used: Option<Box<dyn FnOnce()>>,
}

/// Signals heard in the inbox until the first: what to tell it as, and who takes the rest.
struct Interrupts {
    slot: usize,
    signals: Signals,
    then: Box<dyn FnOnce(Signals)>,
}

/// The scheduler's side (see the module's documentation).
pub(crate) struct Inbox {
    rx: mpsc::Receiver<Envelope>,
    bell: OwnedFd,
    mail: Mail,
    pipes: Vec<Watched>,
    /// Exits heard through pidfds (see [`super::exit`]).
    exits: Vec<PolledExit>,
    ready: VecDeque<Envelope>,
    interrupts: Option<Interrupts>,
    /// Where a pipe is read into: small at first (a run of quiet tests never touches more), it
    /// doubles, up to [`CHUNK_MAX`], each time a read fills it.
    chunk: Vec<u8>,
}

/// The read buffer's first and largest sizes.
const CHUNK_MIN: usize = 4 * 1024;
const CHUNK_MAX: usize = 64 * 1024;

impl Inbox {
    pub(crate) fn new() -> std::io::Result<Inbox> {
        let (bell, ringer) = std::io::pipe()?;
        let (bell, ringer) = (OwnedFd::from(bell), OwnedFd::from(ringer));
        set_nonblocking(&bell)?;
        set_nonblocking(&ringer)?;
        let (tx, rx) = mpsc::channel();
        Ok(Inbox {
            rx,
            bell,
            mail: Mail {
                tx,
                bell: Arc::new(ringer),
            },
            pipes: Vec::new(),
            exits: Vec::new(),
            ready: VecDeque::new(),
            interrupts: None,
            chunk: vec![0; CHUNK_MIN],
        })
    }

    /// A sender for other threads.
    pub(crate) fn mail(&self) -> Mail {
        self.mail.clone()
    }

    /// Reads worker `id`'s output `pipe` from now on, cut at `sentinel`, gathering it in
    /// `buffer`; its pieces come as the worker's events, the last `OutputClosed`.
    pub(crate) fn read_output(
        &mut self,
        id: usize,
        pipe: PipeReader,
        sentinel: &[u8],
        buffer: SharedBuffer,
    ) -> std::io::Result<()> {
        set_nonblocking(&pipe)?;
        self.pipes.push(Watched {
            id,
            pipe,
            cutter: Cutter::new(sentinel),
            buffer,
            resume: None,
            channel_used: None,
        });
        Ok(())
    }

    /// `start` is called when worker `id`'s pipe says its channel is used, before what follows
    /// in the pipe is passed on and before the worker's exit is told: a forked worker's
    /// channel is read only from then on (see [`super::watch`]).
    pub(crate) fn on_channel_used(&mut self, id: usize, start: Box<dyn FnOnce()>) {
        if let Some(watched) = self.pipes.iter_mut().find(|p| p.id == id) {
            watched.channel_used = Some(start);
        }
    }

    /// Hears a process's exit from now on: told as its thread would (see [`super::watch`]),
    /// once the process's channel is read to its end, in its output pipe after everything it
    /// wrote when it has a note.
    pub(crate) fn hear_exit(&mut self, exit: PolledExit) {
        self.exits.push(exit);
    }

    /// Hears `signals` from now on: the first comes as `(slot, Exited(killed by it))`, after
    /// which they go to `then` — a thread to wait for the next, which the scheduler cannot be
    /// trusted to read (it may be what is stuck). No thread waits for signals before.
    pub(crate) fn hear_signals(&mut self, slot: usize, signals: Signals, then: Box<dyn FnOnce(Signals)>) {
        self.interrupts = Some(Interrupts { slot, signals, then });
    }

    /// The next event, waiting at most until `deadline` (`None`: as long as it takes); `None`
    /// once the deadline has passed with nothing come.
    pub(crate) fn recv_until(&mut self, deadline: Option<Instant>) -> Option<Envelope> {
        loop {
            if let Some(envelope) = self.take_read() {
                return Some(envelope);
            }
            let now = Instant::now();
            let expired = deadline.is_some_and(|d| d <= now);
            let paused = self.pipes.iter().filter_map(|p| p.resume).filter(|&r| r > now);
            // A dead process's channel given up on.
            let resume = paused.chain(self.exits.iter().filter_map(PolledExit::deadline)).min();
            let wait = match (expired, deadline.into_iter().chain(resume).min()) {
                (true, _) => Some(Duration::ZERO),
                (false, until) => until.map(|until| until.saturating_duration_since(now)),
            };
            self.gather(wait);
            if expired && self.ready.is_empty() {
                return None;
            }
        }
    }

    /// Waits at most `wait` (`None`: no limit) for the bell or a pipe, reads the pipes that
    /// have something, and puts what came in order in `ready`: what other threads sent before
    /// what was read in the pipes first.
    fn gather(&mut self, wait: Option<Duration>) {
        let now = Instant::now();
        let polled: Vec<usize> = (0..self.pipes.len())
            .filter(|&i| self.pipes[i].resume.is_none_or(|r| r <= now))
            .collect();
        let took;
        let readable = {
            let mut fds = Vec::with_capacity(polled.len() + 1);
            fds.push(PollFd::new(self.bell.as_fd(), PollFlags::POLLIN));
            for &i in &polled {
                fds.push(PollFd::new(self.pipes[i].pipe.as_fd(), PollFlags::POLLIN));
            }
            for exit in &self.exits {
                fds.extend(exit.fd().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
            }
            if let Some(interrupts) = &self.interrupts {
                fds.push(PollFd::new(interrupts.signals.fd(), PollFlags::POLLIN));
            }
            let asked = Instant::now();
            let polled_result = poll_for(&mut fds, wait);
            // How long a pipe read now waited for its data (the old reader's `read` took that).
            took = asked.elapsed();
            match polled_result {
                Ok(_) => fds.iter().map(|fd| fd.revents().is_some_and(|r| !r.is_empty())).collect(),
                // Interrupted: look again.
                Err(_) => vec![false; fds.len()],
            }
        };
        if readable[0] {
            while matches!(nix::unistd::read(&self.bell, &mut [0; 256]), Ok(n) if n > 0) {}
        }
        if self.interrupts.is_some() && readable.last() == Some(&true) {
            self.take_interrupt();
        }
        let mut piped = Vec::new();
        let mut closed = Vec::new();
        for (&i, _) in polled.iter().zip(&readable[1..]).filter(|(_, &r)| r) {
            if self.read_pipe(i, took, &mut piped) == PipeRead::Ended {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            self.pipes.swap_remove(i);
        }
        let ended = readable[1 + polled.len()..].iter();
        for (exit, _) in self.exits.iter_mut().filter(|e| e.fd().is_some()).zip(ended).filter(|(_, &r)| r) {
            exit.reap();
        }
        // What was sent before these bytes were written comes before them.
        self.take_mail();
        self.tell_exits(&mut piped);
        self.ready.extend(piped);
    }

    /// The first signal, if it came: told before anything read with it; the signals go on to
    /// their next listener.
    fn take_interrupt(&mut self) {
        let Some(interrupts) = &mut self.interrupts else { return };
        let Some(signal) = interrupts.signals.try_next() else { return };
        self.ready
            .push_back((interrupts.slot, WorkerEvent::Exited(ExitStatus::from_raw(signal))));
        if let Some(Interrupts { signals, then, .. }) = self.interrupts.take() {
            then(signals);
        }
    }

    /// Tells the exits that may be told now (see [`PolledExit::take_ready`]), each after what
    /// its process wrote in its output pipe, as the exit thread's record in the pipe would.
    fn tell_exits(&mut self, piped: &mut Vec<Envelope>) {
        // A reaped process is gone: all it wrote is in its pipe. Read it first: it may say the
        // process's channel was used (to be read to its end before the exit is told).
        for e in 0..self.exits.len() {
            let slot = self.exits[e].slot;
            let pipe = self.pipes.iter().position(|p| p.id == slot);
            if let (Some(pipe), Some(_)) = (pipe, self.exits[e].deadline()) {
                if self.drain(pipe, piped) == PipeRead::Ended {
                    self.pipes.swap_remove(pipe);
                }
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.exits.len() {
            let Some(event) = self.exits[i].take_ready(now) else {
                i += 1;
                continue;
            };
            // Its channel may have been read to its end since the channel's messages were
            // taken above: what the channel's thread sent came before it said so, and before
            // the exit.
            self.take_mail();
            let exit = self.exits.swap_remove(i);
            // What it staged and never wrote comes after what it wrote, before its exit.
            let record = match (&exit.note, &event) {
                (Some(note), WorkerEvent::Exited(status)) => note
                    .record(*status)
                    .map(|record| [note.unwritten(), record].concat()),
                _ => None,
            };
            let pipe = self.pipes.iter().position(|p| p.id == exit.slot);
            match (record, pipe) {
                // After all it wrote, read above (its note's write end, ours, kept the pipe
                // from ending); the note's end closes here, so the pipe can end.
                (Some(record), Some(pipe)) => {
                    let watched = &mut self.pipes[pipe];
                    let id = watched.id;
                    watched.cutter.feed(&record, Duration::ZERO, &watched.buffer, |piece| {
                        piped.extend(events_of(piece).into_iter().map(|event| (id, event)))
                    });
                }
                _ => piped.push((exit.slot, event)),
            }
        }
    }

    /// The next event, waiting at most `timeout`.
    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Option<Envelope> {
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// An event read or sent already, without looking at the pipes again.
    pub(crate) fn take_read(&mut self) -> Option<Envelope> {
        self.ready.pop_front().or_else(|| self.rx.try_recv().ok())
    }

    /// An event that is there now.
    pub(crate) fn try_recv(&mut self) -> Option<Envelope> {
        self.recv_until(Some(Instant::now()))
    }

    /// What other threads sent so far, made ready (before what is read in the pipes next).
    fn take_mail(&mut self) {
        while let Ok(envelope) = self.rx.try_recv() {
            self.ready.push_back(envelope);
        }
    }

    /// Reads pipe `i` until it is empty or ends.
    fn drain(&mut self, i: usize, piped: &mut Vec<Envelope>) -> PipeRead {
        loop {
            match self.read_pipe(i, Duration::ZERO, piped) {
                PipeRead::More => continue,
                read => return read,
            }
        }
    }

    /// One read of pipe `i`, its events added to `piped`.
    fn read_pipe(&mut self, i: usize, took: Duration, piped: &mut Vec<Envelope>) -> PipeRead {
        let watched = &mut self.pipes[i];
        let id = watched.id;
        let mut channel_used = false;
        let mut events = |piece| {
            channel_used |= matches!(piece, Piece::ChannelUsed);
            for event in events_of(piece) {
                piped.push((id, event));
            }
        };
        match watched.pipe.read(&mut self.chunk) {
            Ok(n) if n > 0 => {
                let pause = watched.cutter.feed(&self.chunk[..n], took, &watched.buffer, &mut events);
                if n == self.chunk.len() && n < CHUNK_MAX {
                    self.chunk.resize(2 * n, 0);
                }
                watched.resume = pause.map(|pause| Instant::now() + pause);
                if let Some(start) = watched.channel_used.take_if(|_| channel_used) {
                    // What the channel's reader will send comes after what was read so far
                    // (the hello above all): that is made ready before the reader starts.
                    self.take_mail();
                    self.ready.extend(piped.drain(..));
                    start();
                }
                PipeRead::More
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => PipeRead::More,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => PipeRead::Empty,
            // Its end, or a pipe that cannot be read.
            _ => {
                events(watched.cutter.close(&watched.buffer));
                PipeRead::Ended
            }
        }
    }
}

/// What one read of a pipe found.
#[derive(Debug, PartialEq, Eq)]
enum PipeRead {
    /// Something (there may be more).
    More,
    /// Nothing for now.
    Empty,
    /// The pipe's end: it is done with.
    Ended,
}

/// The events a piece of a worker's output pipe makes.
pub(crate) fn events_of(piece: Piece) -> Vec<WorkerEvent> {
    match piece {
        Piece::Test(out) => vec![WorkerEvent::Output(out)],
        Piece::Reported(out, report) => match postcard::from_bytes::<CarriedReport>(&report) {
            Ok(carried) => vec![WorkerEvent::Reported {
                output: out,
                report: carried.report,
                sent_before: carried.sent_before,
            }],
            Err(err) => vec![
                WorkerEvent::Output(out),
                WorkerEvent::Malformed(format!("an undecodable report in the output pipe ({err})")),
            ],
        },
        Piece::Exited(status) => vec![WorkerEvent::Exited(ExitStatus::from_raw(status))],
        Piece::Hello => vec![WorkerEvent::HelloInPipe],
        // Acted on by the pipe's reader (see `Inbox::on_channel_used`).
        Piece::ChannelUsed => vec![],
        Piece::Malformed(why) => vec![WorkerEvent::Malformed(why)],
        Piece::Closed(out) => vec![WorkerEvent::OutputClosed(out)],
    }
}

fn set_nonblocking(fd: &impl AsFd) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Waits until one of `fds` is ready or `wait` has passed (`None`: no limit), to the
/// microsecond where the system has `ppoll`, else to the millisecond above.
fn poll_for(fds: &mut [PollFd<'_>], wait: Option<Duration>) -> nix::Result<i32> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        let wait = wait.map(nix::sys::time::TimeSpec::from_duration);
        nix::poll::ppoll(fds, wait, None)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        use nix::poll::PollTimeout;
        let timeout = match wait {
            None => PollTimeout::NONE,
            Some(wait) => {
                let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128 - 1);
                PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        nix::poll::poll(fds, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{sentinel_bytes, Record};
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;

    fn kind(envelope: Option<Envelope>) -> String {
        match envelope {
            Some((id, WorkerEvent::ChannelClosed)) => format!("{id}:closed"),
            Some((id, WorkerEvent::Exited(status))) => format!("{id}:exited {}", status.into_raw()),
            Some((id, WorkerEvent::Output(out))) => format!("{id}:output {}", out.to_text()),
            Some((id, WorkerEvent::OutputClosed(out))) => format!("{id}:end {}", out.to_text()),
            Some((id, other)) => format!("{id}:{other:?}"),
            None => "nothing".into(),
        }
    }

    #[test]
    fn what_was_sent_before_a_pipe_was_read_comes_before_what_the_pipe_said() {
        let mut inbox = Inbox::new().expect("an inbox");
        let sentinel = sentinel_bytes("00112233445566778899aabbccddeeff");
        let (reader, mut writer) = std::io::pipe().expect("a pipe");
        inbox.read_output(3, reader, &sentinel, Default::default()).expect("read");
        // As a worker's exit comes: its channel's end sent, then its exit told in the pipe.
        assert!(inbox.mail().send((3, WorkerEvent::ChannelClosed)));
        writer.write_all(b"last words").expect("written");
        writer.write_all(&Record::Exited(9).bytes(&sentinel).expect("a record")).expect("written");
        drop(writer);
        // Both are there when the pipe is read (not taken from the channel before it).
        inbox.gather(Some(Duration::from_secs(10)));
        let mut seen = vec![];
        while let Some(envelope) = inbox.take_read() {
            seen.push(kind(Some(envelope)));
        }
        assert_eq!(seen[..2], ["3:closed", "3:exited 9"], "{seen:?}");
        // Then the pipe's end, with what came before the exit record.
        let mut rest: Vec<String> = seen[2..].to_vec();
        while !rest.iter().any(|k| k.starts_with("3:end")) {
            let next = inbox.recv_timeout(Duration::from_secs(10));
            assert!(next.is_some(), "no end of the pipe: {rest:?}");
            rest.push(kind(next));
        }
        assert_eq!(rest, ["3:end last words"]);
    }

    /// The channel's reader, started when the pipe says the channel is used, may send before
    /// the read that started it is done with: what the pipe said up to there (the hello)
    /// still comes first. (A reader that sends at once, as a thread may under load.)
    #[test]
    fn the_channel_s_reader_started_by_the_pipe_comes_after_the_hello_before_it() {
        let mut inbox = Inbox::new().expect("an inbox");
        let sentinel = sentinel_bytes("00112233445566778899aabbccddeeff");
        let (reader, mut writer) = std::io::pipe().expect("a pipe");
        inbox.read_output(3, reader, &sentinel, Default::default()).expect("read");
        let mail = inbox.mail();
        inbox.on_channel_used(
            3,
            Box::new(move || {
                mail.send((3, WorkerEvent::ChannelClosed));
            }),
        );
        for record in [Record::Hello, Record::ChannelUsed] {
            writer.write_all(&record.bytes(&sentinel).expect("a record")).expect("written");
        }
        drop(writer);
        let mut seen = vec![];
        while !seen.iter().any(|k: &String| k.starts_with("3:end")) {
            let next = inbox.recv_timeout(Duration::from_secs(10));
            assert!(next.is_some(), "no end of the pipe: {seen:?}");
            seen.push(kind(next));
        }
        assert_eq!(seen, ["3:HelloInPipe", "3:closed", "3:end "], "{seen:?}");
    }

    #[test]
    fn mail_from_another_thread_wakes_a_wait_and_a_wait_ends_at_its_deadline() {
        let mut inbox = Inbox::new().expect("an inbox");
        let mail = inbox.mail();
        let sender = std::thread::spawn(move || mail.send((1, WorkerEvent::ChannelClosed)));
        assert_eq!(kind(inbox.recv_timeout(Duration::from_secs(10))), "1:closed");
        assert!(sender.join().expect("the sender ends"));
        let asked = Instant::now();
        assert_eq!(kind(inbox.recv_timeout(Duration::from_millis(20))), "nothing");
        assert!(asked.elapsed() >= Duration::from_millis(20));
        assert_eq!(kind(inbox.try_recv()), "nothing");
    }
}
