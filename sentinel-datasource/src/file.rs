//! A rule file, watched for changes.
//!
//! The source watches the file's *directory* (not the file), so every way of saving
//! works: writing in place, truncating then writing, writing a temporary file and renaming
//! it over the old one (what most editors do), deleting and re-creating, and Kubernetes'
//! ConfigMap volumes (which swap a `..data` symlink). Events are debounced
//! (notify-debouncer-mini, on its own thread, blocked while nothing happens: no polling),
//! then the file is read whole and given to the [`Pipeline`].
//!
//! A zero-length or half-written file is bad content like any other: it is rejected and
//! the rules in force stay; the next event (the end of the write) brings the full content.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{
    Config as DebounceConfig, DebounceEventResult, DebouncedEvent, Debouncer, new_debouncer_opt,
};
use parking_lot::Mutex;

use crate::error::{UpdateError, WatchError};
use crate::format::Format;
use crate::pipeline::{Applied, Pipeline};
use crate::status::SourceStatus;
use crate::watch::ChangeWatcher;

/// Default quiet time after the last file event before the file is read.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// Default largest file read (64 MiB; 10,000 flow rules take about 1.5 MB of JSON).
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// Configures a [`FileSource`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FileSourceBuilder {
    path: PathBuf,
    format: Format,
    debounce: Duration,
    max_bytes: u64,
}

impl FileSourceBuilder {
    /// The file's format (default: from its extension, else from its content).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Quiet time after the last event before the file is read (default
    /// [`DEFAULT_DEBOUNCE`]).
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet.max(Duration::from_millis(1));
        self
    }

    /// Largest file read (default [`DEFAULT_MAX_BYTES`]); a larger file is rejected
    /// unread.
    pub fn max_bytes(mut self, limit: u64) -> Self {
        self.max_bytes = limit;
        self
    }

    /// Loads the file once, then watches it. A missing file is not an error here: its
    /// rules load when it appears (the status shows it missing until then), and so is
    /// bad content (the status shows it). Fails only when the directory cannot be watched.
    pub fn start(self, pipeline: Pipeline) -> Result<FileSource, WatchError> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(file_name) = self.path.file_name().map(OsString::from) else {
            return Err(WatchError {
                what: self.path.display().to_string(),
                message: "the path does not name a file".into(),
            });
        };
        let format = match self.format {
            Format::Auto => Format::from_path(&self.path),
            f => f,
        };
        let shared = Arc::new(Shared {
            what: self.path.display().to_string(),
            path: self.path,
            file_name,
            format,
            max_bytes: self.max_bytes,
            pipeline,
            running: Mutex::new(true),
        });
        let handler = {
            let shared = shared.clone();
            move |events: DebounceEventResult| shared.on_events(events)
        };
        let watch_error = |e: notify::Error| WatchError {
            what: dir.display().to_string(),
            message: e.to_string(),
        };
        let config = DebounceConfig::default()
            .with_timeout(self.debounce)
            .with_batch_mode(true);
        let mut debouncer =
            new_debouncer_opt::<_, ChangeWatcher>(config, handler).map_err(watch_error)?;
        debouncer
            .watcher()
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(watch_error)?;
        shared.on_change(true);
        Ok(FileSource {
            shared,
            debouncer: Some(debouncer),
        })
    }
}

/// A rule file whose content is kept in force on a [`Sentinel`](sentinel_core::Sentinel).
///
/// Dropping the source stops the watch: once `drop` returns, the file is no longer read
/// and the watcher's threads are ending. No tokio runtime is needed (nor in the way).
///
/// ```no_run
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{FileSource, Flow, Pipeline};
///
/// let sentinel = Sentinel::new();
/// let source = FileSource::watch("rules/flow.yaml", Pipeline::for_kind::<Flow>(&sentinel))?;
/// println!("{:?}", source.status());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileSource {
    shared: Arc<Shared>,
    debouncer: Option<Debouncer<ChangeWatcher>>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.shared.path)
            .field("format", &self.shared.format)
            .field("pipeline", &self.shared.pipeline)
            .finish()
    }
}

