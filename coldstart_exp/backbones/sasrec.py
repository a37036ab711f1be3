"""SASRec (Kang & McAuley 2018): causal self-attention over the item history.

Two recipes share this module (`norm`):
- `post`: RecBole 1.2.1's SASRec — item + position embeddings summed, LayerNorm, dropout, post-LN
  transformer blocks (no final norm), positions counted from the oldest item of the window;
- `pre`: pre-LN blocks with a final LayerNorm and item embeddings scaled by sqrt(d) (the recipe
  of the original TF code and of most modern transformers).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Backbone, sequence_loss, transformer_init


class SASRec(Backbone):
    def __init__(self, n_items: int, max_len: int, hidden: int = 64, layers: int = 2, heads: int = 2,
                 dropout: float = 0.2, attn_dropout: float | None = None, loss: str = "ce", n_negatives: int = 1024,
                 norm: str = "pre", emb_scale: bool | None = None, positions: str = "right",
                 layer_norm_eps: float = 1e-5, last_query_top: bool = False, **_: object):
        super().__init__()
        if norm not in ("pre", "post"):
            raise ValueError(f"backbone.model.norm must be 'pre' or 'post', got {norm!r}")
        if positions not in ("left", "right"):
            raise ValueError(f"backbone.model.positions must be 'left' or 'right', got {positions!r}")
        self.n_negatives = n_negatives
        self.n_items, self.loss_type, self.heads = n_items, loss, heads
        self.norm_first, self.positions = norm == "pre", positions
        self.last_query_top = last_query_top
        self.emb_scale = (hidden**0.5) if (self.norm_first if emb_scale is None else emb_scale) else 1.0
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.emb_norm = nn.Identity() if self.norm_first else nn.LayerNorm(hidden, eps=layer_norm_eps)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden, heads, 4 * hidden if hidden < 256 else hidden * 2, dropout if attn_dropout is None else attn_dropout,
            activation="gelu", batch_first=True, norm_first=self.norm_first, layer_norm_eps=layer_norm_eps,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden, eps=layer_norm_eps) if self.norm_first else nn.Identity()
        self.apply(transformer_init)

    def position_ids(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) position of each slot: `right` counts back from the most recent item (always
        max_len - 1); `left` counts from the oldest item of the window (0), as RecBole does."""
        B, L = seq.shape
        if self.positions == "right":
            return (torch.arange(L, device=seq.device) - L + self.pos_emb.num_embeddings).clamp(min=0).expand(B, L)
        return ((seq > 0).long().cumsum(1) - 1).clamp(min=0)

    def _embed(self, seq: torch.Tensor) -> torch.Tensor:
        x = self.item_emb(seq) * self.emb_scale + self.pos_emb(self.position_ids(seq))
        return self.drop(self.emb_norm(x) * (seq > 0).unsqueeze(-1))

    def _mask(self, seq: torch.Tensor) -> torch.Tensor:
        """(B * heads, L, L) bool, True = may not attend: future items and padded keys (a query
        always keeps itself, so padded rows are never empty)."""
        L = seq.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=seq.device).triu(1)
        blocked = causal.unsqueeze(0) | (seq == 0).unsqueeze(1)
        blocked = blocked & ~torch.eye(L, dtype=torch.bool, device=seq.device)
        return blocked.repeat_interleave(self.heads, 0)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L, d) causal states; padded keys are hidden from real queries."""
        return self.norm(self.encoder(self._embed(seq), mask=self._mask(seq)))

    def _last_block(self, layer: nn.TransformerEncoderLayer, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`layer` applied to the last position only (keys and values from every position): the same
        arithmetic as the full layer's last row, without the other L - 1 queries and feed-forwards."""
        mha = lambda q, kv: layer.dropout1(layer.self_attn(q, kv, kv, attn_mask=mask, need_weights=False)[0])  # noqa: E731
        ff = lambda y: layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(y)))))  # noqa: E731
        if layer.norm_first:
            h = layer.norm1(x)
            y = x[:, -1:] + mha(h[:, -1:], h)
            return y + ff(layer.norm2(y))
        y = layer.norm1(x[:, -1:] + mha(x[:, -1:], x))
        return layer.norm2(y + ff(y))

    def loss(self, batch: dict) -> torch.Tensor:
        return sequence_loss(self.encode(batch["seq"]), batch["pos"], self.item_emb, self.loss_type, self.n_items,
                             self.n_negatives, batch.get("target_norm"))

    def user_state(self, batch: dict) -> torch.Tensor:
        """(B, d) state after the most recent item. With `last_query_top`, all layers but the last run
        on every position and the last one on the final position only (what ranking needs; about half
        the encoder's cost); its scores differ from the full encoder's in the last float bits (~1e-6),
        which can swap two items whose scores are that close, so it is off by default."""
        seq = batch["seq"]
        if not self.last_query_top:
            return self.encode(seq)[:, -1]
        mask = self._mask(seq)
        x = self._embed(seq)
        *lower, top = self.encoder.layers
        for layer in lower:
            x = layer(x, src_mask=mask)
        return self.norm(self._last_block(top, x, mask[:, -1:]))[:, -1]

    def scores(self, batch: dict) -> torch.Tensor:
        return self.user_state(batch) @ self.item_emb.weight.T
