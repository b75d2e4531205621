"""BERT tokenizer reference for tests/data/wordpiece_test.cpp: Hugging Face's BasicTokenizer and
WordpieceTokenizer (transformers/models/bert/tokenization_bert.py) restated with the standard
library, since python3-transformers is not in Debian 12.

  wordpiece_reference.py OUT_DIR

writes OUT_DIR/vocab.txt (a small vocabulary), OUT_DIR/tokenizer.json (the same vocabulary as a
tokenizers WordPiece model with a BertNormalizer) and OUT_DIR/expected.json: for each sentence
its basic tokens, its ids ([CLS] ... [SEP]) and its ids truncated to 12.
"""
import json
import os
import sys
import unicodedata

SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
WORDS = ['hello', 'world', 'un', '##aff', '##able', 'cafe', 'naive', 'res', '##ume', 'ecole', ',', '!',
         '.', ':', "'", '-', 't', 'don', 'stop', 'believ', '##ing', 'i', 'love', 'it', '😀', '##😀', '👍',
         '中', '国', '北', '京', 'the', 'a', 'straße', 'σ', '##ισυ', '##φος', 'istanbul', 'first',
         'second', '##s', 'play', 'ａｂｃ', '¿', '?', '(', ')', 'x', '##x', '##xx', 'super', '##cal',
         'Hello', 'Café', 'こ', '##んにちは', '🏽', '##🏽']
SENTENCES = [
    'Hello, World! Unaffable café.',
    'Naïve résumé: ÉCOLE',
    '我爱北京天安门 中国!',
    'I love it 😀😀 !! 👍🏽 and 👨\u200d👩\u200d👧',
    'x' * 100 + ' ' + 'x' * 101,
    'supercalifragilistic supercal',
    'Straße ΣΊΣΥΦΟΣ İstanbul',
    "don't\tstop-believing\n\u200bthe\x00 a\u00a0world\u3000hello",
    'first [SEP] second [CLS]',
    'こんにちは ＡＢＣ ¿(play)?',
    'cafe\u0301 e\u0301cole \ufffdhello',
    'the the the the the the the the the the the the the the',
]


def is_whitespace(c):
    return c in ' \t\n\r' or unicodedata.category(c) == 'Zs'


def is_control(c):
    return c not in '\t\n\r' and unicodedata.category(c) in ('Cc', 'Cf')


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith('P')


def is_chinese_char(cp):
    return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                         (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                         (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def basic_tokenize(text, lower=True, strip_accents=None):
    out = []
    for c in text:  # _clean_text
        if ord(c) == 0 or ord(c) == 0xFFFD or is_control(c):
            continue
        out.append(' ' if is_whitespace(c) else c)
    text = ''.join(' %s ' % c if is_chinese_char(ord(c)) else c for c in out)
    text = unicodedata.normalize('NFC', text)
    split_tokens = []
    for token in text.strip().split():
        if token not in SPECIALS:
            if lower:
                token = token.lower()
                if strip_accents is not False:
                    token = ''.join(c for c in unicodedata.normalize('NFD', token)
                                    if unicodedata.category(c) != 'Mn')
            elif strip_accents:
                token = ''.join(c for c in unicodedata.normalize('NFD', token)
                                if unicodedata.category(c) != 'Mn')
            words, start_new = [], True
            for c in token:  # _run_split_on_punc
                if is_punctuation(c):
                    words.append([c])
                    start_new = True
                else:
                    if start_new:
                        words.append([])
                    start_new = False
                    words[-1].append(c)
            split_tokens.extend(''.join(w) for w in words)
        else:
            split_tokens.append(token)
    return ' '.join(split_tokens).strip().split()


def wordpiece(token, vocab, max_chars=100):
    chars = list(token)
    if len(chars) > max_chars:
        return ['[UNK]']
    start, pieces = 0, []
    while start < len(chars):
        end, cur = len(chars), None
        while start < end:
            sub = ''.join(chars[start:end])
            if start > 0:
                sub = '##' + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ['[UNK]']
        pieces.append(cur)
        start = end
    return pieces


def encode(text, vocab, max_len=0):
    ids = [vocab['[CLS]']]
    for token in basic_tokenize(text):
        pieces = [token] if token in SPECIALS else wordpiece(token, vocab)
        ids += [vocab.get(p, vocab['[UNK]']) for p in pieces]
    if max_len:
        ids = ids[:max_len - 1]
    return ids + [vocab['[SEP]']]


def main(out):
    tokens = SPECIALS + WORDS
    vocab = {t: i for i, t in enumerate(tokens)}
    with open(os.path.join(out, 'vocab.txt'), 'w', encoding='utf-8') as f:
        f.write(''.join(t + '\n' for t in tokens))
    tokenizer = {'version': '1.0',
                 'normalizer': {'type': 'BertNormalizer', 'clean_text': True, 'handle_chinese_chars': True,
                                'strip_accents': None, 'lowercase': True},
                 'model': {'type': 'WordPiece', 'unk_token': '[UNK]', 'continuing_subword_prefix': '##',
                           'max_input_chars_per_word': 100, 'vocab': vocab}}
    with open(os.path.join(out, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    expected = [{'text': s, 'basic': basic_tokenize(s), 'ids': encode(s, vocab), 'ids_12': encode(s, vocab, 12)}
                for s in SENTENCES]
    with open(os.path.join(out, 'expected.json'), 'w', encoding='utf-8') as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)


if __name__ == '__main__':
    main(sys.argv[1])
