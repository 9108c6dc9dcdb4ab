"""Similarity search over articles and incidents: TF-IDF with word and character n-grams, cosine score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


@dataclass(frozen=True, slots=True)
class Hit:
    index: int
    score: float


class TextIndex:
    """A small in-memory TF-IDF index. Rebuilt (milliseconds for thousands of docs) when documents change."""

    def __init__(self, documents: Sequence[str]) -> None:
        self.size = len(documents)
        self._vectorizer: TfidfVectorizer | None = None
        self._matrix = None
        if self.size:
            self._vectorizer = TfidfVectorizer(
                lowercase=True,
                token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",  # words, not ids or numbers
                ngram_range=(1, 2),
                sublinear_tf=True,
                stop_words="english",
                min_df=1,
            )
            self._matrix = self._vectorizer.fit_transform(documents)

    def search(self, query: str, k: int = 5, *, min_score: float = 0.05) -> list[Hit]:
        if not self.size or not query.strip() or self._vectorizer is None:
            return []
        q = self._vectorizer.transform([query])
        scores = (self._matrix @ q.T).toarray().ravel()
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(int(i), float(scores[i])) for i in order if scores[i] >= min_score]
