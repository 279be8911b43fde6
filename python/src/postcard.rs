//! Python values to and from postcard, the encoding a Rust peer's serde
//! uses (<https://postcard.jamesmunns.com/wire-format>): integers as
//! LEB128 varints (signed ones zigzagged; `u8`/`i8` as one byte), floats
//! little-endian, strings and byte strings with a varint length, an option
//! as a 0/1 tag, sequences and maps with a varint count, structs and
//! tuples as their items in order, an enum variant as its varint index.
//!
//! Encoding errors name the field (`Job.size.width`); decoding checks every
//! length and tag, since the bytes come from another process.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

use crate::schema::{Definition, Format, Schema};

/// Deeper than this, a message is refused (a recursive type nested by a
/// hostile peer would otherwise take the stack).
const MAX_DEPTH: usize = 128;

/// `value` as postcard bytes of `schema`'s type.
pub(crate) fn encode(schema: &Schema, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let mut enc = Encoder {
        schema,
        out: &mut out,
    };
    enc.value(&schema.top, value, &schema.name, 0)?;
    Ok(out)
}

/// A message's bytes as a value of `schema`'s type; `Err` says what is
/// wrong and at which byte.
pub(crate) fn decode(py: Python<'_>, schema: &Schema, bytes: &[u8]) -> PyResult<Py<PyAny>> {
    let mut dec = Decoder {
        schema,
        bytes,
        at: 0,
    };
    let value = dec.value(py, &schema.top, 0)?;
    if dec.at != bytes.len() {
        return Err(dec.bad(format!(
            "{} bytes left after the value",
            bytes.len() - dec.at
        )));
    }
    Ok(value)
}

struct Encoder<'a> {
    schema: &'a Schema,
    out: &'a mut Vec<u8>,
}

fn wrong(path: &str, want: &str, v: &Bound<'_, PyAny>) -> PyErr {
    let got = v
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!("{path}: expected {want}, got {got}"))
}

