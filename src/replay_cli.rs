//! The `replay` tool (`cargo run --release --example replay -- ...`): `info`, `verify`
//! and `diff` of reference-fighter replays, as a function the example and the tests call.
//!
//! Exit codes: 0 = readable / verified / no divergence; 1 = a failed check or an unusable
//! file; 2 = bad flags.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use rollback::fighter::{FighterGame, FighterInput};
use rollback::replay::{self, ReadError, Replay, ReplayDiff, StateSource, VerifyReport};
use serde_json::json;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "replay",
    about = "Inspect, verify and diff netplay fighter replays"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Header, frames, players, result, final checksum and size.
    Info {
        /// Replay file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-simulate headless and compare every recorded checksum (exit 1 on a mismatch).
    Verify {
        /// Replay file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two peers' replays of one match (exit 1 if they diverge).
    Diff {
        /// Replay of one peer.
        a: PathBuf,
        /// Replay of the other peer.
        b: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the tool with `args` (the first is the program name), writing to `out`; returns
/// the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = write!(out, "{}", e.render());
            return code;
        }
    };
    let (text, code) = match args.command {
        Command::Info { file, json } => info(&file, json),
        Command::Verify { file, json } => verify(&file, json),
        Command::Diff { a, b, json } => diff(&a, &b, json),
    };
    let _ = out.write_all(text.as_bytes());
    code
}

fn error(file: &Path, e: &dyn std::fmt::Display, json: bool) -> (String, i32) {
    let text = if json {
        json!({ "file": file, "ok": false, "error": e.to_string() }).to_string() + "\n"
    } else {
        format!("error: {}: {e}\n", file.display())
    };
    (text, 1)
}

fn load(
    file: &Path,
) -> Result<(Replay<FighterInput>, usize, Option<replay::SizeBreakdown>), ReadError> {
    let meta = std::fs::metadata(file)?;
    if meta.len() > replay::MAX_FILE_BYTES {
        return Err(replay::ReplayError::TooLarge {
            what: "file",
            size: meta.len(),
            limit: replay::MAX_FILE_BYTES,
        }
        .into());
    }
    let bytes = std::fs::read(file)?;
    let replay = replay::decode_for::<FighterGame>(&bytes)?;
    Ok((replay, bytes.len(), replay::size_breakdown(&bytes)))
}

fn hex(v: u128) -> String {
    format!("{v:032x}")
}

fn info(file: &Path, json: bool) -> (String, i32) {
    let (r, size, sizes) = match load(file) {
        Ok(x) => x,
        Err(e) => return error(file, &e, json),
    };
    let h = &r.header;
    if json {
        let v = json!({
            "file": file,
            "ok": true,
            "format_version": replay::format::FORMAT_VERSION,
            "game_id": h.game_id,
            "game_version": format!("{:016x}", h.game_version),
            "players": h.players,
            "player_names": h.player_names,
            "match_id": h.match_id,
            "seed": h.seed,
            "input_delay": h.input_delay,
            "fps": h.fps,
            "checksum_interval": h.checksum_interval,
            "recorded_by": h.recorded_by,
            "frames": r.end.frames,
            "duration_s": r.duration_secs(),
            "result": r.end.reason,
            "final_checksum": hex(r.end.final_checksum),
            "checksums": r.checksums.len(),
            "described_states": r.described.iter().map(|d| d.frame).collect::<Vec<_>>(),
            "damage": r.damage,
            "size": size,
            "sizes": sizes,
        });
        return (v.to_string() + "\n", 0);
    }
    let mut s = String::new();
    let _ = writeln!(s, "file            {}", file.display());
    let _ = writeln!(
        s,
        "game            {} (version {:016x}, format {})",
        h.game_id,
        h.game_version,
        replay::format::FORMAT_VERSION
    );
    let _ = writeln!(s, "match           '{}' seed {}", h.match_id, h.seed);
    let _ = writeln!(
        s,
        "players         {} {:?}{}",
        h.players,
        h.player_names,
        h.recorded_by
            .map(|p| format!(" (recorded by p{p})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "session         input delay {}, {} fps, checksum every {} frames",
        h.input_delay, h.fps, h.checksum_interval
    );
    let _ = writeln!(
        s,
        "frames          {} ({:.1} s)",
        r.end.frames,
        r.duration_secs()
    );
    let _ = writeln!(s, "result          {}", r.end.reason);
    let _ = writeln!(s, "final_checksum  {}", hex(r.end.final_checksum));
    let _ = writeln!(s, "checksums       {}", r.checksums.len());
    if let Some(z) = sizes {
        let per_min = if r.end.frames > 0 {
            z.total as f64 * 60.0 * f64::from(h.fps.max(1)) / f64::from(r.end.frames)
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "size            {size} B (header {}, inputs {}, checksums {}, other {}; {:.0} B per minute)",
            z.header, z.inputs, z.checksums, z.other, per_min
        );
    }
    for d in &r.damage {
        let _ = writeln!(
            s,
            "DAMAGED chunk   frames {}..{} ({})",
            d.first_frame,
            d.first_frame + d.frames,
            if d.readable {
                "content still read"
            } else {
                "unreadable"
            }
        );
    }
    (s, 0)
}

fn verify(file: &Path, json: bool) -> (String, i32) {
    let r = match load(file) {
        Ok((r, ..)) => r,
        Err(e) => return error(file, &e, json),
    };
    let report = match replay::verify::<FighterGame>(&r) {
        Ok(v) => v,
        Err(e) => return error(file, &e, json),
    };
    let code = i32::from(!report.ok());
    if json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("file".into(), json!(file));
            o.insert("ok".into(), json!(report.ok()));
        }
        return (v.to_string() + "\n", code);
    }
    (verify_text(file, &report), code)
}

