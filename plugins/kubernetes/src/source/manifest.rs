//! The manifest source: cluster objects from YAML/JSON files.
//!
//! `manifests PATH...` names files or directories (every `*.yaml`, `*.yml` and
//! `*.json` directly inside, in name order, skipping names that start with `.`, so a
//! mounted ConfigMap works). All files are read at setup; then a task polls every
//! second and re-reads a file whose identity changed (device, inode, modification
//! time or size: an edit in place and a replacement by rename are both seen). Each
//! change is sent as one [`Change::Snapshot`] of the objects of all files, which the
//! index applies as a difference.
//!
//! Errors never stop the source. A file that cannot be read or parsed is logged with
//! its name and contributes its last good content (nothing, if it never was good); a
//! file deleted from a listed directory takes its objects with it, while a listed
//! file that disappears keeps its last content until it comes back.
//!
//! A file that had objects and is now empty (no document at all: an editor's
//! truncate-then-write, or `kubectl get ... > cluster.yaml` that failed) is taken as
//! broken, not as "the cluster has nothing": it keeps its last good content, with a
//! WARN and `coredns_kubernetes_manifest_empty_total`. An explicit empty list
//! (`kind: List` with no items, or `[]`) is content, and is applied.
//!
//! Memory is bounded per file before anything is decoded: only regular files are read
//! (a FIFO or a device never ends), at most [`MAX_FILE_SIZE`] bytes of them, and their
//! structure is checked against [`bounds`] (values with YAML aliases expanded, nesting).

mod bounds;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;

pub use bounds::{MAX_DEPTH, MAX_VALUES, TooBig};

use super::decode::{DecodeError, Decoded, Filter, decode};
use super::{Change, ChangeSink, Source, SourceTask};
use crate::metrics;
use crate::object::{Kind, Object};

/// How often the files are checked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Files larger than this are refused (and logged), to bound memory: reading a file
/// takes about 40 times its size at its peak (the YAML reader's events, the values, the
/// typed objects): 15 MiB of small Services (61,440 of them) peaked at 616 MB
/// (`testkit/fuzzing/examples/manifest_memory.rs`), about what a DNS server's pod may be
/// asked for.
pub const MAX_FILE_SIZE: u64 = 16 << 20;
/// At most this many files are read from one directory.
pub const MAX_FILES_PER_DIRECTORY: usize = 10_000;

/// Why a file's objects could not be read. Every message starts with the file's path;
/// decoding errors go on with the document (or list item) and the object's namespace
/// and name.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A directory, FIFO, socket or device named as a file.
    #[error("{}: not a regular file", .path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// Larger than [`MAX_FILE_SIZE`].
    #[error("{}: {size} bytes or more, over the limit of {MAX_FILE_SIZE}", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, as far as it was read.
        size: u64,
    },
    /// Opening or reading failed.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Bytes that are not UTF-8, so neither YAML nor JSON.
    #[error("{}: not UTF-8 text (at byte {offset})", .path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// Over a structure limit ([`bounds`]).
    #[error("{}: {limit}", .path.display())]
    TooBig {
        /// The file.
        path: PathBuf,
        /// Which limit.
        limit: TooBig,
    },
    /// Not valid YAML or JSON, or an object that is not a valid one of its kind.
    #[error("{}: {source}", .path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Where and what, as the decoder says it.
        source: DecodeError,
    },
}

/// What identifies one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    modified: Option<SystemTime>,
    size: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (device, inode) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (device, inode) = (0, 0);
        Self {
            device,
            inode,
            modified: meta.modified().ok(),
            size: meta.len(),
        }
    }
}

/// One file's last good content.
#[derive(Debug, Default)]
struct FileState {
    stamp: Option<Stamp>,
    objects: Vec<Object>,
    /// Whether the last read failed (so the error is logged once per version).
    broken: bool,
}

/// Reads cluster objects from files.
pub struct ManifestSource {
    paths: Vec<PathBuf>,
    filter: Filter,
    feed: ChangeSink,
    files: BTreeMap<PathBuf, FileState>,
    /// Configured paths found missing, so that it is logged once.
    missing: HashSet<PathBuf>,
    interval: Duration,
}

impl ManifestSource {
    /// A source reading `paths`, keeping what `filter` selects, feeding `feed`.
    pub fn new(paths: Vec<PathBuf>, filter: Filter, feed: ChangeSink) -> Self {
        Self {
            paths,
            filter,
            feed,
            files: BTreeMap::new(),
            missing: HashSet::new(),
            interval: POLL_INTERVAL,
        }
    }

