use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clusterdns_api::{Directive, Token};

use super::parser::substitute_env;
use super::*;

/// kubeadm's Corefile, unchanged.
const KUBEADM: &str = include_str!("../../deploy/examples/kubeadm.Corefile");

fn no_env(_: &str) -> Option<String> {
    None
}

fn test_env(name: &str) -> Option<String> {
    match name {
        "X" => Some("ex".into()),
        "Y" => Some("why".into()),
        "PORT" => Some("1053".into()),
        "EMPTY" => Some(String::new()),
        "BRACE" => Some("{".into()),
        "NESTED" => Some("{$X}".into()),
        _ => None,
    }
}

fn parse_in(text: &str, dir: &Path) -> Vec<ServerBlock> {
    match parse_str_with_env(text, "Corefile", dir, &test_env) {
        Ok(blocks) => blocks,
        Err(e) => panic!("{e}"),
    }
}

fn parse(text: &str) -> Vec<ServerBlock> {
    parse_in(text, Path::new("/nonexistent-clusterdns-dir"))
}

fn error_in(text: &str, dir: &Path) -> String {
    match parse_str_with_env(text, "Corefile", dir, &no_env) {
        Ok(blocks) => panic!("expected an error, got:\n{}", render(&blocks)),
        Err(e) => e.to_string(),
    }
}

fn error(text: &str) -> String {
    error_in(text, Path::new("/nonexistent-clusterdns-dir"))
}

/// The blocks as indented text: keys on a line, then each directive with its arguments,
/// blocks indented two more spaces.
fn render(blocks: &[ServerBlock]) -> String {
    let mut out = String::new();
    for block in blocks {
        let keys: Vec<&str> = block.keys.iter().map(|k| k.text.as_str()).collect();
        out.push_str(&keys.join(" "));
        out.push('\n');
        render_lines(&block.directives, 1, &mut out);
    }
    out
}

fn render_lines(lines: &[Directive], depth: usize, out: &mut String) {
    for d in lines {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&d.name.text);
        for arg in &d.args {
            out.push(' ');
            out.push_str(&arg.text);
        }
        if let Some(block) = &d.block {
            out.push_str(" {\n");
            render_lines(block, depth + 1, out);
            out.push_str(&"  ".repeat(depth));
            out.push('}');
        }
        out.push('\n');
    }
}

fn pos(token: &Token) -> (u32, u32) {
    (token.line, token.column)
}

