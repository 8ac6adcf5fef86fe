"""Pages written for the tests (deterministic, no corpus needed): shops, articles, forms, Mind2Web.

Each builder returns one HTML string. The shop pages state their facts under labels that share no
word with the questions a user asks ("Who makes it?" -> ``Manufacturer:``), put some facts only in
the head (meta, JSON-LD, microdata) and surround them with navigation, facet filters and reviews
that are larger than a small budget.
"""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "pages"

_LOREM = (
    "The trail was wet after a night of rain and the group moved slowly over the roots and stones. "
    "Everyone agreed that the view from the ridge was worth the early start and the cold coffee. "
)


def _reviews(n: int, topic: str) -> str:
    return "".join(
        f'<article class="review"><h3>Review {i}: solid {topic}</h3>'
        f'<p class="review__meta">By <span class="author">Reviewer {i}</span></p>'
        f"<p>{_LOREM * 2} Review number {i} of the {topic}.</p></article>"
        for i in range(n)
    )


def _facets(fields: list[str], values: int = 6) -> str:
    """A sidebar of filters that only name fields (the question's words, no answers)."""
    groups = "".join(
        f'<div class="facet"><h4>{f}</h4><ul>'
        + "".join(f'<li><a href="/search?{f.lower()}={k}">{f} option {k}</a></li>' for k in range(values))
        + "</ul></div>"
        for f in fields
    )
    return f'<aside class="filters"><h3>Filter by</h3>{groups}</aside>'


def _nav(n: int = 30) -> str:
    links = "".join(f'<li><a href="/c/{i}">Category {i}</a></li>' for i in range(n))
    return f'<header class="site-header"><nav class="main-nav"><ul>{links}</ul></nav></header>'


def blender_shop() -> str:
    """A kitchen appliance page: brand only as 'Manufacturer', release as 'On sale since'."""
    ld = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "AeroMix 900 Blender",
        "sku": "AMX-900-BLK",
        "gtin13": "4006381333931",
        "brand": {"@type": "Brand", "name": "Kessler & Voss"},
        "offers": {"@type": "Offer", "price": "249.00", "priceCurrency": "EUR"},
        "image": "https://cdn.example.com/img/amx900.jpg",
    }
    return f"""<!DOCTYPE html><html lang="en"><head>
<title>AeroMix 900 Blender | HomeCraft Store</title>
<meta name="description" content="A 1,400 watt countertop blender with a 2 litre glass jar.">
<meta property="og:description" content="A 1,400 watt countertop blender with a 2 litre glass jar.">
<meta name="twitter:description" content="A 1,400 watt countertop blender with a 2 litre glass jar.">
<meta name="keywords" content="blender, AeroMix, kitchen, Kessler Voss">
<meta property="product:price:amount" content="249.00">
<script type="application/ld+json">{json.dumps(ld)}</script>
<script type="application/ld+json">{{}}</script>
</head><body>
{_nav()}
{_facets(["Brand", "Release date", "Price", "Power", "Colour"])}
<main class="product">
<h1>AeroMix 900 Blender</h1>
<div class="price"><span>€249.00</span></div>
<img src="https://cdn.example.com/img/products/kitchen/blenders/aeromix-900/side-view-large.jpg?w=1200"
 alt="AeroMix 900
   blender, side view">
<section class="details"><h2>Product details</h2>
<ul class="facts">
<li><span class="label">Manufacturer:</span> <span class="value">Kessler &amp; Voss GmbH</span></li>
<li><span class="label">On sale since:</span> <span class="value">14 March 2023</span></li>
<li><span class="label">Motor output:</span> <span class="value">1,400 W</span></li>
<li><span class="label">Jar capacity:</span> <span class="value">2 litres</span></li>
<li><span class="label">Item weight:</span> <span class="value">4.1 kg</span></li>
<li><span class="label">Country of production:</span> <span class="value">Portugal</span></li>
</ul></section>
<section class="description"><h2>Description</h2><p>{_LOREM * 6}</p></section>
<section class="reviews"><h2>Customer reviews</h2>{_reviews(40, "blender")}</section>
</main>
<footer class="site-footer"><p>Copyright 2024 HomeCraft. Customer service, returns, shipping.</p></footer>
</body></html>"""


