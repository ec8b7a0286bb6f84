//! # Rule documents and hot-reloading rule sources for Sentinel
//!
//! Rules live in a file next to the service (or a ConfigMap mounted as one) and change
//! while it runs; every save takes effect within a fraction of a second, and no mistake in
//! the file takes the protection away.
//!
//! ```no_run
//! use sentinel_core::Sentinel;
//! use sentinel_datasource::{FileSource, Flow, Pipeline};
//!
//! let sentinel = Sentinel::new();
//! // Strict: a missing file or invalid rules fail the start instead of leaving no rules.
//! let source = FileSource::builder("rules/flow.yaml")
//!     .start_strict(Pipeline::for_kind::<Flow>(&sentinel))?;
//! // ... serve; edits to rules/flow.yaml are loaded as they are saved ...
//! let status = source.status();
//! println!("{} flow rules in force, healthy: {}", status.total_rules(), status.is_healthy());
//! println!("{status}"); // one line: path, rules, updates, last success and error
//! drop(source); // stops watching
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Documents
//!
//! JSON or YAML ([`Format`]), with sentinel-golang's field names and enums as Go's
//! integers or as names, in one of three shapes:
//!
//! * a list of rules of one kind, as sentinel-golang reads and writes them;
//! * a Kubernetes custom resource (`apiVersion: datasource.sentinel.io/v1alpha1`,
//!   `kind: FlowRules`, the rules under `spec.rules`);
//! * a multi-kind document with one section per kind (`flow:`, `isolation:`,
//!   `circuitBreaker:`, `hotspot:`, `system:`), so one
//!   file holds a service's rules. A kind without a section keeps its rules.
//!
//! A complete multi-kind document, the rules of a small axum shop (every kind; the file
//! is `sentinel-datasource/docs/shop.yaml`, loaded by this crate's tests):
//!
#![doc = concat!("```yaml\n", include_str!("../docs/shop.yaml"), "```")]
//!
//! A YAML stream of several documents (`---`), as generators and `kubectl` write, and a
//! Kubernetes `List` (`apiVersion: v1`, `kind: List`, `items: [...]`) are the union of
//! their documents, all or nothing like a multi-kind document: the rules of a kind are
//! those of every document holding that kind, concatenated in document order (rule `#n`
//! in an error counts through them all); a document holding only kinds the source does
//! not load is skipped, as such a section would be, but at least one must hold a kind it
//! loads.
//!
//! What a document must not do, in every format and from every source:
//!
//! * write a key twice in one object or mapping, at any depth: refused, naming the key
//!   and where it is (`[0].threshold`, `flow[2].resource`, `spec.rules[0].threshold`);
//! * leave out a field whose default would change what the rule means (a file cut off
//!   before a rule's `threshold:` must not load as "threshold 0", a breaker without
//!   `strategy` must not count slow calls): see [`RuleKind::required_fields`]; the error
//!   names the field and the values it accepts; an explicit 0 stays allowed;
//! * name a custom-resource version other than `datasource.sentinel.io/v1alpha1`
//!   ([`CRD_VERSION`]);
//! * have fields its rule kind does not have: rejected by default ([`UnknownFields`]), a
//!   misspelt `threshhold` would otherwise give a threshold of 0.
//!
//! Error reports are bounded: the first [`MAX_PROBLEMS`] problems in full, then a count
//! ([`RuleProblems`]), and no text taken from a document is echoed longer than about
//! [`MAX_ECHO`] characters, so a large bad document gives a short status and log line.
//!
//! ## The pipeline
//!
//! A source produces bytes; a [`Pipeline`] parses them for its rule kinds and loads each
//! kind into the [`Sentinel`](sentinel_core::Sentinel) as a whole set. An update is all or
//! nothing: unreadable, unparsable or invalid content (of any kind of a multi-kind
//! document) leaves every rule in force unchanged, is logged as a `tracing` warning, and
//! shows in [`Pipeline::status`] ([`SourceStatus`]: last success, last error, rules in
//! force, updates applied and rejected). An empty document (zero bytes, comments only) is
//! rejected; an explicit `[]` clears. A deleted source keeps its rules unless the
//! pipeline's [`DeletePolicy`] says to clear them. Each accepted update is logged on one
//! line with what changed per kind (`changes=flow: +1 -0 ~2`, see [`KindUpdate`]); the
//! status names the source (its file path) and shows the last error against the last
//! success. [`Pipeline::export`] writes the rules in force back as a document, enums by
//! name ([`Pipeline::export_with`] writes Go's integers).
//!
//! Readers on the hot path never wait for a reload: the engine swaps rule sets
//! atomically.
//!
//! ## Rule kinds
//!
//! Each kind is one small [`RuleKind`] implementation ([`Flow`], [`Isolation`],
//! [`CircuitBreaker`], [`Hotspot`], [`System`]).
//!
//! ## Sources
//!
//! [`FileSource`] watches a file's directory (so rename-on-save works) on plain threads,
//! with or without a tokio runtime. It follows a symbolic link's target (edits of the
//! target in place reload), keeps watching when the directory is removed and created again
//! (the new file is loaded), and reads only regular files: a FIFO, socket or device at the
//! path is refused without ever being opened in a way that could block.
//! [`FileSourceBuilder::start_strict`] (and `start_strict` of the network sources) starts
//! only if the first load succeeds, and returns a [`StartError`] saying why otherwise: for
//! a service that must not run without its rules. Other sources feed a [`Pipeline`] with
//! [`Pipeline::apply`], [`Pipeline::source_deleted`] and [`Pipeline::report_error`]; a
//! source of several documents (keys under a prefix, objects in a namespace) merges them
//! per kind with a [`DocumentSet`], where a bad document is rejected alone.
//!
//! Behind cargo features, sources that follow a store over the network, keeping the rules
//! in force through outages and catching up on what changed meanwhile:
//!
//! * `etcd`: `EtcdSource` follows an etcd v3 key or prefix (get, then watch from that
//!   revision; resumes from the last revision after an outage, reads again after a
//!   compaction).
//! * `k8s`: `KubeSource` follows the custom resources of a namespace (kube-runtime's
//!   watcher: relists on 410 Gone and after outages, resumes cut streams from bookmarks);
//!   `crd` has the resources' types and their CustomResourceDefinitions.
//!
//! Both run on a thread of their own by default (no tokio runtime needed) or on yours, and
//! never write to the store by themselves.
//!
//! ## Editing rules
//!
//! A [`RuleEditor`] replaces the rules of one kind as a whole set (a dashboard's `PUT`),
//! all or nothing, and writes the pipeline's whole document back to the source so that
//! the edit survives a restart: [`FileSource::editor`] writes a temporary file and renames
//! it over the watched file, `EtcdSource::editor` puts the key in a transaction on its
//! revision. A document changed since it was loaded is never overwritten
//! ([`EditError::Conflict`]); [`RuleEditor::in_memory`] writes nothing.
//!
//! ```no_run
//! use sentinel_core::Sentinel;
//! use sentinel_datasource::{EditError, FileSource, Format, Pipeline};
//!
//! let sentinel = Sentinel::new();
//! let source = FileSource::watch("rules/shop.yaml", Pipeline::builder(&sentinel).all_kinds().build())?;
//! let editor = source.editor();
//! match editor.replace("flow", br#"[{"resource": "GET /items", "threshold": 50}]"#, Format::Json) {
//!     Ok(applied) => println!("{applied}, written to {:?}", editor.target()),
//!     Err(EditError::Invalid(problems)) => eprintln!("{problems}"),
//!     Err(other) => eprintln!("{other}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod decode;
mod document;
mod edit;
mod erased;
mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod export;
mod file;
mod format;
mod java;
#[cfg(feature = "k8s")]
mod k8s;
mod kind;
mod merge;
mod pipeline;
mod read;
mod status;
#[cfg(any(feature = "etcd", feature = "k8s"))]
mod task;
mod tree;
mod watch;