impl FileSource {
    /// Starts configuring a source for the file at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> FileSourceBuilder {
        FileSourceBuilder {
            path: path.into(),
            format: Format::Auto,
            debounce: DEFAULT_DEBOUNCE,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Watches `path` with default settings; see [`FileSourceBuilder::start`].
    pub fn watch(path: impl Into<PathBuf>, pipeline: Pipeline) -> Result<FileSource, WatchError> {
        Self::builder(path).start(pipeline)
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The pipeline the file feeds.
    pub fn pipeline(&self) -> &Pipeline {
        &self.shared.pipeline
    }

    /// The pipeline's status.
    pub fn status(&self) -> SourceStatus {
        self.shared.pipeline.status()
    }

    /// Reads the file now, as an event would.
    pub fn reload(&self) -> Result<Applied, UpdateError> {
        let _running = self.shared.running.lock();
        self.shared.reload(false)
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        // Waits for a reload in progress; none starts after this.
        *self.shared.running.lock() = false;
        // Stops the debouncer thread and the watcher.
        drop(self.debouncer.take());
    }
}

/// What the watcher's thread shares with the source.
struct Shared {
    path: PathBuf,
    what: String,
    file_name: OsString,
    format: Format,
    max_bytes: u64,
    pipeline: Pipeline,
    /// False once the source is dropped; held during a reload.
    running: Mutex<bool>,
}

impl Shared {
    fn on_events(&self, events: DebounceEventResult) {
        match events {
            Ok(events) => {
                if events.iter().any(|e| self.concerns_file(e)) {
                    self.on_change(false);
                }
            }
            Err(e) => {
                self.pipeline.report_error(UpdateError::Watch {
                    what: self.what.clone(),
                    message: e.to_string(),
                });
                // Events may have been lost: read the file to be sure.
                self.on_change(false);
            }
        }
    }

    /// Whether an event in the directory may change what the file reads: an event on the
    /// file itself, or on Kubernetes' `..data` links that a ConfigMap volume swaps.
    fn concerns_file(&self, event: &DebouncedEvent) -> bool {
        event.path.file_name().is_some_and(|name| {
            name == self.file_name.as_os_str() || name.as_encoded_bytes().starts_with(b"..")
        })
    }

    /// Reloads the file unless the source was dropped.
    fn on_change(&self, first: bool) {
        let running = self.running.lock();
        if *running {
            // The outcome is recorded in the status and traced by the pipeline.
            let _ = self.reload(first);
        }
    }

    /// Reads the file and updates the pipeline; the caller holds `running`. A file missing
    /// at the start is reported, not treated as a deletion.
    fn reload(&self, first: bool) -> Result<Applied, UpdateError> {
        let _span = tracing::info_span!("file_source", path = %self.what).entered();
        let error = match self.read() {
            Ok(Some(bytes)) => return self.pipeline.apply(&bytes, self.format),
            Ok(None) if !first => return self.pipeline.source_deleted(&self.what),
            Ok(None) => UpdateError::Missing {
                what: self.what.clone(),
            },
            Err(e) => e,
        };
        self.pipeline.report_error(error.clone());
        Err(error)
    }

    /// The file's content, `None` if it does not exist.
    fn read(&self) -> Result<Option<Vec<u8>>, UpdateError> {
        let read_error = |e: io::Error| UpdateError::Read {
            what: self.what.clone(),
            message: e.to_string(),
        };
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        };
        let too_large = || UpdateError::TooLarge {
            what: self.what.clone(),
            limit: self.max_bytes,
        };
        let len = file.metadata().map_err(read_error)?.len();
        if len > self.max_bytes {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(self.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(too_large());
        }
        Ok(Some(bytes))
    }
}