fn texts(tokens: &[Token]) -> Vec<&str> {
    tokens.iter().map(|t| t.text.as_str()).collect()
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "clusterdns-corefile-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, relative: &str) -> String {
        self.0.join(relative).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------
// Well-formed Corefiles

/// `Corefile.example` is kubeadm's Corefile with comments: the same directives.
#[test]
fn the_example_is_kubeadms_corefile() {
    let strip = |blocks: Vec<ServerBlock>| -> Vec<(Vec<String>, Vec<String>)> {
        fn lines(directives: &[Directive], out: &mut Vec<String>) {
            for d in directives {
                let args: Vec<&str> = d.args.iter().map(|a| a.text.as_str()).collect();
                out.push(format!("{} {}", d.name.text, args.join(" ")));
                lines(d.block_lines(), out);
            }
        }
        blocks
            .into_iter()
            .map(|b| {
                let mut out = Vec::new();
                lines(&b.directives, &mut out);
                (texts(&b.keys).iter().map(|k| k.to_string()).collect(), out)
            })
            .collect()
    };
    let example = include_str!("../../Corefile.example");
    assert_eq!(strip(parse(example)), strip(parse(KUBEADM)));
}

#[test]
fn kubeadm_corefile() {
    let blocks = parse(KUBEADM);
    assert_eq!(blocks.len(), 1);
    let block = &blocks[0];
    assert_eq!(texts(&block.keys), [".:53"]);
    assert_eq!(pos(&block.keys[0]), (1, 1));
    let names: Vec<&str> = block
        .directives
        .iter()
        .map(|d| d.name.text.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "errors",
            "health",
            "ready",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );

    let health = &block.directives[1];
    assert!(health.args.is_empty());
    let lameduck = &health.block_lines()[0];
    assert_eq!(health.block_lines().len(), 1);
    assert_eq!(lameduck.name.text, "lameduck");
    assert_eq!(texts(&lameduck.args), ["5s"]);
    assert_eq!(pos(&lameduck.name), (4, 8));
    assert_eq!(pos(&lameduck.args[0]), (4, 17));

    let kubernetes = &block.directives[3];
    assert_eq!(pos(&kubernetes.name), (7, 5));
    assert_eq!(
        texts(&kubernetes.args),
        ["cluster.local", "in-addr.arpa", "ip6.arpa"]
    );
    let lines = kubernetes.block_lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].name.text, "pods");
    assert_eq!(texts(&lines[0].args), ["insecure"]);
    assert_eq!(texts(&lines[1].args), ["in-addr.arpa", "ip6.arpa"]);
    assert_eq!(lines[2].name.text, "ttl");
    assert_eq!(lines[2].args[0].parse::<u32>("a TTL"), Ok(30));

    assert_eq!(texts(&block.directives[4].args), [":9153"]);
    let forward = &block.directives[5];
    assert_eq!(texts(&forward.args), [".", "/etc/resolv.conf"]);
    assert_eq!(texts(&forward.block_lines()[0].args), ["1000"]);
    let cache = &block.directives[6];
    assert_eq!(texts(&cache.args), ["30"]);
    assert_eq!(cache.block_lines().len(), 2);
    for simple in &block.directives[7..] {
        assert!(simple.args.is_empty() && simple.block.is_none());
    }
    assert!(block.directives[0].block.is_none());
    assert!(block.directives.iter().all(|d| &*d.name.file == "Corefile"));

    assert_eq!(
        render(&blocks),
        "\
.:53
  errors
  health {
    lameduck 5s
  }
  ready
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
    ttl 30
  }
  prometheus :9153
  forward . /etc/resolv.conf {
    max_concurrent 1000
  }
  cache 30 {
    disable success cluster.local
    disable denial cluster.local
  }
  loop
  reload
  loadbalance
"
    );
}

#[test]
fn multiple_keys_on_one_line() {
    let blocks = parse("cluster.local:53 in-addr.arpa:53 {\n  whoami\n}\n");
    assert_eq!(
        texts(&blocks[0].keys),
        ["cluster.local:53", "in-addr.arpa:53"]
    );
    assert_eq!(pos(&blocks[0].keys[1]), (1, 18));
}

#[test]
fn keys_ending_in_a_comma_continue_on_the_next_line() {
    let blocks = parse("a:53,\n  b:53, c:53,\n\n  d:53\n{\n  whoami\n}\n");
    assert_eq!(texts(&blocks[0].keys), ["a:53", "b:53", "c:53", "d:53"]);
    assert_eq!(pos(&blocks[0].keys[3]), (4, 3));
    assert_eq!(render(&blocks), "a:53 b:53 c:53 d:53\n  whoami\n");

    let blocks = parse("a:53, b:53 {\n}\n");
    assert_eq!(texts(&blocks[0].keys), ["a:53", "b:53"]);
    assert!(blocks[0].directives.is_empty());
}

#[test]
fn several_server_blocks() {
    let text = "\
example.org {
    whoami
}

cluster.local:53 {
    errors
    log
}
.:53 {
}
";
    let blocks = parse(text);
    assert_eq!(
        render(&blocks),
        "example.org\n  whoami\ncluster.local:53\n  errors\n  log\n.:53\n"
    );
    assert_eq!(pos(&blocks[1].keys[0]), (5, 1));
    assert_eq!(pos(&blocks[1].directives[1].name), (7, 5));
}

#[test]
fn blocks_may_open_and_close_on_one_line() {
    let blocks = parse("a { whoami }\nb { errors } c { log stdout }\n");
    assert_eq!(
        render(&blocks),
        "a\n  whoami\nb\n  errors\nc\n  log stdout\n"
    );
    // The opening brace may also stand on the line after the keys.
    let blocks = parse("a\n{\n  whoami\n}\nb\n{\n}\n");
    assert_eq!(render(&blocks), "a\n  whoami\nb\n");
}

#[test]
fn a_single_block_may_omit_its_braces() {
    let blocks = parse(".:53\nerrors\nforward . 8.8.8.8 {\n  max_fails 2\n}\nlog\n");
    assert_eq!(
        render(&blocks),
        ".:53\n  errors\n  forward . 8.8.8.8 {\n    max_fails 2\n  }\n  log\n"
    );
    let blocks = parse("example.org:1053\n");
    assert_eq!(render(&blocks), "example.org:1053\n");
    assert!(blocks[0].directives.is_empty());
}

