//! Desync diagnostics: field-by-field diffs of two states, written to readable files.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::game::Game;

/// One field that differs between two states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// Field name as given by [`Game::describe`].
    pub field: String,
    /// Value in the first state (`<missing>` if absent).
    pub left: String,
    /// Value in the second state (`<missing>` if absent).
    pub right: String,
}

/// The fields that differ between `a` and `b`, in `a`'s field order (fields only present
/// in `b` come last).
pub fn diff_states<G: Game>(a: &G, b: &G) -> Vec<FieldDiff> {
    let da = a.describe();
    let db = b.describe();
    let missing = || "<missing>".to_owned();
    let mut out = Vec::new();
    for (k, va) in &da {
        let vb = db.iter().find(|(kb, _)| kb == k).map(|(_, v)| v.clone());
        if vb.as_deref() != Some(va.as_str()) {
            out.push(FieldDiff {
                field: k.clone(),
                left: va.clone(),
                right: vb.unwrap_or_else(missing),
            });
        }
    }
    for (k, vb) in &db {
        if !da.iter().any(|(ka, _)| ka == k) {
            out.push(FieldDiff {
                field: k.clone(),
                left: missing(),
                right: vb.clone(),
            });
        }
    }
    out
}

/// Writes one state, field by field, to `path`.
pub fn write_state<G: Game>(path: &Path, frame: i32, state: &G) -> io::Result<()> {
    let mut s = String::new();
    let _ = writeln!(s, "frame {frame}\nchecksum {:032x}", state.checksum());
    for (k, v) in state.describe() {
        let _ = writeln!(s, "{k} = {v}");
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, s)
}

/// Writes a desync report for `frame` into `dir`: both checksums, the differing fields,
/// then both full states. Returns the file's path.
pub fn write_diff<G: Game>(
    dir: &Path,
    frame: i32,
    (left_name, left): (&str, &G),
    (right_name, right): (&str, &G),
) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = dir.join(format!("desync-frame{frame}.txt"));
    let mut s = String::new();
    let _ = writeln!(s, "desync at frame {frame}");
    let _ = writeln!(s, "{left_name} checksum {:032x}", left.checksum());
    let _ = writeln!(s, "{right_name} checksum {:032x}", right.checksum());
    let _ = writeln!(s, "\n== differing fields ({left_name} | {right_name})");
    for d in diff_states(left, right) {
        let _ = writeln!(s, "{}: {} | {}", d.field, d.left, d.right);
    }
    for (name, g) in [(left_name, left), (right_name, right)] {
        let _ = writeln!(s, "\n== {name}");
        for (k, v) in g.describe() {
            let _ = writeln!(s, "{k} = {v}");
        }
    }
    fs::write(&path, s)?;
    Ok(path)
}
