"""Karabo's XML Hash format (C++ ``TextSerializer<Hash>``, "Xml"), byte-identical with Karabo 3.

``encodeXML`` writes exactly what the C++ serializer (pugixml) writes: the ``<?xml version="1.0"?>``
declaration, either the artificial ``<root KRB_Artificial="" KRB_Type="HASH">`` document element
or, when the Hash holds a single HASH element, that element itself ("rooted" form), one XML
element per Hash element with the Hash attributes as ``name="KRB_<TYPE>:<text>"`` and the type in
``KRB_Type``, values as Karabo's text form, vectors of Hash as ``KRB_Item`` children, VECTOR_HASH
and SCHEMA attributes as ``_attr...`` child elements, and pugixml's indentation and escaping.

``decodeXML`` reads that format and karabo.native's (no declaration, ``KRB_Type`` first, SCHEMA
text without declaration).  It follows the C++ reader: an unknown or unconvertible ``KRB_Type``
leaves the value a STRING and logs a warning; an attribute it cannot convert, or a document that
is not XML, raises ``DeserializationError``.

The format is lossy; a write/read round trip (also through C++) changes:

* FLOAT and DOUBLE values (also in vectors, complex numbers and attributes): written with C
  ``%.7g`` / ``%.15g``, so most values come back rounded (1/3 -> 0.333333333333333); a DOUBLE
  beyond the largest double after rounding (DBL_MAX prints as 1.79769313486232e+308) is read
  as the STRING of that text.  NaN, infinities and -0.0 survive.
* Element text that is only whitespace (space, tab, LF, CR) is dropped by the parsers, so such a
  STRING (or CHAR) reads back as "" (a CHAR then stays a STRING "").  A CR in element text reads
  back as LF (XML line-end normalization); attribute values keep it.
* Text is cut at the first NUL character, as C++ writes C strings.
* VECTOR_STRING is joined with ",": empty elements are dropped and elements are stripped on
  reading; an element containing "," cannot be written (``ValueError``, as in C++).
* VECTOR_COMPLEX_FLOAT/DOUBLE are written as "(1,2),(3,-4)" but read back as STRING.
* The empty key is written as ``:anonymous`` and read back as the key ":anonymous".
* A Hash whose first key is "KRB_Item" reads back as a vector of Hash; XML attribute names
  starting with "KRB_" are not Hash attributes on reading; ``xmlns`` is dropped from a rooted
  document element; a key containing ".KRB_SLASH." reads back with "/" instead.
* A SCHEMA root name containing ":" is split at the first ":".
* Without data types (``writeDataTypes=False``) everything reads back as STRING, and VECTOR_HASH
  and SCHEMA attributes are not written at all.

Where this reader differs from C++ on purpose: keys are flat (C++ would split "a.b" into a path),
the order of attributes is kept (C++ moves VECTOR_HASH/SCHEMA attributes to the end), text mixed
between child elements is ignored (C++ turns it into elements with the empty key), documents with
a DOCTYPE are refused and nesting is capped at ``MAX_DEPTH``.  The writer refuses, with a
``ValueError`` naming the path, what C++ refuses (HASH_POINTER, VECTOR_HASH_POINTER, "," in a
VECTOR_STRING element) and also what C++ writes but cannot read back: keys that are no XML names
(C++ writes a malformed document) and HASH attributes (C++ writes their debug text).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Callable
from xml.parsers import expat

from pykarabo._core.binary import MAX_DEPTH
from pykarabo._core.hash import (Attributes, Hash, ImageData, NDArray, Schema, makeSchema, textToValue,
                                 valueToText)
from pykarabo._core.types import Types
from pykarabo.errors import DeserializationError

__all__ = ["encodeXML", "decodeXML"]

_log = logging.getLogger(__name__)

# Separator for Hash paths that never occurs in a key read from XML (XML forbids NUL), so every
# key is set as one flat key.
_SEP = "\x00"
_SLASH = ".KRB_SLASH."
_ITEM = "KRB_Item"
_ARTIFICIAL = "KRB_Artificial"
_TYPE = "KRB_Type"
_PREFIX = "KRB_"
_ANONYMOUS = ":anonymous"        # pugixml's name for an element or attribute with an empty name
_WS = " \t\n\r"                  # what XML (and pugixml) count as whitespace
_TYPE_BY_NAME = {t.name: t for t in Types}
_CLASSED = {"NDArray": NDArray, "ImageData": ImageData}

# pugixml's escaping: element text escapes & < >, attribute values & < "; control characters
# become two-digit decimal references (tab, LF and CR only in attribute values).
_TEXT_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
_TEXT_ESCAPES.update({c: f"&#{c:02d};" for c in range(1, 32) if c not in (9, 10, 13)})
_ATTR_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord('"'): "&quot;"}
_ATTR_ESCAPES.update({c: f"&#{c:02d};" for c in range(1, 32)})

_ASCII_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.\-]*\Z")
_ASCII_NON_NAME = re.compile(r"[\x00-,/;-@\[-^`{-\x7f]")
_DECLARATION = re.compile(r"\ufeff?[ \t\r\n]*<\?xml[ \t\r\n][^>]*\?>")
# References to characters XML 1.0 forbids (pugixml writes them, expat rejects them).
_CONTROL_REF = re.compile(r"&#(?:0*([1-8]|1[124-9]|2[0-9]|3[01])|[xX]0*([1-8bBcCeEfF]|1[0-9a-fA-F]));")
_WRAPPER = "krb-document"


class _Element:
    """A parsed or to-be-written XML element: name, ordered attributes, children (elements, text)."""

    __slots__ = ("name", "attrs", "children", "parent")

    def __init__(self, name: str, parent: _Element | None) -> None:
        self.name = name
        self.attrs: list[tuple[str, str]] = []
        self.children: list = []
        self.parent = parent

    def path(self) -> str:
        """pugixml's ``path('_')``: ``_`` before every ancestor's name, from the top down."""
        names = []
        el = self
        while el is not None:
            names.append(el.name)
            el = el.parent
        return "_" + "_".join(reversed(names))


def _raw(node) -> object:
    # getValueAs(own type) returns the stored value unconverted; getValue() would turn an NDArray
    # into a numpy array, but it has to be written as the Hash it is.
    return node.getValueAs(node.getType())


def _cstr(text: str) -> str:
    """Text as C++ hands it to pugixml: a C string, cut at the first NUL."""
    cut = text.find("\x00")
    return text if cut < 0 else text[:cut]


@lru_cache(maxsize=4096)
def _is_xml_name(name: str) -> bool:
    if name.isascii():
        return _ASCII_NAME.match(name) is not None
    if _ASCII_NON_NAME.search(name) or name[0] in "-.0123456789":
        return False
    # Which non-ASCII characters are name characters is what our reader, expat, accepts (it
    # rejects characters outside the BMP, which XML 1.0 5th edition would allow).
    try:
        expat.ParserCreate().Parse(f"<{name}/>", True)
    except expat.ExpatError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Writer


class _Writer:
    def __init__(self, writeDataTypes: bool) -> None:
        self.types = writeDataTypes
        # (hash, element, path, depth): a Hash whose elements still have to become children of
        # an element.  An explicit stack instead of recursion, so that MAX_DEPTH levels fit.
        self.pending: list[tuple[Hash, _Element, str, int]] = []

    def document(self, hash: Hash, depth: int) -> _Element:
        nodes = hash.nodes()
        if len(nodes) == 1 and nodes[0].getType() == Types.HASH:
            node = nodes[0]
            key = node.getKey()
            root = _Element(self.element_name(key, key), None)
            if self.types:
                root.attrs.append((_TYPE, "HASH"))
            self.write_attrs(node, root, key, depth)
            self.check_unique_attrs(root, key)
            self.pending.append((_raw(node), root, key, depth + 2))
        else:
            root = _Element("root", None)
            root.attrs.append((_ARTIFICIAL, ""))
            if self.types:
                root.attrs.append((_TYPE, "HASH"))
            self.pending.append((hash, root, "", depth + 1))
        while self.pending:
            self.fill(*self.pending.pop())
        return root

    def fill(self, hash: Hash, parent: _Element, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ValueError(f"cannot write '{path}' as XML: Hash nesting deeper than {MAX_DEPTH} levels")
        for node in hash.nodes():
            key = node.getKey()
            p = f"{path}.{key}" if path else key
            t = node.getType()
            el = _Element(self.element_name(key, p), parent)
            parent.children.append(el)
            self.write_attrs(node, el, p, depth)
            if self.types:
                el.attrs.append((_TYPE, t.name))
            self.check_unique_attrs(el, p)
            value = _raw(node)
            if t == Types.HASH:
                self.pending.append((value, el, p, depth + 1))
            elif t == Types.VECTOR_HASH:
                for i, item in enumerate(value):
                    item_el = _Element(_ITEM, el)
                    el.children.append(item_el)
                    self.pending.append((item, item_el, f"{p}[{i}]", depth + 1))
            elif t == Types.SCHEMA:
                el.children.append(_cstr(self.schema_text(value, p, depth)))
            else:
                el.children.append(self.value_text(value, t, f"'{p}'"))

    def write_attrs(self, node, el: _Element, path: str, depth: int) -> None:
        for attr in node.getAttributes().nodes():
            name = attr.getKey()
            t = attr.getType()
            where = f"attribute '{name}' of '{path}'"
            if name and not _is_xml_name(name):
                raise ValueError(f"cannot write {where} as XML: '{name}' is not an XML name")
            if t in (Types.VECTOR_HASH, Types.SCHEMA):
                if not self.types:
                    continue   # C++ drops them: without a type they could not be told apart
                holder_name = f"_attr{el.path()}_{name}"
                el.attrs.append((name, f"{_PREFIX}{t.name}:{holder_name}"))
                holder = _Element(holder_name, el)
                el.children.append(holder)
                wrapped = Hash()
                wrapped.setAs(holder_name + "_value", _raw(attr), t, sep=_SEP)
                self.pending.append((wrapped, holder, f"{path}@{name}", depth + 1))
                continue
            if t == Types.HASH:
                raise ValueError(f"cannot write {where} as XML: HASH attributes have no text form "
                                 "(Karabo writes debug text that no reader accepts)")
            text = self.value_text(_raw(attr), t, where)
            el.attrs.append((name, f"{_PREFIX}{t.name}:{text}" if self.types else text))

    @staticmethod
    def check_unique_attrs(el: _Element, path: str) -> None:
        names = [n or _ANONYMOUS for n, _ in el.attrs]
        if len(set(names)) != len(names):
            raise ValueError(f"cannot write '{path}' as XML: its attributes would repeat an XML "
                             f"attribute name ({', '.join(names)})")

    @staticmethod
    def element_name(key: str, path: str) -> str:
        name = key.replace("/", _SLASH)
        if name and not _is_xml_name(name):
            raise ValueError(f"cannot write '{path}' as XML: key '{key}' is not an XML name")
        return name

    @staticmethod
    def value_text(value, t: Types, where: str) -> str:
        if t in (Types.HASH_POINTER, Types.VECTOR_HASH_POINTER):
            raise ValueError(f"cannot write {where} as XML: {t.name} has no XML form (Karabo refuses it too)")
        if t == Types.VECTOR_STRING:
            for item in value:
                if "," in item:
                    raise ValueError(f"cannot write {where} as XML: VECTOR_STRING element {item!r} "
                                     "contains ',', the separator (Karabo refuses it too)")
        return _cstr(valueToText(value, t))

    @staticmethod
    def schema_text(schema: Schema, path: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise ValueError(f"cannot write '{path}' as XML: nesting deeper than {MAX_DEPTH} levels")
        # Karabo writes a Schema as its root name and the compact XML document of its Hash.
        return f"{schema.getRootName()}:{_encode(schema.getParameterHash(), -1, True, depth + 1)}"


def _render(root: _Element, indentation: int) -> str:
    """The document text, formatted the way pugixml formats it (format_indent / format_raw)."""
    raw = indentation < 0
    indent = "" if raw else " " * indentation
    out = ['<?xml version="1.0"?>']
    if not raw:
        out.append("\n")
    # pugixml starts an element (or closing tag) on a new, indented line unless it directly
    # follows text; the first element follows the declaration's own newline.
    newline, indented = False, True
    depth = 0
    stack: list[tuple[_Element, object]] = []
    item: _Element | str | None = root
    while True:
        if type(item) is str:
            out.append(item.translate(_TEXT_ESCAPES))
            newline = indented = False
        else:
            if newline and not raw:
                out.append("\n")
            if indented:
                out.append(indent * depth)
            out.append("<" + (item.name or _ANONYMOUS))
            for name, value in item.attrs:
                out.append(f' {name or _ANONYMOUS}="{value.translate(_ATTR_ESCAPES)}"')
            newline = indented = True
            if item.children:
                out.append(">")
                stack.append((item, iter(item.children)))
                depth += 1
            else:
                out.append("/>" if raw else " />")
        item = None
        while stack:
            el, children = stack[-1]
            item = next(children, None)
            if item is not None:
                break
            stack.pop()
            depth -= 1
            if newline and not raw:
                out.append("\n")
            if indented:
                out.append(indent * depth)
            out.append(f"</{el.name or _ANONYMOUS}>")
            newline = indented = True
        if item is None:
            break
    if newline and not raw:
        out.append("\n")
    return "".join(out)


def _encode(hash: Hash, indentation: int, writeDataTypes: bool, depth: int) -> str:
    return _render(_Writer(writeDataTypes).document(hash, depth), indentation)


def encodeXML(hash: Hash, indentation: int = 2, writeDataTypes: bool = True) -> str:
    """The XML text of a Hash, byte-identical with Karabo's C++ XML serializer (-1: compact)."""
    if not isinstance(hash, Hash):
        raise TypeError(f"encodeXML needs a Hash, not {type(hash).__name__}")
    if not isinstance(indentation, int) or indentation < -1:
        raise ValueError(f"indentation must be -1 (compact) or a number of spaces, not {indentation!r}")
    try:
        return _encode(hash, indentation, bool(writeDataTypes), 0)
    except RecursionError:
        raise ValueError("cannot write the Hash as XML: Schemas nested too deeply") from None


