"""BertTokenizer gives keras_hub's token ids on varied text, for every casing/accents setting."""

import random

import numpy as np
import pytest

from mlm_cli.models import BertTokenizer

pytestmark = pytest.mark.run_once

keras_hub = pytest.importorskip("keras_hub")

SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "Straße STRASSE ΣΟΦΟΣ σοφος ς",
    "日本語のテキスト 中文字符 한국어 텍스트", "emoji 😀👍 ok", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ！",
    "nbsp\u00a0here and\u3000ideographic",
    "zero\u200bwidth soft\u00adhyphen", "tabs\tand\nnewlines\r\nend", "ctrl\x00\x07chars\x7f",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "[MASK] is [CLS] and [SEP] [PAD]", "a[MASK]b", "x" * 120, "é" * 60, "", "   ",
    "http://example.com/a?b=c&d=e", "12,345.67 and 3.14", "e\u0301 combining", "İstanbul I ı", "ﬁne ligature ﬀ",
    "⒈ ① ²", "Ǆ ǅ ǆ", "the models trained quickly", "unbelievable tokenization", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes” ‘single’", "a\u0300\u0301b", "\u0301start", "UNKNOWNWORDS everywhere zzzq",
]


def vocabulary(seed=0):
    words = {w.lower() for s in SENTENCES for w in s.replace("\u00a0", " ").split()}
    pieces = set()
    for w in sorted(words):
        pieces.add(w)
        for i in range(1, min(len(w), 6)):
            pieces.update((w[:i], "##" + w[i:]))
    for c in "abcdefghijklmnopqrstuvwxyz0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ßσςéα日本語中文한국":
        pieces.update((c, "##" + c))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    usable = sorted(p for p in pieces if p not in specials and p.isprintable() and not any(ch.isspace() for ch in p))
    rng = random.Random(seed)
    return specials + [p for p in usable if rng.random() < 0.8]  # some pieces missing: [UNK] occurs


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("strip_accents", [True, False])
@pytest.mark.parametrize("special_tokens_in_strings", [True, False])
def test_same_ids_as_keras_hub(lowercase, strip_accents, special_tokens_in_strings):
    vocab = vocabulary()
    settings = dict(lowercase=lowercase, strip_accents=strip_accents,
                    special_tokens_in_strings=special_tokens_in_strings)
    reference = keras_hub.models.BertTokenizer(vocabulary=vocab, **settings)
    ours = BertTokenizer(vocabulary=vocab, **settings)
    unknown = 0
    for text in SENTENCES:
        expected = np.asarray(reference(text)).tolist()
        assert ours(text).tolist() == expected, text
        unknown += expected.count(1)
    assert unknown > 0
    batch = ours(SENTENCES)
    assert [ids.tolist() for ids in batch] == [np.asarray(reference(t)).tolist() for t in SENTENCES]


def test_detokenize_and_special_ids():
    tokenizer = BertTokenizer(vocabulary=vocabulary(), lowercase=True)
    ids = tokenizer("the models trained quickly")
    assert tokenizer.detokenize(ids) == "the models trained quickly"
    assert tokenizer.id_to_token(tokenizer.mask_token_id) == "[MASK]"
    assert sorted(tokenizer.special_token_ids) == [0, 2, 3, 4]


def test_sequence_length_pads_and_truncates():
    tokenizer = BertTokenizer(vocabulary=vocabulary(), lowercase=True, sequence_length=4)
    out = tokenizer(["the models trained quickly and more", "ok"])
    assert out.shape == (2, 4) and out.dtype == np.int32 and out[1, -1] == 0


@pytest.mark.parametrize("special_tokens_in_strings", [True, False])
def test_ascii_fast_path_matches_keras_hub_on_every_ascii_character(special_tokens_in_strings):
    """The batched all-Rust path (joined documents) splits every ASCII character as keras_hub does."""
    vocab = vocabulary()
    reference = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True,
                                               special_tokens_in_strings=special_tokens_in_strings)
    ours = BertTokenizer(vocabulary=vocab, lowercase=True, special_tokens_in_strings=special_tokens_in_strings)
    rng = random.Random(1)
    alphabet = [chr(c) for c in range(128)]
    words = ["the", "Models", "[MASK]", "trained", "quickly", "ok"]
    texts = []
    for _ in range(300):
        pieces = [rng.choice(words) if rng.random() < 0.5 else "".join(rng.choices(alphabet, k=rng.randint(1, 4)))
                  for _ in range(rng.randint(0, 12))]
        texts.append("".join(pieces))
    flat, offsets = ours.encoder.encode_batch_flat(texts)
    for index, text in enumerate(texts):
        assert flat[offsets[index] : offsets[index + 1]].tolist() == np.asarray(reference(text)).tolist(), repr(text)
