//! A small, bounded subset of Go's `text/template`: what `template` Corefiles write.
//!
//! CoreDNS renders each record of a template with Go's template engine. Real Corefiles
//! use field lookups (`{{ .Name }}`, `{{ .Group.b }}`, `{{ .Question.Qtype }}`), `index`
//! (`{{ index .Match 1 }}`), `parseInt` (`{{ parseInt .Group.b 16 8 }}`), and now and
//! then `printf`, `print` or `len`, in pipelines and parenthesised sub-expressions.
//! That is what this evaluator knows; control actions (`if`, `range`, `with`, ...) and
//! variables other than `$` are refused when the Corefile is read, with an error that
//! names them, rather than rendered wrongly.
//!
//! Everything is bounded, since the data comes from the query: a template's source
//! length, the nesting of parentheses, and the length of what it renders
//! ([`MAX_OUTPUT`]). Nothing here panics on any input.

use std::fmt::Write as _;

/// The longest text one record template may render, in bytes: far above any record
/// a DNS message can carry (one name is at most 255 bytes), small enough that a
/// template cannot be made to build large strings per query.
pub const MAX_OUTPUT: usize = 4096;
/// The longest template source accepted.
const MAX_SOURCE: usize = 10_000;
/// How deeply parenthesised pipelines may nest.
const MAX_DEPTH: usize = 16;

/// A template that could not be read or rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(message.into()))
}

/// The question, as the template's `.Question` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionData {
    /// The name as the client wrote it, fully qualified.
    pub name: String,
    /// The type number.
    pub qtype: u16,
    /// The class number.
    pub qclass: u16,
    /// The type's mnemonic (`AAAA`, `TYPE65534`).
    pub type_name: String,
    /// The class's mnemonic (`IN`, `CH`).
    pub class_name: String,
}

/// What a template can refer to: CoreDNS's `templateData`.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// `.Zone`: the template zone the name matched.
    pub zone: String,
    /// `.Name`: the query name, lower case, fully qualified.
    pub name: String,
    /// `.Regex`: the regex that matched.
    pub regex: String,
    /// `.Class`: the class mnemonic.
    pub class: String,
    /// `.Type`: the type mnemonic.
    pub qtype: String,
    /// `.Match`: the whole match, then each group (empty for groups that did not take part).
    pub matches: Vec<String>,
    /// `.Group`: the groups by number (`"0"`, `"1"`, ...) and by name.
    pub groups: Vec<(String, String)>,
    /// `.Question`.
    pub question: Option<QuestionData>,
    /// `.Message.Id`.
    pub message_id: u16,
    /// `.Remote`: the client's IP address.
    pub remote: String,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct GoTemplate {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
struct Command(Vec<Arg>);

#[derive(Debug, Clone)]
enum Arg {
    /// `.` or `.A.B`: fields of the data.
    Dot(Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
    Func(Func),
    Sub(Pipeline),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Index,
    Len,
    Print,
    Printf,
    Println,
    ParseInt,
}

impl Func {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "index" => Self::Index,
            "len" => Self::Len,
            "print" => Self::Print,
            "printf" => Self::Printf,
            "println" => Self::Println,
            "parseInt" => Self::ParseInt,
            _ => return None,
        })
    }
}

impl GoTemplate {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        if source.len() > MAX_SOURCE {
            return err(format!(
                "template too long: {} > {MAX_SOURCE} bytes",
                source.len()
            ));
        }
        let mut nodes = Vec::new();
        let mut rest = source;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start();
            }
            let mut inner = &rest[open + 2..];
            if let Some(after) = inner.strip_prefix("- ") {
                text = text.trim_end();
                inner = after;
            }
            push_text(&mut nodes, text);
            let close = action_end(inner)?;
            let mut action = &inner[..close];
            trim_next = false;
            if let Some(before) = action.strip_suffix(" -") {
                action = before;
                trim_next = true;
            }
            rest = &inner[close + 2..];
            let trimmed = action.trim();
            if trimmed.starts_with("/*") {
                if !trimmed.ends_with("*/") {
                    return err("unclosed comment");
                }
                continue;
            }
            let tokens = lex(action)?;
            let mut parser = Parser { tokens, at: 0 };
            let pipeline = parser.pipeline(0)?;
            if parser.at != parser.tokens.len() {
                return err(format!(
                    "unexpected {:?} in action",
                    parser.tokens[parser.at]
                ));
            }
            nodes.push(Node::Action(pipeline));
        }
        if trim_next {
            rest = rest.trim_start();
        }
        push_text(&mut nodes, rest);
        Ok(Self { nodes })
    }

    /// Renders the template with `data`; fails on an error of evaluation (a missing
    /// field, an index out of range, a number `parseInt` cannot read) and when the
    /// output would exceed [`MAX_OUTPUT`].
    pub fn render(&self, data: &Data) -> Result<String, TemplateError> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipeline) => {
                    let value = eval_pipeline(pipeline, data)?;
                    print_value(&mut out, &value, data)?;
                }
            }
            if out.len() > MAX_OUTPUT {
                return err(format!("output longer than {MAX_OUTPUT} bytes"));
            }
        }
        Ok(out)
    }
}

