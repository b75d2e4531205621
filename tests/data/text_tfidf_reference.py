#!/usr/bin/python3
"""Reference TF-IDF values for tests/data/text_pipeline_test.cpp (TfidfMatchesSklearn).

Fits sklearn's TfidfVectorizer with its defaults on the 3-document training corpus and prints,
for each query document, the non-zero (token, value) pairs as C++ initialiser lists.
Run: /usr/bin/python3 tests/data/text_tfidf_reference.py
"""
from sklearn.feature_extraction.text import TfidfVectorizer

TRAIN = [
    "The cat sat on the mat",
    "The dog sat on the log",
    "Cats and dogs are friends, the cat said",
]
QUERIES = TRAIN + ["the cat and the unknown bird"]

vec = TfidfVectorizer().fit(TRAIN)
names = vec.get_feature_names_out()
for q, row in zip(QUERIES, vec.transform(QUERIES).toarray()):
    pairs = ", ".join('{"%s", %.9f}' % (names[i], row[i]) for i in range(len(names)) if row[i] != 0)
    print("    {%s},  // %s" % (pairs, q))
