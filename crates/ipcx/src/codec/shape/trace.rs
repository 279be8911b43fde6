//! The tracer: a serde `Deserializer` that makes up a value of a type and
//! writes down, as it goes, what the type asked for. One pass takes one
//! variant of each enum it meets; a plan says which. Passes go on until
//! every variant of every enum has been seen.
//!
//! Made-up values are the smallest: 0, false, "", an option `Some` and a
//! sequence or map of one element where the shape is being recorded, else
//! `None` and empty. Inside a type that contains itself (a recursive
//! type's second visit) nothing is recorded and the nth nested visit of an
//! enum takes variant n, so the value ends.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::U32Deserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{Container, Format, Variant};

/// Which variant an enum takes the first time a pass meets it.
pub(super) type Plan = BTreeMap<&'static str, u32>;

/// Deeper than this is a type that never ends (or not worth tracing).
const MAX_DEPTH: usize = 128;

/// Everything passes have learnt.
#[derive(Default)]
pub(super) struct Trace {
    pub(super) containers: BTreeMap<&'static str, Container>,
    /// The plan of the pass that first met each enum: it leads back there.
    pub(super) found_by: BTreeMap<&'static str, Plan>,
    plan: Plan,
    /// Named types being made, outermost first.
    stack: Vec<&'static str>,
    /// Above 0 inside a recursive visit: nothing is recorded.
    quiet: usize,
    /// The format of what the last deserialize call made.
    last: Format,
    /// The formats of the elements of the sequences being made.
    elements: Vec<Vec<Format>>,
    /// The variant the last enum access made.
    variant: Option<Variant>,
}

/// Why a type cannot be traced.
#[derive(Debug)]
pub(super) struct Untraceable(String);

impl fmt::Display for Untraceable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untraceable {}

impl de::Error for Untraceable {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Untraceable(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, Untraceable>;

impl Trace {
    /// Makes one value of `T` under `plan`; returns `T`'s own format.
    pub(super) fn pass<T: de::DeserializeOwned>(&mut self, plan: Plan) -> Result<Format> {
        self.plan = plan;
        self.stack.clear();
        self.quiet = 0;
        T::deserialize(De { t: self })?;
        Ok(std::mem::take(&mut self.last))
    }

    /// The next plan: one that leads to a variant not seen yet.
    pub(super) fn next_plan(&self) -> Option<(Plan, &'static str, u32)> {
        self.containers.iter().find_map(|(&name, c)| {
            let Container::Enum(variants) = c else {
                return None;
            };
            let missing = variants.iter().position(Option::is_none)?;
            let mut plan = self.found_by.get(name).cloned().unwrap_or_default();
            let index = u32::try_from(missing).ok()?;
            plan.insert(name, index);
            Some((plan, name, index))
        })
    }

    fn record(&mut self, name: &'static str, container: Container) -> Result<()> {
        match self.containers.get(name) {
            None => {
                self.containers.insert(name, container);
                Ok(())
            }
            Some(known) if *known == container => Ok(()),
            Some(_) => Err(Untraceable(format!(
                "two different types are both called `{name}`"
            ))),
        }
    }

    /// Runs `make` with `name` on the stack; quiet if `name` was already on it.
    fn inside<R>(
        &mut self,
        name: &'static str,
        make: impl FnOnce(&mut Self) -> Result<R>,
    ) -> Result<(R, bool)> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Untraceable(format!(
                "`{name}` nests deeper than {MAX_DEPTH}"
            )));
        }
        let reentered = self.stack.contains(&name);
        let quiet = reentered || self.quiet > 0;
        self.stack.push(name);
        self.quiet += usize::from(reentered);
        let made = make(self);
        self.quiet -= usize::from(reentered);
        self.stack.pop();
        Ok((made?, quiet))
    }

    /// Makes `len` elements through `visitor`; their formats.
    fn elements<V: Visitor<'static>>(
        &mut self,
        len: usize,
        visitor: V,
    ) -> Result<(V::Value, Vec<Format>)> {
        self.elements.push(Vec::with_capacity(len));
        let value = visitor.visit_seq(Elements { t: self, left: len });
        let formats = self.elements.pop().unwrap_or_default();
        Ok((value?, formats))
    }
}

struct De<'t> {
    t: &'t mut Trace,
}

impl De<'_> {
    fn leaf<V>(self, format: Format, value: Result<V>) -> Result<V> {
        let value = value?;
        self.t.last = format;
        Ok(value)
    }
}

