"""Synthetic short-answer questions from the label/value structure of a page.

Synthetic questions are not labelled by people: they ask for the value next to a label found
anywhere in the page (main content or not), so they measure whether pruning keeps the small
facts a page states in structured form. They are reported apart from natural questions.

The pairs come from :func:`domprune.facts.label_value_pairs`. The question reads ``What is the value of "Label"?``;
the answer is the value.
"""

from __future__ import annotations

import random
import re

from ..facts import WS, label_value_pairs
from .records import Question


def synthetic_questions(html: str, limit: int, rng: random.Random) -> list[Question]:
    """Up to ``limit`` synthetic questions for a page, drawn with ``rng`` from its label/value pairs."""
    pairs = label_value_pairs(html)
    chosen = rng.sample(pairs, min(limit, len(pairs))) if limit > 0 else []
    return [
        Question(f'What is the value of "{label}"?', (value,), "synthetic", source)
        for source, label, value in chosen
    ]


# Paraphrased questions: a label/value pair asked without the label's words ("Publisher" ->
# "Which company brought this book out?"). The wordings are written here for the bench, apart
# from domprune's own relevance tables (nothing is shared or imported), one list per kind of
# fact; a wording that shares a word stem with the page's label is not used for that pair.
PARAPHRASES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), wordings)
    for pattern, wordings in (
        (r"^(publisher|verlag|imprint|éditeur|editorial|editore)$",
         ("Which company brought this book out?", "Who put this title on the market?")),
        (r"^(pub(lication|lished)?\.? ?date|publication|published( on)?|erscheinungs(datum|termin)|veröffentlicht( am)?|release date|date published|erschienen)$",
         ("When did this come out?", "On what day was it first made available?")),
        (r"^(date|datum|fecha|posted( on)?|erstellt am|created|updated|last updated|aktualisiert|stand|modified)$",
         ("When was this put online?", "What day does the page give for this?")),
        (r"^(author|autor|autorin|auteur|autore|by|von|writer|written by|verfasser(in)?|reviewer|posted by|redakteur(in)?)$",
         ("Who is the person behind this text?", "Whose work is this?")),
        (r"^((our |online |list |club |ebook |sale )?price|preis|prix|precio|cost|msrp|rrp|online price|ebook price|club price|kosten|amount)$",
         ("How much does it cost?", "What do you pay for it?")),
        (r"^(isbn(-1[03])?|ean|upc|gtin(-13)?)$",
         ("What is the book's standard identification number?", "Which 13-digit code identifies this title?")),
        (r"^(page count|pages|seiten|seitenzahl|number of pages|print length|pagine)$",
         ("How long is the book?", "How thick is this volume, counted in sheets?")),
        (r"^(format|binding|einband|edition|ausgabe)$",
         ("In what physical form is it sold?", "Is it hardcover, paperback or another form?")),
        (r"^(language|sprache|langue|idioma|lingua)$",
         ("In which tongue is it written?",)),
        (r"^(brand|marke|marque|marca|manufacturer|hersteller|fabricant|make|maker|producer|vendor)$",
         ("Who makes it?", "Which company produces it?")),
        (r"^(weight|gewicht|poids|peso|item weight|net weight|shipping weight)$",
         ("How heavy is it?",)),
        (r"^(dimensions|size|größe|abmessungen|taille|measurements|product dimensions)$",
         ("How big is it?", "What are its measurements in each direction?")),
        (r"^(colou?r|farbe|couleur)$", ("What shade does it come in?",)),
        (r"^(material|materials|fabric|stoff|matériau)$", ("What is it made of?",)),
        (r"^(model( number)?|item model number|modell|part number|mpn|sku|item number|artikelnummer)$",
         ("What code does the maker give this product?",)),
        (r"^(rating|bewertung|note|stars|customer rating|average rating)$",
         ("How well is it rated?", "What score do customers give it?")),
        (r"^(tel\.?|telefon|telephone|phone|tél\.?|téléphone|fon|mobile|handy)$",
         ("What number can you call?", "How can you reach them by phone?")),
        (r"^(e-?mail|mail|courriel)$", ("What address do you write to?",)),
        (r"^(fax|telefax)$", ("What number takes a facsimile?",)),
        (r"^(address|adresse|anschrift|location|ort|standort|place|venue|lieu)$",
         ("Where is it?", "Where can you find them?")),
        (r"^(category|categories|kategorie|kategorien|catégorie|section|rubrik|ressort|topics?|themen?|tags?|schlagworte|labels?|filed under)$",
         ("Under which subject is this filed?", "What is this about, according to its classification?")),
        (r"^(source|quelle|quellen|credit|image credit|photo|foto|fotos|bild|bildquelle|fotocredit|photo credit|©)$",
         ("Where does the picture come from?", "Who should be acknowledged for the image?")),
        (r"^(duration|dauer|length|runtime|laufzeit|lesezeit|reading time)$",
         ("How long does it take?", "How much time does it last?")),
        (r"^(founded|gegründet|established|since|seit)$", ("When did it start?",)),
        (r"^(capital|hauptstadt)$", ("Which city is the seat of government?",)),
        (r"^(currency|währung)$", ("What money is used there?",)),
        (r"^(calories|kalorien|energy|energie|kcal)$", ("How much energy does it provide?",)),
        (r"^(protein|eiweiß|fat|fett|sodium|carbs|carbohydrates)$",
         ("How much of this nutrient is in a serving?",)),
        (r"^(quantity|menge|anzahl|count|qty|stück|pieces)$", ("How many are there?",)),
        (r"^(reading level|age range|ages|altersempfehlung|grade level)$", ("Who is it suitable for, by age?",)),
        (r"^(series|reihe|serie|collection)$", ("Which set of books does it belong to?",)),
        (r"^(genre|gattung)$", ("What kind of work is it?",)),
        (r"^(availability|verfügbarkeit|in stock|stock|lieferbar|status)$", ("Can you get it right now?",)),
        (r"^(website|web|homepage|url|internet|webseite)$", ("Where is it online?",)),
    )
)  # fmt: skip
_STEM_WORD = re.compile(r"\w+", re.UNICODE)


def _stems(text: str) -> set[str]:
    """Lower-cased four-letter word starts (publisher, publication -> publ)."""
    return {w[:4] for w in _STEM_WORD.findall(text.casefold()) if len(w) > 2}


def paraphrase_for(label: str, rng: random.Random) -> str | None:
    """A question that asks for ``label``'s value without its words, or ``None`` when none fits."""
    key = WS.sub(" ", label).strip().casefold()
    for pattern, wordings in PARAPHRASES:
        if pattern.match(key):
            fitting = [w for w in wordings if not (_stems(w) & _stems(label))]
            return rng.choice(fitting) if fitting else None
    return None


def paraphrased_questions(html: str, limit: int, rng: random.Random) -> list[Question]:
    """Up to ``limit`` paraphrased questions for a page (kind ``paraphrased``), drawn with ``rng``."""
    candidates = []
    for source, label, value in label_value_pairs(html):
        question = paraphrase_for(label, rng)
        if question is not None:
            candidates.append(Question(question, (value,), "paraphrased", f"{source}:{label}"))
    # one question per wording: "How much does it cost?" asked twice on a page would be ambiguous
    by_text: dict[str, list[Question]] = {}
    for q in candidates:
        by_text.setdefault(q.text, []).append(q)
    unique = [qs[0] for qs in by_text.values() if len(qs) == 1]
    return rng.sample(unique, min(limit, len(unique))) if limit > 0 else []
