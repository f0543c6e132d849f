//! Writes a target's seeds (`clusterdns_fuzzing::seeds`) as files into a directory,
//! the starting corpus of a fuzzing run:
//! `cargo run -p clusterdns-fuzzing --example write_seeds -- fuzz/seeds [TARGET]`, where
//! TARGET is `packet` (the default, also for `differential`), `corefile`, `manifest`,
//! `api_object` or `cluster`.

use std::path::PathBuf;

use clusterdns_fuzzing::seeds;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "seeds".into()));
    let target = args.next().unwrap_or_else(|| "packet".into());
    let seeds = match target.as_str() {
        "packet" | "differential" => seeds::all(),
        "corefile" => seeds::corefiles()
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        "manifest" => seeds::manifests(),
        "api_object" => seeds::api_objects(),
        "cluster" => seeds::clusters(),
        other => {
            eprintln!("no seeds for a target named {other}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:05}")), seed)?;
    }
    println!("{} {target} seeds in {}", seeds.len(), dir.display());
    Ok(())
}
