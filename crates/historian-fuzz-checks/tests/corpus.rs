//! Every fuzz target over its seed corpus (`fuzz/corpus/TARGET/`) and over a fixed number
//! of seeded mutations of it: the short fuzz run of the ordinary test suite, the same on
//! every machine. Longer, coverage-guided runs use cargo-fuzz (see `fuzz/README.md`).

use historian_fuzz_checks::TARGETS;
use std::path::{Path, PathBuf};

/// Mutated inputs per target and run; the spool target writes files for each, so fewer.
fn mutations(target: &str) -> usize {
    match target {
        "spool_record" => 300,
        _ => 3_000,
    }
}

/// Tokens that text parsers treat specially, spliced in by the mutator.
const TOKENS: [&[u8]; 16] = [
    b"\"",
    b"[",
    b"]",
    b"=",
    b"\n",
    b",",
    b"-1",
    b"1e309",
    b"NaN",
    b"0x",
    b"[[devices]]",
    b"%",
    b"&",
    b"\\u0000",
    b"99999999999999999999",
    b"2026-12-07T00:00:00Z",
];

/// splitmix64: a small, well-mixed generator, seeded per target so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four edits of `input`: bit flips, byte changes, insertions, deletions,
/// duplications, tokens, and splices with another seed.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = rng.next() as u8;
            }
            2 => out.insert(at, rng.next() as u8),
            3 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                let copy = out[at.min(end)..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            5 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

fn run(target: &str) {
    let (_, check) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of that name");
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "no seeds for {target}");
    for seed in &seeds {
        check(seed);
    }
    let mut rng = Rng(target.bytes().fold(0xF022_u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }));
    for n in 0..mutations(target) {
        let input = mutate(&mut rng, &seeds[n % seeds.len()], &seeds);
        let outcome = std::panic::catch_unwind(|| check(&input));
        if outcome.is_err() {
            let saved = std::env::temp_dir().join(format!("{target}-crash-{n}"));
            let _ = std::fs::write(&saved, &input);
            panic!(
                "{target}: mutation {n} fails its check; input saved to {} \
                 (replay: cargo +nightly fuzz run {target} {})",
                saved.display(),
                saved.display()
            );
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_a_test() {
    for (name, _) in TARGETS {
        assert!(corpus_dir(name).is_dir(), "fuzz/corpus/{name} is missing");
    }
}

#[test]
fn decode() {
    run("decode");
}

#[test]
fn map_file() {
    run("map_file");
}

#[test]
fn config() {
    run("config");
}

#[test]
fn api_query() {
    run("api_query");
}

#[test]
fn spool_record() {
    run("spool_record");
}
