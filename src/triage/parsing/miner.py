"""The one module that imports drain3: a Drain prefix tree driven with already-masked tokens.

We build ``drain3.drain.Drain`` directly from an explicit ``MinerConfig`` (never ``TemplateMiner``, which
reads an implicit ``drain3.ini`` and persists with jsonpickle). Masking, redaction, template ids and
persistence are ours; this adapter only adds tokens to clusters and walks drain3's objects to and from
plain JSON-able dicts (``export_state`` / ``import_state``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from drain3.drain import Drain, LogCluster, Node
from pydantic import BaseModel, ConfigDict, Field

WILDCARD = "<*>"

# Parts of a word that generalise independently: "rhost=a.b" and "rhost=c.d" make "rhost=<*>",
# "(uid=0)" and "(uid=500)" make "(uid=<*>)", "org.x.A" and "org.x.b.C" make "org.x.<*>".
_PART_SPLIT = re.compile(r"([=:,;()\[\]{}\"'/@|.\s])")


def merge_words(template_word: str, word: str) -> str:
    """The most specific pattern covering both words: shared leading and trailing parts kept, the rest <*>."""
    if template_word == word:
        return word
    if template_word == WILDCARD:
        return WILDCARD
    a = _PART_SPLIT.split(template_word)
    b = _PART_SPLIT.split(word)
    if len(a) == len(b):
        merged = [x if x == y else WILDCARD for x, y in zip(a, b, strict=True)]
    else:
        head = 0
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        merged = [*a[:head], WILDCARD, *a[len(a) - tail :]]
    collapsed = "".join(merged)
    for joined in ("<*><*>", "<*>.<*>"):  # one variable, as the template text writes it
        while joined in collapsed:
            collapsed = collapsed.replace(joined, WILDCARD)
    return collapsed


_pattern_cache: dict[str, re.Pattern[str]] = {}


def word_matches(pattern_word: str, word: str) -> bool:
    """Does ``word`` fit a partly generalised template word such as ``rhost=<*>``?"""
    regex = _pattern_cache.get(pattern_word)
    if regex is None:
        if len(_pattern_cache) > 50_000:
            _pattern_cache.clear()
        regex = re.compile(".*?".join(re.escape(p) for p in pattern_word.split(WILDCARD)), re.S)
        _pattern_cache[pattern_word] = regex
    return regex.fullmatch(word) is not None


class _ShapeDrain(Drain):
    """Drain whose templates keep the fixed parts of a varying word (``uid=<*>`` rather than ``<*>``)."""

    def get_seq_distance(
        self, seq1: Sequence[str], seq2: Sequence[str], include_params: bool
    ) -> tuple[float, int]:
        if not seq1:
            return 1.0, 0
        similar = 0
        params = 0
        for template_word, word in zip(seq1, seq2, strict=False):
            if template_word == word:
                similar += 1
            elif template_word == WILDCARD:
                params += 1
            elif WILDCARD in template_word and word_matches(template_word, word):
                similar += 1
        if include_params:
            similar += params
        return similar / len(seq1), params

    def create_template(self, seq1: Sequence[str], seq2: Sequence[str]) -> Sequence[str]:
        return [merge_words(template_word, word) for word, template_word in zip(seq1, seq2, strict=True)]


class MinerConfig(BaseModel):
    """Drain's knobs. One configuration for every source (no per-source tuning)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Masking already removes most variable words, so a cluster can ask for more agreement than Drain's
    # usual 0.4-0.5; 0.75 still lets a 4-word message with one unmasked variable join its cluster.
    sim_th: float = Field(default=0.75, gt=0.0, le=1.0, description="similarity needed to join a cluster")
    depth: int = Field(default=5, ge=3, description="prefix-tree depth (root and length levels included)")
    max_children: int = Field(default=100, ge=2, description="children per tree node before <*> takes over")
    max_clusters: int | None = Field(default=None, ge=1, description="LRU cap on clusters; None = unbounded")