macro_rules! leaves {
    ($($method:ident => $visit:ident($value:expr), $format:ident;)*) => {
        $(
            fn $method<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
                let value = visitor.$visit($value);
                self.leaf(Format::$format, value)
            }
        )*
    };
}

impl<'t> de::Deserializer<'static> for De<'t> {
    type Error = Untraceable;

    leaves! {
        deserialize_bool => visit_bool(false), Bool;
        deserialize_i8 => visit_i8(0), I8;
        deserialize_i16 => visit_i16(0), I16;
        deserialize_i32 => visit_i32(0), I32;
        deserialize_i64 => visit_i64(0), I64;
        deserialize_i128 => visit_i128(0), I128;
        deserialize_u8 => visit_u8(0), U8;
        deserialize_u16 => visit_u16(0), U16;
        deserialize_u32 => visit_u32(0), U32;
        deserialize_u64 => visit_u64(0), U64;
        deserialize_u128 => visit_u128(0), U128;
        deserialize_f32 => visit_f32(0.0), F32;
        deserialize_f64 => visit_f64(0.0), F64;
        deserialize_char => visit_char('\0'), Char;
        deserialize_str => visit_borrowed_str(""), Str;
        deserialize_string => visit_string(String::new()), Str;
        deserialize_bytes => visit_borrowed_bytes(&[]), Bytes;
        deserialize_byte_buf => visit_byte_buf(Vec::new()), Bytes;
    }

    fn deserialize_unit<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
        let value = visitor.visit_unit();
        self.leaf(Format::Unit, value)
    }

    fn deserialize_any<V: Visitor<'static>>(self, _: V) -> Result<V::Value> {
        Err(Untraceable(
            "the type describes itself as it goes (deserialize_any: untagged, flatten, \
             self-describing values)"
                .into(),
        ))
    }

    fn deserialize_ignored_any<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_any(visitor)
    }

    fn deserialize_identifier<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
        if self.t.quiet > 0 {
            let value = visitor.visit_none();
            return self.leaf(Format::Unknown, value);
        }
        let value = visitor.visit_some(De { t: &mut *self.t })?;
        let inner = std::mem::take(&mut self.t.last);
        self.t.last = Format::Option(Box::new(inner));
        Ok(value)
    }

    fn deserialize_seq<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
        let len = usize::from(self.t.quiet == 0);
        let (value, mut items) = self.t.elements(len, visitor)?;
        self.t.last = Format::Seq(Box::new(items.pop().unwrap_or_default()));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'static>>(self, len: usize, visitor: V) -> Result<V::Value> {
        let (value, items) = self.t.elements(len, visitor)?;
        self.t.last = Format::tuple(items);
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value> {
        let entries = usize::from(self.t.quiet == 0);
        self.t.elements.push(Vec::with_capacity(2));
        let value = visitor.visit_map(Entries {
            t: &mut *self.t,
            left: entries,
        });
        let mut kv = self.t.elements.pop().unwrap_or_default().into_iter();
        let value = value?;
        let key = kv.next().unwrap_or_default();
        let val = kv.next().unwrap_or_default();
        self.t.last = Format::Map(Box::new(key), Box::new(val));
        Ok(value)
    }

    fn deserialize_unit_struct<V: Visitor<'static>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        let value = visitor.visit_unit()?;
        if self.t.quiet == 0 {
            self.t.record(name, Container::UnitStruct)?;
        }
        self.t.last = Format::Named(name);
        Ok(value)
    }

    fn deserialize_newtype_struct<V: Visitor<'static>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        let (value, quiet) = self
            .t
            .inside(name, |t| visitor.visit_newtype_struct(De { t }))?;
        if !quiet {
            let inner = std::mem::take(&mut self.t.last);
            self.t.record(name, Container::Newtype(inner))?;
        }
        self.t.last = Format::Named(name);
        Ok(value)
    }

    fn deserialize_tuple_struct<V: Visitor<'static>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        let ((value, items), quiet) = self.t.inside(name, |t| t.elements(len, visitor))?;
        if !quiet {
            self.t.record(name, Container::Tuple(items))?;
        }
        self.t.last = Format::Named(name);
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'static>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let ((value, items), quiet) = self.t.inside(name, |t| t.elements(fields.len(), visitor))?;
        if !quiet {
            let named = fields.iter().copied().zip(items).collect();
            self.t.record(name, Container::Struct(named))?;
        }
        self.t.last = Format::Named(name);
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'static>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if variants.is_empty() {
            return Err(Untraceable(format!(
                "`{name}` has no variants: no value exists"
            )));
        }
        let t = self.t;
        let nested = t.stack.iter().filter(|&&n| n == name).count();
        let recording = t.quiet == 0 && nested == 0;
        let index = if recording {
            if !t.containers.contains_key(name) {
                t.containers
                    .insert(name, Container::Enum(vec![None; variants.len()]));
                t.found_by.insert(name, t.plan.clone());
            }
            t.plan.get(name).copied().unwrap_or(0)
        } else {
            u32::try_from(nested % variants.len()).unwrap_or(0)
        };
        let chosen = variants
            .get(index as usize)
            .ok_or_else(|| Untraceable(format!("`{name}` has no variant {index}")))?;
        let (value, _) = t.inside(name, |t| visitor.visit_enum(Choice { t, index }))?;
        let made = t.variant.take();
        if recording {
            let Some(Container::Enum(slots)) = t.containers.get_mut(name) else {
                return Err(Untraceable(format!("`{name}` is an enum and a struct")));
            };
            let made =
                made.ok_or_else(|| Untraceable(format!("`{name}::{chosen}` made nothing")))?;
            match &slots[index as usize] {
                None => slots[index as usize] = Some((chosen, made)),
                Some((_, known)) if *known == made => {}
                Some(_) => {
                    return Err(Untraceable(format!(
                        "two different types are both called `{name}`"
                    )))
                }
            }
        }
        t.last = Format::Named(name);
        Ok(value)
    }

    fn is_human_readable(&self) -> bool {
        false // as postcard
    }
}