fn verify_text(file: &Path, v: &VerifyReport) -> String {
    let mut s = String::new();
    for d in &v.damage {
        let _ = writeln!(
            s,
            "DAMAGED: frames {}..{} failed their integrity check ({})",
            d.first_frame,
            d.first_frame + d.frames,
            if d.readable {
                "their content was still read; re-simulation below locates the damage"
            } else {
                "unreadable; verified up to their first frame"
            }
        );
    }
    match &v.first_mismatch {
        None if v.ok() => {
            let _ = writeln!(
                s,
                "OK: {} re-simulated {} frames, {} checksums match\nfinal_checksum {}",
                file.display(),
                v.simulated,
                v.checked,
                hex(v.final_checksum)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "FAIL: re-simulated {} of {} frames; {} checksums matched\nfinal_checksum {}",
                v.simulated,
                v.frames,
                v.checked,
                hex(v.final_checksum)
            );
        }
        Some(m) => {
            let _ = writeln!(
                s,
                "FAIL: checksum differs at frame {} (recorded {}, re-simulated {})",
                m.frame, m.recorded, m.computed
            );
            if let Some(f) = m.input_frame {
                let _ = writeln!(s, "input into it (frame {f}): {}", m.inputs.join(" | "));
            }
            if m.recorded_state {
                let _ = writeln!(s, "differing fields (recorded | re-simulated):");
                for d in &m.fields {
                    let _ = writeln!(s, "  {}: {} | {}", d.field, d.left, d.right);
                }
            } else {
                let _ = writeln!(
                    s,
                    "the replay holds no recorded state at frame {}; re-simulated state:",
                    m.frame
                );
                for (k, val) in &m.state {
                    let _ = writeln!(s, "  {k} = {val}");
                }
            }
            let _ = writeln!(
                s,
                "final_checksum {} (recorded {})",
                hex(v.final_checksum),
                hex(v.recorded_final_checksum)
            );
        }
    }
    s
}

fn diff(a: &Path, b: &Path, json: bool) -> (String, i32) {
    let ra = match load(a) {
        Ok((r, ..)) => r,
        Err(e) => return error(a, &e, json),
    };
    let rb = match load(b) {
        Ok((r, ..)) => r,
        Err(e) => return error(b, &e, json),
    };
    let d = match replay::diff::<FighterGame>(&ra, &rb) {
        Ok(d) => d,
        Err(e) => return error(a, &e, json),
    };
    let code = i32::from(!d.identical());
    if json {
        let mut v = serde_json::to_value(&d).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("a".into(), json!(a));
            o.insert("b".into(), json!(b));
            o.insert("identical".into(), json!(d.identical()));
        }
        return (v.to_string() + "\n", code);
    }
    (diff_text(a, b, &d), code)
}

fn diff_text(a: &Path, b: &Path, d: &ReplayDiff) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "A = {}\nB = {}", a.display(), b.display());
    if let Some(why) = &d.not_same_match {
        let _ = writeln!(s, "NOT THE SAME MATCH: {why}");
        return s;
    }
    if d.identical() {
        let _ = writeln!(
            s,
            "SAME: {} frames, inputs and checksums agree",
            d.compared_frames
        );
        return s;
    }
    if let Some(i) = &d.input_divergence {
        let _ = writeln!(
            s,
            "INPUTS DIFFER first at frame {}: A {} | B {}",
            i.frame,
            i.a.join(" "),
            i.b.join(" ")
        );
    }
    if let Some(c) = &d.checksum_divergence {
        let _ = writeln!(
            s,
            "CHECKSUMS DIFFER first at frame {} (A {}, B {}); last agreeing frame: {}",
            c.frame,
            c.a,
            c.b,
            c.last_agreeing
                .map_or_else(|| "none".to_owned(), |f| f.to_string())
        );
    }
    if let Some(frame) = d.state_frame {
        let source = match d.state_source {
            Some(StateSource::Recorded) => "as recorded live",
            _ => "re-simulated from each replay's inputs",
        };
        let _ = writeln!(s, "state at frame {frame} ({source}), A | B:");
        for f in &d.fields {
            let _ = writeln!(s, "  {}: {} | {}", f.field, f.left, f.right);
        }
        if d.fields.is_empty() {
            let _ = writeln!(s, "  (no field differs)");
        }
        if let Some([ma, mb]) = d.resimulation_matches {
            let say = |m: Option<bool>| {
                match m {
                Some(true) => "reproduces its recorded checksum",
                Some(false) => "does NOT reproduce its recorded checksum (that peer diverged from its own inputs)",
                None => "has no recorded checksum there",
            }
            };
            let _ = writeln!(s, "re-simulated A {}\nre-simulated B {}", say(ma), say(mb));
        }
    }
    s
}
