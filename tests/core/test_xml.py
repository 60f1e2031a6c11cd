"""Karabo's XML Hash format: byte-identity with the C++ writer, and what the C++ reader reads."""

import json
import logging
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykarabo import MAX_DEPTH, DeserializationError, Hash, Schema, Types
from pykarabo.xml import decodeXML, encodeXML
from tests.golden import case_ids, golden_dir, load_cases, tree_to_hash

CASES = load_cases()
XML_CASES = [c for c in CASES if c["files"]["xml"]]
NO_XML_CASES = [c for c in CASES if not c["files"]["xml"]]
RAW = "\x00"
golden = pytest.mark.skipif(not CASES, reason="golden vectors (../shared/testdata/hash-golden) absent; "
                                              "set PYKARABO_GOLDEN_DIR")


def read_xml(case: dict) -> str:
    return (golden_dir() / case["files"]["xml"]).read_bytes().decode("utf-8")


def raw(node):
    """The stored value of a Node (an NDArray stays a Hash)."""
    return node.getValueAs(node.getType())


# ----------------------------------------------------------------------------------------------
# What the C++ reader makes of the C++ writer's text (spec §5.1 "Round trip through C++ reader"),
# modelled independently of pykarabo's own text conversions.

def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _lossy_float(x: float, t: Types):
    if t == Types.FLOAT:
        return _f32(float("%.7g" % x))
    return float("%.15g" % x)


def _lossy_leaf(value, t: Types):
    """(value, type) after a C++ XML write and read of a leaf value or attribute."""
    if t in (Types.FLOAT, Types.DOUBLE):
        text = "%.15g" % value
        if t == Types.DOUBLE and math.isinf(float(text)) and not math.isinf(value):
            return text, Types.STRING          # DBL_MAX overflows when read back
        return _lossy_float(value, t), t
    if t in (Types.COMPLEX_FLOAT, Types.COMPLEX_DOUBLE):
        part = Types.FLOAT if t == Types.COMPLEX_FLOAT else Types.DOUBLE
        return complex(_lossy_float(value.real, part), _lossy_float(value.imag, part)), t
    if t in (Types.VECTOR_FLOAT, Types.VECTOR_DOUBLE):
        return np.array([_lossy_float(x, t.elementType) for x in value.tolist()], dtype=value.dtype), t
    if t in (Types.VECTOR_COMPLEX_FLOAT, Types.VECTOR_COMPLEX_DOUBLE) and len(value):
        digits = 7 if t == Types.VECTOR_COMPLEX_FLOAT else 15
        return ",".join(f"({x.real:.{digits}g},{x.imag:.{digits}g})" for x in value.tolist()), Types.STRING
    if t == Types.STRING:
        value = value.split("\x00")[0]
        return ("" if not value.strip(" \t\n\r") else value.replace("\r", "\n")), t
    if t == Types.VECTOR_STRING:
        text = ",".join(value).split("\x00")[0]
        return [s.strip() for s in text.split(",") if s.strip()], t
    return value, t


def cpp_xml_roundtrip(h: Hash) -> Hash:
    """The Hash the C++ XML reader returns for the C++ XML writer's text of ``h``."""
    out = Hash()
    for node in h.nodes():
        t = node.getType()
        value = raw(node)
        if t == Types.HASH:
            value = cpp_xml_roundtrip(value)
        elif t == Types.VECTOR_HASH:
            value = [cpp_xml_roundtrip(x) for x in value]
        elif t == Types.SCHEMA:
            value = Schema(value.getRootName(), cpp_xml_roundtrip(value.getParameterHash()))
        else:
            value, t = _lossy_leaf(value, t)
        key = node.getKey() or ":anonymous"
        out.setAs(key, value, t, sep=RAW)
        for a in node.getAttributes().nodes():
            av, at = _lossy_leaf(raw(a), a.getType())
            out.setAttribute(key, a.getKey() or ":anonymous", av, type=at, sep=RAW)
    return out


def _hex(value, t: str) -> str:
    return struct.pack(">f" if t == "FLOAT" else ">d", value).hex()


# ----------------------------------------------------------------------------------------------
# Golden cases


@golden
@pytest.mark.parametrize("case", XML_CASES, ids=case_ids(XML_CASES))
def test_writer_is_byte_identical_with_cpp(case):
    assert encodeXML(tree_to_hash(case["hash"])) == read_xml(case)