def camera_shop() -> str:
    """A camera page whose facts are in a spec table with row headers and in microdata."""
    rows = [
        ("Maker", "Orinox"),
        ("Launch date", "2022-09-21"),
        ("Sensor resolution", "24.2 megapixels"),
        ("Body weight", "675 g"),
        ("Battery life", "410 shots"),
        ("Model number", "ORX-Z7II"),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"""<html><head><title>Orinox Z7 II mirrorless camera</title>
<meta itemprop="brand" content="Orinox">
<meta property="og:title" content="Orinox Z7 II mirrorless camera">
</head><body>
{_nav(40)}
<div class="breadcrumbs"><a href="/">Home</a> / <a href="/cameras">Cameras</a></div>
{_facets(["Brand", "Maker", "Launch date", "Resolution", "Weight"], 8)}
<div id="content" itemscope itemtype="https://schema.org/Product">
<h1 itemprop="name">Orinox Z7 II</h1>
<p>Price: <span itemprop="price" content="1599.00">$1,599.00</span></p>
<h2>Technical data</h2><table class="specs">{table}</table>
<h2>In the box</h2><ul><li>Camera body</li><li>Battery EN-EL15c</li><li>Strap</li></ul>
<h2>Questions and answers</h2>{_reviews(40, "camera")}
</div>
<footer>About us. Careers. Press. Affiliates. Gift cards.</footer>
</body></html>"""


def news_article() -> str:
    """An article: byline, date in <time> and in JSON-LD, a headline repeated in og:/twitter: meta."""
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "City council approves new bike lanes",
        "datePublished": "2024-05-02T08:30:00Z",
        "author": {"@type": "Person", "name": "Maria Okafor"},
        "publisher": {"@type": "Organization", "name": "The Riverside Herald"},
        "articleBody": _LOREM * 10,
    }
    paras = "".join(f"<p>{_LOREM} Paragraph {i} on the council meeting.</p>" for i in range(40))
    return f"""<html><head><title>City council approves new bike lanes - The Riverside Herald</title>
<meta property="og:title" content="City council approves new bike lanes">
<meta name="twitter:title" content="City council approves new bike lanes">
<meta name="author" content="Maria Okafor">
<meta property="og:site_name" content="The Riverside Herald">
<meta property="article:published_time" content="2024-05-02T08:30:00Z">
<script type="application/ld+json">{json.dumps(ld)}</script>
</head><body>
{_nav(25)}
<article class="post">
<h1>City council approves new bike lanes</h1>
<p class="byline">By <a href="/staff/maria-okafor" rel="author">Maria Okafor</a>,
<time datetime="2024-05-02">May 2, 2024</time></p>
{paras}
</article>
<aside class="related"><h3>Related</h3><ul>{"".join(f"<li><a href='/n/{i}'>Story {i}</a></li>" for i in range(20))}</ul></aside>
<div class="comments">{_reviews(10, "article")}</div>
<footer class="footer">Copyright 2024 The Riverside Herald</footer>
</body></html>"""


def german_article() -> str:
    """A German article (the readability/trafilatura corpora are mostly German)."""
    paras = "".join(
        f"<p>Der Gemeinderat hat am Dienstag lange über den Haushalt beraten, Absatz {i}.</p>"
        for i in range(60)
    )
    return f"""<html lang="de"><head><title>Neue Brücke für Neustadt</title>
<meta name="author" content="Jonas Weber"></head><body>
<nav class="menu"><a href="/">Startseite</a><a href="/lokales">Lokales</a><a href="/sport">Sport</a></nav>
<main><h1>Neue Brücke für Neustadt</h1>
<div class="autor">Von Jonas Weber, veröffentlicht am 12.03.2024</div>
{paras}</main><footer>Impressum Datenschutz Kontakt</footer></body></html>"""


def catalogue() -> str:
    """A long table of models, one deep row asked about (as in test_budget)."""
    filler = "".join(f"<p>Paragraph {i} talks about the weather and general news.</p>" for i in range(120))
    rows = "".join(f"<tr><td>Model {i}</td><td>{100 + i} g</td><td>${20 + i}.00</td></tr>" for i in range(60))
    return f"""<html><head><title>Specs</title></head><body>
<nav class="menu"><a href="/">Home</a><a href="/shop">Shop</a></nav>
<main><h1>Catalogue</h1>{filler}<h2>Weights</h2>
<table><tr><th>Model</th><th>Weight</th><th>Price</th></tr>{rows}
<tr><td>Zephyr Ultralight</td><td>412 g</td><td>$199.00</td></tr></table>{filler}</main>
<footer class="footer">Copyright 2024 Example Corp.</footer></body></html>"""


