//! A type's shape as text: what postcard encodes of it (struct fields in
//! order, their types, enum variants in order), traced from its
//! `Deserialize` impl without a value, then written in the canonical form
//! docs/wire.md defines so a peer in another language can write the same
//! text by hand.
//!
//! The tracer is ours, not serde-reflection's: serde-reflection explores
//! an enum one variant per visit and visits an enum that sits inside
//! another enum's variant only while the outer one is being explored, so
//! `enum Command { Start(Config) }` with an enum in `Config` never
//! completes. Ours plans each pass: the path that first reached an enum,
//! then the variant still unseen.

mod trace;

use std::fmt::Write;

use serde::de::DeserializeOwned;

/// What one value asked the deserializer for.
#[derive(Debug, Clone, PartialEq, Default)]
enum Format {
    /// Not recorded (inside a recursive visit).
    #[default]
    Unknown,
    Unit,
    Bool,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Char,
    Str,
    Bytes,
    Option(Box<Format>),
    Seq(Box<Format>),
    Map(Box<Format>, Box<Format>),
    Tuple(Vec<Format>),
    Array(Box<Format>, usize),
    /// A struct or enum, defined on a line of its own.
    Named(&'static str),
}

impl Format {
    /// A fixed-length sequence: `[T;N]` when every item has one type
    /// (arrays; postcard encodes such a tuple the same way), else a tuple.
    fn tuple(items: Vec<Format>) -> Format {
        match items.first() {
            Some(first) if items.len() > 1 && items.iter().all(|i| i == first) => {
                Format::Array(Box::new(first.clone()), items.len())
            }
            _ => Format::Tuple(items),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Container {
    UnitStruct,
    Newtype(Format),
    Tuple(Vec<Format>),
    Struct(Vec<(&'static str, Format)>),
    /// Variants by index: name and what it holds, `None` until a pass took it.
    Enum(Vec<Option<(&'static str, Variant)>>),
}

#[derive(Debug, Clone, PartialEq)]
enum Variant {
    Unit,
    Newtype(Format),
    Tuple(Vec<Format>),
    Struct(Vec<(&'static str, Format)>),
}

/// Passes over one type: enough for a few thousand variants in all.
const MAX_PASSES: usize = 4096;

/// The shape of `T`: its root format on the first line, then one line per
/// struct or enum it names, sorted by name. `None` where `T` cannot be
/// traced: its `Deserialize` asks the data what it is (`deserialize_any`:
/// untagged enums, `flatten`, self-describing values), rejects the
/// made-up values (0, "", empty), or two of its types share a name.
pub(super) fn of<T: DeserializeOwned>() -> Option<String> {
    let mut trace = trace::Trace::default();
    let root = trace.pass::<T>(trace::Plan::new()).ok()?;
    for _ in 0..MAX_PASSES {
        let Some((plan, name, index)) = trace.next_plan() else {
            return render(&root, &trace);
        };
        trace.pass::<T>(plan).ok()?;
        let seen = matches!(
            trace.containers.get(name),
            Some(Container::Enum(v)) if v.get(index as usize).is_some_and(Option::is_some)
        );
        if !seen {
            return None; // the plan did not lead there: give up, never loop
        }
    }
    None
}

fn render(root: &Format, trace: &trace::Trace) -> Option<String> {
    let mut out = String::new();
    format(&mut out, root)?;
    for (name, container) in &trace.containers {
        out.push('\n');
        definition(&mut out, name, container)?;
    }
    Some(out)
}

fn definition(out: &mut String, name: &str, container: &Container) -> Option<()> {
    match container {
        Container::UnitStruct => write!(out, "struct {name}").ok(),
        Container::Newtype(inner) => {
            write!(out, "struct {name}(").ok()?;
            format(out, inner)?;
            out.push(')');
            Some(())
        }
        Container::Tuple(items) => {
            write!(out, "struct {name}").ok()?;
            list(out, '(', items.iter().map(|f| ("", f)), ')')
        }
        Container::Struct(fields) => {
            write!(out, "struct {name}").ok()?;
            list(out, '{', fields.iter().map(|(n, f)| (*n, f)), '}')
        }
        Container::Enum(variants) => {
            write!(out, "enum {name}{{").ok()?;
            for (i, variant) in variants.iter().enumerate() {
                let (variant_name, variant) = variant.as_ref()?;
                if i > 0 {
                    out.push(',');
                }
                out.push_str(variant_name);
                match variant {
                    Variant::Unit => {}
                    Variant::Newtype(inner) => list(out, '(', [("", inner)].into_iter(), ')')?,
                    Variant::Tuple(items) => list(out, '(', items.iter().map(|f| ("", f)), ')')?,
                    Variant::Struct(fields) => {
                        list(out, '{', fields.iter().map(|(n, f)| (*n, f)), '}')?
                    }
                }
            }
            out.push('}');
            Some(())
        }
    }
}

/// `open` items `close`, each `name:format` (or `format` when unnamed).
fn list<'a>(
    out: &mut String,
    open: char,
    items: impl Iterator<Item = (&'a str, &'a Format)>,
    close: char,
) -> Option<()> {
    out.push(open);
    for (i, (name, f)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if !name.is_empty() {
            write!(out, "{name}:").ok()?;
        }
        format(out, f)?;
    }
    out.push(close);
    Some(())
}

fn format(out: &mut String, f: &Format) -> Option<()> {
    let word = match f {
        Format::Unknown => return None,
        Format::Named(name) => name,
        Format::Unit => "()",
        Format::Bool => "bool",
        Format::I8 => "i8",
        Format::I16 => "i16",
        Format::I32 => "i32",
        Format::I64 => "i64",
        Format::I128 => "i128",
        Format::U8 => "u8",
        Format::U16 => "u16",
        Format::U32 => "u32",
        Format::U64 => "u64",
        Format::U128 => "u128",
        Format::F32 => "f32",
        Format::F64 => "f64",
        Format::Char => "char",
        Format::Str => "str",
        Format::Bytes => "bytes",
        Format::Option(inner) => return wrapped(out, "option", &[inner]),
        Format::Seq(inner) => return wrapped(out, "seq", &[inner]),
        Format::Map(key, value) => return wrapped(out, "map", &[key, value]),
        Format::Tuple(items) => return list(out, '(', items.iter().map(|f| ("", f)), ')'),
        Format::Array(item, len) => {
            out.push('[');
            format(out, item)?;
            return write!(out, ";{len}]").ok();
        }
    };
    out.push_str(word);
    Some(())
}

fn wrapped(out: &mut String, word: &str, inner: &[&Format]) -> Option<()> {
    out.push_str(word);
    list(out, '<', inner.iter().map(|f| ("", *f)), '>')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::of;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Job {
        id: u64,
        name: String,
        tags: Vec<String>,
        kind: Kind,
        next: Option<Box<Job>>,
        weights: BTreeMap<String, f32>,
        pair: (u8, char),
        key: [u8; 4],
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum Kind {
        Idle,
        Retry(u32),
        Point(i16, i16),
        Moved { x: i8 },
    }

    #[test]
    fn the_canonical_text_of_a_struct_and_its_enum() {
        assert_eq!(
            of::<Job>().unwrap(),
            "Job\n\
             struct Job{id:u64,name:str,tags:seq<str>,kind:Kind,next:option<Job>,\
             weights:map<str,f32>,pair:(u8,char),key:[u8;4]}\n\
             enum Kind{Idle,Retry(u32),Point(i16,i16),Moved{x:i8}}"
        );
    }

    #[test]
    fn plain_types_have_no_definitions() {
        assert_eq!(of::<u64>().unwrap(), "u64");
        assert_eq!(of::<(u32, String)>().unwrap(), "(u32,str)");
        assert_eq!(of::<Vec<Option<bool>>>().unwrap(), "seq<option<bool>>");
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum Command {
        Stop,
        Start(Config),
        Then(u8, Box<Command>),
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Config {
        mode: Mode,
        path: Option<String>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum Mode {
        Fast,
        Safe { retries: u8 },
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum Nested {
        Plain,
        Deeper(Mode),
    }

    #[test]
    fn enums_of_structs_and_recursion_are_traced_whole() {
        assert_eq!(
            of::<Command>().unwrap(),
            "Command\n\
             enum Command{Stop,Start(Config),Then(u8,Command)}\n\
             struct Config{mode:Mode,path:option<str>}\n\
             enum Mode{Fast,Safe{retries:u8}}"
        );
    }

    #[test]
    fn an_enum_inside_another_enums_variant_is_traced_too() {
        // What serde-reflection leaves incomplete.
        assert_eq!(
            of::<Nested>().unwrap(),
            "Nested\n\
             enum Mode{Fast,Safe{retries:u8}}\n\
             enum Nested{Plain,Deeper(Mode)}"
        );
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum List {
        Cons(u8, Box<List>),
        Nil,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Wrap<T>(T);

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Unit;

    #[test]
    fn recursion_through_the_first_variant_ends() {
        assert_eq!(of::<List>().unwrap(), "List\nenum List{Cons(u8,List),Nil}");
    }

    #[test]
    fn newtypes_units_and_arrays() {
        assert_eq!(
            of::<(Wrap<u16>, Unit, [i32; 3], Vec<u8>)>().unwrap(),
            "(Wrap,Unit,[i32;3],seq<u8>)\nstruct Unit\nstruct Wrap(u16)"
        );
    }

    #[test]
    fn what_cannot_be_traced_has_no_shape() {
        // One name, two shapes: the text could not say which is which.
        assert_eq!(of::<(Wrap<u8>, Wrap<String>)>(), None);
        // A value that asks the data what it is.
        #[allow(dead_code)]
        #[derive(Deserialize)]
        struct Flat {
            #[serde(flatten)]
            rest: BTreeMap<String, u8>,
        }
        assert_eq!(of::<Flat>(), None);
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            A(u8),
            B(String),
        }
        assert_eq!(of::<Either>(), None);
    }
}