fn push_text(nodes: &mut Vec<Node>, text: &str) {
    if !text.is_empty() {
        nodes.push(Node::Text(text.to_owned()));
    }
}

/// The offset of the `}}` closing the action that starts `inner`, skipping string
/// literals (a `}}` may be written inside quotes).
fn action_end(inner: &str) -> Result<usize, TemplateError> {
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || b == b'`' {
                    quote = Some(b);
                } else if b == b'}' && bytes.get(i + 1) == Some(&b'}') {
                    return Ok(i);
                }
            }
        }
        i += 1;
    }
    err("unclosed action: missing }}")
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Dot(Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Open,
    Close,
    Pipe,
}

const KEYWORDS: [&str; 10] = [
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn lex(action: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = action.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push(Token::Open);
            i += 1;
        } else if c == ')' {
            tokens.push(Token::Close);
            i += 1;
        } else if c == '|' {
            tokens.push(Token::Pipe);
            i += 1;
        } else if c == '.' || c == '$' {
            if c == '$' {
                // Only `$` itself (the data), as in `$.Name`: variables are not supported.
                if chars
                    .get(i + 1)
                    .is_some_and(|n| n.is_alphanumeric() || *n == '_')
                {
                    return err("template variables are not supported");
                }
                i += 1;
                if chars.get(i) != Some(&'.') {
                    tokens.push(Token::Dot(Vec::new()));
                    continue;
                }
            }
            let mut fields = Vec::new();
            while chars.get(i) == Some(&'.') {
                i += 1;
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                if start == i {
                    break;
                }
                fields.push(chars[start..i].iter().collect());
            }
            tokens.push(Token::Dot(fields));
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return err("unterminated quoted string");
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return err("unterminated quoted string");
                        };
                        i += 1;
                        text.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            '\\' => '\\',
                            '"' => '"',
                            other => return err(format!("unsupported escape \\{other}")),
                        });
                    }
                    c => text.push(c),
                }
            }
            tokens.push(Token::Str(text));
        } else if c == '`' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|c| *c == '`') else {
                return err("unterminated raw string");
            };
            tokens.push(Token::Str(chars[start..start + len].iter().collect()));
            i = start + len + 1;
        } else if c.is_ascii_digit() || c == '-' || c == '+' {
            let start = i;
            i += 1;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Token::Int(parse_int_literal(&text)?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if KEYWORDS.contains(&word.as_str()) {
                return err(format!("the {word:?} action is not supported"));
            }
            tokens.push(Token::Ident(word));
        } else {
            return err(format!("unexpected {c:?} in action"));
        }
    }
    Ok(tokens)
}