def form_page() -> str:
    """A booking form: labels, values, options, hidden inputs, a dl of fares."""
    return """<html><body><main><h1>Book a trip</h1>
<form><label for="from">From</label><input id="from" name="from" value="Lisbon">
<label for="to">To</label><input id="to" name="to" value="Porto">
<label for="date">Departure</label><input id="date" type="date" value="2024-07-01">
<input type="hidden" name="token" value="abc123">
<select name="class"><option>Economy</option><option selected>First</option></select>
<button type="submit">Search</button></form>
<dl><dt>Standard fare</dt><dd>€24.50</dd><dt>Flexible fare</dt><dd>€39.00</dd></dl>
</main></body></html>"""


def _left_filters(groups: dict[str, list[str]]) -> str:
    """Facet filters in a column that is not marked up as a sidebar: links that name fields."""
    parts = "".join(
        f'<div class="col-block"><div class="col-title">{title}</div><ul>'
        + "".join(f'<li><a href="/f?{title.lower().replace(" ", "-")}={v}">{v}</a></li>' for v in values)
        + "</ul></div>"
        for title, values in groups.items()
    )
    return f'<div class="col-left">{parts}</div>'


def headphones_shop() -> str:
    """Facts only in the body, under labels that share no word with the questions, after facets."""
    specs = [
        ("Manufacturer", "Sonaro Audio"),
        ("Date first available", "March 3, 2022"),
        ("Item weight", "254 g"),
        ("Battery", "up to 30 hours"),
        ("Connectivity", "Bluetooth 5.3"),
        ("Model", "SN-H700"),
    ]
    rows = "".join(
        f'<div class="spec-row"><div class="spec-name">{k}</div><div class="spec-value">{v}</div></div>'
        for k, v in specs
    )
    reviews = "".join(
        f'<div class="rev"><p>{_LOREM} The brand is fine, weight is fine, the release was late. Review {i}.</p></div>'
        for i in range(40)
    )
    filters = _left_filters(
        {
            "Brand": ["Acme", "Bose", "Sony", "JBL", "Sennheiser", "Beyer", "AKG", "Skullcandy"],
            "Release year": ["2024", "2023", "2022", "2021", "2020"],
            "Price": ["Under $50", "$50 to $100", "$100 to $200", "Over $200"],
            "Weight": ["Under 200 g", "200 to 300 g", "Over 300 g"],
        }
    )
    return f"""<html><head><title>SN-H700 Wireless Headphones</title></head><body>
{_nav(60)}
<div class="page">{filters}
<div class="col-main">
<div class="sort">Sort by: <a href="?s=new">Newest release</a> <a href="?s=brand">Brand A-Z</a>
<a href="?s=price">Price</a> <a href="?s=weight">Weight</a></div>
<h1>SN-H700 Wireless Headphones</h1>
<div class="buybox"><span class="amount">$199.99</span> <button>Add to basket</button></div>
<h2>About this item</h2><p>{_LOREM * 8}</p>
<h2>Technical details</h2><div class="specs">{rows}</div>
<h2>Customer reviews</h2>{reviews}
</div></div>
<footer>Help. Returns. Delivery. Brand directory. New releases.</footer>
</body></html>"""


def book_shop() -> str:
    """A book page in a shop's wording: Imprint, Print length, On sale."""
    return f"""<html><head><title>The Glass Orchard - Bookshop</title></head><body>
{_nav(50)}
{_left_filters({"Publisher": ["Penguin", "Harper", "Vintage", "Orbit"], "Pages": ["Under 200", "200-400", "Over 400"]})}
<div id="product"><h1>The Glass Orchard</h1><p class="by">Lena Marsh</p>
<p>{_LOREM * 10}</p>
<table class="meta"><tr><td>Imprint:</td><td>Halcyon House</td></tr>
<tr><td>On sale:</td><td>11/04/2019</td></tr><tr><td>Print length:</td><td>388</td></tr>
<tr><td>EAN:</td><td>9781529012347</td></tr></table>
<h3>Readers also bought</h3><ul>{"".join(f"<li><a href='/b/{i}'>Book {i} by Author {i}</a> $9.99</li>" for i in range(40))}</ul>
</div></body></html>"""


