//! What kind of change woke the follow: the bits that both sources of file-system events —
//! notify's directory watches ([`super::wait`]) and the open files' own inotify watches
//! ([`super::data`]) — record, and that a round reads to decide what to look at.
//!
//! A module of their own, below both, so that `wait` (which polls the data watches) and
//! `data` (which reports in these bits) do not import each other.

/// File contents changed somewhere in a watched directory (or a watched file grew).
pub const DATA: u8 = 1;
/// A name changed (created, removed, renamed, attributes): check every followed name.
pub const NAMES: u8 = 2;