fn parse_int_literal(text: &str) -> Result<i64, TemplateError> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = digits.replace('_', "");
    let value = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)
    } else if let Some(bin) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        i64::from_str_radix(bin, 2)
    } else if let Some(oct) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        i64::from_str_radix(oct, 8)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse()
    };
    match value {
        Ok(v) if negative => Ok(-v),
        Ok(v) => Ok(v),
        Err(_) => err(format!("bad number syntax: {text:?}")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn pipeline(&mut self, depth: usize) -> Result<Pipeline, TemplateError> {
        if depth > MAX_DEPTH {
            return err(format!("parentheses nest deeper than {MAX_DEPTH}"));
        }
        let mut commands = vec![self.command(depth)?];
        while self.tokens.get(self.at) == Some(&Token::Pipe) {
            self.at += 1;
            commands.push(self.command(depth)?);
        }
        Ok(Pipeline(commands))
    }

    fn command(&mut self, depth: usize) -> Result<Command, TemplateError> {
        let mut args = Vec::new();
        while let Some(token) = self.tokens.get(self.at).cloned() {
            let arg = match token {
                Token::Pipe | Token::Close => break,
                Token::Dot(fields) => Arg::Dot(fields),
                Token::Str(s) => Arg::Str(s),
                Token::Int(n) => Arg::Int(n),
                Token::Ident(word) => match word.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    other => match Func::from_name(other) {
                        Some(func) => Arg::Func(func),
                        None => return err(format!("function {other:?} not defined")),
                    },
                },
                Token::Open => {
                    self.at += 1;
                    let inner = self.pipeline(depth + 1)?;
                    if self.tokens.get(self.at) != Some(&Token::Close) {
                        return err("unclosed left paren");
                    }
                    Arg::Sub(inner)
                }
            };
            self.at += 1;
            args.push(arg);
        }
        if args.is_empty() {
            return err("missing value for command");
        }
        if args[1..].iter().any(|a| matches!(a, Arg::Func(_))) {
            // `index .Match parseInt` and the like: a function as an argument.
            return err("a function can only be called first in a command");
        }
        Ok(Command(args))
    }
}

/// A value while evaluating.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Uint(u64),
    Int(i64),
    Bool(bool),
    List(Vec<Value>),
    Map(Vec<(String, String)>),
    /// The whole data (`.` at the top, `$`).
    Root,
    Question,
    Message,
}

fn eval_pipeline(pipeline: &Pipeline, data: &Data) -> Result<Value, TemplateError> {
    let mut piped: Option<Value> = None;
    for command in &pipeline.0 {
        piped = Some(eval_command(command, piped.take(), data)?);
    }
    piped.ok_or_else(|| TemplateError("empty pipeline".into()))
}

fn eval_command(
    command: &Command,
    piped: Option<Value>,
    data: &Data,
) -> Result<Value, TemplateError> {
    let (first, rest) = match command.0.split_first() {
        Some(split) => split,
        None => return err("empty command"),
    };
    if let Arg::Func(func) = first {
        let mut args = rest
            .iter()
            .map(|arg| eval_arg(arg, data))
            .collect::<Result<Vec<_>, _>>()?;
        args.extend(piped);
        return call(*func, args, data);
    }
    if !rest.is_empty() || piped.is_some() {
        return err("can't give argument to non-function");
    }
    eval_arg(first, data)
}

fn eval_arg(arg: &Arg, data: &Data) -> Result<Value, TemplateError> {
    match arg {
        Arg::Dot(fields) => {
            let mut value = Value::Root;
            for field in fields {
                value = field_of(&value, field, data)?;
            }
            Ok(value)
        }
        Arg::Str(s) => Ok(Value::Str(s.clone())),
        Arg::Int(n) => Ok(Value::Int(*n)),
        Arg::Bool(b) => Ok(Value::Bool(*b)),
        Arg::Sub(pipeline) => eval_pipeline(pipeline, data),
        Arg::Func(_) => err("a function can only be called first in a command"),
    }
}

fn field_of(value: &Value, field: &str, data: &Data) -> Result<Value, TemplateError> {
    let found = match (value, field) {
        (Value::Root, "Zone") => Value::Str(data.zone.clone()),
        (Value::Root, "Name") => Value::Str(data.name.clone()),
        (Value::Root, "Regex") => Value::Str(data.regex.clone()),
        (Value::Root, "Class") => Value::Str(data.class.clone()),
        (Value::Root, "Type") => Value::Str(data.qtype.clone()),
        (Value::Root, "Remote") => Value::Str(data.remote.clone()),
        (Value::Root, "Match") => {
            Value::List(data.matches.iter().cloned().map(Value::Str).collect())
        }
        (Value::Root, "Group") => Value::Map(data.groups.clone()),
        (Value::Root, "Question") => Value::Question,
        (Value::Root, "Message") => Value::Message,
        (Value::Map(entries), key) => Value::Str(map_get(entries, key)),
        (Value::Question, _) => {
            let Some(q) = &data.question else {
                return err("nil pointer evaluating .Question");
            };
            match field {
                "Name" => Value::Str(q.name.clone()),
                "Qtype" => Value::Uint(u64::from(q.qtype)),
                "Qclass" => Value::Uint(u64::from(q.qclass)),
                _ => return err(format!("can't evaluate field {field} of .Question")),
            }
        }
        (Value::Message, "Id") => Value::Uint(u64::from(data.message_id)),
        (Value::Message, "Question") => Value::List(vec![Value::Question]),
        _ => return err(format!("can't evaluate field {field}")),
    };
    Ok(found)
}