pub use decode::UnknownFields;
pub use document::{CRD_GROUP, CRD_VERSION};
pub use edit::{EditError, RuleEditor};
pub use error::{
    ExportError, MAX_ECHO, MAX_PROBLEMS, OneLine, RuleProblem, RuleProblems, StartError,
    UpdateError, WatchError,
};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdSource, EtcdSourceBuilder};
/// The etcd client crate, at the version the `etcd` feature uses (for
/// [`EtcdSourceBuilder::connect_options`]).
#[cfg(feature = "etcd")]
pub use etcd_client;
pub use export::{EnumStyle, ExportOptions};
pub use file::{DEFAULT_DEBOUNCE, DEFAULT_MAX_BYTES, FileSource, FileSourceBuilder};
pub use format::Format;
#[cfg(feature = "k8s")]
pub use k8s::crd;
#[cfg(feature = "k8s")]
pub use k8s::{KubeSource, KubeSourceBuilder};
pub use kind::{CircuitBreaker, Flow, Hotspot, Isolation, RuleKind, System};
/// The Kubernetes client crate, at the version the `k8s` feature uses (for
/// [`KubeSourceBuilder::config`] and [`KubeSourceBuilder::client`]).
#[cfg(feature = "k8s")]
pub use kube;
pub use merge::{Change, Document, DocumentSet, MergeOutcome};
pub use pipeline::{Applied, DeletePolicy, KindUpdate, Pipeline, PipelineBuilder};
pub use sentinel_core;
pub use status::{ErrorRecord, KindCount, SourceStatus};
#[cfg(any(feature = "etcd", feature = "k8s"))]
pub use task::{DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN, RemoteSource};
