//! Log output: human-readable text or one JSON object a line, filtered like `KISUM_LOG`.
//!
//! Every line logged while a request is served carries the request's `request_id` (the span
//! opened by [`crate::ops::layers`]). Nothing here logs a setting's value: secrets are
//! [`Secret`](crate::config::Secret)s and redact themselves.
//!
//! The one line per answered request (`tower_http::trace::on_response`) is written to stdout in
//! batches, by a thread of its own, every [`ACCESS_LINES_EVERY`] (decision 0049): a `write` per
//! request was up to a quarter of a serving process's CPU. Every other line is written at once,
//! after the batched lines before it, so the order of the lines is the order they were logged.
//! Escape codes colour the text only on a terminal.

use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::Metadata;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// How often batched access lines are written at the latest.
pub const ACCESS_LINES_EVERY: Duration = Duration::from_millis(100);

/// Beyond this many bytes of batched lines, the thread logging writes them itself: a stdout
/// that cannot keep up slows logging down rather than growing the batch without bound.
const MOST_BATCHED: usize = 1 << 20;

/// The target of the line [`tower_http`]'s trace layer logs for every answer.
const ACCESS_TARGET: &str = "tower_http::trace::on_response";

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The filter is not `tracing` env-filter syntax.
    #[error("`{0}` is not a log filter")]
    Filter(String, #[source] tracing_subscriber::filter::ParseError),
    /// A global subscriber was installed already.
    #[error("logging was already initialised")]
    AlreadyInitialised(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Installs the global subscriber writing `format` to stdout, filtered by `filter` such as `info` or
/// `info,kisum_auth=debug`. In JSON each line holds the event's fields, the current span's
/// fields (`request_id`, `method`, `path`) and the target.
///
/// Keep the returned [`LogFlush`] until the process ends: dropping it writes the access lines
/// still batched.
///
/// # Errors
/// A malformed filter, or a subscriber already installed.
pub fn init(format: LogFormat, filter: &str) -> Result<LogFlush, LoggingError> {
    let env_filter =
        EnvFilter::try_new(filter).map_err(|e| LoggingError::Filter(filter.to_owned(), e))?;
    let out = BatchedWriter::new(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(out.clone());
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    }
    .map_err(LoggingError::AlreadyInitialised)?;
    Ok(LogFlush(Some(out.spawn_flusher(ACCESS_LINES_EVERY))))
}

/// Writes the batched access lines when dropped, and stops the thread that writes them.
#[derive(Debug)]
#[must_use = "dropping it writes the batched lines and stops batching's thread"]
pub struct LogFlush(Option<Flusher>);

impl Drop for LogFlush {
    fn drop(&mut self) {
        if let Some(flusher) = self.0.take() {
            flusher.stop();
        }
    }
}

/// A [`MakeWriter`] over `W` that batches access lines and writes every other line at once.
#[derive(Debug)]
struct BatchedWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for BatchedWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct Shared<W> {
    /// Lines logged and not yet written, in order.
    batched: Mutex<Vec<u8>>,
    /// The output; held while writing, so batches reach it in the order they were taken.
    out: Mutex<W>,
    /// No batching thread runs: every line is written at once.
    direct: AtomicBool,
}

/// A poisoned lock only means a thread panicked while logging: the bytes are still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> BatchedWriter<W> {
    fn new(out: W) -> Self {
        Self {
            shared: Arc::new(Shared {
                batched: Mutex::new(Vec::with_capacity(64 * 1024)),
                out: Mutex::new(out),
                direct: AtomicBool::new(false),
            }),
        }
    }
}

impl<W: Write> Shared<W> {
    /// Appends `line` to the batch; writes the batch when it has grown too long.
    fn batch(&self, line: &[u8]) {
        let full = {
            let mut batched = lock(&self.batched);
            batched.extend_from_slice(line);
            batched.len() >= MOST_BATCHED
        };
        if full {
            self.write_with(&[]);
        }
    }

    /// Writes the batch, then `line`, under the output's lock.
    fn write_with(&self, line: &[u8]) {
        let mut out = lock(&self.out);
        let batch = std::mem::take(&mut *lock(&self.batched));
        // Logging has nowhere to report its own failure (a closed stdout): the lines are lost.
        let _ = out.write_all(&batch);
        let _ = out.write_all(line);
        let _ = out.flush();
        // Keep the allocation for the next batch when no line was added meanwhile.
        let mut batched = lock(&self.batched);
        if batched.is_empty() && batch.capacity() <= MOST_BATCHED * 2 {
            let mut batch = batch;
            batch.clear();
            *batched = batch;
        }
    }
}

impl<W: Write + Send + 'static> BatchedWriter<W> {
    /// Starts the thread writing the batch every `every`. When no thread can start, access
    /// lines are written at once like every other.
    fn spawn_flusher(&self, every: Duration) -> Flusher {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("kisum-log".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if !lock(&shared.batched).is_empty() {
                        shared.write_with(&[]);
                    }
                }
                // Stopped: from now on every line is written at once.
                shared.direct.store(true, Ordering::Relaxed);
                shared.write_with(&[]);
            })
            .ok();
        if thread.is_none() {
            self.shared.direct.store(true, Ordering::Relaxed);
        }
        Flusher {
            stop: Some(stop),
            thread,
        }
    }
}

