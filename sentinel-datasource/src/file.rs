//! A rule file, watched for changes.
//!
//! The source watches the file's *directory* (not the file), so every way of saving
//! works: writing in place, truncating then writing, writing a temporary file and renaming
//! it over the old one (what most editors do), deleting and re-creating, and Kubernetes'
//! ConfigMap volumes (which swap a `..data` symlink). When the path is a symbolic link, the
//! directory of each link's target is watched too, so an edit of the target in place is
//! seen, and the links are followed again whenever one changes. When a watched directory
//! is removed (a deploy script's `rm -rf`, a volume unmounted), the nearest directory
//! above it that exists is watched instead, and the directory again once it is back; the
//! file is then read. Events are debounced (notify-debouncer-mini, on its own thread,
//! blocked while nothing happens: no polling), then the file is read whole and given to
//! the [`Pipeline`].
//!
//! A zero-length or half-written file is bad content like any other: it is rejected and
//! the rules in force stay; the next event (the end of the write) brings the full content.
//! Only a regular file is read: a FIFO, a socket, a device or a directory at the path is
//! refused without being opened (opening a FIFO would block until a writer came), and the
//! file is opened non-blocking, so nothing ever waits on it.

use std::fs::{self, File, FileType, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{
    Config as DebounceConfig, DebounceEventResult, DebouncedEventKind, Debouncer, new_debouncer_opt,
};
use parking_lot::Mutex;

use crate::edit::{EditError, Held, RuleEditor, Store, rewritable};
use crate::error::{StartError, UpdateError, WatchError};
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
    /// creation is watched for (the status shows it missing until then), and neither is
    /// a missing directory (the nearest directory above it is watched until it exists),
    /// nor bad content (the status shows it). Fails only when no directory can be watched.
    /// [`FileSourceBuilder::start_strict`] fails on a bad first load too.
    pub fn start(self, pipeline: Pipeline) -> Result<FileSource, WatchError> {
        // The outcome is recorded in the status and traced by the pipeline.
        self.launch(pipeline).map(|(source, _first)| source)
    }

    /// Loads the file once and, if that succeeds, watches it; otherwise returns why
    /// ([`StartError::FirstLoad`] with the [`UpdateError`]: the file is missing, not a
    /// regular file, unreadable, too large, empty, or its rules are invalid) and watches
    /// nothing. For a service that must not run without its rules:
    ///
    /// ```no_run
    /// use sentinel_core::Sentinel;
    /// use sentinel_datasource::{FileSource, Pipeline};
    ///
    /// let sentinel = Sentinel::new();
    /// let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    /// let source = FileSource::builder("rules/service.yaml").start_strict(pipeline)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Once started, later mistakes in the file are rejected as with
    /// [`FileSourceBuilder::start`]: the rules in force stay.
    pub fn start_strict(self, pipeline: Pipeline) -> Result<FileSource, StartError> {
        let (source, first) = self.launch(pipeline)?;
        match first {
            Ok(_) => Ok(source),
            // Dropping the source stops the watch.
            Err(error) => Err(StartError::FirstLoad {
                what: source.shared.what.clone(),
                error,
            }),
        }
    }

    /// Starts watching and loads the file once; the source and the outcome of that load.
    fn launch(
        self,
        pipeline: Pipeline,
    ) -> Result<(FileSource, Result<Applied, UpdateError>), WatchError> {
        let what = self.path.display().to_string();
        let watch_error = |message: String| WatchError {
            what: what.clone(),
            message,
        };
        if self.path.file_name().is_none() {
            return Err(watch_error("the path does not name a file".into()));
        }
        let absolute = std::path::absolute(&self.path).map_err(|e| watch_error(e.to_string()))?;
        let format = match self.format {
            Format::Auto => Format::from_path(&self.path),
            f => f,
        };
        pipeline.attach(&what);
        let shared = Arc::new(Shared {
            what: what.clone(),
            path: self.path,
            absolute,
            format,
            max_bytes: self.max_bytes,
            pipeline,
            watch: Mutex::new(None),
            in_force: Mutex::new(None),
        });
        let handler = {
            let shared = shared.clone();
            move |events: DebounceEventResult| shared.on_events(events)
        };
        let config = DebounceConfig::default()
            .with_timeout(self.debounce)
            .with_batch_mode(true);
        let debouncer = new_debouncer_opt::<_, ChangeWatcher>(config, handler)
            .map_err(|e| watch_error(e.to_string()))?;
        let mut watch = shared.watch.lock();
        let armed = watch
            .insert(Watch {
                debouncer,
                dirs: Vec::new(),
                chain: Vec::new(),
            })
            .rearm(&shared.absolute, &[]);
        if let Err(e) = armed {
            // The watcher's handler holds `shared`: drop the watcher, or neither is freed.
            drop(watch.take());
            return Err(watch_error(e.to_string()));
        }
        let first = shared.reload(true);
        drop(watch);
        Ok((FileSource { shared }, first))
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

    /// An editor of the rules that writes the pipeline's whole document to this file, so
    /// that an edit survives a restart (see [`RuleEditor`]).
    ///
    /// The document (every kind the pipeline loads, in the source's format: by the file's
    /// extension, else as the file's content is, YAML for a new file) is written to a temporary file in the same directory
    /// (`.<name>.<pid>.sentinel-edit`, with the file's permissions), flushed to disk, and
    /// renamed over the file (over a symbolic link's target, not the link), so that a
    /// reader never sees half a document; the watcher then reads it and finds its rules
    /// already in force. The file is written as [`Pipeline::export_with`] writes it: the
    /// comments and layout of a hand-written file are lost.
    ///
    /// An edit is refused with [`EditError::Conflict`] when the file is not the content
    /// whose rules are in force (edited and not loaded yet, or holding rejected content,
    /// or deleted), and with [`EditError::Write`] when the file holds what a rewrite would
    /// lose (a custom resource, a YAML stream, sections of kinds the pipeline does not
    /// load). A missing file that nothing was loaded from is created. Files cannot be
    /// compared and swapped at once: a hand edit saved during the write itself (the
    /// milliseconds between the check and the rename) is overwritten.
    pub fn editor(&self) -> RuleEditor {
        RuleEditor::stored(
            &self.shared.pipeline,
            Arc::new(FileStore(self.shared.clone())),
        )
    }

    /// Reads the file now, as an event would.
    pub fn reload(&self) -> Result<Applied, UpdateError> {
        let _watch = self.shared.watch.lock();
        self.shared.reload(false)
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        // Waits for a reload in progress (which never blocks on the file); none starts
        // after this.
        let watch = self.shared.watch.lock().take();
        // Stops the debouncer thread and the watcher, outside the lock its handler takes.
        drop(watch);
    }
}

/// What the watcher's thread shares with the source.
struct Shared {
    /// The path as given.
    path: PathBuf,
    /// The path made absolute (the directories above it are watched when it goes).
    absolute: PathBuf,
    what: String,
    format: Format,
    max_bytes: u64,
    pipeline: Pipeline,
    /// The watch; `None` once the source is dropped. Held during a reload and an edit.
    watch: Mutex<Option<Watch>>,
    /// The content whose rules are in force (`None`: no file, or none loaded yet); set
    /// under `watch`, for an editor to see whether the file changed.
    in_force: Mutex<Option<Vec<u8>>>,
}

/// Most symbolic links followed from the path (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// The watcher and what it watches.
struct Watch {
    debouncer: Debouncer<ChangeWatcher>,
    /// The directories watched, each with the identity of what it was when watched.
    dirs: Vec<(PathBuf, DirId)>,
    /// The path, then each symbolic link on the way to the file and the path past it.
    chain: Vec<PathBuf>,
}

/// What a path named when it was watched: device and inode (on Unix), so that a
/// directory removed and created again is watched again.
type DirId = (u64, u64);

impl Watch {
    /// Whether an event at `path` may change what the file reads: an event on the file, on
    /// a link on the way to it or its target, or on a directory above one of them (created,
    /// removed, renamed).
    fn concerns(&self, path: &Path) -> bool {
        self.chain.iter().any(|p| p.starts_with(path))
    }

    /// Watches the directories that hold the path and its links' targets (each, if
    /// missing, the nearest existing directory above it) and only those. `stale` are
    /// watched directories an event was reported on (removed, moved away): watched again.
    fn rearm(&mut self, path: &Path, stale: &[PathBuf]) -> notify::Result<()> {
        let watcher = self.debouncer.watcher();
        self.dirs.retain(|(dir, _)| {
            let keep = !stale.contains(dir);
            if !keep {
                // notify may have dropped the watch with its directory already.
                let _ = watcher.unwatch(dir);
            }
            keep
        });
        // Directories may come and go while the watches are set: until what is wanted is
        // what is watched.
        let mut failure = None;
        for _ in 0..MAX_LINKS {
            self.chain = link_chain(path);
            let wanted = dirs_to_watch(&self.chain);
            if wanted == self.dirs {
                return Ok(());
            }
            for (dir, id) in &self.dirs {
                if !wanted.contains(&(dir.clone(), *id)) {
                    let _ = watcher.unwatch(dir);
                }
            }
            let mut watched = Vec::with_capacity(wanted.len());
            for entry in wanted {
                if self.dirs.contains(&entry) {
                    watched.push(entry);
                    continue;
                }
                match watcher.watch(&entry.0, RecursiveMode::NonRecursive) {
                    Ok(()) => watched.push(entry),
                    Err(e) => failure = Some(e),
                }
            }
            self.dirs = watched;
        }
        match (failure, self.dirs.is_empty()) {
            (Some(e), _) => Err(e),
            (None, true) => Err(notify::Error::generic("no directory to watch")),
            (None, false) => Ok(()),
        }
    }
}

/// `path`, then, for each symbolic link met on the way to the file (a directory link such
/// as a deploy's `current -> v1` as much as the file's own link), the link itself and the
/// path with that link resolved (relative targets are relative to the link's directory).
/// Watching the directory of every entry sees a link repointed, its target edited, and its
/// target's directory removed and created again.
fn link_chain(path: &Path) -> Vec<PathBuf> {
    let mut chain = vec![path.to_path_buf()];
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let Some((link, target)) = first_link(&current) else {
            break;
        };
        let mut resolved = link.parent().unwrap_or(Path::new("/")).join(target);
        if let Ok(rest) = current.strip_prefix(&link)
            && !rest.as_os_str().is_empty()
        {
            resolved.push(rest);
        }
        chain.push(link);
        chain.push(resolved.clone());
        current = resolved;
    }
    chain
}

