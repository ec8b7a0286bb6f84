//! The configuration files, watched: a change is read whole and put in force when it
//! is good; a bad file keeps the last good configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use parking_lot::Mutex;

use super::config::{ConfigError, RlsConfig};
use super::service::RateLimitService;

/// Quiet time after the last file event before the files are read again.
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(100);

/// Keeps a [`RateLimitService`]'s configuration in line with its files.
///
/// The files' directories are watched (not the files), so every way of saving works:
/// in place, by renaming a temporary file over the old one, and Kubernetes ConfigMap
/// volumes. Only events on the files themselves (and a ConfigMap volume's `..data` swap)
/// count: other files in the same directories are ignored. After such an event and
/// [`RELOAD_DEBOUNCE`] of quiet, every file is read again;
/// the whole set is put in force when it reads without error, else the error is logged
/// (warn), kept in [`last_error`](Self::last_error), and the configuration in force
/// stays. Dropping the watcher stops it.
pub struct ConfigWatcher {
    shared: Arc<Shared>,
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatcher")
            .field("paths", &self.shared.paths)
            .field("last_error", &*self.shared.last_error.lock())
            .finish_non_exhaustive()
    }
}

struct Shared {
    paths: Vec<PathBuf>,
    service: RateLimitService,
    last_error: Mutex<Option<ConfigError>>,
}

impl Shared {
    fn reload(&self) -> Result<(), ConfigError> {
        let result = RlsConfig::load(&self.paths);
        match &result {
            Ok(_) => tracing::info!(paths = ?self.paths, "sentinel-rls: configuration reloaded"),
            Err(e) => {
                tracing::warn!(error = %e, "sentinel-rls: configuration refused, the last good one stays")
            }
        }
        let outcome = result.map(|config| self.service.set_config(config));
        *self.last_error.lock() = outcome.as_ref().err().cloned();
        outcome
    }
}

/// Whether an event may change what a file reads (opening or reading one does not:
/// passed on, the watcher's own reads would trigger the next read, forever).
fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether an event is about the configuration: one of the `files` themselves, or a
/// Kubernetes ConfigMap volume's `..data` link or `..<timestamp>` directory (swapped
/// when the ConfigMap changes); events on other files of the directories (a log file,
/// say) are not.
fn concerns(event: &Event, files: &[PathBuf]) -> bool {
    may_change(&event.kind)
        && (event.paths.is_empty()
            || event.paths.iter().any(|p| {
                files.contains(p)
                    || p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(".."))
            }))
}

impl ConfigWatcher {
    /// Watches `paths` (the files the service's configuration was read from) and reloads
    /// `service` on change. Nothing is read now.
    ///
    /// # Errors
    /// A directory of the files cannot be watched.
    pub fn start(
        paths: impl IntoIterator<Item = impl AsRef<Path>>,
        service: RateLimitService,
    ) -> notify::Result<ConfigWatcher> {
        let paths: Vec<PathBuf> = paths
            .into_iter()
            .map(|p| p.as_ref().to_path_buf())
            .collect();
        let shared = Arc::new(Shared {
            paths,
            service,
            last_error: Mutex::new(None),
        });
        let files = shared
            .paths
            .iter()
            .map(std::path::absolute)
            .collect::<Result<Vec<_>, _>>()?;
        let dirs: Vec<PathBuf> = files.iter().fold(Vec::new(), |mut dirs, f| {
            let dir = f
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
            dirs
        });
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            if event.as_ref().map_or(true, |e| concerns(e, &files)) {
                let _ = tx.send(());
            }
        })?;
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let reloader = shared.clone();
        std::thread::Builder::new()
            .name("sentinel-rls-watch".into())
            .spawn(move || {
                // Ends when the watcher (holding the sender) is dropped.
                while rx.recv().is_ok() {
                    loop {
                        match rx.recv_timeout(RELOAD_DEBOUNCE) {
                            Ok(()) => continue,
                            Err(mpsc::RecvTimeoutError::Timeout) => break,
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    let _ = reloader.reload();
                }
            })
            .map_err(notify::Error::io)?;
        Ok(ConfigWatcher {
            shared,
            _watcher: watcher,
        })
    }

    /// Reads the files now, as an event would.
    ///
    /// # Errors
    /// The configuration read is bad; the one in force stays.
    pub fn reload(&self) -> Result<(), ConfigError> {
        self.shared.reload()
    }

    /// The error of the last reading, if it failed.
    pub fn last_error(&self) -> Option<ConfigError> {
        self.shared.last_error.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind};

    use super::*;

    #[test]
    fn only_the_files_and_a_configmap_swap_concern_the_watcher() {
        let files = [PathBuf::from("/etc/rls/rls.yaml")];
        let on = |path: &str| {
            Event::new(EventKind::Modify(ModifyKind::Any)).add_path(PathBuf::from(path))
        };
        assert!(concerns(&on("/etc/rls/rls.yaml"), &files));
        assert!(concerns(&on("/etc/rls/..data"), &files));
        assert!(concerns(&on("/etc/rls/..2026_11_30_00_00_00.1"), &files));
        assert!(!concerns(&on("/etc/rls/rls.log"), &files));
        assert!(!concerns(&on("/etc/rls/rls.yaml.swp"), &files));
        // A rename names both paths: the file renamed over the configuration counts.
        let rename = Event::new(EventKind::Create(CreateKind::File))
            .add_path(PathBuf::from("/etc/rls/rls.tmp"))
            .add_path(PathBuf::from("/etc/rls/rls.yaml"));
        assert!(concerns(&rename, &files));
        let read = Event::new(EventKind::Access(AccessKind::Read))
            .add_path(PathBuf::from("/etc/rls/rls.yaml"));
        assert!(!concerns(&read, &files));
        // An event without paths (the watcher lost track) reloads.
        assert!(concerns(&Event::new(EventKind::Any), &files));
    }
}
