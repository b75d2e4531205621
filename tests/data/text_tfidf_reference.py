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

# CharNgramsAndSublinearTfMatchSklearn: words plus the words' char_wb 2..4-grams (marked with a
# leading space, as mmfuse's vocabulary stores them) in one vocabulary, sublinear tf.
TRAIN2 = ["Café café au lait", "naïve cat sat", "the cat café"]
QUERIES2 = TRAIN2 + ["cat café 猫猫"]
words = TfidfVectorizer().build_analyzer()
chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).build_analyzer()
vec2 = TfidfVectorizer(analyzer=lambda d: words(d) + [" " + g for g in chars(d)],
                       sublinear_tf=True).fit(TRAIN2)
names2 = vec2.get_feature_names_out()
print("// char_wb 2..4 + sublinear_tf")
for q, row in zip(QUERIES2, vec2.transform(QUERIES2).toarray()):
    pairs = ", ".join('{"%s", %.9f}' % (names2[i], row[i]) for i in range(len(names2)) if row[i] != 0)
    print("    {%s},  // %s" % (pairs, q))
