"""Python types as ipcx message shapes (docs/wire.md, "Message identity").

``describe(cls)`` turns a dataclass (or an ``enum.Enum``) into the tree the
extension module renders as the identity text and encodes with postcard,
so a Python sender and a Rust ``Receiver<Job>`` declare the same identity.

Annotations map as Rust's serde types do:

=====================================  ======================
Python                                 Rust (format)
=====================================  ======================
``bool``                               ``bool``
``int``                                ``i64``
``float``                              ``f64``
``str``                                ``String`` (``str``)
``bytes``                              ``serde_bytes::ByteBuf`` (``bytes``)
``ipcx.u8`` … ``ipcx.u128``,           the same Rust integer
``ipcx.i8`` … ``ipcx.i128``
``ipcx.f32``, ``ipcx.char``            ``f32``, ``char``
``None``                               ``()``
``Optional[T]``                        ``Option<T>``
``list[T]``, ``tuple[T, ...]``         ``Vec<T>`` (``seq<T>``)
``dict[K, V]``                         ``HashMap``/``BTreeMap`` (``map<K,V>``)
``tuple[A, B]``                        ``(A, B)``
a dataclass                            a struct, fields in order
an ``enum.Enum``                       an enum of unit variants, in order
=====================================  ======================
"""

import dataclasses
import enum
import types
import typing

u8 = typing.NewType("u8", int)
u16 = typing.NewType("u16", int)
u32 = typing.NewType("u32", int)
u64 = typing.NewType("u64", int)
u128 = typing.NewType("u128", int)
i8 = typing.NewType("i8", int)
i16 = typing.NewType("i16", int)
i32 = typing.NewType("i32", int)
i64 = typing.NewType("i64", int)
i128 = typing.NewType("i128", int)
f32 = typing.NewType("f32", float)
char = typing.NewType("char", str)

_NEWTYPES = {
    t: t.__name__ for t in (u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, char)
}
_PLAIN = {bool: "bool", int: "i64", float: "f64", str: "str", bytes: "bytes", type(None): "()"}


def describe(cls):
    """``(name, format, definitions)`` for a dataclass or enum class: the
    format of the type, and each struct and enum it names as
    ``("struct", name, cls, [(field, format), ...])`` or
    ``("enum", name, cls, [member, ...])``."""
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)) and not _is_enum(cls):
        raise TypeError(
            f"type={cls!r}: a message type is a dataclass or an enum.Enum class "
            "(for raw bytes leave type out)"
        )
    definitions = {}
    top = _format(cls, definitions, cls.__name__)
    return cls.__name__, top, [definitions[name] for name in sorted(definitions)]


def _is_enum(t):
    return isinstance(t, type) and issubclass(t, enum.Enum)


def _format(t, definitions, where):
    if t in _NEWTYPES:
        return (_NEWTYPES[t],)
    if t is None:
        return ("()",)
    if t in _PLAIN:
        return (_PLAIN[t],)
    if _is_enum(t):
        _define(t, definitions, lambda: ("enum", t.__name__, t, list(t)))
        return ("ref", t.__name__)
    if dataclasses.is_dataclass(t) and isinstance(t, type):
        def struct():
            hints = typing.get_type_hints(t, localns={t.__name__: t})
            fields = [f for f in dataclasses.fields(t)]
            return (
                "struct",
                t.__name__,
                t,
                [(f.name, _format(hints[f.name], definitions, f"{t.__name__}.{f.name}")) for f in fields],
            )

        _define(t, definitions, struct)
        return ("ref", t.__name__)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = args[0] if args[1] is type(None) else args[1]  # Optional[T], T | None
        return ("option", _format(inner, definitions, where))
    if origin in (list, typing.List) and len(args) == 1:
        return ("seq", _format(args[0], definitions, where))
    if origin in (dict, typing.Dict) and len(args) == 2:
        return ("map", _format(args[0], definitions, where), _format(args[1], definitions, where))
    if origin in (tuple, typing.Tuple) and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return ("seq", _format(args[0], definitions, where))
        return ("tuple", [_format(a, definitions, where) for a in args])
    raise TypeError(
        f"{where}: {t!r} has no ipcx format (use bool, int, float, str, bytes, "
        "ipcx.u8…u128/i8…i128/f32/char, Optional, list, dict, tuple, a dataclass or an Enum)"
    )


def _define(t, definitions, make):
    name = t.__name__
    known = definitions.get(name)
    if known is not None:
        if known != "pending" and known[2] is not t:
            raise TypeError(f"two types are both named {name!r}: a message names each type once")
        return
    definitions[name] = "pending"  # a type that refers to itself
    definitions[name] = make()
