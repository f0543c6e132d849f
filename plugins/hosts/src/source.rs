//! The data a hosts plugin serves: inline entries plus a hosts file that is re-read
//! when it changes.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use parking_lot::Mutex;

use crate::map::{Addrs, HostsMap, ParseOptions, push_unique};
use crate::metrics;

/// What identifies one version of the file: CoreDNS re-reads it when either changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    size: u64,
}

/// Inline entries and the current content of the hosts file.
#[derive(Debug)]
pub(crate) struct HostsSource {
    path: PathBuf,
    /// The `hostsfile` label of the metrics.
    label: String,
    zones: Vec<Name>,
    reverse: bool,
    inline: HostsMap,
    /// Swapped whole on reload, so a query sees either the old or the new file.
    file: ArcSwap<HostsMap>,
    /// The version of the file in `file`; `None` until it was read once.
    stamp: Mutex<Option<Stamp>>,
}

impl HostsSource {
    /// A source with the given inline lines and no file content yet.
    pub fn new(path: PathBuf, zones: Vec<Name>, reverse: bool, inline: &[String]) -> Self {
        let options = ParseOptions {
            zones: &zones,
            reverse,
        };
        let inline = HostsMap::parse(&inline.join("\n"), &options);
        let source = Self {
            label: path.display().to_string(),
            path,
            zones,
            reverse,
            inline,
            file: ArcSwap::from_pointee(HostsMap::default()),
            stamp: Mutex::new(None),
        };
        source.publish_entries();
        source
    }

    /// Re-reads the file if its modification time or size changed since the last read,
    /// and tells whether it did. A file that cannot be read (deleted, say) leaves the
    /// last content in service: CoreDNS keeps serving it too.
    pub fn reload_if_changed(&self) -> bool {
        let mut stamp = self.stamp.lock();
        let Ok(mut file) = File::open(&self.path) else {
            return false;
        };
        let Ok(meta) = file.metadata() else {
            return false;
        };
        if meta.is_dir() {
            return false;
        }
        let current = Stamp {
            modified: meta.modified().unwrap_or(UNIX_EPOCH),
            size: meta.len(),
        };
        if *stamp == Some(current) {
            return false;
        }
        let mut bytes = Vec::new();
        if let Err(e) = file.read_to_end(&mut bytes) {
            tracing::warn!(path = %self.label, error = %e, "hosts: cannot read file");
            return false;
        }
        let options = ParseOptions {
            zones: &self.zones,
            reverse: self.reverse,
        };
        let map = HostsMap::parse(&String::from_utf8_lossy(&bytes), &options);
        tracing::debug!(path = %self.label, entries = map.len(), "hosts: parsed file");
        self.file.store(Arc::new(map));
        *stamp = Some(current);
        self.publish_entries();
        let mtime = current
            .modified
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        metrics::set_reload_timestamp(&self.label, mtime);
        true
    }

    fn publish_entries(&self) {
        metrics::set_entries(&self.label, self.inline.len() + self.file.load().len());
    }

    /// The addresses of `name` (lower case): inline entries first, then the file's.
    pub fn lookup(&self, name: &Name) -> Option<Addrs> {
        let file = self.file.load();
        match (self.inline.lookup(name), file.lookup(name)) {
            (None, None) => None,
            (inline, file) => {
                let mut addrs = inline.cloned().unwrap_or_default();
                if let Some(file) = file {
                    addrs.merge(file);
                }
                Some(addrs)
            }
        }
    }

    /// Calls `found` with the addresses of `name` (as [`lookup`](Self::lookup) gives
    /// them) without copying them when only one of the tables has the name: the wire
    /// path asks this for every query.
    pub fn with_addrs<R>(&self, name: &Name, found: impl FnOnce(&Addrs) -> R) -> Option<R> {
        let file = self.file.load();
        match (self.inline.lookup(name), file.lookup(name)) {
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => Some(found(only)),
            (Some(inline), Some(file)) => {
                let mut addrs = inline.clone();
                addrs.merge(file);
                Some(found(&addrs))
            }
        }
    }

    /// The names of `ip`, for PTR answers: inline entries first, then the file's.
    pub fn names_of(&self, ip: IpAddr) -> Vec<Name> {
        let mut names = self.inline.names_of(ip).to_vec();
        for name in self.file.load().names_of(ip) {
            push_unique(&mut names, name.clone());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn merges_inline_before_file_and_rereads_on_change() {
        let dir = TempDir::new("source");
        let path = dir.write("hosts", "10.0.0.2 web.example.org\n");
        let source = HostsSource::new(
            path.clone(),
            vec![Name::root()],
            true,
            &["10.0.0.1 web.example.org".to_owned()],
        );
        assert!(source.reload_if_changed());
        assert!(!source.reload_if_changed(), "unchanged file is not re-read");
        let v4 = source.lookup(&name("web.example.org.")).unwrap().v4;
        assert_eq!(
            v4,
            [
                "10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );

        dir.write(
            "hosts",
            "10.0.0.3 web.example.org\n10.0.0.4 new.example.org\n",
        );
        assert!(source.reload_if_changed());
        assert!(source.lookup(&name("new.example.org.")).is_some());
        assert_eq!(
            source.names_of("10.0.0.3".parse().unwrap()),
            [name("web.example.org.")]
        );
        assert!(source.names_of("10.0.0.2".parse().unwrap()).is_empty());

        std::fs::remove_file(&path).unwrap();
        assert!(!source.reload_if_changed());
        assert!(
            source.lookup(&name("new.example.org.")).is_some(),
            "deleted file keeps last content"
        );
    }
}
