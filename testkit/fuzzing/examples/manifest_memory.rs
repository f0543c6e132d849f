//! Peak memory of the manifest source on the worst files its limits let through:
//! `cargo run --release -p clusterdns-fuzzing --example manifest_memory -- SHAPE MIB`,
//! SHAPE one of `list` (`- a` lines: the most values per byte of YAML), `json`
//! (`[0,0,...]`), `objects` (small Services in a `kind: List`). Prints the outcome, the time taken and the process's peak resident memory
//! (VmHWM), so run one shape per process.

use std::time::Instant;

use clusterdns_kubernetes::object::{Kind, KindSet};
use clusterdns_kubernetes::source::decode::Filter;
use clusterdns_kubernetes::source::manifest::load;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "list".into());
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(63);
    let size = mib << 20;
    let (text, extension) = match shape.as_str() {
        "list" => ("- a\n".repeat(size / 4), "yaml"),
        "json" => (format!("[{}0]", "0,".repeat(size / 2 - 1)), "json"),
        _ => {
            let service = "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: svc-NNNNNN\n    namespace: default\n    labels: {app: web, tier: front}\n  spec:\n    clusterIP: 10.96.1.1\n    ports:\n    - {name: http, port: 80, protocol: TCP, targetPort: 8080}\n    selector: {app: web}\n";
            let count = size / service.len();
            let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
            for i in 0..count {
                text.push_str(&service.replace("NNNNNN", &format!("{i:06}")));
            }
            (text, "yaml")
        }
    };
    let dir = std::env::temp_dir().join(format!("manifest-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("cluster.{extension}"));
    std::fs::write(&path, &text)?;
    drop(text);
    let filter = Filter {
        kinds: KindSet::of(&Kind::ALL),
        ..Filter::default()
    };
    let started = Instant::now();
    let outcome = match load(&path, &filter) {
        Ok(decoded) => format!("{} objects", decoded.objects.len()),
        Err(error) => {
            let mut message = error.to_string();
            message.truncate(160);
            message
        }
    };
    let elapsed = started.elapsed();
    let peak = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        .unwrap_or_default();
    std::fs::remove_dir_all(&dir)?;
    println!("{shape} {mib} MiB: {outcome}; {elapsed:.2?}; peak {peak} kB");
    Ok(())
}
