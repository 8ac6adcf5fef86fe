"""The facts pages commonly state, the words they label them with, and how questions ask for them.

A question rarely reuses a page's label ("Who makes it?" -> ``Manufacturer:``; "When did it come
out?" -> ``On sale since:``). Each :class:`Field` lists the labels pages use for one kind of fact,
the words and phrases questions use for it, and the kinds of value it has (dates, money, names...).
:func:`fields_of` finds the fields a question asks for; relevance then also looks for their labels
and their kinds of value.

Where the labels come from: the label/value pairs of the 1,833 pages in the project's labelled
corpora (two-cell table rows, ``<dt>/<dd>``, form labels, ``Label: value`` texts: 2,964 distinct
labels, English and German above all: "Publisher", "ISBN-13", "Page Count", "Autor",
"Veröffentlicht am", "Hersteller", "Marke", "Erscheinungsdatum", "Telefon"...), the meta names and
microdata ``itemprop`` names on those pages (``article:published_time``, ``og:site_name``,
``itemprop=datePublished``...), and schema.org's properties of Product, CreativeWork, Book, Offer,
Organization, Person, Place and Event, which name the facts shops, publishers and event pages mark
up. Labels in French, Spanish and Italian are the usual translations of the same labels. Each
field's labels also hold the words of :data:`domprune.steps.synonyms.SYNONYMS` (schema.org, Dublin
Core, Open Graph, ONIX, GS1): the table of label words that come from no page.

:func:`restricted_labels` runs a block with only some label words (the bench's leave-one-corpus-out
vocabulary: the sources' words and the labels of the other corpora's pages).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

from .synonyms import SYNONYMS

__all__ = [
    "FIELDS",
    "KIND_PATTERNS",
    "Field",
    "fields_of",
    "labels_asked",
    "restricted_labels",
    "root",
    "same_root",
]


@dataclass(frozen=True)
class Field:
    """One kind of fact: its labels on pages, the question words that ask for it, its value kinds."""

    name: str
    labels: tuple[str, ...]
    cues: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


def _f(name: str, labels: str, cues: str = "", kinds: str = "") -> Field:
    """A field of ``labels`` and the published synonyms of ``name`` (:data:`SYNONYMS`), once each."""
    published = (w for words in SYNONYMS.get(name, {}).values() for w in words.split())
    return Field(
        name,
        tuple(dict.fromkeys((*labels.split(), *published))),
        tuple(c.strip() for c in cues.split(",") if c.strip()),
        tuple(kinds.split()),
    )


FIELDS: tuple[Field, ...] = (
    _f("author", "author authors autor autorin autoren auteur autore autora byline by von par por writer "
       "written verfasser verfasserin redakteur redakteurin reporter journalist contributor creator "
       "editor posted reviewer columnist correspondent",
       "who wrote, wrote, write, writes, written, writer, author, penned, whose work, person behind, byline, "
       "geschrieben, schrieb, verfasst, écrit, escrito, scritto",
       "name"),
    _f("publisher", "publisher pub published verlag imprint éditeur editorial editore editora press "
       "publishing herausgeber",
       "publish, publisher, published by, brought out, bring out, put out, issued by, on the market, which company",
       "name"),
    _f("maker", "brand manufacturer maker make producer vendor hersteller marke fabricant marque marca "
       "fabricante produttore company supplier seller sold",
       "make, makes, made by, manufacture, manufactures, manufactured, produce, produces, produced, "
       "producer, brand, company, firm, who makes, which company",
       "name"),
    _f("date", "date pub dated published publication release released launch launched available availability "
       "sale issued updated posted modified created copyright year introduced announced premiere "
       "datum erschienen erscheinungsdatum erscheinungstermin veröffentlicht veröffentlichung "
       "aktualisiert stand erstellt fecha publicado publié parution",
       "when, date, day, year, come out, came out, comes out, release, released, launch, launched, debut, "
       "first available, on sale, put online, publish, published, appeared, updated, issued",
       "date"),
    _f("price", "price prices pricing cost costs msrp rrp list sale offer deal preis prix precio prezzo "
       "kosten fare fee amount total subtotal charge",
       "how much, cost, costs, pay, price, expensive, cheap, charge, fee, worth, spend",
       "money"),
    _f("currency", "currency currencies währung devise moneda valuta", "money, currency, coin, tender", "money"),
    _f("weight", "weight weighs mass gewicht poids peso net gross",
       "heavy, weigh, weighs, weight, mass, how light", "quantity"),
    _f("size", "dimensions size measurements width height depth length größe abmessungen maße taille "
       "tamaño dimensioni",
       "big, large, small, tall, wide, deep, measure, measures, measurements, dimensions, size",
       "quantity"),
    _f("identifier", "isbn isbn13 isbn10 ean upc gtin gtin13 sku mpn asin model part item number code "
       "reference ref artikelnummer modell identifier",
       "identifier, identification, identifies, code, isbn, sku, model number, reference, catalogue number",
       "id"),
    _f("pages", "pages page count print length seiten seitenzahl seitenanzahl pagine páginas",
       "pages, how long is the book, how thick, sheets, length of the book", "number"),
    _f("format", "format binding edition einband ausgabe paperback hardcover hardback type",
       "physical form, format, binding, paperback, hardcover, edition, what form"),
    _f("language", "language languages sprache langue idioma lingua", "language, tongue, written in"),
    _f("rating", "rating ratings rated stars score reviews bewertung bewertungen note customer",
       "rated, rating, score, stars, how good, how well, customers give", "rating"),
    _f("count", "quantity qty count number anzahl menge pieces pack items units stück contents",
       "how many, number of, count, quantity", "number"),
    _f("capacity", "capacity volume litres liters inhalt fassungsvermögen contenance",
       "hold, holds, capacity, volume, how much does it hold", "quantity"),
    _f("power", "power wattage output motor watts leistung puissance potencia",
       "powerful, power, watts, wattage, how strong", "quantity"),
    _f("battery", "battery akku runtime autonomy", "battery, last on a charge, charge", "quantity"),
    _f("resolution", "resolution megapixels pixels sensor auflösung", "resolution, megapixel, megapixels, sharp",
       "quantity"),
    _f("place", "country origin location address city place venue region ort herkunft land pays adresse "
       "anschrift standort lieu ciudad dirección ships",
       "where, country, origin, located, location, place, city, made in, produced in, come from, address",
       "place"),
    _f("phone", "phone telephone tel fon telefon mobile handy téléphone teléfono contact kontakt hotline",
       "call, phone, telephone, reach them, ring, contact number", "phone"),
    _f("email", "email mail courriel contact kontakt", "email, e-mail, write to, mail address", "email"),
    _f("fax", "fax telefax", "fax, facsimile", "phone"),
    _f("colour", "colour color colours colors farbe couleur finish shade", "colour, color, shade, what colour"),
    _f("material", "material materials fabric composition stoff matériau material", "made of, material, fabric, consist"),
    _f("duration", "duration runtime length running time dauer laufzeit lesezeit reading minutes",
       "how long, last, lasts, take, takes, duration, running time", "duration"),
    _f("category", "category categories kategorie kategorien catégorie section rubrik ressort topic topics "
       "tags tag schlagworte themen thema filed genre subject labels",
       "subject, topic, classification, category, filed, genre, kind of, what is it about"),
    _f("credit", "source quelle quellen credit credits photo foto fotos bild bildquelle fotocredit image "
       "copyright courtesy photographer",
       "picture, image, photo, photograph, acknowledged, credited, credit, source, comes from, took the picture",
       "name"),
    _f("site", "site site_name website publisher portal homepage url web internet webseite",
       "website, web site, site, outlet, newspaper, magazine, blog, which publication, online, on the web"),
    _f("title", "title headline heading titel titre título name", "title, headline, called, named"),
    _f("subtitle", "subtitle description dek teaser summary standfirst excerpt untertitel abstract",
       "subtitle, summary, dek, teaser, standfirst"),
    _f("age", "age ages range grade level reading altersempfehlung",
       "how old, age, suitable, grade, level, kids, children"),
    _f("availability", "availability stock lieferbar verfügbarkeit status disponibilité",
       "available, in stock, get it, buy it now, can you get"),
    _f("warranty", "warranty guarantee garantie gewährleistung", "warranty, guarantee, covered"),
    _f("series", "series reihe serie collection", "series, set of books, belong"),
    _f("founded", "founded established since gegründet seit fondé", "founded, start, started, established",
       "date"),
    _f("nutrition", "calories kcal energy protein fat carbs carbohydrates sugar sodium nährwerte kalorien",
       "energy, calories, nutrient, nutrition, serving", "quantity"),
)  # fmt: skip

_MONTH_NAMES = (
    "jan january feb february mar march apr april may jun june jul july aug august sep sept september oct "
    "october nov november dec december januar februar märz mai juni juli oktober dezember janvier "
    "février mars avril juin juillet août septembre octobre novembre décembre enero febrero marzo abril "
    "mayo junio julio agosto septiembre octubre noviembre diciembre"
).split()


def _trie(words: list[str]) -> str:
    """An alternation of ``words`` factored by common prefixes (Python's ``re`` tries a flat
    alternation's branches one by one at every position; a factored one rejects at the first letter)."""
    tree: dict[str, dict] = {}
    for w in words:
        node = tree
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return emit(tree)


_MONTHS = _trie(_MONTH_NAMES)
_UNITS = (
    r"kg|g|mg|lbs?|pounds?|oz|ounces?|t|tons?|cm|mm|m|km|in|inch(es)?|ft|feet|yd|\"|'|l|ml|cl|litres?|liters?"
    r"|gal|gallons?|w|kw|v|mah|wh|kwh|gb|tb|mb|mp|megapixels?|hz|khz|mhz|ghz|px|dpi|rpm|db|°c|°f|cal|kcal|kj"
    r"|%|pages?|seiten|minutes?|mins?|hours?|hrs?|h|s|sec|seconds?|days?|weeks?|months?|years?|shots"
)
# the kinds of value a question may expect, as patterns over a text
KIND_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(  # (the look-ahead: a date starts with a digit or a month's first letter)
        rf"\b(?=[\dadefjmnos])(\d{{4}}-\d\d-\d\d|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}|({_MONTHS})\b|(1[89]|20)\d\d\b)",
        re.I,
    ),
    "money": re.compile(r"[$€£¥₹]\s?\d|\d\s?(usd|eur|gbp|chf|€|\$|£)|\b(usd|eur|gbp)\s?\d", re.I),
    "isbn": re.compile(r"\b97[89][-\s]?\d{1,5}[-\s]?\d+[-\s]?\d+[-\s]?\d\b|\b\d{13}\b|\b\d{9}[\dx]\b", re.I),
    "id": re.compile(r"\b(?=[\w-]*\d)[a-z0-9][\w-]{4,}\b", re.I),
    "number": re.compile(r"\d"),
    "quantity": re.compile(rf"\d([.,]\d+)?\s?({_UNITS})(?![a-z])", re.I),
    "rating": re.compile(r"\d([.,]\d)?\s?(/|out of|von|sur)\s?(5|10|100)\b|\bstars?\b|★", re.I),
    "phone": re.compile(r"(\+|\b)\d[\d\s()./-]{6,}\d\b"),
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    # two or more capitalised words (a person or an organisation), or a company form
    "name": re.compile(
        r"\b[A-ZÀ-Þ][\w'’.-]+(\s+(&\s+|and\s+|von\s+|van\s+|de\s+)?[A-ZÀ-Þ][\w'’.-]+)+"
        r"|\b(inc|ltd|llc|gmbh|ag|corp|co|sa|plc|s\.a\.)\b\.?",
    ),
    "place": re.compile(r"\b[A-ZÀ-Þ][\w'’-]+(,\s*[A-ZÀ-Þ][\w'’-]+)+|\b\d{4,5}\s+[A-ZÀ-Þ]\w+"),
    "duration": re.compile(r"\d\s?(min(ute)?s?|h(ou)?rs?|hours?|seconds?|sec|days?)\b|\d+:\d\d\b", re.I),
}