impl Encoder<'_> {
    fn varint(&mut self, mut n: u128) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn int<T: TryFrom<i128> + TryFrom<u128>>(
        &mut self,
        v: &Bound<'_, PyAny>,
        path: &str,
        range: &str,
    ) -> PyResult<T> {
        if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
            return Err(wrong(path, "an int", v));
        }
        let fits = match v.extract::<i128>() {
            Ok(n) => T::try_from(n).ok(),
            Err(_) => v.extract::<u128>().ok().and_then(|n| T::try_from(n).ok()),
        };
        fits.ok_or_else(|| {
            PyValueError::new_err(format!("{path}: {v} is out of range for {range}"))
        })
    }

    fn len(&mut self, n: usize) {
        self.varint(n as u128);
    }

    fn value(
        &mut self,
        f: &Format,
        v: &Bound<'_, PyAny>,
        path: &str,
        depth: usize,
    ) -> PyResult<()> {
        if depth > MAX_DEPTH {
            return Err(PyValueError::new_err(format!(
                "{path}: nested deeper than {MAX_DEPTH}"
            )));
        }
        match f {
            Format::Bool => {
                let b = v.cast::<PyBool>().map_err(|_| wrong(path, "a bool", v))?;
                self.out.push(u8::from(b.is_true()));
            }
            Format::U8 => {
                let n: u8 = self.int(v, path, "u8")?;
                self.out.push(n);
            }
            Format::I8 => {
                let n: i8 = self.int(v, path, "i8")?;
                self.out.push(n as u8);
            }
            Format::U16 => {
                let n: u16 = self.int(v, path, "u16")?;
                self.varint(n.into());
            }
            Format::U32 => {
                let n: u32 = self.int(v, path, "u32")?;
                self.varint(n.into());
            }
            Format::U64 => {
                let n: u64 = self.int(v, path, "u64")?;
                self.varint(n.into());
            }
            Format::U128 => {
                let n: u128 = self.int(v, path, "u128")?;
                self.varint(n);
            }
            Format::I16 => {
                let n: i16 = self.int(v, path, "i16")?;
                self.varint(zigzag(n.into()));
            }
            Format::I32 => {
                let n: i32 = self.int(v, path, "i32")?;
                self.varint(zigzag(n.into()));
            }
            Format::I64 => {
                let n: i64 = self.int(v, path, "i64")?;
                self.varint(zigzag(n.into()));
            }
            Format::I128 => {
                let n: i128 = self.int(v, path, "i128")?;
                self.varint(zigzag(n));
            }
            Format::F32 | Format::F64 => {
                if v.is_instance_of::<PyBool>() {
                    return Err(wrong(path, "a float", v));
                }
                let x: f64 = v.extract().map_err(|_| wrong(path, "a float", v))?;
                match f {
                    Format::F32 => self.out.extend_from_slice(&(x as f32).to_le_bytes()),
                    _ => self.out.extend_from_slice(&x.to_le_bytes()),
                }
            }
            Format::Char => {
                let s = v
                    .cast::<PyString>()
                    .map_err(|_| wrong(path, "a str of one character", v))?;
                let s = s.to_cow()?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        let mut buf = [0; 4];
                        let c = c.encode_utf8(&mut buf);
                        self.len(c.len());
                        self.out.extend_from_slice(c.as_bytes());
                    }
                    _ => {
                        return Err(PyValueError::new_err(format!(
                            "{path}: {s:?} is not one character"
                        )))
                    }
                }
            }
            Format::Str => {
                let s = v.cast::<PyString>().map_err(|_| wrong(path, "a str", v))?;
                let s = s.to_cow()?;
                self.len(s.len());
                self.out.extend_from_slice(s.as_bytes());
            }
            Format::Bytes => self.bytes(v, path)?,
            Format::Unit => {
                if !v.is_none() {
                    return Err(wrong(path, "None", v));
                }
            }
            Format::Option(inner) => {
                if v.is_none() {
                    self.out.push(0);
                } else {
                    self.out.push(1);
                    self.value(inner, v, path, depth + 1)?;
                }
            }
            Format::Seq(inner) => {
                if **inner == Format::U8
                    && (v.is_instance_of::<PyBytes>() || v.is_instance_of::<PyByteArray>())
                {
                    return self.bytes(v, path);
                }
                if v.is_instance_of::<PyString>() || v.is_instance_of::<PyDict>() {
                    return Err(wrong(path, "a list", v));
                }
                let n = v.len().map_err(|_| wrong(path, "a list", v))?;
                self.len(n);
                for (i, item) in v.try_iter()?.enumerate() {
                    self.value(inner, &item?, &format!("{path}[{i}]"), depth + 1)?;
                }
            }
            Format::Map(k, val) => {
                let d = v.cast::<PyDict>().map_err(|_| wrong(path, "a dict", v))?;
                self.len(d.len());
                for (key, item) in d.iter() {
                    self.value(k, &key, &format!("{path} key"), depth + 1)?;
                    self.value(val, &item, &format!("{path}[{key}]"), depth + 1)?;
                }
            }
            Format::Tuple(items) => {
                if !(v.is_instance_of::<PyTuple>() || v.is_instance_of::<PyList>()) {
                    return Err(wrong(path, "a tuple", v));
                }
                if v.len()? != items.len() {
                    return Err(PyValueError::new_err(format!(
                        "{path}: a tuple of {} items, not {}",
                        items.len(),
                        v.len()?
                    )));
                }
                for (i, (f, item)) in items.iter().zip(v.try_iter()?).enumerate() {
                    self.value(f, &item?, &format!("{path}[{i}]"), depth + 1)?;
                }
            }
            Format::Ref(i) => match &self.schema.definitions[*i] {
                Definition::Struct {
                    name,
                    class,
                    fields,
                } => {
                    let py = v.py();
                    let is_dict = v.is_instance_of::<PyDict>();
                    if !is_dict && !v.is_instance(class.bind(py))? {
                        return Err(wrong(path, &format!("a {name}"), v));
                    }
                    for (field, f) in fields {
                        let item = if is_dict {
                            v.get_item(field.bind(py))
                        } else {
                            v.getattr(field.bind(py))
                        }
                        .map_err(|_| {
                            PyTypeError::new_err(format!("{path}: no field {}", field.bind(py)))
                        })?;
                        self.value(f, &item, &format!("{path}.{}", field.bind(py)), depth + 1)?;
                    }
                }
                Definition::Enum { name, members, .. } => {
                    let py = v.py();
                    let index = members
                        .iter()
                        .position(|m| m.bind(py).is(v))
                        .ok_or_else(|| wrong(path, &format!("a member of {name}"), v))?;
                    self.varint(index as u128);
                }
            },
        }
        Ok(())
    }

    fn bytes(&mut self, v: &Bound<'_, PyAny>, path: &str) -> PyResult<()> {
        if let Ok(b) = v.cast::<PyBytes>() {
            self.len(b.as_bytes().len());
            self.out.extend_from_slice(b.as_bytes());
        } else if let Ok(b) = v.cast::<PyByteArray>() {
            let b = b.to_vec();
            self.len(b.len());
            self.out.extend_from_slice(&b);
        } else {
            return Err(wrong(path, "bytes", v));
        }
        Ok(())
    }
}