/// A missing key of `.Group` is the empty string, as in a Go `map[string]string`.
fn map_get(entries: &[(String, String)], key: &str) -> String {
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn call(func: Func, args: Vec<Value>, data: &Data) -> Result<Value, TemplateError> {
    match func {
        Func::Index => {
            let mut args = args.into_iter();
            let Some(mut item) = args.next() else {
                return err("wrong number of args for index: want at least 1 got 0");
            };
            for key in args {
                item = index(item, &key)?;
            }
            Ok(item)
        }
        Func::Len => match args.as_slice() {
            [Value::Str(s)] => Ok(Value::Int(s.len() as i64)),
            [Value::List(l)] => Ok(Value::Int(l.len() as i64)),
            [Value::Map(m)] => Ok(Value::Int(m.len() as i64)),
            [_] => err("len of a value without length"),
            _ => err(format!(
                "wrong number of args for len: want 1 got {}",
                args.len()
            )),
        },
        Func::Print => {
            let mut out = String::new();
            for (i, arg) in args.iter().enumerate() {
                let both_non_strings =
                    i > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_));
                if both_non_strings {
                    out.push(' ');
                }
                print_value(&mut out, arg, data)?;
            }
            Ok(Value::Str(out))
        }
        Func::Println => {
            let mut out = String::new();
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(&mut out, arg, data)?;
            }
            out.push('\n');
            Ok(Value::Str(out))
        }
        Func::Printf => printf(&args, data),
        Func::ParseInt => {
            let (text, base, bits) = match args.as_slice() {
                [Value::Str(s), base] => (s, int_arg(base)?, 64),
                [Value::Str(s), base, bits] => (s, int_arg(base)?, int_arg(bits)?),
                [_, ..] if (2..=3).contains(&args.len()) => {
                    return err("parseInt: the first argument must be a string");
                }
                _ => {
                    return err(format!(
                        "wrong number of args for parseInt: want 3 got {}",
                        args.len()
                    ));
                }
            };
            parse_uint(text, base, bits).map(Value::Uint)
        }
    }
}

fn int_arg(value: &Value) -> Result<i64, TemplateError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Uint(n) => i64::try_from(*n).or_else(|_| err("integer out of range")),
        _ => err("expected an integer"),
    }
}

fn index(item: Value, key: &Value) -> Result<Value, TemplateError> {
    match (item, key) {
        (Value::List(list), key @ (Value::Int(_) | Value::Uint(_))) => {
            let at = int_arg(key)?;
            usize::try_from(at)
                .ok()
                .and_then(|at| list.get(at).cloned())
                .ok_or_else(|| TemplateError(format!("index out of range: {at}")))
        }
        (Value::Map(entries), Value::Str(key)) => Ok(Value::Str(map_get(&entries, key))),
        _ => err("can't index item of this type with this key"),
    }
}