_SUFFIXES = (
    "ations", "ation", "itions", "ition", "tions", "tion", "ions", "ion", "ments", "ment", "ness",
    "ities", "ity", "ably", "able", "ibly", "ible", "ings", "ing", "ers", "er", "ors", "or", "ies",
    "ied", "es", "ed", "s", "e", "y",
)  # fmt: skip
_WORD = re.compile(r"\w+", re.UNICODE)


@functools.lru_cache(maxsize=65536)
def root(word: str) -> str:
    """A word without its derivational and inflectional endings (at most two; four letters stay).

    >>> root("publication"), root("publisher"), root("production"), root("manufacturer")
    ('public', 'publish', 'produc', 'manufactur')
    """
    w = word.lower()
    for _ in range(2):
        for suf in _SUFFIXES:
            if w.endswith(suf) and len(w) - len(suf) >= 4:
                w = w[: -len(suf)]
                break
        else:
            break
    return w


def same_root(a: str, b: str) -> bool:
    """Whether two words share their root: equal roots, or a common start of five or more letters
    that covers most of the shorter root (publish / publication, produce / production).

    >>> same_root("publish", "publication"), same_root("weight", "weighs"), same_root("general", "generous")
    (True, True, False)
    """
    ra, rb = root(a), root(b)
    if ra == rb:
        return True
    n = min(len(ra), len(rb))
    if n < 5 or abs(len(ra) - len(rb)) > 3:  # not a compound (artikel / artikelnummer)
        return False
    k = 0
    while k < n and ra[k] == rb[k]:
        k += 1
    return k >= 5 and k >= 0.8 * n