#[test]
fn empty_files_have_no_blocks() {
    assert!(parse("").is_empty());
    assert!(parse("\n  # only a comment\n\n").is_empty());
    assert!(parse("(unused) {\n  whoami\n}\n").is_empty());
}

#[test]
fn one_line_blocks_and_deep_nesting() {
    let blocks = parse(
        "\
.:53 {
    health { lameduck 5s }
    a 1 {
        b 2 {
            c 3 { d 4 }
            e
        } 
    }
    f { g
        h }
    i {
    }
}
",
    );
    assert_eq!(
        render(&blocks),
        "\
.:53
  health {
    lameduck 5s
  }
  a 1 {
    b 2 {
      c 3 {
        d 4
      }
      e
    }
  }
  f {
    g
    h
  }
  i {
  }
"
    );
    let d = &blocks[0].directives[1].block_lines()[0].block_lines()[0].block_lines()[0];
    assert_eq!((d.name.text.as_str(), pos(&d.name)), ("d", (5, 19)));
    assert_eq!(blocks[0].directives[3].block, Some(vec![]));
}

#[test]
fn comments_are_ignored() {
    let blocks = parse(
        "\
# a Corefile
.:53 { # the root zone
    # errors first
    errors    # trailing
    log a#b   # a '#' inside a token is kept
    # }
}
# the end {
",
    );
    assert_eq!(render(&blocks), ".:53\n  errors\n  log a#b\n");
}

#[test]
fn quoted_arguments() {
    let blocks = parse(
        "\
.:53 {
    template \"with space\" \"say \\\"hi\\\"\" \"C:\\dir\" \"\"
    rewrite \"multi
line\" after {
        answer \"{\" \"}\"
    }
    log \"#not a comment\"
}
",
    );
    let d = &blocks[0].directives;
    assert_eq!(
        texts(&d[0].args),
        ["with space", "say \"hi\"", "C:\\dir", ""]
    );
    assert!(d[0].args.iter().all(|a| a.quoted));
    assert_eq!(pos(&d[0].args[1]), (2, 27));
    // The token after a quoted string that spans lines continues the same directive.
    assert_eq!(texts(&d[1].args), ["multi\nline", "after"]);
    assert_eq!(pos(&d[1].args[0]), (3, 13));
    assert_eq!(pos(&d[1].args[1]), (4, 7));
    // Quoted braces are plain arguments, not blocks.
    let answer = &d[1].block_lines()[0];
    assert_eq!(texts(&answer.args), ["{", "}"]);
    assert!(answer.block.is_none());
    assert_eq!(texts(&d[2].args), ["#not a comment"]);
    assert!(!d[2].name.quoted);
}

#[test]
fn quoted_keys_and_a_quoted_brace_is_not_a_block() {
    let blocks = parse("\"a b\" {\n  x \"{\"\n  y\n}\n");
    assert_eq!(texts(&blocks[0].keys), ["a b"]);
    assert_eq!(render(&blocks), "a b\n  x {\n  y\n");
}

#[test]
fn line_and_column_numbers() {
    let text = "\u{feff}.:53 {\r\n\terrors\r\n  log   stdout\r\n\r\n   cache {\r\n  success 10\r\n }\r\n}\r\n";
    let blocks = parse(text);
    let d = &blocks[0].directives;
    assert_eq!(pos(&blocks[0].keys[0]), (1, 1));
    assert_eq!(pos(&d[0].name), (2, 2));
    assert_eq!(pos(&d[1].name), (3, 3));
    assert_eq!(pos(&d[1].args[0]), (3, 9));
    assert_eq!(pos(&d[2].name), (5, 4));
    assert_eq!(pos(&d[2].block_lines()[0].args[0]), (6, 11));
}

#[test]
fn empty_keys_are_dropped_but_a_key_is_required() {
    let blocks = parse("a \"\" , b {\n}\n");
    assert_eq!(texts(&blocks[0].keys), ["a", "b"]);
}

// ---------------------------------------------------------------------------------------
// Snippets and imports