/// Go's `strconv.ParseUint`: base 0 reads a prefix (`0x`, `0o`, `0b`, `0`), a bit
/// size of 0 means 64.
fn parse_uint(text: &str, base: i64, bits: i64) -> Result<u64, TemplateError> {
    let fail = || {
        TemplateError(format!(
            "strconv.ParseUint: parsing {text:?}: invalid syntax"
        ))
    };
    let bits = if bits == 0 { 64 } else { bits };
    if !(1..=64).contains(&bits) {
        return err(format!("strconv.ParseUint: invalid bit size {bits}"));
    }
    let (digits, radix) = match base {
        0 => {
            let lower = text.to_ascii_lowercase();
            if let Some(rest) = lower.strip_prefix("0x") {
                (rest.replace('_', ""), 16)
            } else if let Some(rest) = lower.strip_prefix("0o") {
                (rest.replace('_', ""), 8)
            } else if let Some(rest) = lower.strip_prefix("0b") {
                (rest.replace('_', ""), 2)
            } else if lower.len() > 1 && lower.starts_with('0') {
                (lower[1..].replace('_', ""), 8)
            } else {
                (lower.replace('_', ""), 10)
            }
        }
        2..=36 => (text.to_owned(), base as u32),
        _ => return err(format!("strconv.ParseUint: invalid base {base}")),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(fail());
    }
    let value = u64::from_str_radix(&digits, radix).map_err(|_| fail())?;
    if bits < 64 && value >> bits != 0 {
        return err(format!(
            "strconv.ParseUint: parsing {text:?}: value out of range"
        ));
    }
    Ok(value)
}

fn printf(args: &[Value], data: &Data) -> Result<Value, TemplateError> {
    let Some((Value::Str(format), rest)) = args.split_first() else {
        return err("printf: the format must be a string");
    };
    let mut out = String::new();
    let mut rest = rest.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = rest.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        match (verb, arg) {
            ('s' | 'v', arg) => print_value(&mut out, arg, data)?,
            ('d', Value::Int(n)) => {
                let _ = write!(out, "{n}");
            }
            ('d', Value::Uint(n)) => {
                let _ = write!(out, "{n}");
            }
            ('x', Value::Int(n)) => {
                let _ = write!(out, "{n:x}");
            }
            ('x', Value::Uint(n)) => {
                let _ = write!(out, "{n:x}");
            }
            ('X', Value::Uint(n)) => {
                let _ = write!(out, "{n:X}");
            }
            ('x', Value::Str(s)) => {
                for b in s.bytes() {
                    let _ = write!(out, "{b:02x}");
                }
            }
            ('q', Value::Str(s)) => {
                let _ = write!(out, "{s:?}");
            }
            (verb, _) => return err(format!("printf: unsupported verb %{verb} for this value")),
        }
        if out.len() > MAX_OUTPUT {
            return err(format!("output longer than {MAX_OUTPUT} bytes"));
        }
    }
    Ok(Value::Str(out))
}