@dataclass(frozen=True, eq=False)  # (hashed by identity: a key of fields_of's cache)
class _Vocabulary:
    """The cues and labels of some fields, indexed for :func:`fields_of`: single words by their first
    three letters, phrases as they are."""

    by_start: dict[str, list[tuple[str, Field]]]
    phrases: list[tuple[str, Field]]

    @classmethod
    def of(cls, fields: tuple[Field, ...]) -> _Vocabulary:
        by_start: dict[str, list[tuple[str, Field]]] = {}
        phrases: list[tuple[str, Field]] = []
        for field in fields:
            for cue in (*field.cues, *field.labels):
                if " " in cue or "-" in cue:
                    phrases.append((f" {cue} ", field))
                elif len(cue) >= 3:
                    by_start.setdefault(cue[:3], []).append((cue, field))
        return cls(by_start, phrases)


# the vocabulary fields_of reads: every label word, unless a restricted_labels block is running in
# this thread or task (a context variable: other threads keep theirs)
_EVERY_LABEL = _Vocabulary.of(FIELDS)
_VOCABULARY: ContextVar[_Vocabulary | None] = ContextVar("domprune_field_vocabulary", default=None)


@contextmanager
def restricted_labels(keep: Collection[str]) -> Iterator[None]:
    """Within the block, every field has only the label words in ``keep`` (question cues stay).

    >>> "imprint" in labels_asked("Who published the book?")
    True
    >>> with restricted_labels({"publisher"}):
    ...     "imprint" in labels_asked("Who published the book?")
    False
    """
    token = _VOCABULARY.set(_restricted_vocabulary(frozenset(keep)))
    try:
        yield
    finally:
        _VOCABULARY.reset(token)


