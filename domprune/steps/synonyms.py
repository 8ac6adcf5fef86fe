"""Label synonyms from published vocabularies: the words pages label facts with, taken from the
standards that name those facts, not from any page of the project's corpora.

One row per field of :data:`domprune.steps.fields.FIELDS` and source; the words are what a page
prints as the label (a property ``datePublished`` prints as "Date published", so it gives ``date``
and ``published``; words that name nothing on their own, such as "of" or "number" alone, are left
out). The sources:

- **schema.org**: the properties of Thing, CreativeWork, Book, Article, NewsArticle, Product,
  Offer, Organization, Person, Place, LocalBusiness, Event, JobPosting, Recipe and
  NutritionInformation, AggregateRating, MediaObject, Vehicle (``author``, ``publisher``,
  ``datePublished``, ``numberOfPages``, ``bookFormat``, ``bookEdition``, ``inLanguage``, ``isbn``,
  ``brand``, ``manufacturer``, ``gtin13``, ``sku``, ``mpn``, ``priceCurrency``, ``availability``,
  ``warranty``, ``countryOfOrigin``, ``telephone``, ``faxNumber``, ``foundingDate``,
  ``typicalAgeRange``, ``ratingValue``, ``reviewCount``, ``calories``, ``fuelType``...);
- **Dublin Core** elements (``dc.creator``, ``dc.publisher``, ``dc.date``, ``dc.language``,
  ``dc.format``, ``dc.identifier``, ``dc.subject``, ``dc.rights``, ``dc.source``...);
- **Open Graph** and its ``article:``, ``book:`` and ``product:`` namespaces (``og:site_name``,
  ``article:published_time``, ``article:section``, ``book:release_date``,
  ``product:price:amount``, ``product:retailer_item_id``...);
- **ONIX for Books** (the book trade's product record: Imprint, Publisher, Publishing date, Extent
  in pages, Product form (paperback, hardback), Edition, Contributor roles "By", "Edited by",
  "Illustrated by", "Translated by", Collection/Series, Audience, Measure);
- **GS1** product attributes of the global data model (brand name, manufacturer, net content,
  net weight, country of origin, colour, material, GTIN).

:func:`source_words` gives the words of every source; the bench's leave-one-corpus-out vocabulary
keeps them and drops a label word of :data:`~domprune.steps.fields.FIELDS` that only the test
corpus's pages use.

>>> "imprint" in SYNONYMS["publisher"]["ONIX"].split()
True
>>> {"published", "release"} <= source_words()
True
"""

from __future__ import annotations

import functools

__all__ = ["SYNONYMS", "source_words"]

SYNONYMS: dict[str, dict[str, str]] = {
    "author": {
        "schema.org": "author creator contributor editor illustrator translator",
        "Dublin Core": "creator contributor",
        "Open Graph": "author",
        "ONIX": "by author contributor edited illustrated translated written",
    },
    "publisher": {
        "schema.org": "publisher",
        "Dublin Core": "publisher",
        "ONIX": "publisher imprint publishing",
    },
    "maker": {
        "schema.org": "brand manufacturer producer seller",
        "Open Graph": "brand retailer",
        "GS1": "brand manufacturer supplier",
    },
    "date": {
        "schema.org": "date published created modified release released production copyright year",
        "Dublin Core": "date issued created modified",
        "Open Graph": "published modified release",
        "ONIX": "publishing publication date",
    },
    "price": {
        "schema.org": "price offer offers",
        "Open Graph": "price amount",
        "GS1": "price",
    },
    "currency": {"schema.org": "currency", "Open Graph": "currency"},
    "weight": {"schema.org": "weight", "GS1": "weight net gross", "ONIX": "weight"},
    "size": {"schema.org": "width height depth size", "ONIX": "height width thickness measure dimensions"},
    "identifier": {
        "schema.org": "isbn gtin gtin13 gtin12 gtin8 sku mpn model identifier",
        "Dublin Core": "identifier",
        "Open Graph": "isbn item",
        "ONIX": "isbn isbn13 ean gtin reference",
        "GS1": "gtin ean upc",
    },
    "pages": {"schema.org": "pages", "ONIX": "pages extent"},
    "format": {
        "schema.org": "format edition paperback hardcover ebook",
        "Dublin Core": "format",
        "ONIX": "format edition paperback hardback binding",
    },
    "language": {"schema.org": "language", "Dublin Core": "language", "ONIX": "language"},
    "rating": {"schema.org": "rating ratings reviews review score", "Open Graph": "rating"},
    "count": {"schema.org": "count quantity", "GS1": "quantity pieces contents"},
    "capacity": {"schema.org": "capacity volume", "GS1": "volume"},
    "power": {"schema.org": "power"},
    "battery": {"schema.org": "battery"},
    "resolution": {"schema.org": "resolution"},
    "place": {
        "schema.org": "address location country origin city region place",
        "GS1": "country origin",
    },
    "phone": {"schema.org": "telephone phone"},
    "email": {"schema.org": "email"},
    "fax": {"schema.org": "fax"},
    "colour": {"schema.org": "color", "GS1": "colour color"},
    "material": {"schema.org": "material", "GS1": "material"},
    "duration": {"schema.org": "duration runtime", "Open Graph": "duration"},
    "category": {
        "schema.org": "category genre keywords section",
        "Dublin Core": "subject",
        "Open Graph": "section tag",
        "ONIX": "subject",
    },
    "credit": {"schema.org": "credit copyright", "Dublin Core": "rights source"},
    "site": {"schema.org": "website url", "Open Graph": "site"},
    "title": {
        "schema.org": "name headline title",
        "Dublin Core": "title",
        "Open Graph": "title",
        "ONIX": "title",
    },
    "subtitle": {
        "schema.org": "description abstract",
        "Dublin Core": "description",
        "Open Graph": "description",
        "ONIX": "subtitle",
    },
    "age": {"schema.org": "age range audience level", "ONIX": "audience age"},
    "availability": {"schema.org": "availability", "Open Graph": "availability"},
    "warranty": {"schema.org": "warranty"},
    "series": {"schema.org": "series", "ONIX": "series collection"},
    "founded": {"schema.org": "founding founded"},
    "nutrition": {"schema.org": "calories fat protein carbohydrate sugar sodium serving"},
}
"""Label words by field and source (field names as in ``FIELDS``)."""


@functools.cache
def source_words() -> frozenset[str]:
    """Every label word of every source."""
    return frozenset(
        w for by_source in SYNONYMS.values() for words in by_source.values() for w in words.split()
    )