@golden
@pytest.mark.parametrize("case", XML_CASES, ids=case_ids(XML_CASES))
def test_reader_reads_what_cpp_reads(case):
    decoded = decodeXML(read_xml(case))
    tree = tree_to_hash(case["hash"])
    if case["xml"]["roundtrip"] == "exact":
        assert decoded.fullyEqual(tree), f"decoded:\n{decoded}\nexpected:\n{tree}"
    else:
        expected = cpp_xml_roundtrip(tree)
        assert not expected.fullyEqual(tree)
        assert decoded.fullyEqual(expected), f"decoded:\n{decoded}\nexpected:\n{expected}"


@golden
@pytest.mark.parametrize("case", [c for c in XML_CASES if c["xml"]["roundtrip"] == "lossy"],
                         ids=case_ids([c for c in XML_CASES if c["xml"]["roundtrip"] == "lossy"]))
def test_reader_matches_recorded_cpp_differences(case):
    """Every difference the manifest records for the real C++ reader, where it is spelled out."""
    decoded = decodeXML(read_xml(case))
    checked = 0
    for line in case["xml"]["roundtrip_diff"]:
        path, _, diff = line.partition(": ")
        key = path.lstrip("/")
        if diff.startswith("type "):                              # "type DOUBLE vs STRING"
            assert decoded.getType(key, sep="/").name == diff.split(" vs ")[1]
        elif diff.startswith("attributes "):                      # list of (key, type) pairs
            expected = diff.split(" vs ")[1]
            got = [(k, decoded.getAttributes(key, sep="/").getType(k).name)
                   for k in decoded.getAttributes(key, sep="/")]
            assert repr(got) == expected
        elif "..." not in diff:                                   # full values, JSON notation
            expected = json.loads(diff.split(" vs ")[1])
            t = decoded.getType(key, sep="/")
            value = decoded.get(key, sep="/")
            if t in (Types.FLOAT, Types.DOUBLE):
                value = _hex(value, t.name)
            assert value == expected, line
        else:
            continue
        checked += 1
    assert checked or all("..." in line for line in case["xml"]["roundtrip_diff"])


@golden
@pytest.mark.parametrize("case", XML_CASES, ids=case_ids(XML_CASES))
def test_write_read_write_is_stable(case):
    text = read_xml(case)
    assert encodeXML(decodeXML(text)) == text or case["xml"]["roundtrip"] == "lossy"


@golden
@pytest.mark.parametrize("case", NO_XML_CASES, ids=case_ids(NO_XML_CASES))
def test_writer_refuses_what_cpp_cannot_read_back(case):
    with pytest.raises(ValueError) as e:
        encodeXML(tree_to_hash(case["hash"]))
    assert any(f"'{n['key']}'" in str(e.value) for n in case["hash"])


@golden
def test_golden_counts():
    assert len(XML_CASES) == 65
    assert sum(c["xml"]["roundtrip"] == "exact" for c in XML_CASES) == 56


# ----------------------------------------------------------------------------------------------
# Writer details


def test_compact_and_indentation_options():
    h = Hash()
    h.setAs("a", 1, Types.INT32)
    h.set("e", Hash())
    h.setAttribute("a", "u", "m")
    assert encodeXML(h, indentation=-1) == (
        '<?xml version="1.0"?><root KRB_Artificial="" KRB_Type="HASH"><a u="KRB_STRING:m" '
        'KRB_Type="INT32">1</a><e KRB_Type="HASH"/></root>')
    assert encodeXML(h, indentation=0) == (
        '<?xml version="1.0"?>\n<root KRB_Artificial="" KRB_Type="HASH">\n<a u="KRB_STRING:m" '
        'KRB_Type="INT32">1</a>\n<e KRB_Type="HASH" />\n</root>\n')
    assert encodeXML(h, indentation=4).splitlines()[2].startswith("    <a ")
    assert encodeXML(h, writeDataTypes=False) == (
        '<?xml version="1.0"?>\n<root KRB_Artificial="">\n  <a u="m">1</a>\n  <e />\n</root>\n')
    with pytest.raises(ValueError):
        encodeXML(h, indentation=-2)


def test_rooted_form_puts_krb_type_first():
    h = Hash()
    h.set("top", Hash("x", "1"))
    h.setAttribute("top", "n", 5)
    assert encodeXML(h) == ('<?xml version="1.0"?>\n<top KRB_Type="HASH" n="KRB_INT32:5">\n'
                            '  <x KRB_Type="STRING">1</x>\n</top>\n')
    assert decodeXML(encodeXML(h)).fullyEqual(h)