@functools.lru_cache(maxsize=64)
def _restricted_vocabulary(keep: frozenset[str]) -> _Vocabulary:
    """The vocabulary of every field with only the label words in ``keep``: one object for each
    ``keep`` (the questions' fields, cached by vocabulary, are found once for each, not each block)."""
    return _Vocabulary.of(tuple(replace(f, labels=tuple(w for w in f.labels if w in keep)) for f in FIELDS))


def labels_asked(question: str) -> set[str]:
    """The label words of the fields ``question`` asks for."""
    return {w for f in fields_of(question) for w in f.labels}


def fields_of(question: str) -> tuple[Field, ...]:
    """The fields a question asks for, by its words and phrases (shared roots count).

    >>> [f.name for f in fields_of("Who makes the blender?")]
    ['maker']
    >>> [f.name for f in fields_of("When did it come out?")]
    ['date']
    """
    return _fields_in(question, _VOCABULARY.get() or _EVERY_LABEL)


@functools.lru_cache(maxsize=4096)
def _fields_in(question: str, vocabulary: _Vocabulary) -> tuple[Field, ...]:
    q = " " + " ".join(_WORD.findall(question.lower())) + " "
    found: dict[str, Field] = {}
    for phrase, field in vocabulary.phrases:
        if phrase in q:
            found.setdefault(field.name, field)
    for w in q.split():
        if len(w) < 3 or w in _STOP:
            continue
        for cue, field in vocabulary.by_start.get(w[:3], ()):
            if field.name not in found and (cue == w or (len(w) >= 5 and same_root(cue, w))):
                found[field.name] = field
    return tuple(found.values())


# question words that are cues only inside a phrase ("how much", "made by")
_STOP = frozenset(
    "the and for are was were did does how what who whom whose which why this that these those "
    "with from into has have had can could would should will its his her their our your you they them "
    "page article book product item one".split()
)
