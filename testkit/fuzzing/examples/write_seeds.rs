//! Writes the seed queries (`clusterdns_fuzzing::seeds`) as files into a directory,
//! the starting corpus of a fuzzing run:
//! `cargo run -p clusterdns-fuzzing --example write_seeds -- fuzz/seeds`.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seeds".into()));
    std::fs::create_dir_all(&dir)?;
    let seeds = clusterdns_fuzzing::seeds::all();
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:05}")), seed)?;
    }
    println!("{} seeds in {}", seeds.len(), dir.display());
    Ok(())
}
