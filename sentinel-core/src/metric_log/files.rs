//! The metric log's files: `{app}-metrics.log.{yyyy-MM-dd}[.n]`, each with an index
//! `{file}.idx` of big-endian `(epochSecond: i64, byteOffset: i64)` pairs, one per second
//! written. Files roll by day and by size; only the newest `max_files` are kept.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::line::{MetricLine, date_of};

/// Where and how the metric log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricLogConfig {
    /// The directory of the log files (created if missing).
    pub dir: PathBuf,
    /// The application name, the first part of every file name.
    pub app_name: String,
    /// A file that reaches this size is closed and a new one started (default 50 MiB).
    pub max_file_size: u64,
    /// The most log files kept; the oldest are deleted with their index (default 6).
    pub max_files: usize,
}

impl MetricLogConfig {
    /// A configuration with default size and count limits.
    pub fn new(dir: impl Into<PathBuf>, app_name: impl Into<String>) -> Self {
        MetricLogConfig {
            dir: dir.into(),
            app_name: app_name.into(),
            max_file_size: 50 << 20,
            max_files: 6,
        }
    }

    fn prefix(&self) -> String {
        format!("{}-metrics.log.", self.app_name)
    }
}

/// A log file's place in the order of files: (day, roll number).
fn file_key(prefix: &str, name: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix(prefix)?;
    if rest.ends_with(".idx") || rest.len() < 10 {
        return None;
    }
    let (day, n) = rest.split_at(10);
    let n = match n.strip_prefix('.') {
        None if n.is_empty() => 0,
        Some(n) => n.parse().ok()?,
        None => return None,
    };
    Some((day.to_string(), n))
}

/// The log files of an app in a directory, oldest first.
pub(crate) fn list_files(dir: &Path, app_name: &str) -> io::Result<Vec<PathBuf>> {
    let prefix = format!("{app_name}-metrics.log.");
    let mut files: Vec<((String, u32), PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some(key) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| file_key(&prefix, n))
        {
            files.push((key, path));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

fn index_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".idx");
    PathBuf::from(s)
}

struct OpenFile {
    day: String,
    log: File,
    index: File,
    size: u64,
}

/// Appends seconds of metric lines, rolling and pruning files.
pub(crate) struct MetricLogWriter {
    config: MetricLogConfig,
    current: Option<OpenFile>,
}

impl MetricLogWriter {
    pub(crate) fn new(config: MetricLogConfig) -> Self {
        MetricLogWriter {
            config,
            current: None,
        }
    }

    /// Starts a new file for `day`: the first free `.n` after the day's existing files.
    fn open(&mut self, day: &str) -> io::Result<()> {
        fs::create_dir_all(&self.config.dir)?;
        let prefix = self.config.prefix();
        let taken = list_files(&self.config.dir, &self.config.app_name)?
            .iter()
            .filter_map(|p| file_key(&prefix, p.file_name()?.to_str()?))
            .filter(|(d, _)| d == day)
            .map(|(_, n)| n + 1)
            .max()
            .unwrap_or(0);
        let name = if taken == 0 {
            format!("{prefix}{day}")
        } else {
            format!("{prefix}{day}.{taken}")
        };
        let path = self.config.dir.join(name);
        let log = OpenOptions::new().create(true).append(true).open(&path)?;
        let index = OpenOptions::new()
            .create(true)
            .append(true)
            .open(index_path(&path))?;
        self.current = Some(OpenFile {
            day: day.to_string(),
            size: log.metadata()?.len(),
            log,
            index,
        });
        self.prune()
    }

    /// Deletes the oldest files (and their indexes) beyond `max_files`.
    fn prune(&self) -> io::Result<()> {
        let files = list_files(&self.config.dir, &self.config.app_name)?;
        let excess = files.len().saturating_sub(self.config.max_files.max(1));
        for old in &files[..excess] {
            fs::remove_file(old)?;
            let _ = fs::remove_file(index_path(old));
        }
        Ok(())
    }

    /// Writes the lines of the second starting at `second_ms` (Unix ms).
    pub(crate) fn write_second(&mut self, second_ms: u64, lines: &[MetricLine]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let day = date_of(second_ms);
        let roll = match &self.current {
            None => true,
            Some(f) => f.day != day || f.size >= self.config.max_file_size,
        };
        if roll {
            self.open(&day)?;
        }
        let Some(f) = self.current.as_mut() else {
            return Ok(());
        };
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_line());
            text.push('\n');
        }
        let mut entry = [0u8; 16];
        entry[..8].copy_from_slice(&((second_ms / 1000) as i64).to_be_bytes());
        entry[8..].copy_from_slice(&(f.size as i64).to_be_bytes());
        f.log.write_all(text.as_bytes())?;
        f.index.write_all(&entry)?;
        f.size += text.len() as u64;
        Ok(())
    }
}

/// Reads the metric log back.
#[derive(Debug, Clone)]
pub struct MetricSearcher {
    dir: PathBuf,
    app_name: String,
}

impl MetricSearcher {
    /// A reader of the log files of `app_name` in `dir`.
    pub fn new(dir: impl Into<PathBuf>, app_name: impl Into<String>) -> Self {
        MetricSearcher {
            dir: dir.into(),
            app_name: app_name.into(),
        }
    }

    /// The byte offset of the first second at or after `second` in a log file, from its
    /// index (`None` if the file has no such second).
    pub fn offset_of(log: &Path, second: i64) -> io::Result<Option<u64>> {
        let mut bytes = Vec::new();
        File::open(index_path(log))?.read_to_end(&mut bytes)?;
        Ok(bytes
            .chunks_exact(16)
            .map(|c| {
                let s = i64::from_be_bytes(c[..8].try_into().unwrap_or_default());
                let o = i64::from_be_bytes(c[8..].try_into().unwrap_or_default());
                (s, o)
            })
            .find(|(s, _)| *s >= second)
            .map(|(_, o)| o.max(0) as u64))
    }

    /// The lines of seconds in `[from_ms, to_ms]`, for one resource or all, oldest first.
    /// The resource is named as entered; lines hold it as the log writes it (escaped,
    /// `|` as `_`).
    pub fn find(
        &self,
        from_ms: u64,
        to_ms: u64,
        resource: Option<&str>,
    ) -> io::Result<Vec<MetricLine>> {
        // Names are compared as the log writes them.
        let resource = resource.map(super::line::log_name);
        let mut out = Vec::new();
        for log in list_files(&self.dir, &self.app_name)? {
            let Some(offset) = Self::offset_of(&log, (from_ms / 1000) as i64)? else {
                continue;
            };
            let mut f = File::open(&log)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut text = String::new();
            f.read_to_string(&mut text)?;
            for line in text.lines().filter_map(MetricLine::parse) {
                if line.timestamp_ms > to_ms {
                    break;
                }
                if line.timestamp_ms >= from_ms
                    && resource.as_ref().is_none_or(|r| *r == line.resource)
                {
                    out.push(line);
                }
            }
        }
        Ok(out)
    }
}