def book_shop_bold_labels() -> str:
    """A shop that names navigation in its <body> class, lays out a browse menu of facets beside the
    product in a table, states the facts as bold labels and values separated by <br> in one cell
    (the publisher under "Vendor"), marks the publisher line with a class only, and heads the blurb
    with "Publisher's Description"."""
    facets = "".join(
        f'<li class="filter closed"><a href="/browse?dim={k}">{f}</a></li>'
        for k, f in enumerate(["Ages", "Binding", "Format", "Series", "Author / Artist", "Publisher",
                               "Publication Date", "Top Rated", "Price"])
    )  # fmt: skip
    facts = "".join(
        f"<b>{label}:</b> {value}<br>"
        for label, value in [("Format", "Paperback"), ("Number of Pages", "304"), ("Vendor", "Larchmont Press"),
                             ("Publication Date", "2007"), ("Dimensions", "8.38 X 5.50 (inches)"),
                             ("ISBN-13", "9780764201950")]
    )  # fmt: skip
    return f"""<html><head><title>Tender Fields: Ada Lind: Bookstore</title></head><body class="has_nav">
{_nav(40)}
<div class="page-body"><table><tr><td><ul class="browse"><li>Browse<ul>{facets}</ul></li></ul>
<ul>{"".join(f'<li><a href="/c/{i}">Shelf {i}</a></li>' for i in range(40))}</ul></td>
<td><div class="product-details"><h1>Tender Fields</h1><div class="product-author">By: <a href="/a">Ada Lind</a></div>
<div class="product-publisher">Larchmont Press / 2007 / Paperback</div></div>
<h2>Publisher's Description</h2><div>{_LOREM * 16}</div>
<h2>Product Information</h2><table><tr><td>{facts}</td></tr></table>
<h2>Product Reviews</h2>{_reviews(6, "novel")}
</td></tr></table></div></body></html>"""


def event_page() -> str:
    """A concert page: venue, start time and ticket price in a definition list after long text."""
    return f"""<html><head><title>Harbour Lights Orchestra - Summer Concert</title></head><body>
{_nav(40)}
<main><h1>Harbour Lights Orchestra: Summer Concert</h1>
{"".join(f"<p>{_LOREM} Part {i} of the programme notes.</p>" for i in range(30))}
<dl class="event-facts"><dt>Venue</dt><dd>Old Customs House, Quay Street 4, Portsmouth</dd>
<dt>Doors</dt><dd>19:30</dd><dt>Tickets from</dt><dd>£25</dd></dl>
<h2>More concerts</h2>{"".join(f"<p><a href='/e/{i}'>Concert {i}</a> in the Town Hall, tickets £{10 + i}</p>" for i in range(30))}
</main></body></html>"""


def example_product() -> str:
    return (EXAMPLES / "product.html").read_text(encoding="utf-8")


def example_mind2web() -> str:
    return (EXAMPLES / "flight_mind2web.html").read_text(encoding="utf-8")


PAGES = {
    "blender_shop": blender_shop,
    "camera_shop": camera_shop,
    "news_article": news_article,
    "german_article": german_article,
    "catalogue": catalogue,
    "form_page": form_page,
    "example_product": example_product,
    "example_mind2web": example_mind2web,
    "headphones_shop": headphones_shop,
    "book_shop": book_shop,
    "event_page": event_page,
    "book_shop_bold_labels": book_shop_bold_labels,
}

# questions asked of each page in the pinned-output test (and, with their answers, elsewhere)
QUESTIONS: dict[str, list[tuple[str, str]]] = {
    "blender_shop": [
        ("Who makes the blender?", "Kessler & Voss"),
        ("When did it come out?", "14 March 2023"),
    ],
    "camera_shop": [("Which company produces this camera?", "Orinox"), ("How heavy is it?", "675 g")],
    "news_article": [("Who wrote this article?", "Maria Okafor"), ("When was it published?", "May 2, 2024")],
    "german_article": [("Wer hat den Artikel geschrieben?", "Jonas Weber")],
    "catalogue": [("How much does the Zephyr Ultralight weigh?", "412 g")],
    "form_page": [("What is the flexible fare?", "€39.00")],
    "example_product": [("How much does the boot weigh?", "1.2 lb")],
    "example_mind2web": [("What is the cheapest fare?", "$518")],
    "headphones_shop": [
        ("Who makes these headphones?", "Sonaro Audio"),
        ("When did they come out?", "March 3, 2022"),
        ("How heavy are they?", "254 g"),
        ("How long does the battery last?", "30 hours"),
        ("How much do they cost?", "$199.99"),
    ],
    "book_shop": [
        ("Which company brought the book out?", "Halcyon House"),
        ("How many pages does it have?", "388"),
        ("When was it released?", "11/04/2019"),
        ("What is the ISBN?", "9781529012347"),
    ],
    "book_shop_bold_labels": [
        ("Who published the book?", "Larchmont Press"),
        ("When was the book published?", "2007"),
        ("How many pages does the book have?", "304"),
    ],
    "event_page": [
        ("Where is the concert?", "Old Customs House"),
        ("What time can people get in?", "19:30"),
        ("How much are tickets?", "£25"),
    ],
}