# ----------------------------------------------------------------------------------------------
# Reader


class _Parser:
    """Builds a tree of _Element from a document with expat, as pugixml's default parse would."""

    def __init__(self, text: str) -> None:
        body = text
        match = _DECLARATION.match(text)
        if match:
            body = text[match.end():]
        elif body.startswith("\ufeff"):
            body = body[1:]
        if "<!DOCTYPE" in body:
            # Karabo never writes one; refusing DTDs rules out entity expansion (expat >= 2.4.1
            # would also stop "billion laughs") and external entities altogether.
            raise DeserializationError("cannot parse XML: documents with a DOCTYPE are not accepted")
        self.marker = None
        if "&#" in body:
            body = self.shield_control_refs(body)
        # A wrapper element lets one parser take both a document and karabo.native's SCHEMA text,
        # a list of elements; inside it a DOCTYPE is not even syntactically possible.
        self.offset = len(_WRAPPER) + 2 - (len(text) - len(body))
        self.source = f"<{_WRAPPER}>{body}</{_WRAPPER}>"
        self.top = _Element(_WRAPPER, None)
        self.stack = [self.top]

    def shield_control_refs(self, body: str) -> str:
        """Replace references to control characters by a marker sequence that expat accepts."""
        if not _CONTROL_REF.search(body):
            return body
        present = set(body)
        self.marker = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in present)
        return _CONTROL_REF.sub(self.shielded, body)

    def shielded(self, match: re.Match) -> str:
        code = int(match.group(1)) if match.group(1) else int(match.group(2), 16)
        return self.marker + chr(0x40 + code)

    def restore(self, text: str) -> str:
        if self.marker is None or self.marker not in text:
            return text
        return re.sub(re.escape(self.marker) + "(.)", lambda m: chr(ord(m.group(1)) - 0x40), text)

    def parse(self) -> list:
        parser = expat.ParserCreate()      # no namespace processing: ':anonymous' is a plain name
        parser.ordered_attributes = True
        parser.buffer_text = True
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text
        try:
            parser.Parse(self.source, True)
        except expat.ExpatError as e:
            column = e.offset + 1 - (self.offset if e.lineno == 1 else 0)
            raise DeserializationError(
                f"cannot parse XML: {expat.ErrorString(e.code)} at line {e.lineno}, column {column}") from None
        return self.top.children[0].children    # those of the wrapper element

    def start(self, name: str, attrs: list) -> None:
        if len(self.stack) > 2 * MAX_DEPTH + 2:
            # A Hash level takes at most two XML levels (element and KRB_Item).
            raise DeserializationError(f"cannot parse XML: elements nested deeper than {2 * MAX_DEPTH + 2} levels")
        if self.marker is not None and (self.marker in name or any(self.marker in a for a in attrs[::2])):
            raise DeserializationError(f"cannot parse XML: character reference in the name '{self.restore(name)}'")
        el = _Element(name, self.stack[-1])
        el.attrs = [(attrs[i], self.restore(attrs[i + 1])) for i in range(0, len(attrs), 2)]
        self.stack[-1].children.append(el)
        self.stack.append(el)

    def end(self, name: str) -> None:
        el = self.stack.pop()
        children = []
        for child in el.children:
            if type(child) is list:
                text = "".join(child)
                if text.strip(_WS):    # pugixml drops whitespace-only text
                    children.append(self.restore(text))
            else:
                children.append(child)
        el.children = children

    def text(self, data: str) -> None:
        children = self.stack[-1].children
        if children and type(children[-1]) is list:
            children[-1].append(data)
        else:
            children.append([data])


