"""Reading pages: str, bytes in any declared encoding, BOMs, paths, lxml trees, dialects."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree, html

import domprune
from domprune import InputError, InputTooLargeError, ParseSettings, PruneSettings
from domprune.parse import decode_bytes, detect_dialect, parse_page


def _text(page: object) -> str:
    return "".join(parse_page(page).root.itertext())


def test_str() -> None:
    parsed = parse_page("<html><body><p>Hello</p></body></html>")
    assert parsed.dialect == "html"
    assert parsed.source is not None
    assert _text("<p>Hello <b>world</b></p>") == "Hello world"


def test_entities_are_decoded() -> None:
    assert _text("<p>a &amp; b &lt;c&gt; &eacute; &#x6771;&#20140;</p>") == "a & b <c> é 東京"


def test_windows_1252_bytes_with_meta_charset() -> None:
    data = '<meta charset="windows-1252"><p>caf\xe9 \x80 \x93q\x94</p>'.encode("latin-1")
    assert _text(data) == "café € “q”"


def test_iso_8859_1_bytes_with_http_equiv() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        "</head><body><p>na\xefve \xa3</p></body></html>"
    )
    assert _text(page.encode("latin-1")) == "naïve £"


def test_utf8_bytes_without_declaration() -> None:
    assert _text("<p>Grüße aus 東京 🙂</p>".encode()) == "Grüße aus 東京 🙂"


def test_utf8_bom() -> None:
    data = b"\xef\xbb\xbf" + "<p>Hi é</p>".encode()
    assert _text(data) == "Hi é"
    assert decode_bytes(data) == "<p>Hi é</p>"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(encoding: str) -> None:
    data = ("\ufeff" if encoding != "utf-16" else "") + "<p>Hi é 東京</p>"
    assert _text(data.encode(encoding)) == "Hi é 東京"


def test_bytearray_and_memoryview() -> None:
    data = b"<p>bytes</p>"
    assert _text(bytearray(data)) == "bytes"
    assert _text(memoryview(data)) == "bytes"


def test_path_str_and_pathlib(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_bytes('<meta charset="iso-8859-1"><p>caf\xe9</p>'.encode("latin-1"))
    assert _text(f) == "café"
    assert _text(str(f)) == "café"
    assert domprune.prune(f, budget=50).output == domprune.prune(str(f), budget=50).output


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        parse_page(str(tmp_path / "missing.html"))
    with pytest.raises(InputError, match="cannot read"):
        parse_page(tmp_path / "missing.html")


def test_folder_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        parse_page(tmp_path)


def test_unsupported_type_is_input_error() -> None:
    with pytest.raises(InputError, match="cannot read a page from int"):
        parse_page(12345)


def test_input_too_large(tmp_path: Path) -> None:
    settings = ParseSettings(max_input_bytes=100)
    page = "<p>" + "x" * 200 + "</p>"
    for given in (page, page.encode()):
        with pytest.raises(InputTooLargeError, match="max_input_bytes"):
            parse_page(given, settings)
    f = tmp_path / "big.html"
    f.write_text(page)
    with pytest.raises(InputTooLargeError, match=r"big\.html"):
        parse_page(f, settings)
    with pytest.raises(InputTooLargeError):
        domprune.prune(page, budget=50, settings=PruneSettings(parse=settings))


def test_lxml_element_and_tree_are_not_modified() -> None:
    source = (
        '<html><body><nav class="menu"><a href="/x?y=1">Home</a></nav><script>var a=1;</script>'
        '<div style="display:none">secret</div><div class="c"><p id="p1" onclick="f()">Price: $5</p>'
        "</div></body></html>"
    )
    root = html.fromstring(source)
    before = etree.tostring(root)
    r = domprune.prune(root, budget=10)
    assert r.tokens_after <= 10
    assert etree.tostring(root) == before
    tree = root.getroottree()
    r2 = domprune.prune(tree, budget=200)
    assert "Price: $5" in r2.output and "secret" not in r2.output and "var a" not in r2.output
    assert etree.tostring(root) == before
    assert r2.tokens_before is None  # no source text for a tree


def test_lxml_element_with_comments_and_namespaces() -> None:
    root = etree.fromstring(
        '<html xmlns="http://www.w3.org/1999/xhtml"><body><!-- note --><p>Text<?pi x?></p></body></html>'
    )
    out = domprune.prune(root, budget=50).output
    assert "Text" in out and "note" not in out and "pi" not in out


def test_comment_node_is_refused() -> None:
    with pytest.raises(InputError, match="not an element"):
        parse_page(etree.Comment("x"))


@pytest.mark.parametrize(
    ("page", "dialect"),
    [
        ("<html><body><p>plain</p></body></html>", "html"),
        ('<div backend_node_id="3"><text>hi</text></div>', "mind2web"),
        ("<div><text>hi</text></div>", "mind2web"),
        ("<div><textarea>t</textarea></div>", "html"),
    ],
)
def test_dialect_detection(page: str, dialect: str) -> None:
    assert detect_dialect(page) == dialect
    assert parse_page(page).dialect == dialect


def test_dialect_override_and_element_detection() -> None:
    assert parse_page("<p>x</p>", ParseSettings(dialect="mind2web")).dialect == "mind2web"
    tree = html.fromstring('<div backend_node_id="1"><p backend_node_id="2">x</p></div>')
    assert parse_page(tree).dialect == "mind2web"
    assert parse_page(tree, ParseSettings(dialect="html")).dialect == "html"


def test_comments_and_pis_are_dropped() -> None:
    out = domprune.prune("<p>a<!-- secret -->b<?php echo 1 ?></p>", budget=50).output
    assert "secret" not in out and "php" not in out
    assert "a" in out and "b" in out


def test_undeclared_latin1_bytes() -> None:
    # no BOM and no declared charset, not valid UTF-8: the web's fallback is windows-1252
    assert _text("<p>café déjà vu, naïve</p>".encode("latin-1")) == "café déjà vu, naïve"


def test_xml_declaration_in_str_and_bytes() -> None:
    page = '<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>caf\xe9</p></body></html>'
    assert _text(page) == "café"
    assert _text(page.encode("latin-1")) == "café"