/// The shallowest part of `path` that is a symbolic link, with its target.
fn first_link(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut prefix = PathBuf::new();
    for part in path.components() {
        prefix.push(part);
        if let Ok(target) = fs::read_link(&prefix) {
            return Some((prefix, target));
        }
    }
    None
}

/// The directory of each path of `chain`, or the nearest existing directory above it, once
/// each (by identity).
fn dirs_to_watch(chain: &[PathBuf]) -> Vec<(PathBuf, DirId)> {
    let mut dirs: Vec<(PathBuf, DirId)> = Vec::new();
    for path in chain {
        let existing = path.ancestors().skip(1).find_map(|dir| {
            let meta = fs::metadata(dir).ok().filter(Metadata::is_dir)?;
            Some((dir.to_path_buf(), dir_id(&meta)))
        });
        if let Some(found) = existing
            && !dirs.iter().any(|(_, id)| *id == found.1)
        {
            dirs.push(found);
        }
    }
    dirs
}

#[cfg(unix)]
fn dir_id(meta: &Metadata) -> DirId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dir_id(_: &Metadata) -> DirId {
    (0, 0)
}

impl Shared {
    fn on_events(&self, events: DebounceEventResult) {
        let mut guard = self.watch.lock();
        let Some(watch) = guard.as_mut() else {
            return; // the source was dropped
        };
        let stale: Vec<PathBuf> = match events {
            Ok(events) => {
                // A path still changing after the quiet time gets an `AnyContinuous` event,
                // then `Any` once quiet: reading at both would load (or reject) one save
                // twice, so only the quiet time counts.
                let events: Vec<_> = events
                    .into_iter()
                    .filter(|e| e.kind == DebouncedEventKind::Any)
                    .collect();
                if !events.iter().any(|e| watch.concerns(&e.path)) {
                    return;
                }
                let watched = |path: &PathBuf| watch.dirs.iter().any(|(dir, _)| dir == path);
                events.into_iter().map(|e| e.path).filter(watched).collect()
            }
            Err(e) => {
                self.pipeline.report_error(UpdateError::Watch {
                    what: self.what.clone(),
                    message: e.to_string(),
                });
                // Events may have been lost: watch everything again and read the file.
                watch.dirs.iter().map(|(dir, _)| dir.clone()).collect()
            }
        };
        if let Err(e) = watch.rearm(&self.absolute, &stale) {
            self.pipeline.report_error(UpdateError::Watch {
                what: self.what.clone(),
                message: e.to_string(),
            });
        }
        // The outcome is recorded in the status and traced by the pipeline.
        let _ = self.reload(false);
    }