    /// Polls every `interval` instead of every second (tests).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The files the configured paths stand for now, in order.
    fn listing(&mut self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for path in &self.paths {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => {
                    self.missing.remove(path);
                    files.extend(directory_files(path));
                }
                Ok(_) => {
                    self.missing.remove(path);
                    files.push(path.clone());
                }
                Err(e) => {
                    if self.missing.insert(path.clone()) {
                        tracing::warn!(
                            path = %path.display(),
                            error = %e,
                            "kubernetes: manifests: cannot read; serving its last content"
                        );
                    }
                    // A missing listed file keeps its last content.
                    if self.files.contains_key(path) {
                        files.push(path.clone());
                    }
                }
            }
        }
        files
    }

    /// Checks every file, re-reads those that changed; whether anything changed.
    fn scan(&mut self) -> bool {
        let listing = self.listing();
        let wanted: HashSet<&PathBuf> = listing.iter().collect();
        let before = self.files.len();
        self.files.retain(|path, _| wanted.contains(path));
        let mut changed = self.files.len() != before;
        for path in &listing {
            let state = self.files.entry(path.clone()).or_default();
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let stamp = Stamp::of(&meta);
            if state.stamp == Some(stamp) {
                continue;
            }
            state.stamp = Some(stamp);
            match read(path, &meta, &self.filter) {
                Ok(decoded) if decoded.documents == 0 && !state.objects.is_empty() => {
                    metrics::count_manifest_empty();
                    tracing::warn!(
                        path = %path.display(),
                        kept = state.objects.len(),
                        "kubernetes: manifests: the file is empty; keeping its last good content \
                         (write an empty `kind: List` to remove every object)"
                    );
                }
                Ok(Decoded {
                    objects, skipped, ..
                }) => {
                    tracing::info!(
                        path = %path.display(),
                        objects = objects.len(),
                        skipped,
                        "kubernetes: manifests: loaded"
                    );
                    state.broken = false;
                    if state.objects != objects {
                        state.objects = objects;
                        changed = true;
                    }
                }
                Err(error) => {
                    state.broken = true;
                    tracing::error!(
                        path = %path.display(),
                        %error,
                        kept = state.objects.len(),
                        "kubernetes: manifests: cannot load; keeping the last good content"
                    );
                }
            }
        }
        changed
    }

    /// The objects of all files; an object defined twice is taken from the later file.
    fn merged(&self) -> Vec<Object> {
        let mut position: HashMap<crate::object::ObjectKey, usize> = HashMap::new();
        let mut objects: Vec<Object> = Vec::new();
        for (path, state) in &self.files {
            for object in &state.objects {
                let key = object.key();
                match position.get(&key) {
                    Some(&i) => {
                        tracing::warn!(
                            path = %path.display(),
                            object = %key,
                            "kubernetes: manifests: object defined twice; the later file wins"
                        );
                        objects[i] = object.clone();
                    }
                    None => {
                        position.insert(key, objects.len());
                        objects.push(object.clone());
                    }
                }
            }
        }
        objects
    }

    /// Sends the current objects to the index.
    fn publish(&self) {
        let objects = self.merged();
        if self.filter.kinds.contains(Kind::Namespace) {
            warn_missing_namespaces(&objects);
        }
        let _ = self.feed.send(Change::Snapshot(objects));
    }

    /// One poll, as the background task does every interval: re-reads what changed and
    /// publishes if anything did. Public so that tests and fuzzing drive it directly.
    pub fn poll(&mut self) {
        if self.scan() {
            self.publish();
        }
    }
}

/// Logs the namespaces that services and slices use but no Namespace object defines:
/// like CoreDNS with the API, their names answer NXDOMAIN.
fn warn_missing_namespaces(objects: &[Object]) {
    let defined: HashSet<&str> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Namespace(n) => Some(&*n.name),
            _ => None,
        })
        .collect();
    let mut missing: Vec<&str> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Service(s) => Some(&*s.namespace),
            Object::EndpointSlice(s) => Some(&*s.namespace),
            _ => None,
        })
        .filter(|ns| !defined.contains(ns))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        tracing::warn!(
            namespaces = ?missing,
            "kubernetes: manifests: services in namespaces without a Namespace object; \
             their names answer NXDOMAIN"
        );
    }
}

/// The manifest files directly in `dir`, in name order.
fn directory_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.')
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
                && path.is_file()
        })
        .collect();
    files.sort();
    if files.len() > MAX_FILES_PER_DIRECTORY {
        tracing::error!(
            dir = %dir.display(),
            files = files.len(),
            "kubernetes: manifests: too many files; reading the first {MAX_FILES_PER_DIRECTORY}"
        );
        files.truncate(MAX_FILES_PER_DIRECTORY);
    }
    files
}

/// Reads and decodes the file at `path`, within the limits, as the source does.
pub fn load(path: &Path, filter: &Filter) -> Result<Decoded, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    read(path, &meta, filter)
}

/// Reads and decodes one file whose metadata is `meta`.
fn read(path: &Path, meta: &std::fs::Metadata, filter: &Filter) -> Result<Decoded, LoadError> {
    let path_buf = || path.to_owned();
    if !meta.is_file() {
        return Err(LoadError::NotAFile { path: path_buf() });
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge {
            path: path_buf(),
            size: meta.len(),
        });
    }
    let io = |source| LoadError::Io {
        path: path_buf(),
        source,
    };
    // The file may have grown since `meta`: read one byte past the limit to know.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge {
            path: path_buf(),
            size: bytes.len() as u64,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| LoadError::NotText {
        path: path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let json = path.extension().and_then(|e| e.to_str()) == Some("json");
    bounds::check(&text, json).map_err(|limit| LoadError::TooBig {
        path: path_buf(),
        limit,
    })?;
    decode(&text, json, filter).map_err(|source| LoadError::Decode {
        path: path_buf(),
        source,
    })
}

impl Source for ManifestSource {
    fn describe(&self) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        format!("manifests {}", paths.join(" "))
    }

    fn prime(&mut self) {
        self.scan();
        self.publish();
        let _ = self.feed.send(Change::Synced);
    }

    fn spawn(self: Box<Self>, runtime: &Handle) -> SourceTask {
        let handle = runtime.spawn(async move {
            let mut source = self;
            let mut ticker = tokio::time::interval(source.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if source.feed.is_closed() {
                    return;
                }
                // File reads go to the blocking pool, never to a worker that answers.
                match tokio::task::spawn_blocking(move || {
                    source.poll();
                    source
                })
                .await
                {
                    Ok(back) => source = back,
                    Err(_) => return,
                }
            }
        });
        SourceTask::new(vec![handle])
    }
}

#[cfg(test)]
mod tests;