def _convert(text: str, type_name: str, path: str) -> tuple[object, Types]:
    """Text converted to a KRB_Type; like C++, STRING with a warning when that fails."""
    t = _TYPE_BY_NAME.get(type_name)
    if t is None:
        _log.warning("XML element '%s': unknown KRB_Type '%s', value kept as STRING", path, type_name)
        return text, Types.STRING
    try:
        return textToValue(text, t, path), t
    except (ValueError, TypeError, OverflowError) as e:
        _log.warning("XML element '%s': cannot convert %r to %s (%s), value kept as STRING", path, text, t.name, e)
        return text, Types.STRING


class _Reader:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        # Deferred work (callables): filling nested Hashes, then attaching VECTOR_HASH/SCHEMA
        # attributes.  An explicit stack instead of recursion, so that MAX_DEPTH levels fit.
        self.work: list[Callable[[], None]] = []

    def document(self, text: str) -> Hash:
        nodes = _Parser(text).parse()
        for node in nodes:
            if type(node) is str:
                raise DeserializationError(f"cannot parse XML: text outside the document element: {node[:40]!r}")
        if not nodes:
            raise DeserializationError("cannot parse XML: no document element")
        first = nodes[0]
        if first.attrs and first.attrs[0][0] == _ARTIFICIAL:
            if len(nodes) > 1:
                raise DeserializationError(f"cannot parse XML: element <{nodes[1].name}> after the document element")
            elements = first.children
        else:
            # A "rooted" document (or karabo.native's SCHEMA element list): the elements are the
            # top level; Karabo drops a namespace declaration on the document element.
            first.attrs = [(n, v) for n, v in first.attrs if n != "xmlns"]
            elements = nodes
        result = Hash()
        self.fill(result, elements, "", self.depth + 1)     # the top level counts, as in decodeBinary
        while self.work:
            self.work.pop()()
        return result

    def fill(self, target: Hash, elements: list, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise DeserializationError(f"XML element '{path}': Hash nesting deeper than {MAX_DEPTH} levels")
        for el in elements:
            if type(el) is _Element:
                self.element(target, el, path, depth)

    def element(self, target: Hash, el: _Element, path: str, depth: int) -> None:
        key = el.name.replace(_SLASH, "/")
        p = f"{path}.{key}" if path else key
        type_name = None
        attrs: list[tuple[str, Types, str]] = []
        for name, value in el.attrs:
            if name.startswith(_PREFIX):
                if name == _TYPE:
                    type_name = value
                continue
            attrs.append((name, *self.attribute_type(name, value, p)))
        children = el.children
        holders = {}
        for name, t, text in attrs:
            if t in (Types.VECTOR_HASH, Types.SCHEMA) and text.startswith("_attr_") and text.endswith(name):
                holders[name] = self.holder(el, name, text, p)
        if holders:
            taken = {id(h) for h, _ in holders.values()}
            children = [c for c in children if id(c) not in taken]

        first = children[0] if children else None
        if type(first) is _Element and first.name == _ITEM:
            items = []
            for child in children:
                if type(child) is not _Element or child.name != _ITEM:
                    break
                items.append(child)
            value, t = [Hash() for _ in items], Types.VECTOR_HASH
            for i, (h, item) in enumerate(zip(value, items)):
                self.defer_fill(h, item.children, f"{p}[{i}]", depth + 1)
        elif type(first) is _Element:
            value, t = self.new_hash(attrs), Types.HASH
            self.defer_fill(value, children, p, depth + 1)
        elif first is not None:
            if type_name == "SCHEMA":
                value, t = self.schema(first, p, depth), Types.SCHEMA
            elif type_name is None:
                value, t = first, Types.STRING
            else:
                value, t = _convert(first, type_name, p)
        elif type_name == "HASH":
            value, t = self.new_hash(attrs), Types.HASH
        elif type_name == "SCHEMA":
            value, t = makeSchema("", Hash()), Types.SCHEMA
        elif type_name == "VECTOR_HASH":
            value, t = [], Types.VECTOR_HASH
        elif type_name is None:
            value, t = "", Types.STRING
        else:
            value, t = _convert("", type_name, p)

        target.setAs(key, value, t, sep=_SEP)
        target.setAttributes(key, {}, sep=_SEP)    # a repeated key replaces the attributes too
        self.set_attributes(target.getAttributes(key, sep=_SEP), attrs, holders, p, depth)

    @staticmethod
    def attribute_type(name: str, value: str, path: str) -> tuple[Types, str]:
        if not value.startswith(_PREFIX):
            return Types.STRING, value
        colon = value.find(":")
        if colon < 0:
            raise DeserializationError(f"attribute '{name}' of XML element '{path}': suspicious type "
                                       f"assignment {value!r} (no ':')")
        t = _TYPE_BY_NAME.get(value[len(_PREFIX):colon])
        if t is None:
            raise DeserializationError(f"attribute '{name}' of XML element '{path}': unknown type "
                                       f"{value[len(_PREFIX):colon]!r}")
        return t, value[colon + 1:]

    @staticmethod
    def holder(el: _Element, name: str, holder_name: str, path: str) -> tuple[_Element, _Element]:
        """The child element holding a VECTOR_HASH/SCHEMA attribute, and the value element in it."""
        for child in el.children:
            if type(child) is _Element and child.name == holder_name:
                for inner in child.children:
                    if type(inner) is _Element and inner.name == holder_name + "_value":
                        return child, inner
                break
        raise DeserializationError(f"attribute '{name}' of XML element '{path}': its value element "
                                   f"<{holder_name}><{holder_name}_value> is missing")

    def set_attributes(self, attributes: Attributes, attrs: list, holders: dict, path: str, depth: int) -> None:
        for name, t, text in attrs:
            if t in (Types.VECTOR_HASH, Types.SCHEMA):
                if name not in holders:
                    _log.warning("XML element '%s': attribute '%s' (%s) does not name its value element, "
                                 "ignored", path, name, t.name)
                    continue
                # A placeholder keeps the attribute's position until its value has been read.
                attributes.set(name, [] if t == Types.VECTOR_HASH else makeSchema("", Hash()), t)
                self.defer_attribute(attributes, name, t, holders[name][1], f"{path}@{name}", depth + 1)
                continue
            try:
                attributes.set(name, text if t == Types.STRING else textToValue(text, t, name), t)
            except (ValueError, TypeError, OverflowError) as e:
                raise DeserializationError(f"attribute '{name}' of XML element '{path}': cannot convert "
                                           f"{text!r} to {t.name}: {e}") from None

    def defer_fill(self, target: Hash, elements: list, path: str, depth: int) -> None:
        self.work.append(lambda: self.fill(target, elements, path, depth))

    def defer_attribute(self, attributes: Attributes, name: str, t: Types, value_el: _Element,
                        path: str, depth: int) -> None:
        holder = Hash()

        def attach() -> None:
            node = holder.getNode(value_el.name.replace(_SLASH, "/"), sep=_SEP)
            if node.getType() != t:
                raise DeserializationError(f"XML attribute '{path}': its value element holds a "
                                           f"{node.getType().name}, not a {t.name}")
            attributes.set(name, _raw(node), t)

        # The stack is last in, first out: attach() runs after the value has been filled.
        self.work.append(attach)
        self.work.append(lambda: self.fill(holder, [value_el], path, depth))

    @staticmethod
    def new_hash(attrs: list) -> Hash:
        """An empty Hash of the class its ``__classId`` names (as the binary reader makes)."""
        for name, t, text in attrs:
            if name == "__classId" and t == Types.STRING:
                return _CLASSED.get(text, Hash)()
        return Hash()

    def schema(self, text: str, path: str, depth: int) -> Schema:
        colon = text.find(":")
        if colon < 0:
            raise DeserializationError(f"SCHEMA at XML element '{path}': no 'rootName:' before the document")
        try:
            return makeSchema(text[:colon], _Reader(depth + 1).document(text[colon + 1:]))
        except DeserializationError as e:
            raise DeserializationError(f"SCHEMA at XML element '{path}': {e}") from None


def decodeXML(text: str | bytes) -> Hash:
    """The Hash of a Karabo XML document (C++ or karabo.native style)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DeserializationError(f"cannot parse XML: invalid UTF-8 at byte {e.start}") from None
    if not isinstance(text, str):
        raise TypeError(f"decodeXML needs str or bytes, not {type(text).__name__}")
    try:
        return _Reader(0).document(text)
    except RecursionError:
        raise DeserializationError("cannot parse XML: Schemas nested too deeply") from None
