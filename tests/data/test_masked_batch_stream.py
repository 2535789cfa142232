"""The background batch stream: exact resume, fixed shapes, epochs, errors and shutdown."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mlm_cli.data.masked_batch_stream import MaskedBatchStream
from mlm_cli.data.masking import MaskGenerator
from mlm_cli.data.sources import CorpusSpec, DocumentStream
from mlm_cli.models import BertTokenizer
from tests.data.resume_checks import assert_resumes_exactly, collect
from tests.support.corpus import sample_sentences, tiny_vocabulary

pytestmark = pytest.mark.run_once


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("batches") / "corpus.txt"
    path.write_text("\n".join(sample_sentences(300, seed=3)) + "\n", encoding="utf-8")
    return path


def make_stream(tokenizer, corpus, *, packing=True, epochs=1, batch_size=8, documents=None):
    masker = MaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
        unselectable_token_ids=tokenizer.special_token_ids, selection_rate=0.15, selection_length=6,
        mask_token_rate=0.8, random_token_rate=0.1, seed=5,
    )
    return MaskedBatchStream(
        documents or DocumentStream(CorpusSpec((str(corpus),))), tokenizer.encoder, sequence_length=24,
        batch_size=batch_size, cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
        pad_id=tokenizer.pad_token_id, mask_generator=masker, packing=packing, epochs=epochs, documents_per_chunk=37,
    )


@pytest.mark.parametrize("packing", [True, False])
def test_resume_reproduces_the_remaining_batches(tokenizer, corpus, packing):
    full = collect(make_stream(tokenizer, corpus, packing=packing, epochs=2))
    assert len(full) > 20
    for stop in (1, 9, len(full) // 2 + 3, len(full) - 1):
        assert_resumes_exactly(lambda: make_stream(tokenizer, corpus, packing=packing, epochs=2), full, stop)


class ListDocuments:
    def __init__(self, documents):
        self.documents = documents
        self.position = 0

    def batches(self, batch_size=1000):
        while self.position < len(self.documents):
            chunk = self.documents[self.position : self.position + batch_size]
            self.position += len(chunk)
            yield chunk

    def state_dict(self):
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]

    def start_epoch(self, epoch):
        self.position = 0


@pytest.mark.parametrize("documents", [sample_sentences(300, seed=3), ["the word"] * 3])
def test_shapes_are_fixed_and_filler_rows_are_inert(tokenizer, corpus, documents):
    stream = make_stream(tokenizer, corpus, batch_size=7, documents=ListDocuments(documents))
    batches = list(stream)
    stream.close()
    assert {b.token_ids.shape for b in batches} == {(7, 24)}
    assert {b.mask_positions.shape for b in batches} == {(7, 6)}
    last = batches[-1]
    filler = ~last.padding_mask[:, 2:].any(axis=1)  # rows holding only [CLS] [SEP]
    real_rows = sum(1 for b in batches for row in b.padding_mask if row[2:].any())
    assert filler.sum() == 7 * len(batches) - real_rows
    assert (last.mask_weights[filler] == 0).all()
    assert last.real_tokens == int(last.padding_mask[~filler].sum())
    for batch in batches:
        features = batch.features()
        assert features["token_ids"].dtype == np.int32 and features["padding_mask"].dtype == bool
        assert batch.mask_ids.dtype == np.int32 and batch.mask_weights.dtype == np.float32


def test_epochs_repeat_the_data_with_fresh_masks(tokenizer, corpus):
    one = make_stream(tokenizer, corpus, epochs=1)
    single = collect(one)
    two = make_stream(tokenizer, corpus, epochs=2)
    epochs_seen = []
    batches = []
    for batch in two:
        batches.append(batch)
        epochs_seen.append(two.epoch)
    two.close()
    assert len(single) * 2 - 1 <= len(batches) <= len(single) * 2
    assert epochs_seen[0] == 0 and epochs_seen[-1] == 1
    assert not np.array_equal(batches[0].mask_positions, batches[len(single)].mask_positions)


class ExplodingDocuments(ListDocuments):
    def __init__(self):
        super().__init__([])

    def batches(self, batch_size=1000):
        yield ["fine text here"] * 50
        raise OSError("disk vanished")


def test_producer_errors_reach_the_consumer(tokenizer, corpus):
    stream = make_stream(tokenizer, corpus, documents=ExplodingDocuments())
    with pytest.raises(OSError, match="disk vanished"):
        list(stream)
    stream.close()


def test_close_stops_the_producer(tokenizer, corpus):
    stream = make_stream(tokenizer, corpus, epochs=50, batch_size=2)
    next(iter(stream))
    stream.close()
    assert not any(t.name == "mlm-batches" and t.is_alive() for t in threading.enumerate())
