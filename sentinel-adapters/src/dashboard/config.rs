//! What a dashboard shows and allows.

use std::net::SocketAddr;

use sentinel_datasource::{Pipeline, RuleEditor};

use super::history::{DEFAULT_HISTORY_SECONDS, DEFAULT_MAX_RESOURCES};

/// Shortest write token accepted, bytes: a token a person could guess is refused.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Configures a dashboard: its name for the page, history size, the rule sources whose
/// status it shows, and whether rules may be written.
///
/// Writes are off by default. [`DashboardConfig::write_token`] turns them on for requests
/// carrying `Authorization: Bearer <token>`; they are saved through a
/// [`RuleEditor`] ([`DashboardConfig::editor`]: a `FileSource`'s or `EtcdSource`'s, so
/// edits survive restarts), or else only loaded into the instance, which the page says.
/// Mounted in an app ([`router`](super::router)), the read API answers whoever reaches the
/// app.
#[derive(Debug, Clone)]
#[must_use]
pub struct DashboardConfig {
    pub(super) app: String,
    pub(super) version: Option<String>,
    pub(super) history_seconds: usize,
    pub(super) max_resources: usize,
    pub(super) sources: Vec<Pipeline>,
    pub(super) token: Option<String>,
    pub(super) editor: Option<RuleEditor>,
    pub(super) allow_remote: bool,
}

impl DashboardConfig {
    /// A read-only dashboard of the application `app` (its name on the page).
    pub fn new(app: impl Into<String>) -> Self {
        DashboardConfig {
            app: app.into(),
            version: None,
            history_seconds: DEFAULT_HISTORY_SECONDS,
            max_resources: DEFAULT_MAX_RESOURCES,
            sources: Vec::new(),
            token: None,
            editor: None,
            allow_remote: false,
        }
    }

    /// The application's version, shown next to its name (default: none).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Seconds of per-second history kept per resource (default 300, at least 1).
    pub fn history_seconds(mut self, seconds: usize) -> Self {
        self.history_seconds = seconds.max(1);
        self
    }

    /// Resources whose history is kept, the busiest (default 500).
    pub fn max_resources(mut self, n: usize) -> Self {
        self.max_resources = n;
        self
    }

    /// Shows a rule source's status (rules in force, last success, last error): pass the
    /// pipeline of each source (`FileSource::pipeline`, say). An editor's pipeline is
    /// shown without being added.
    pub fn source(mut self, pipeline: &Pipeline) -> Self {
        self.sources.push(pipeline.clone());
        self
    }

    /// Turns writes on for requests with `Authorization: Bearer <token>`. The token must
    /// have at least [`MIN_TOKEN_BYTES`] bytes, all visible ASCII (no spaces), or the
    /// dashboard refuses to start; it is compared in constant time and never stored by the
    /// page.
    pub fn write_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where writes go: an editor that saves to the rule source
    /// (`FileSource::editor`, `EtcdSource::editor`). Without one, writes (when a token is
    /// set) load into the instance only: the next reload of a rule source of that kind, or
    /// a restart, replaces them.
    pub fn editor(mut self, editor: RuleEditor) -> Self {
        self.editor = Some(editor);
        self
    }

    /// Lets [`serve`](super::serve) listen on an address other than loopback (default:
    /// refused). Put a TLS proxy in front: the dashboard speaks plain HTTP.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }
}

/// Why a dashboard did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum DashboardError {
    /// The write token is shorter than [`MIN_TOKEN_BYTES`].
    WeakToken {
        /// Its length, bytes.
        len: usize,
    },
    /// The write token has a character a header cannot carry as sent (a space, a control
    /// character, non-ASCII).
    TokenCharacters,
    /// [`serve`](super::serve) was asked to listen beyond loopback without
    /// [`DashboardConfig::allow_remote`].
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The listener could not be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Display for DashboardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DashboardError::WeakToken { len } => write!(
                f,
                "the dashboard's write token has {len} bytes; at least {MIN_TOKEN_BYTES} are required"
            ),
            DashboardError::TokenCharacters => write!(
                f,
                "the dashboard's write token must be visible ASCII characters (no spaces)"
            ),
            DashboardError::NotLoopback { addr } => write!(
                f,
                "the dashboard would listen on {addr}, beyond loopback; use 127.0.0.1 or DashboardConfig::allow_remote(true)"
            ),
            DashboardError::Bind { addr, source } => {
                write!(f, "the dashboard cannot listen on {addr}: {source}")
            }
        }
    }
}

impl std::error::Error for DashboardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DashboardError::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}