    /// Reads the file and updates the pipeline; the caller holds `watch`. A file missing
    /// at the start is reported, not treated as a deletion.
    fn reload(&self, first: bool) -> Result<Applied, UpdateError> {
        let _span = tracing::info_span!("file_source", path = %self.what).entered();
        let error = match self.read() {
            Ok(Some(bytes)) => {
                let applied = self.pipeline.apply(&bytes, self.format);
                if applied.is_ok() {
                    *self.in_force.lock() = Some(bytes);
                }
                return applied;
            }
            Ok(None) if !first => {
                let applied = self.pipeline.source_deleted(&self.what);
                if applied.is_ok() {
                    *self.in_force.lock() = None;
                }
                return applied;
            }
            Ok(None) => UpdateError::Missing {
                what: self.what.clone(),
            },
            Err(e) => e,
        };
        self.pipeline.report_error(error.clone());
        Err(error)
    }

    /// The file's content, `None` if it does not exist. Only a regular file is opened, and
    /// without blocking: should the path change into a FIFO between the look and the
    /// opening, what was opened is looked at again before it is read.
    fn read(&self) -> Result<Option<Vec<u8>>, UpdateError> {
        let read_error = |e: io::Error| UpdateError::Read {
            what: self.what.clone(),
            message: e.to_string(),
        };
        let found = match fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        };
        self.check(&found)?;
        let file = match open_without_blocking(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        };
        let opened = file.metadata().map_err(read_error)?;
        self.check(&opened)?;
        let mut bytes = Vec::with_capacity(opened.len() as usize);
        file.take(self.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(self.too_large());
        }
        Ok(Some(bytes))
    }

    /// Whether what the path names may be read: a regular file within the size limit.
    fn check(&self, meta: &Metadata) -> Result<(), UpdateError> {
        if !meta.is_file() {
            return Err(UpdateError::NotAFile {
                what: self.what.clone(),
                found: file_type_name(meta.file_type()),
            });
        }
        if meta.len() > self.max_bytes {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> UpdateError {
        UpdateError::TooLarge {
            what: self.what.clone(),
            limit: self.max_bytes,
        }
    }
}

/// A file source as the store of an editor.
struct FileStore(Arc<Shared>);

impl Store for FileStore {
    fn what(&self) -> &str {
        &self.0.what
    }

    fn target(&self) -> String {
        format!("file {}", self.0.what)
    }

    fn hold(&self) -> Box<dyn Held + '_> {
        Box::new(HeldFile {
            shared: &self.0,
            _watch: self.0.watch.lock(),
        })
    }
}