def test_escaping_follows_pugixml():
    h = Hash()
    h.set("s", "a&b<c>d\"e'f\x01\x1f\tg\nh")
    h.setAttribute("s", "q", "a&b<c>d\"e'\x01\t\r\n")
    text = encodeXML(h, indentation=-1)
    assert ('<s q="KRB_STRING:a&amp;b&lt;c>d&quot;e\'&#01;&#09;&#13;&#10;" KRB_Type="STRING">'
            'a&amp;b&lt;c&gt;d"e\'f&#01;&#31;\tg\nh</s>') in text
    assert decodeXML(text).fullyEqual(h)


def test_slash_and_empty_keys():
    h = Hash()
    h.setAs("a/b", 1, Types.INT32, sep=RAW)
    h.setAs("", 2, Types.INT32, sep=RAW)
    text = encodeXML(h)
    assert '<a.KRB_SLASH.b KRB_Type="INT32">1</a.KRB_SLASH.b>' in text
    assert '<:anonymous KRB_Type="INT32">2</:anonymous>' in text
    back = decodeXML(text)
    assert back.getKeys() == ["a/b", ":anonymous"]


def test_writer_refusals_name_the_path():
    for key in ("1abc", "with space", "a<b", "emoji😀"):
        h = Hash()
        h.setAs("n", Hash(), Types.HASH)
        h.setAs(f"n{RAW}{key}", 1, Types.INT32, sep=RAW)
        with pytest.raises(ValueError, match="not an XML name"):
            encodeXML(h)
    h = Hash("n", Hash("v", ["ok", "a,b"]))
    with pytest.raises(ValueError, match="'n.v'"):
        encodeXML(h)
    h = Hash("x", 1)
    h.setAttribute("x", "KRB_Type", "clash")
    with pytest.raises(ValueError, match="repeat"):
        encodeXML(h)
    with pytest.raises(TypeError):
        encodeXML({"a": 1})


def test_writer_depth_cap():
    h = inner = Hash()
    for _ in range(MAX_DEPTH + 1):
        inner.set("n", Hash())
        inner = inner["n"]
    with pytest.raises(ValueError, match="deeper"):
        encodeXML(h)


def test_deep_nesting_within_the_cap_has_no_recursion_limit():
    h = inner = Hash()
    for _ in range(MAX_DEPTH - 1):
        inner.set("n", Hash())
        inner = inner["n"]
    inner.set("leaf", 1)
    assert decodeXML(encodeXML(h)).fullyEqual(h)


def test_vector_hash_and_schema_attributes_on_nested_elements():
    h = Hash()
    h.set("a", Hash("b", 1))
    h.setAttribute("a.b", "rows", [Hash("x", 1), Hash()])
    h.setAttribute("a.b", "after", "s")
    h.setAttribute("a", "schema", Schema("Root", Hash("p", Hash("q", 2))))
    h.set("c", 3)
    text = encodeXML(h)
    assert 'rows="KRB_VECTOR_HASH:_attr_root_a_b_rows"' in text
    assert 'schema="KRB_SCHEMA:_attr_root_a_schema"' in text
    back = decodeXML(text)
    assert back.fullyEqual(h), f"{back}\n{h}"
    assert back.getAttributes("a.b").keys() == ["rows", "after"]


# ----------------------------------------------------------------------------------------------
# Reader details


def test_reads_karabo_native_style():
    text = ('<root KRB_Artificial=""><a KRB_Type="INT32" u="KRB_STRING:m" >1</a>'
            '<d KRB_Type="DOUBLE" >0.1</d><e KRB_Type="HASH" ></e>'
            '<s KRB_Type="SCHEMA" >Dev:&lt;p KRB_Type="HASH" defaultValue="KRB_INT32:3" &gt;&lt;/p&gt;'
            '&lt;q KRB_Type="STRING" &gt;x&lt;/q&gt;</s></root>')
    h = decodeXML(text)
    expected = Hash()
    expected.setAs("a", 1, Types.INT32)
    expected.setAttribute("a", "u", "m")
    expected.set("d", 0.1)
    expected.set("e", Hash())
    params = Hash("p", Hash(), "q", "x")
    params.setAttribute("p", "defaultValue", 3)
    expected.set("s", Schema("Dev", params))
    assert h.fullyEqual(expected), h


