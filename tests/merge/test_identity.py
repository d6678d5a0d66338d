"""Same young person or not: the identity rule and the near matches that are only flagged."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from resana_sync.identity import Identity, blocking_keys, near_match, same_person

BORN = dt.date(2012, 3, 4)


def who(nom="MARTIN", prenom="Léa", naissance=BORN, ine=None) -> Identity:
    return Identity.of({"nom": nom, "prenom": prenom, "date_naissance": naissance, "ine": ine})


@pytest.mark.parametrize("nom, prenom", [
    ("martin", "lea"),
    ("Martin", "LÉA"),
    (unicodedata.normalize("NFD", "MARTIN"), unicodedata.normalize("NFD", "Léa")),
    (" MARTIN ", "Lé-a"),
])
def test_names_are_folded_for_case_accents_hyphens_spaces_and_unicode_forms(nom, prenom):
    assert same_person(who(), who(nom, prenom))


def test_compound_names_with_hyphens_or_spaces_are_the_same():
    assert same_person(who("FOURNIER", "Chloé-Anne"), who("Fournier", "Chloe Anne"))


def test_birth_date_as_datetime_counts_as_the_date():
    assert same_person(who(), who(naissance=dt.datetime(2012, 3, 4)))


def test_ine_decides_when_both_have_one():
    assert same_person(who(ine="0123456789K"), who("DUPONT", "Jean", dt.date(2011, 1, 1), ine="0123456789k"))
    assert not same_person(who(ine="0123456789K"), who(ine="0123456789L"))


def test_names_decide_when_only_one_side_has_an_ine():
    assert same_person(who(ine="0123456789K"), who())
    assert not same_person(who(ine="0123456789K"), who("MARTIN", "Lena"))


def test_no_match_without_a_complete_identity():
    assert not same_person(who(naissance=None), who(naissance=None))


@pytest.mark.parametrize("other", [
    who("MARTIN", "Lena"),                       # one letter replaced
    who("MARTIN", "Léaa"),                       # one letter added
    who("MATIN", "Léa"),                         # one letter missing
    who("MRATIN", "Léa"),                        # two letters swapped
    who(naissance=dt.date(2012, 4, 3)),          # day and month swapped
    who("Léa", "MARTIN"),                        # first and last names swapped
    who(ine="0123456789L"),                      # same names, other INE
])
def test_near_matches(other):
    reference = who(ine="0123456789K") if other.ine else who()
    assert near_match(reference, other)
    assert near_match(other, reference)
    assert set(blocking_keys(reference)) & set(blocking_keys(other))


@pytest.mark.parametrize("other", [
    who(),                                       # same person: not a "near" match
    who("MARTIN", "Lou"),                        # two letters apart
    who("MARTIN", "Lena", dt.date(2012, 3, 5)),  # typo and another birth date
    who(naissance=dt.date(2012, 3, 3)),          # another birth date only
    who("DURAND", "Paul"),
])
def test_not_near_matches(other):
    assert not near_match(who(), other)