/// A sequence (or struct, or tuple) of `left` made-up elements.
struct Elements<'t> {
    t: &'t mut Trace,
    left: usize,
}

impl de::SeqAccess<'static> for Elements<'_> {
    type Error = Untraceable;

    fn next_element_seed<S: DeserializeSeed<'static>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let value = seed.deserialize(De { t: &mut *self.t })?;
        let format = std::mem::take(&mut self.t.last);
        if let Some(items) = self.t.elements.last_mut() {
            items.push(format);
        }
        Ok(Some(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A map of `left` made-up entries; their key and value formats go to the
/// top of `elements`.
struct Entries<'t> {
    t: &'t mut Trace,
    left: usize,
}

impl de::MapAccess<'static> for Entries<'_> {
    type Error = Untraceable;

    fn next_key_seed<K: DeserializeSeed<'static>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let key = seed.deserialize(De { t: &mut *self.t })?;
        let format = std::mem::take(&mut self.t.last);
        if let Some(items) = self.t.elements.last_mut() {
            items.push(format);
        }
        Ok(Some(key))
    }

    fn next_value_seed<S: DeserializeSeed<'static>>(&mut self, seed: S) -> Result<S::Value> {
        let value = seed.deserialize(De { t: &mut *self.t })?;
        let format = std::mem::take(&mut self.t.last);
        if let Some(items) = self.t.elements.last_mut() {
            items.push(format);
        }
        Ok(value)
    }
}

/// The variant a pass takes, by index (as postcard sends it).
struct Choice<'t> {
    t: &'t mut Trace,
    index: u32,
}

impl<'t> de::EnumAccess<'static> for Choice<'t> {
    type Error = Untraceable;
    type Variant = Choice<'t>;

    fn variant_seed<S: DeserializeSeed<'static>>(self, seed: S) -> Result<(S::Value, Self)> {
        let index: U32Deserializer<Untraceable> = self.index.into_deserializer();
        Ok((seed.deserialize(index)?, self))
    }
}

impl de::VariantAccess<'static> for Choice<'_> {
    type Error = Untraceable;

    fn unit_variant(self) -> Result<()> {
        self.t.variant = Some(Variant::Unit);
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'static>>(self, seed: S) -> Result<S::Value> {
        let value = seed.deserialize(De { t: &mut *self.t })?;
        let inner = std::mem::take(&mut self.t.last);
        self.t.variant = Some(Variant::Newtype(inner));
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'static>>(self, len: usize, visitor: V) -> Result<V::Value> {
        let (value, items) = self.t.elements(len, visitor)?;
        self.t.variant = Some(Variant::Tuple(items));
        Ok(value)
    }

    fn struct_variant<V: Visitor<'static>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let (value, items) = self.t.elements(fields.len(), visitor)?;
        self.t.variant = Some(Variant::Struct(fields.iter().copied().zip(items).collect()));
        Ok(value)
    }
}
