//! [`WireName`]: zones matched against question names without decoding them.

use hickory_proto::rr::Name;

use super::WireQuery;

/// A zone (or any name) in lower-case wire format, to match question names on the wire
/// path without decoding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireName {
    wire: Vec<u8>,
    labels: usize,
}

impl WireName {
    /// `name` lowered into wire format.
    pub fn new(name: &Name) -> Self {
        let mut wire = Vec::new();
        for label in name.iter() {
            // A label is at most 63 bytes.
            wire.push(label.len() as u8);
            wire.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        wire.push(0);
        Self {
            wire,
            labels: name.num_labels() as usize,
        }
    }

    /// How many labels (the root not counted).
    pub fn label_count(&self) -> usize {
        self.labels
    }

    /// The index of this name's first label in `query`'s question name, if the question
    /// is this name or below it (without regard to case).
    pub fn start_in(&self, query: &WireQuery<'_>) -> Option<usize> {
        let start = query.label_count().checked_sub(self.labels)?;
        (query.suffix(start) == self.wire.as_slice()).then_some(start)
    }
}