#[test]
fn snippets_are_spliced_where_imported() {
    let text = "\
(common) {
    errors
    cache 30 {
        success 100
    }
}
example.org {
    import common
    whoami
}
.:53 {
    log
    import common
}
";
    let blocks = parse(text);
    assert_eq!(
        render(&blocks),
        "\
example.org
  errors
  cache 30 {
    success 100
  }
  whoami
.:53
  log
  errors
  cache 30 {
    success 100
  }
"
    );
    // Imported tokens keep the position of their definition.
    assert_eq!(pos(&blocks[1].directives[1].name), (2, 5));
    assert_eq!(pos(&blocks[0].directives[2].name), (9, 5));
}

#[test]
fn imports_never_join_the_lines_around_them() {
    let text = "(s) {\n  log\n}\n. {\n  import s\n  import s\n  errors\n}\n";
    assert_eq!(render(&parse(text)), ".\n  log\n  log\n  errors\n");
    // Inside a one-line block, the import ends at the closing brace.
    let text = "(s) {\n  lameduck 5s\n}\n. {\n  health { import s }\n}\n";
    assert_eq!(
        render(&parse(text)),
        ".\n  health {\n    lameduck 5s\n  }\n"
    );
}

#[test]
fn snippets_may_import_snippets_and_hold_server_blocks() {
    let text = "\
(inner) {
    errors
}
(outer) {
    import inner
    log
}
(blocks) {
    a {
        import outer
    }
    b {
        whoami
    }
}
import blocks
c {
    import outer
}
";
    assert_eq!(
        render(&parse(text)),
        "a\n  errors\n  log\nb\n  whoami\nc\n  errors\n  log\n"
    );
}

#[test]
fn snippets_import_into_nested_blocks() {
    let text = "\
(opts) {
    max_fails 3
    expire 10s
}
. {
    forward . 1.1.1.1 {
        import opts
        policy sequential
    }
}
";
    assert_eq!(
        render(&parse(text)),
        ".\n  forward . 1.1.1.1 {\n    max_fails 3\n    expire 10s\n    policy sequential\n  }\n"
    );
}

#[test]
fn snippet_names_may_be_imported_more_than_once_and_used_by_a_braceless_block() {
    let text = "(s) {\n  whoami\n}\n.:53\nimport s\nimport s\n";
    assert_eq!(render(&parse(text)), ".:53\n  whoami\n  whoami\n");
}

#[test]
fn import_a_file_relative_to_the_corefile() {
    let dir = TempDir::new();
    dir.write("extra.conf", "log\nerrors {\n  consolidate 5m \".*\"\n}\n");
    let blocks = parse_in(". {\n  whoami\n  import extra.conf\n  ready\n}\n", &dir.0);
    assert_eq!(
        render(&blocks),
        ".\n  whoami\n  log\n  errors {\n    consolidate 5m .*\n  }\n  ready\n"
    );
    let log = &blocks[0].directives[1].name;
    assert_eq!(&*log.file, dir.path("extra.conf"));
    assert_eq!(pos(log), (1, 1));
    assert_eq!(&*blocks[0].directives[3].name.file, "Corefile");
}

#[test]
fn import_server_blocks_from_a_file_at_top_level() {
    let dir = TempDir::new();
    dir.write(
        "zones/a.conf",
        "a.example {\n  whoami\n}\nb.example {\n  log\n}\n",
    );
    let blocks = parse_in("import zones/a.conf\n. {\n  errors\n}\n", &dir.0);
    assert_eq!(
        render(&blocks),
        "a.example\n  whoami\nb.example\n  log\n.\n  errors\n"
    );
    assert_eq!(&*blocks[1].keys[0].file, dir.path("zones/a.conf"));
}

#[test]
fn import_a_glob_in_name_order() {
    let dir = TempDir::new();
    dir.write("conf.d/20-b.conf", "b\n");
    dir.write("conf.d/10-a.conf", "a 1\n");
    dir.write("conf.d/30-c.conf", "c { x }\n");
    dir.write("conf.d/skip.txt", "never\n");
    std::fs::create_dir_all(dir.0.join("conf.d/sub.conf")).unwrap();
    let blocks = parse_in(". {\n  import conf.d/*.conf\n  end\n}\n", &dir.0);
    assert_eq!(render(&blocks), ".\n  a 1\n  b\n  c {\n    x\n  }\n  end\n");
    assert_eq!(
        &*blocks[0].directives[1].name.file,
        dir.path("conf.d/20-b.conf")
    );

    let blocks = parse_in(". {\n  import conf.d/?0-a.conf\n}\n", &dir.0);
    assert_eq!(render(&blocks), ".\n  a 1\n");
}