/// A file source with its reloads held off.
struct HeldFile<'a> {
    shared: &'a Shared,
    _watch: parking_lot::MutexGuard<'a, Option<Watch>>,
}

impl HeldFile<'_> {
    fn write_error(&self, message: impl std::fmt::Display) -> EditError {
        EditError::Write {
            what: self.shared.what.clone(),
            message: message.to_string(),
        }
    }
}

impl Held for HeldFile<'_> {
    fn check(&mut self, pipeline: &Pipeline) -> Result<Format, EditError> {
        let shared = self.shared;
        let current = shared.read().map_err(|e| self.write_error(e))?;
        let in_force = shared.in_force.lock();
        if current != *in_force {
            let detail = match (&current, &*in_force) {
                (None, _) => "the file was deleted",
                (Some(_), None) => "the file appeared and has not been loaded",
                (Some(_), Some(_)) => {
                    "its content is not what was loaded (edited and not loaded yet, or rejected)"
                }
            };
            return Err(EditError::Conflict {
                what: shared.what.clone(),
                detail: detail.into(),
            });
        }
        let current = current.unwrap_or_default();
        if !current.is_empty() {
            rewritable(pipeline, &current, shared.format).map_err(|e| self.write_error(e))?;
        }
        Ok(shared.format.resolve(&current))
    }

    fn write(&mut self, document: &str) -> Result<(), EditError> {
        let shared = self.shared;
        // Over a symbolic link's target: replacing the link would cut it.
        let target = fs::canonicalize(&shared.path).unwrap_or_else(|_| shared.path.clone());
        let written = replace_file(&target, document.as_bytes());
        written.map_err(|e| self.write_error(e))?;
        *shared.in_force.lock() = Some(document.as_bytes().to_vec());
        Ok(())
    }
}

/// Writes `bytes` to a temporary file next to `path`, flushes it to disk and renames it
/// over `path`; the temporary file is removed if that fails.
fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.{}.sentinel-edit", std::process::id()));
    let written = (|| {
        let mut file = File::create(&temp)?;
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    // The rename itself on disk; the file is in place either way.
    if let Some(dir) = path.parent()
        && let Ok(dir) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Opens `path` for reading without waiting (for a writer, a device).
fn open_without_blocking(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// What a file type that is not a regular file is, for messages.
fn file_type_name(file_type: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Flow;
    use notify_debouncer_mini::DebouncedEvent;
    use sentinel_core::Sentinel;

    #[test]
    fn only_the_end_of_a_quiet_time_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flow.yaml");
        fs::write(&path, "- resource: a\n  threshold: -1\n").unwrap();
        let sentinel = Sentinel::new();
        let source = FileSource::builder(&path)
            .debounce(Duration::from_secs(3600))
            .start(Pipeline::for_kind::<Flow>(&sentinel))
            .unwrap();
        assert_eq!(source.status().updates_rejected, 1);
        let event = |kind| {
            Ok(vec![DebouncedEvent::new(
                source.shared.absolute.clone(),
                kind,
            )])
        };
        // Still being written after the quiet time: not read (it is when it goes quiet).
        source
            .shared
            .on_events(event(DebouncedEventKind::AnyContinuous));
        assert_eq!(source.status().updates_rejected, 1);
        source.shared.on_events(event(DebouncedEventKind::Any));
        assert_eq!(source.status().updates_rejected, 2);
    }
}