/// The batching thread: stopping it writes what is batched.
#[derive(Debug)]
struct Flusher {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn stop(mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line's writer: batched (an access line) or written at once (any other).
#[derive(Debug)]
struct LineWriter<'a, W> {
    shared: &'a Shared<W>,
    batched: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.batched {
            self.shared.batch(buf);
        } else {
            self.shared.write_with(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for BatchedWriter<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            batched: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            batched: meta.target() == ACCESS_TARGET
                && *meta.level() >= tracing::Level::INFO
                && !self.shared.direct.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<String> {
            String::from_utf8_lossy(&lock(&self.0))
                .lines()
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
                .collect()
        }
    }

    /// A subscriber logging to `sink` through a batching writer (no batching thread).
    fn logger(sink: &Sink) -> (impl tracing::Subscriber + use<>, BatchedWriter<Sink>) {
        let out = BatchedWriter::new(sink.clone());
        (subscriber_on(&out), out)
    }

    /// A subscriber logging through `out`.
    fn subscriber_on(out: &BatchedWriter<Sink>) -> impl tracing::Subscriber + use<> {
        tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(out.clone())
            .finish()
    }

    fn access(n: u32) {
        tracing::info!(target: "tower_http::trace::on_response", "access{n}");
    }

    #[test]
    fn access_lines_wait_for_the_batch_and_any_other_line_writes_them_first_in_order() {
        let sink = Sink::default();
        let (subscriber, _out) = logger(&sink);
        tracing::subscriber::with_default(subscriber, || {
            access(1);
            access(2);
            assert!(sink.lines().is_empty(), "access lines are batched");
            tracing::info!("started");
            assert_eq!(sink.lines(), ["access1", "access2", "started"]);
            access(3);
            tracing::warn!(target: "tower_http::trace::on_response", "slow");
            assert_eq!(
                sink.lines(),
                ["access1", "access2", "started", "access3", "slow"],
                "a warning is written at once, whatever its target"
            );
        });
    }

    #[test]
    fn the_batching_thread_writes_in_intervals_writes_the_rest_when_stopped_then_steps_aside() {
        let sink = Sink::default();
        let (subscriber, out) = logger(&sink);
        let flusher = out.spawn_flusher(Duration::from_millis(20));
        tracing::subscriber::with_default(subscriber, || {
            access(1);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while sink.lines().is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(sink.lines(), ["access1"], "written by the thread");
        });
        let flusher = LogFlush(Some(flusher));
        // Lines batched after the last interval are written when the guard goes.
        out.shared.batch(b"INFO x: access2\n");
        drop(flusher);
        assert_eq!(sink.lines(), ["access1", "access2"]);
        tracing::subscriber::with_default(subscriber_on(&out), || access(3));
        assert_eq!(
            sink.lines(),
            ["access1", "access2", "access3"],
            "after the guard, lines are written at once"
        );
    }

    #[test]
    fn a_batch_that_grows_too_long_is_written_by_the_thread_logging() {
        let sink = Sink::default();
        let out = BatchedWriter::new(sink.clone());
        let line = vec![b'x'; 1000];
        let mut n = 0;
        while lock(&sink.0).is_empty() {
            out.shared.batch(&line);
            n += 1;
            assert!(n <= MOST_BATCHED / 1000 + 1, "never written");
        }
        assert_eq!(
            lock(&sink.0).len(),
            n * 1000,
            "everything batched, nothing lost"
        );
        assert!(lock(&out.shared.batched).is_empty());
    }

    #[test]
    fn without_a_batching_thread_access_lines_are_written_at_once() {
        let sink = Sink::default();
        let (subscriber, out) = logger(&sink);
        out.shared.direct.store(true, Ordering::Relaxed);
        tracing::subscriber::with_default(subscriber, || {
            access(1);
            assert_eq!(sink.lines(), ["access1"]);
        });
    }
}