fn print_value(out: &mut String, value: &Value, data: &Data) -> Result<(), TemplateError> {
    match value {
        Value::Str(s) => out.push_str(s),
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(out, item, data)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let mut sorted: Vec<&(String, String)> = entries.iter().collect();
            sorted.sort();
            out.push_str("map[");
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:{v}");
            }
            out.push(']');
        }
        Value::Question => match &data.question {
            // As miekg/dns prints a question (dig's notation).
            Some(q) => {
                let _ = write!(out, ";{}\t{}\t {}", q.name, q.class_name, q.type_name);
            }
            None => out.push_str("<nil>"),
        },
        Value::Root | Value::Message => {
            return err("printing the whole data or .Message is not supported");
        }
    }
    if out.len() > MAX_OUTPUT {
        return err(format!("output longer than {MAX_OUTPUT} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        Data {
            zone: "example.".into(),
            name: "ip-10-1-2-3.example.".into(),
            regex: "re".into(),
            class: "IN".into(),
            qtype: "A".into(),
            matches: vec!["ip-10-1-2-3.example.".into(), "1".into(), "0a".into()],
            groups: vec![
                ("0".into(), "ip-10-1-2-3.example.".into()),
                ("1".into(), "1".into()),
                ("b".into(), "7b".into()),
            ],
            question: Some(QuestionData {
                name: "IP-10-1-2-3.example.".into(),
                qtype: 1,
                qclass: 1,
                type_name: "A".into(),
                class_name: "IN".into(),
            }),
            message_id: 42,
            remote: "10.0.0.99".into(),
        }
    }

    fn render(source: &str) -> Result<String, TemplateError> {
        GoTemplate::parse(source)?.render(&data())
    }

    #[test]
    fn renders_the_forms_corefiles_use() {
        assert_eq!(
            render("{{ .Name }} 60 IN A {{ index .Match 1 }}").unwrap(),
            "ip-10-1-2-3.example. 60 IN A 1"
        );
        assert_eq!(render("{{ .Group.b }}").unwrap(), "7b");
        assert_eq!(render("{{.Group.missing}}x").unwrap(), "x");
        assert_eq!(render("{{ parseInt .Group.b 16 8 }}").unwrap(), "123");
        assert_eq!(render("{{ (parseInt .Group.b 16 8) }}").unwrap(), "123");
        assert_eq!(render("{{ parseInt .Group.b 16 }}").unwrap(), "123");
        assert_eq!(render("{{ .Group.b | printf \"%s!\" }}").unwrap(), "7b!");
        assert_eq!(render("{{ printf \"%d-%s\" 7 .Type }}").unwrap(), "7-A");
        assert_eq!(
            render("{{ .Zone }} {{ .Class }} {{ .Type }}").unwrap(),
            "example. IN A"
        );
        assert_eq!(render("{{ .Remote }}").unwrap(), "10.0.0.99");
        assert_eq!(
            render("{{ .Question.Name }} {{ .Question.Qtype }}").unwrap(),
            "IP-10-1-2-3.example. 1"
        );
        assert_eq!(render("{{ .Message.Id }}").unwrap(), "42");
        // Fields of a parenthesised value are not supported: an error, not a guess.
        assert!(render("{{ (index .Message.Question 0).Name }}").is_err());
        assert_eq!(
            render("{{ .Question }}").unwrap(),
            ";IP-10-1-2-3.example.\tIN\t A"
        );
        assert_eq!(render("{{ len .Match }}").unwrap(), "3");
        assert_eq!(render("{{ index .Group \"b\" }}").unwrap(), "7b");
        assert_eq!(render("a {{- \" b \" -}} c").unwrap(), "a b c");
        assert_eq!(render("{{/* note */}}x").unwrap(), "x");
        assert_eq!(render("{{ \"}}\" }}").unwrap(), "}}");
        assert_eq!(render("{{ print 1 2 \"a\" }}").unwrap(), "1 2a");
        assert_eq!(render("{{ $.Name }}").unwrap(), "ip-10-1-2-3.example.");
    }

    #[test]
    fn evaluation_errors_are_errors() {
        for bad in [
            "{{ index .Match 9 }}",
            "{{ index .Match -1 }}",
            "{{ parseInt .Group.b 10 8 }}",
            "{{ parseInt \"300\" 10 8 }}",
            "{{ parseInt .Name 10 }}",
            "{{ .Nope }}",
            "{{ .Name.Deeper }}",
            "{{ .Name 1 }}",
            "{{ .Message }}",
            "{{ . }}",
        ] {
            assert!(render(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_know_when_parsed() {
        for bad in [
            "{{ if .Name }}x{{ end }}",
            "{{ range .Match }}x{{ end }}",
            "{{ $x := 1 }}",
            "{{ nosuch 1 }}",
            "{{ .Name",
            "{{ ( .Name }}",
            "{{ \"open }}",
            "{{ }}",
            "{{ index .Match parseInt }}",
            "{{ 0xZZ }}",
        ] {
            assert!(GoTemplate::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(40), ")".repeat(40));
        assert!(GoTemplate::parse(&deep).unwrap_err().0.contains("nest"));
        assert!(GoTemplate::parse(&"x".repeat(MAX_SOURCE + 1)).is_err());
    }

    #[test]
    fn output_is_bounded() {
        let big = format!("{}{}", "x".repeat(MAX_OUTPUT), "{{ .Name }}");
        assert!(render(&big).unwrap_err().0.contains("longer"));
        let many = "{{ .Match }}".repeat(200);
        assert!(render(&many).is_err());
    }

    #[test]
    fn never_panics_on_odd_sources() {
        let pieces = [
            "{{", "}}", "-", " ", ".", "$", "(", ")", "|", "\"", "`", "index", "parseInt", "1",
            "0x", ".Match", ".Group.b", "printf", "%", "\\", "é", "{{-", "-}}", "/*", "*/",
        ];
        // Every short combination: a cheap, deterministic stand-in for fuzzing.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let source = format!("{a}{b}{c}");
                    if let Ok(t) = GoTemplate::parse(&source) {
                        let _ = t.render(&data());
                    }
                }
            }
        }
    }
}
