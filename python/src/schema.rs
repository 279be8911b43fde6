//! A message type declared in Python (`ipcx._schema.describe`: a
//! dataclass or an enum) as ipcx declares a Rust serde type: the identity
//! text of docs/wire.md, whose fingerprint the hello carries, and the
//! formats that postcard.rs encodes and decodes.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple, PyType};

/// One format of the grammar in docs/wire.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    Bool,
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
    F32,
    F64,
    Char,
    Str,
    Bytes,
    Unit,
    Option(Box<Format>),
    Seq(Box<Format>),
    Map(Box<Format>, Box<Format>),
    Tuple(Vec<Format>),
    /// A struct or enum, by its index in [`Schema::definitions`].
    Ref(usize),
}

/// A struct (a dataclass) or an enum of unit variants.
#[derive(Debug)]
pub(crate) enum Definition {
    Struct {
        name: String,
        class: Py<PyType>,
        /// Field names (interned, for `getattr` and keyword arguments)
        /// and formats, in order.
        fields: Vec<(Py<PyString>, Format)>,
    },
    Enum {
        name: String,
        /// The members, in declaration order (postcard sends the index).
        members: Vec<Py<PyAny>>,
    },
}

impl Definition {
    pub(crate) fn name(&self) -> &str {
        match self {
            Definition::Struct { name, .. } | Definition::Enum { name, .. } => name,
        }
    }
}

/// A Python message type: its name, format and definitions.
#[derive(Debug)]
pub(crate) struct Schema {
    pub(crate) name: String,
    pub(crate) top: Format,
    pub(crate) definitions: Vec<Definition>,
}

impl Schema {
    /// The schema of `class`, through `ipcx._schema.describe`.
    pub(crate) fn of(class: &Bound<'_, PyAny>) -> PyResult<Schema> {
        let py = class.py();
        let described = py
            .import("ipcx._schema")?
            .getattr("describe")?
            .call1((class,))?;
        let (name, top, definitions): (String, Bound<'_, PyTuple>, Bound<'_, PyList>) =
            described.extract()?;
        let names: Vec<String> = definitions
            .iter()
            .map(|d| d.get_item(1)?.extract::<String>())
            .collect::<PyResult<_>>()?;
        let top = format(&top, &names)?;
        let definitions = definitions
            .iter()
            .map(|d| definition(&d, &names))
            .collect::<PyResult<_>>()?;
        Ok(Schema {
            name,
            top,
            definitions,
        })
    }

    /// The identity both ends compare: the name, the format line and one
    /// line per definition (sorted by name, as `describe` gives them).
    pub(crate) fn identity(&self) -> ipcx::Identity {
        let mut shape = self.text(&self.top);
        for d in &self.definitions {
            shape.push('\n');
            shape.push_str(&self.definition_text(d));
        }
        ipcx::Identity::from_shape(&self.name, &shape)
    }

    fn text(&self, f: &Format) -> String {
        match f {
            Format::Bool => "bool".into(),
            Format::U8 => "u8".into(),
            Format::U16 => "u16".into(),
            Format::U32 => "u32".into(),
            Format::U64 => "u64".into(),
            Format::U128 => "u128".into(),
            Format::I8 => "i8".into(),
            Format::I16 => "i16".into(),
            Format::I32 => "i32".into(),
            Format::I64 => "i64".into(),
            Format::I128 => "i128".into(),
            Format::F32 => "f32".into(),
            Format::F64 => "f64".into(),
            Format::Char => "char".into(),
            Format::Str => "str".into(),
            Format::Bytes => "bytes".into(),
            Format::Unit => "()".into(),
            Format::Option(inner) => format!("option<{}>", self.text(inner)),
            Format::Seq(inner) => format!("seq<{}>", self.text(inner)),
            Format::Map(k, v) => format!("map<{},{}>", self.text(k), self.text(v)),
            // Postcard encodes a tuple of one format as an array of it.
            Format::Tuple(items) if items.len() > 1 && items.iter().all(|i| *i == items[0]) => {
                format!("[{};{}]", self.text(&items[0]), items.len())
            }
            Format::Tuple(items) => {
                let items: Vec<String> = items.iter().map(|i| self.text(i)).collect();
                format!("({})", items.join(","))
            }
            Format::Ref(i) => self.definitions[*i].name().to_owned(),
        }
    }

    fn definition_text(&self, d: &Definition) -> String {
        Python::attach(|py| match d {
            Definition::Struct { name, fields, .. } if fields.is_empty() => {
                format!("struct {name}")
            }
            Definition::Struct { name, fields, .. } => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(n, f)| format!("{}:{}", n.bind(py), self.text(f)))
                    .collect();
                format!("struct {name}{{{}}}", fields.join(","))
            }
            Definition::Enum { name, members, .. } => {
                let names: Vec<String> = members
                    .iter()
                    .map(|m| {
                        m.bind(py)
                            .getattr("name")
                            .and_then(|n| n.extract::<String>())
                            .unwrap_or_default()
                    })
                    .collect();
                format!("enum {name}{{{}}}", names.join(","))
            }
        })
    }
}

/// A format from `describe`'s tuples.
fn format(node: &Bound<'_, PyTuple>, names: &[String]) -> PyResult<Format> {
    let kind: String = node.get_item(0)?.extract()?;
    let sub = |i: usize| -> PyResult<Box<Format>> {
        Ok(Box::new(format(&node.get_item(i)?.cast_into()?, names)?))
    };
    Ok(match kind.as_str() {
        "bool" => Format::Bool,
        "u8" => Format::U8,
        "u16" => Format::U16,
        "u32" => Format::U32,
        "u64" => Format::U64,
        "u128" => Format::U128,
        "i8" => Format::I8,
        "i16" => Format::I16,
        "i32" => Format::I32,
        "i64" => Format::I64,
        "i128" => Format::I128,
        "f32" => Format::F32,
        "f64" => Format::F64,
        "char" => Format::Char,
        "str" => Format::Str,
        "bytes" => Format::Bytes,
        "()" => Format::Unit,
        "option" => Format::Option(sub(1)?),
        "seq" => Format::Seq(sub(1)?),
        "map" => Format::Map(sub(1)?, sub(2)?),
        "tuple" => Format::Tuple(
            node.get_item(1)?
                .cast_into::<PyList>()?
                .iter()
                .map(|item| format(&item.cast_into()?, names))
                .collect::<PyResult<_>>()?,
        ),
        "ref" => {
            let name: String = node.get_item(1)?.extract()?;
            Format::Ref(
                names
                    .iter()
                    .position(|n| *n == name)
                    .ok_or_else(|| PyTypeError::new_err(format!("{name} is not defined")))?,
            )
        }
        other => return Err(PyTypeError::new_err(format!("unknown format {other:?}"))),
    })
}

fn definition(node: &Bound<'_, PyAny>, names: &[String]) -> PyResult<Definition> {
    let (kind, name, class, items): (String, String, Bound<'_, PyType>, Bound<'_, PyList>) =
        node.extract()?;
    let py = node.py();
    Ok(match kind.as_str() {
        "struct" => Definition::Struct {
            name,
            class: class.unbind(),
            fields: items
                .iter()
                .map(|field| {
                    let (field, f): (String, Bound<'_, PyTuple>) = field.extract()?;
                    Ok((PyString::intern(py, &field).unbind(), format(&f, names)?))
                })
                .collect::<PyResult<_>>()?,
        },
        "enum" => Definition::Enum {
            name,
            members: items.iter().map(Bound::unbind).collect(),
        },
        other => {
            return Err(PyTypeError::new_err(format!(
                "unknown definition {other:?}"
            )))
        }
    })
}