def test_reads_bytes_and_tolerates_control_character_references():
    text = ('<?xml version="1.0"?>\n<root KRB_Artificial="" KRB_Type="HASH">\n'
            '  <s a="KRB_STRING:&#01;&#x1F;&#09;" KRB_Type="STRING">x&#02;y&#31;</s>\n</root>\n')
    h = decodeXML(text.encode())
    assert h["s"] == "x\x02y\x1f"
    assert h.getAttribute("s", "a") == "\x01\x1f\t"


def test_private_use_characters_survive_control_character_shielding():
    h = Hash("s", "\ue000A\ue001\x01")
    assert decodeXML(encodeXML(h)).fullyEqual(h)


def test_unknown_or_unconvertible_type_stays_string_with_warning(caplog):
    text = ('<root KRB_Artificial=""><a KRB_Type="INT8">300</a><b KRB_Type="FOO">x</b>'
            '<c KRB_Type="INT32"></c><d>plain</d></root>')
    with caplog.at_level(logging.WARNING, logger="pykarabo.xml"):
        h = decodeXML(text)
    assert [(k, h.getType(k), h[k]) for k in h] == [
        ("a", Types.STRING, "300"), ("b", Types.STRING, "x"), ("c", Types.STRING, ""),
        ("d", Types.STRING, "plain")]
    assert len(caplog.records) == 3


def test_cpp_reader_quirks():
    text = ('<root KRB_Artificial="" KRB_Type="HASH"><ws KRB_Type="STRING">  \n </ws>'
            '<v KRB_Type="VECTOR_STRING"> a ,, b </v><n KRB_Type="NONE"/>'
            '<i KRB_Type="INT32">0x10</i><t KRB_Type="BOOL">true</t>'
            '<h KRB_Type="INT32"><x KRB_Type="INT32">1</x></h></root>')
    h = decodeXML(text)
    assert h["ws"] == "" and h["v"] == ["a", "b"] and h["n"] is None
    assert h["i"] == 16 and h["t"] is True
    assert h.getType("h") == Types.HASH


@pytest.mark.parametrize("text, message", [
    ("", "no document element"),
    ("<root", "line 1"),
    ("<a><b></a>", "mismatched"),
    ('<root KRB_Artificial=""/><x/>', "after the document element"),
    ("<a/>junk", "text outside"),
    ('<!DOCTYPE lol [<!ENTITY lol "lol">]><a>&lol;</a>', "DOCTYPE"),
    ("<a>&undefined;</a>", "undefined entity"),
    ('<root KRB_Artificial=""><a x="KRB_INT32">1</a></root>', "suspicious"),
    ('<root KRB_Artificial=""><a x="KRB_FOO:1">1</a></root>', "unknown type"),
    ('<root KRB_Artificial=""><a x="KRB_INT8:300">1</a></root>', "cannot convert"),
    ('<root KRB_Artificial=""><a x="KRB_VECTOR_HASH:_attr_root_a_x">1</a></root>', "missing"),
    ('<root KRB_Artificial=""><s KRB_Type="SCHEMA">no colon</s></root>', "rootName"),
    ('<root KRB_Artificial=""><s KRB_Type="SCHEMA">N:&lt;a</s></root>', "SCHEMA at XML element 's'"),
])
def test_malformed_documents_raise(text, message):
    with pytest.raises(DeserializationError, match=message):
        decodeXML(text)


def test_reader_depth_cap():
    depth = MAX_DEPTH + 1
    text = '<root KRB_Artificial="">' + "<n>" * depth + "</n>" * depth + "</root>"
    with pytest.raises(DeserializationError, match="deeper"):
        decodeXML(text)
    text = "<n>" * (3 * MAX_DEPTH) + "</n>" * (3 * MAX_DEPTH)
    with pytest.raises(DeserializationError, match="deeper"):
        decodeXML(text)


def test_ndarray_reads_back_as_ndarray():
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    h = Hash("a", arr, "b", 1)
    back = decodeXML(encodeXML(h))
    assert back.fullyEqual(h)
    assert np.array_equal(back["a"], arr) and back["a"].dtype == arr.dtype


# ----------------------------------------------------------------------------------------------
# Round trip property over the types XML represents exactly

_WS = " \t\n\r"
_xml_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff")
_key_start = st.sampled_from("abcxyzABC_")
_keys = st.builds(lambda a, b: a + b, _key_start,
                  st.text(alphabet="abcxyz019_-./", max_size=6)).filter(
    lambda k: ".KRB_SLASH." not in k)