fn zigzag(n: i128) -> u128 {
    ((n << 1) ^ (n >> 127)) as u128
}

struct Decoder<'a> {
    schema: &'a Schema,
    bytes: &'a [u8],
    at: usize,
}

impl Decoder<'_> {
    fn bad(&self, what: String) -> PyErr {
        crate::errors::ProtocolError::new_err(format!(
            "a {}-byte message is not a {}: {what} (at byte {})",
            self.bytes.len(),
            self.schema.name,
            self.at
        ))
    }

    fn take(&mut self, n: usize) -> PyResult<&[u8]> {
        if self.bytes.len() - self.at < n {
            return Err(self.bad(format!("{n} more bytes were expected")));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn varint(&mut self, bits: u32) -> PyResult<u128> {
        let mut n: u128 = 0;
        let mut shift = 0;
        loop {
            let byte = self.take(1)?[0];
            let part = u128::from(byte & 0x7f);
            if shift >= bits || (part << shift) >> shift != part {
                return Err(self.bad(format!("a varint too long for {bits} bits")));
            }
            n |= part << shift;
            if byte & 0x80 == 0 {
                if bits < 128 && n >> bits != 0 {
                    return Err(self.bad(format!("a varint too large for {bits} bits")));
                }
                return Ok(n);
            }
            shift += 7;
        }
    }

    fn signed(&mut self, bits: u32) -> PyResult<i128> {
        let z = self.varint(bits)?;
        Ok(((z >> 1) as i128) ^ -((z & 1) as i128))
    }

    fn len(&mut self) -> PyResult<usize> {
        let n = self.varint(64)?;
        usize::try_from(n).map_err(|_| self.bad("a length too large".into()))
    }

    fn value(&mut self, py: Python<'_>, f: &Format, depth: usize) -> PyResult<Py<PyAny>> {
        if depth > MAX_DEPTH {
            return Err(self.bad(format!("nested deeper than {MAX_DEPTH}")));
        }
        Ok(match f {
            Format::Bool => match self.take(1)?[0] {
                0 => false.into_pyobject(py)?.to_owned().into_any().unbind(),
                1 => true.into_pyobject(py)?.to_owned().into_any().unbind(),
                b => return Err(self.bad(format!("{b} is not a bool"))),
            },
            Format::U8 => self.take(1)?[0].into_pyobject(py)?.into_any().unbind(),
            Format::I8 => (self.take(1)?[0] as i8)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            Format::U16 => self.varint(16)?.into_pyobject(py)?.into_any().unbind(),
            Format::U32 => self.varint(32)?.into_pyobject(py)?.into_any().unbind(),
            Format::U64 => self.varint(64)?.into_pyobject(py)?.into_any().unbind(),
            Format::U128 => self.varint(128)?.into_pyobject(py)?.into_any().unbind(),
            Format::I16 => self.signed(16)?.into_pyobject(py)?.into_any().unbind(),
            Format::I32 => self.signed(32)?.into_pyobject(py)?.into_any().unbind(),
            Format::I64 => self.signed(64)?.into_pyobject(py)?.into_any().unbind(),
            Format::I128 => self.signed(128)?.into_pyobject(py)?.into_any().unbind(),
            Format::F32 => {
                let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
                f64::from(f32::from_le_bytes(b))
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
            Format::F64 => {
                let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                f64::from_le_bytes(b).into_pyobject(py)?.into_any().unbind()
            }
            Format::Char | Format::Str => {
                let n = self.len()?;
                let start = self.at;
                self.take(n)?;
                let bytes = self.bytes;
                let s = std::str::from_utf8(&bytes[start..start + n])
                    .map_err(|e| self.bad(format!("a string that is not UTF-8 ({e})")))?;
                if *f == Format::Char && s.chars().count() != 1 {
                    return Err(self.bad(format!("{s:?} is not one character")));
                }
                PyString::new(py, s).into_any().unbind()
            }
            Format::Bytes => {
                let n = self.len()?;
                PyBytes::new(py, self.take(n)?).into_any().unbind()
            }
            Format::Unit => py.None(),
            Format::Option(inner) => match self.take(1)?[0] {
                0 => py.None(),
                1 => self.value(py, inner, depth + 1)?,
                b => return Err(self.bad(format!("{b} is not an option's tag"))),
            },
            Format::Seq(inner) => {
                let n = self.count()?;
                let list = PyList::empty(py);
                for _ in 0..n {
                    list.append(self.value(py, inner, depth + 1)?)?;
                }
                list.into_any().unbind()
            }
            Format::Map(k, v) => {
                let n = self.count()?;
                let dict = PyDict::new(py);
                for _ in 0..n {
                    let key = self.value(py, k, depth + 1)?;
                    let value = self.value(py, v, depth + 1)?;
                    dict.set_item(key, value)?;
                }
                dict.into_any().unbind()
            }
            Format::Tuple(items) => {
                let values = items
                    .iter()
                    .map(|f| self.value(py, f, depth + 1))
                    .collect::<PyResult<Vec<_>>>()?;
                PyTuple::new(py, values)?.into_any().unbind()
            }
            Format::Ref(i) => match &self.schema.definitions[*i] {
                Definition::Struct { class, fields, .. } => {
                    let kwargs = PyDict::new(py);
                    for (field, f) in fields {
                        kwargs.set_item(field.bind(py), self.value(py, f, depth + 1)?)?;
                    }
                    class.bind(py).call((), Some(&kwargs))?.unbind()
                }
                Definition::Enum { name, members, .. } => {
                    let index = self.varint(32)?;
                    members
                        .get(index as usize)
                        .ok_or_else(|| self.bad(format!("{name} has no variant {index}")))?
                        .clone_ref(py)
                }
            },
        })
    }

    /// A sequence's or map's count: at most one item per byte left (an
    /// item of a zero-sized format, `()`, still counts one), so a hostile
    /// count cannot make us build more than the message holds.
    fn count(&mut self) -> PyResult<usize> {
        let n = self.len()?;
        let left = self.bytes.len() - self.at;
        if n > left.max(1 << 16) {
            return Err(self.bad(format!("a count of {n} items in {left} bytes")));
        }
        Ok(n)
    }
}