#[test]
fn a_glob_matching_nothing_imports_nothing() {
    let dir = TempDir::new();
    let blocks = parse_in(
        ". {\n  import conf.d/*.conf\n  log\n}\nimport none*\n",
        &dir.0,
    );
    assert_eq!(render(&blocks), ".\n  log\n");
}

#[test]
fn imports_nest_relative_to_the_importing_file() {
    let dir = TempDir::new();
    dir.write(
        "sub/first.conf",
        "(shared) {\n  errors\n}\nimport deeper/second.conf\n",
    );
    dir.write(
        "sub/deeper/second.conf",
        "x {\n  import shared\n  import ../third.conf\n}\n",
    );
    dir.write("sub/third.conf", "whoami\n");
    let blocks = parse_in("import sub/first.conf\n", &dir.0);
    assert_eq!(render(&blocks), "x\n  errors\n  whoami\n");
    assert_eq!(
        &*blocks[0].directives[0].name.file,
        dir.path("sub/first.conf")
    );
    assert_eq!(
        &*blocks[0].directives[1].name.file,
        dir.path("sub/deeper/../third.conf")
    );
}

#[test]
fn a_snippet_is_preferred_to_a_file_of_the_same_name() {
    let dir = TempDir::new();
    dir.write("common", "from_file\n");
    let text = ". {\n  import common\n}\n(common) {\n  from_snippet\n}\nx {\n  import common\n}\n";
    assert_eq!(
        render(&parse_in(text, &dir.0)),
        ".\n  from_file\nx\n  from_snippet\n"
    );
}