_attr_keys = st.builds(lambda a, b: a + b, _key_start, st.text(alphabet="abcxyz019_-.", max_size=6)).filter(
    lambda k: not k.startswith("KRB_") and k != "xmlns")
_text = st.text(_xml_chars, max_size=12)
_elem_text = _text.map(lambda s: s.replace("\r", "")).filter(lambda s: s == "" or s.strip(_WS))
_item_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\ufffe\uffff,"),
                     min_size=1, max_size=6).map(str.strip).filter(bool)
# Values whose %.7g / %.15g text is exact.
_specials = st.sampled_from([math.inf, -math.inf, math.nan, -0.0])
_exact_floats = st.integers(-2 ** 16, 2 ** 16).map(lambda i: i / 4) | _specials
_exact_doubles = st.integers(-2 ** 40, 2 ** 40).map(lambda i: i / 8) | _specials | st.sampled_from([1e300, 1.5e-300])


def _ints(t):
    info = np.iinfo(t.dtype)
    return st.integers(int(info.min), int(info.max))


_INT_TYPES = [Types.INT8, Types.UINT8, Types.INT16, Types.UINT16, Types.INT32, Types.UINT32,
              Types.INT64, Types.UINT64]


def _leaf(text):
    """(value, type) strategies for leaves whose text form reads back exactly."""
    options = [
        st.tuples(st.booleans(), st.just(Types.BOOL)),
        st.tuples(st.sampled_from("AZaz09!<&>\"'"), st.just(Types.CHAR)),
        st.tuples(_exact_floats, st.just(Types.FLOAT)),
        st.tuples(_exact_doubles, st.just(Types.DOUBLE)),
        st.tuples(st.builds(complex, _exact_floats, _exact_floats), st.just(Types.COMPLEX_FLOAT)),
        st.tuples(st.builds(complex, _exact_doubles, _exact_doubles), st.just(Types.COMPLEX_DOUBLE)),
        st.tuples(st.lists(_exact_floats, max_size=4), st.just(Types.VECTOR_FLOAT)),
        st.tuples(text, st.just(Types.STRING)),
        st.tuples(st.lists(_item_text, max_size=4), st.just(Types.VECTOR_STRING)),
        st.tuples(st.binary(max_size=20), st.just(Types.VECTOR_CHAR)),
        st.tuples(st.binary(max_size=20).map(bytearray), st.just(Types.BYTE_ARRAY)),
        st.tuples(st.none(), st.just(Types.NONE)),
        st.tuples(st.integers(0, 3).map(lambda n: [None] * n), st.just(Types.VECTOR_NONE)),
        st.tuples(st.lists(st.booleans(), max_size=4), st.just(Types.VECTOR_BOOL)),
        st.tuples(st.lists(_exact_doubles, max_size=4), st.just(Types.VECTOR_DOUBLE)),
    ]
    for t in _INT_TYPES:
        options.append(st.tuples(_ints(t), st.just(t)))
        options.append(st.tuples(st.lists(_ints(t), max_size=4), st.just(t.vectorType)))
    return st.one_of(options)


def _build(entries) -> Hash:
    h = Hash()
    for key, (value, t), attrs in entries:
        h.setAs(key, value, t, sep=RAW)
        for name, (av, at) in attrs:
            h.setAttribute(key, name, av, type=at, sep=RAW)
    return h


def _hashes(leaf, attr_leaf):
    def level(children):
        value = st.one_of(leaf, children.map(lambda h: (h, Types.HASH)),
                          st.lists(children, max_size=3).map(lambda v: (v, Types.VECTOR_HASH)),
                          st.builds(Schema, st.text(alphabet="abcXYZ_ .", max_size=5), children).map(
                              lambda s: (s, Types.SCHEMA)))
        attrs = st.lists(st.tuples(_attr_keys, st.one_of(
            attr_leaf, st.lists(children, max_size=2).map(lambda v: (v, Types.VECTOR_HASH)))),
            max_size=3, unique_by=lambda a: a[0])
        return st.lists(st.tuples(_keys, value, attrs), max_size=4, unique_by=lambda e: e[0]).map(_build)
    return st.recursive(st.just(Hash()), level, max_leaves=12)


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=300, deadline=None)
@given(_hashes(_leaf(_elem_text), _leaf(_text)))
def test_encode_decode_round_trip(h):
    for indentation in (2, -1):
        text = encodeXML(h, indentation=indentation)
        back = decodeXML(text)
        assert back.fullyEqual(h), f"{text}\n{back}\n{h}"