class DrainMiner:
    """Adds token sequences to Drain clusters. Cluster ids are Drain's own ints (internal only)."""

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        self._drain = _ShapeDrain(
            depth=self.config.depth,
            sim_th=self.config.sim_th,
            max_children=self.config.max_children,
            max_clusters=self.config.max_clusters,
            extra_delimiters=(),
            param_str=WILDCARD,
            parametrize_numeric_tokens=True,
        )
        # the prefix tree as JSON, and the (root, clusters made) it was made for: Drain changes its tree
        # only when it makes a cluster (``add_seq_to_prefix_tree``), so the text holds until the next one
        self._tree_json: tuple[Node, int, str] | None = None

    def add(self, tokens: Sequence[str]) -> tuple[int, tuple[str, ...], bool]:
        """Put ``tokens`` into the best cluster (or a new one): (cluster id, its template, created?)."""
        drain = self._drain
        cluster = drain.tree_search(drain.root_node, tokens, drain.sim_th, False)
        if cluster is None:
            drain.clusters_counter += 1
            cluster = LogCluster(tokens, drain.clusters_counter)
            drain.id_to_cluster[cluster.cluster_id] = cluster
            drain.add_seq_to_prefix_tree(drain.root_node, cluster)
            return cluster.cluster_id, cluster.log_template_tokens, True
        template = tuple(drain.create_template(tokens, cluster.log_template_tokens))
        if template != cluster.log_template_tokens:
            cluster.log_template_tokens = template
        cluster.size += 1
        _ = drain.id_to_cluster[cluster.cluster_id]  # touch: keeps LRU order right when capped
        return cluster.cluster_id, cluster.log_template_tokens, False

    def count(self, cluster_id: int, n: int = 1) -> bool:
        """Record ``n`` more messages for a cluster without matching (the caller knows where they go)."""
        cluster = self._drain.id_to_cluster.get(cluster_id)
        if cluster is None:
            return False
        cluster.size += n
        return True

    def template_of(self, cluster_id: int) -> tuple[str, ...] | None:
        cluster = self._drain.id_to_cluster.get(cluster_id)
        return None if cluster is None else cluster.log_template_tokens

    def clusters(self) -> Iterator[tuple[int, tuple[str, ...], int]]:
        """(cluster id, template tokens, size) of every live cluster."""
        for cluster in list(self._drain.id_to_cluster.values()):
            if cluster is not None:
                yield cluster.cluster_id, cluster.log_template_tokens, cluster.size

    # --- persistence: plain data only ---
    def export_state(self, *, tree: bool = True) -> dict[str, Any]:
        state = {
            "config": self.config.model_dump(mode="json"),
            "clusters_counter": self._drain.clusters_counter,
            "clusters": [
                {"id": cid, "tokens": list(tokens), "size": size} for cid, tokens, size in self.clusters()
            ],
        }
        if tree:
            state["tree"] = _node_to_dict(self._drain.root_node)
        return state

    def state_json(self) -> str:
        """``export_state()`` as compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``), the same
        text, with the prefix tree's part kept from the last call while Drain made no cluster since."""
        drain = self._drain
        cached = self._tree_json
        if cached is None or cached[0] is not drain.root_node or cached[1] != drain.clusters_counter:
            tree = compact_json(_node_to_dict(drain.root_node))
            cached = self._tree_json = (drain.root_node, drain.clusters_counter, tree)
        head = compact_json(self.export_state(tree=False))
        return f'{head[:-1]},"tree":{cached[2]}}}'

    @classmethod
    def import_state(cls, state: dict[str, Any]) -> DrainMiner:
        miner = cls(MinerConfig.model_validate(state["config"]))
        drain = miner._drain
        for item in state["clusters"]:
            cluster = LogCluster(tuple(str(t) for t in item["tokens"]), int(item["id"]))
            cluster.size = int(item["size"])
            drain.id_to_cluster[cluster.cluster_id] = cluster
        drain.clusters_counter = int(state["clusters_counter"])
        drain.root_node = _node_from_dict(state["tree"])
        return miner


def compact_json(value: Any) -> str:
    """The state's JSON text: compact, non-ASCII kept (the parser's state uses the same form)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _node_to_dict(node: Node) -> dict[str, Any]:
    return {
        "clusters": list(node.cluster_ids),
        "children": {key: _node_to_dict(child) for key, child in node.key_to_child_node.items()},
    }


def _node_from_dict(data: dict[str, Any]) -> Node:
    node = Node()
    node.cluster_ids = [int(c) for c in data.get("clusters", [])]
    node.key_to_child_node = {str(k): _node_from_dict(v) for k, v in data.get("children", {}).items()}
    return node