#[test]
fn parse_file_reads_and_names_the_file() {
    let dir = TempDir::new();
    dir.write("extra", "ready\n");
    let path = dir.write("Corefile", ". {\n  import extra\n  health\n}\n");
    let blocks = match parse_file(&path) {
        Ok(blocks) => blocks,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(render(&blocks), ".\n  ready\n  health\n");
    assert_eq!(&*blocks[0].keys[0].file, dir.path("Corefile"));

    let missing = dir.0.join("nope");
    let err = parse_file(&missing).unwrap_err();
    assert_eq!((err.line, err.column), (0, 0));
    assert!(
        err.to_string().starts_with(&format!(
            "{}: cannot read the Corefile: ",
            missing.display()
        )),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Environment variables

#[test]
fn environment_variables_are_substituted_anywhere_in_a_token() {
    let text = "\
{$X}.example:{$PORT} {%Y%}.org {
    log{$X} foo{$X}bar {%Y%}-{$X} \"quoted {$X}\" {$UNSET}end {%UNSET%} {$EMPTY}
    {$Y} { sub{%X%} }
}
";
    let blocks = parse(text);
    assert_eq!(
        render(&blocks),
        "ex.example:1053 why.org\n  logex fooexbar why-ex quoted ex end  \n  why {\n    subex\n  }\n"
    );
    let args = &blocks[0].directives[0].args;
    assert_eq!(args[4].text, "");
    assert_eq!(pos(&args[2]), (2, 35));
    assert!(args[2].quoted);
}

#[test]
fn substituted_values_are_not_braces_or_rescanned() {
    let blocks = parse(". {\n  a {$BRACE}\n  b {$NESTED}\n}\n");
    assert_eq!(render(&blocks), ".\n  a {\n  b {$X}\n");
    assert!(blocks[0].directives[0].block.is_none());
}

#[test]
fn substitution_leaves_incomplete_references_alone() {
    for literal in [
        "{$}", "{%%}", "{$X", "{%X}", "{%X", "{}", "{", "a{b}c", "{X}",
    ] {
        assert_eq!(substitute_env(literal, &test_env), literal);
    }
    assert_eq!(substitute_env("{{$X}}", &test_env), "{ex}");
    assert_eq!(substitute_env("{$X}{%Y%}{$X}", &test_env), "exwhyex");
    assert_eq!(substitute_env("é{$X}é", &test_env), "éexé");
}

#[test]
fn environment_variables_name_keys_and_imports() {
    let text = "(s{$X}) {\n  whoami\n}\n. {\n  import s{%X%}\n}\n";
    assert_eq!(render(&parse(text)), ".\n  whoami\n");
}

#[test]
fn the_public_functions_read_the_process_environment() {
    let path = std::env::var("PATH").unwrap_or_default();
    let blocks = parse_str(". {\n  x {$PATH}\n}\n", "Corefile", Path::new(".")).unwrap();
    assert_eq!(blocks[0].directives[0].args[0].text, path);
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn error_unterminated_quote() {
    assert_eq!(
        error(".:53 {\n    log \"abc\n}\n"),
        "Corefile:2:9: unterminated quoted string: expected a closing '\"', got end of file"
    );
}

#[test]
fn error_missing_closing_brace() {
    assert_eq!(
        error(".:53 {\n    errors\n    log\n"),
        "Corefile:4:1: expected '}' to close the block opened at 1:6, got end of file"
    );
    let without = KUBEADM.trim_end().strip_suffix('}').unwrap();
    assert_eq!(
        error(without),
        "Corefile:23:1: expected '}' to close the block opened at 1:6, got end of file"
    );
}

#[test]
fn error_missing_closing_brace_of_a_nested_block() {
    assert_eq!(
        error(".:53 {\n    cache 30 {\n        success 10\n"),
        "Corefile:4:1: expected '}' to close the block opened at 2:14, got end of file"
    );
    // The inner block takes the last brace, leaving the outer one open.
    assert_eq!(
        error(".:53 {\n    health {\n        lameduck 5s\n}\n"),
        "Corefile:5:1: expected '}' to close the block opened at 1:6, got end of file"
    );
}

#[test]
fn error_unexpected_closing_brace() {
    assert_eq!(
        error(".:53 {\n    errors\n}\n}\n"),
        "Corefile:4:1: unexpected '}'"
    );
    assert_eq!(
        error(".:53\nerrors\n    }\n"),
        "Corefile:3:5: unexpected '}'"
    );
    assert_eq!(error("} a {\n}\n"), "Corefile:1:1: unexpected '}'");
    assert_eq!(error("a } {\n}\n"), "Corefile:1:3: unexpected '}'");
}

#[test]
fn error_block_without_keys() {
    assert_eq!(
        error("{\n    errors\n}\n"),
        "Corefile:1:1: expected server block keys, got '{'"
    );
    assert_eq!(
        error("a {\n}\n{\n}\n"),
        "Corefile:3:1: expected server block keys, got '{'"
    );
}

#[test]
fn error_directive_outside_a_block_among_several() {
    assert_eq!(
        error("a {\n    whoami\n}\nerrors\n"),
        "Corefile:5:1: expected '{' to open the server block for \"errors\", got end of file \
         (only a file with a single server block may omit the braces)"
    );
    assert_eq!(
        error("a {\n}\nb c\nerrors\n"),
        "Corefile:4:1: expected '{' to open the server block for \"b c\", got \"errors\" \
         (only a file with a single server block may omit the braces)"
    );
}

#[test]
fn error_redeclared_snippet() {
    assert_eq!(
        error("(s) {\n    errors\n}\n(s) {\n    log\n}\n"),
        "Corefile:4:1: snippet \"s\" is already defined at 1:1"
    );
}

#[test]
fn error_recursive_snippet_import() {
    assert_eq!(
        error("(s) {\n    log\n    import s\n}\n. {\n    import s\n}\n"),
        "Corefile:3:5: recursive import of \"s\": s -> s"
    );
    assert_eq!(
        error("(a) {\n  import b\n}\n(b) {\n  import a\n}\n. {\n  import a\n}\n"),
        "Corefile:5:3: recursive import of \"a\": a -> b -> a"
    );
}

#[test]
fn error_recursive_file_import() {
    let dir = TempDir::new();
    dir.write("a.conf", "import b.conf\n");
    dir.write("b.conf", "x {\n}\nimport ./a.conf\n");
    let a = dir.path("a.conf");
    let b = dir.path("b.conf");
    let a_again = dir.path("./a.conf");
    assert_eq!(
        error_in("import a.conf\n", &dir.0),
        format!("{b}:3:1: recursive import of \"{a_again}\": {a} -> {b} -> {a_again}")
    );
    // Importing the Corefile itself is recursion too.
    let corefile = dir.write("Corefile", ". {\n}\nimport Corefile\n");
    let err = parse_file(&corefile).unwrap_err().to_string();
    let name = corefile.display();
    assert_eq!(
        err,
        format!("{name}:3:1: recursive import of \"{name}\": {name} -> {name}")
    );
}

#[test]
fn error_glob_importing_itself() {
    let dir = TempDir::new();
    dir.write("all/one.conf", "import *.conf\n");
    let one = dir.path("all/one.conf");
    assert_eq!(
        error_in("import all/*.conf\n", &dir.0),
        format!("{one}:1:1: recursive import of \"{one}\": {one} -> {one}")
    );
}

#[test]
fn error_missing_import_file() {
    assert_eq!(
        error(". {\nimport foo\n}\n"),
        "Corefile:2:1: unknown snippet or file to import \"foo\""
    );
    assert_eq!(
        error("import zones/a.conf\n"),
        "Corefile:1:1: unknown snippet or file to import \"zones/a.conf\""
    );
    // Snippets must be defined before they are used.
    assert_eq!(
        error(". {\n  import s\n}\n(s) {\n}\n"),
        "Corefile:2:3: unknown snippet or file to import \"s\""
    );
}

#[test]
fn error_import_without_argument() {
    assert_eq!(
        error(". {\n    import\n}\n"),
        "Corefile:2:5: import: expected a snippet name or file pattern, got end of line"
    );
    assert_eq!(
        error(". {\n    health { import }\n}\n"),
        "Corefile:2:14: import: expected a snippet name or file pattern, got '}'"
    );
    assert_eq!(
        error("import\n"),
        "Corefile:1:1: import: expected a snippet name or file pattern, got end of line"
    );
    assert_eq!(
        error(". {\n    import {\n    }\n}\n"),
        "Corefile:2:12: import: expected a snippet name or file pattern, got '{'"
    );
    assert_eq!(
        error(". {\n    import {$UNSET}\n}\n"),
        "Corefile:2:12: import: the snippet name or file pattern \"{$UNSET}\" is empty"
    );
}

#[test]
fn error_import_with_two_arguments() {
    assert_eq!(
        error(". {\n    import a b\n}\n"),
        "Corefile:2:14: import: expected one argument, got an extra \"b\""
    );
    assert_eq!(
        error("(s) {\n}\nimport s {\n}\n"),
        "Corefile:3:10: import: expected one argument, got an extra '{'"
    );
}

#[test]
fn error_glob_with_two_wildcards_or_a_class() {
    assert_eq!(
        error(". {\n    import */*.conf\n}\n"),
        "Corefile:2:12: import: pattern \"*/*.conf\" has 2 wildcards; only one '*' or '?' is allowed"
    );
    assert_eq!(
        error("import a?.co?f\n"),
        "Corefile:1:8: import: pattern \"a?.co?f\" has 2 wildcards; only one '*' or '?' is allowed"
    );
    assert_eq!(
        error("import zone[12].conf\n"),
        "Corefile:1:8: import: '[' is not allowed in import pattern \"zone[12].conf\""
    );
}

#[test]
fn error_keys_with_a_trailing_comma() {
    assert_eq!(
        error("a:53, b:53,\n"),
        "Corefile:2:1: expected another server block key after ',', got end of file"
    );
    assert_eq!(
        error("a:53, {\n}\n"),
        "Corefile:1:7: expected another server block key after ',', got '{'"
    );
    assert_eq!(
        error("a:53,\n\n{\n}\n"),
        "Corefile:3:1: expected another server block key after ',', got '{'"
    );
}

#[test]
fn error_empty_key() {
    assert_eq!(
        error("\"\" {\n}\n"),
        "Corefile:1:1: server block key \"\" is empty"
    );
    assert_eq!(
        error("{$UNSET} {\n}\n"),
        "Corefile:1:1: server block key \"{$UNSET}\" is empty"
    );
}

#[test]
fn error_brace_at_the_start_of_a_directive_line() {
    assert_eq!(
        error(". {\n    forward . 1.1.1.1\n    {\n    }\n}\n"),
        "Corefile:3:5: unexpected '{': a block must open on the same line as its directive"
    );
}

#[test]
fn error_tokens_after_a_closing_brace() {
    assert_eq!(
        error(". {\n    health { lameduck 5s } ready\n}\n"),
        "Corefile:2:28: expected a new line after '}', got \"ready\""
    );
    assert_eq!(
        error(". {\n    a {\n    } { }\n}\n"),
        "Corefile:3:7: expected a new line after '}', got '{'"
    );
}

#[test]
fn error_snippet_without_a_block() {
    assert_eq!(
        error("(s)\n"),
        "Corefile:2:1: expected '{' to open snippet \"s\", got end of file"
    );
    assert_eq!(
        error("(s)\nwhoami\n"),
        "Corefile:2:1: expected '{' to open snippet \"s\", got \"whoami\""
    );
    assert_eq!(
        error("(s) {\n  a {\n  }\n"),
        "Corefile:4:1: expected '}' to close the block opened at 1:5, got end of file"
    );
    assert_eq!(error("() {\n}\n"), "Corefile:1:1: snippet name is empty");
}

#[test]
fn errors_in_imported_files_point_into_them() {
    let dir = TempDir::new();
    dir.write("open.conf", "log\ncache {\n  success 1\n");
    dir.write("stray.conf", "log\n  }\n");
    dir.write("quote.conf", "\n\nlog \"x\n");
    let open = dir.path("open.conf");
    assert_eq!(
        error_in(". {\n  import open.conf\n}\n", &dir.0),
        format!("{open}:4:1: expected '}}' to close the block opened at 2:7, got end of file")
    );
    let stray = dir.path("stray.conf");
    assert_eq!(
        error_in(". {\n  import stray.conf\n}\n", &dir.0),
        format!("{stray}:2:3: unexpected '}}'")
    );
    let quote = dir.path("quote.conf");
    assert_eq!(
        error_in(". {\n  import quote.conf\n}\n", &dir.0),
        format!(
            "{quote}:3:5: unterminated quoted string: expected a closing '\"', got end of file"
        )
    );
}

#[test]
fn error_block_opened_in_a_snippet_names_the_file() {
    let dir = TempDir::new();
    dir.write("s.conf", "(s) {\n  whoami\n}\n");
    // A block left open in the Corefile after imports still points at the Corefile.
    assert_eq!(
        error_in("import s.conf\n. {\n  import s\n", &dir.0),
        "Corefile:4:1: expected '}' to close the block opened at 2:3, got end of file"
    );
}

#[test]
fn error_importing_a_directory() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.0.join("d")).unwrap();
    let err = error_in("import d\n", &dir.0);
    assert!(
        err.starts_with(&format!(
            "Corefile:1:1: import: cannot read {}: ",
            dir.path("d")
        )),
        "{err}"
    );
}

#[test]
fn error_too_many_imports() {
    // Each snippet imports the one before twice: 2^14 expansions, no recursion.
    let mut text = String::from("(s0) {\n  log\n}\n");
    for i in 1..=14 {
        let prev = i - 1;
        text.push_str(&format!(
            "(s{i}) {{\n  import s{prev}\n  import s{prev}\n}}\n"
        ));
    }
    text.push_str(". {\n  import s14\n}\n");
    let err = error(&text);
    assert!(
        err.ends_with(": import: too many imports (more than 10000 in all)"),
        "{err}"
    );
}

#[test]
fn error_too_deeply_nested() {
    let depth = 101;
    let text = format!(". {{\n{}{}}}\n", "a {\n".repeat(depth), "}\n".repeat(depth));
    assert_eq!(
        error(&text),
        "Corefile:102:3: blocks nested more than 100 deep"
    );
    let ok = format!(". {{\n{}{}}}\n", "a {\n".repeat(100), "}\n".repeat(100));
    assert_eq!(parse(&ok)[0].directives.len(), 1);
}

#[test]
fn errors_implement_display_with_file_line_and_column() {
    let err = parse_str_with_env(
        "{",
        "/etc/coredns/Corefile",
        Path::new("/etc/coredns"),
        &no_env,
    )
    .unwrap_err();
    assert_eq!(&*err.file, "/etc/coredns/Corefile");
    assert_eq!((err.line, err.column), (1, 1));
    assert_eq!(err.message, "expected server block keys, got '{'");
}
