//! notify's recommended watcher, passing on only the events that may change what a file
//! reads.
//!
//! Opening or reading a file in a watched directory is an event too (inotify's
//! `IN_OPEN`): passed on, the source's own read of its file would trigger the next read,
//! forever. Only access events are dropped, except a close after writing (the end of a
//! write).

use std::path::Path;

use notify::event::{AccessKind, AccessMode};
use notify::{
    Event, EventHandler, EventKind, RecommendedWatcher, RecursiveMode, Watcher, WatcherKind,
};

/// A [`RecommendedWatcher`] that drops read-only access events.
pub(crate) struct ChangeWatcher(RecommendedWatcher);

/// Whether an event of this kind may change a file's content or which file a path names.
pub(crate) fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

impl Watcher for ChangeWatcher {
    fn new<F: EventHandler>(mut handler: F, config: notify::Config) -> notify::Result<Self> {
        let filter = move |event: notify::Result<Event>| {
            if event.as_ref().map_or(true, |e| may_change_content(&e.kind)) {
                handler.handle_event(event);
            }
        };
        RecommendedWatcher::new(filter, config).map(ChangeWatcher)
    }

    fn watch(&mut self, path: &Path, recursive_mode: RecursiveMode) -> notify::Result<()> {
        self.0.watch(path, recursive_mode)
    }

    fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
        self.0.unwatch(path)
    }

    fn kind() -> WatcherKind {
        RecommendedWatcher::kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode};

    #[test]
    fn reads_are_not_changes_but_writes_renames_and_removals_are() {
        for read in [
            AccessKind::Open(AccessMode::Read),
            AccessKind::Open(AccessMode::Any),
            AccessKind::Read,
            AccessKind::Close(AccessMode::Read),
            AccessKind::Any,
        ] {
            assert!(!may_change_content(&EventKind::Access(read)), "{read:?}");
        }
        for change in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(may_change_content(&change), "{change:?}");
        }
    }
}
