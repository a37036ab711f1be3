"""RQ-VAE (Zeghidour et al. 2021; TIGER's tokenizer): residual quantisation of item embeddings.

An MLP encodes a text embedding to a latent z; level l picks the codeword nearest to the residual
r_l (r_0 = z, r_{l+1} = r_l - e_l); the decoder reconstructs the embedding from sum_l e_l. Loss =
MSE reconstruction + sum_l ||sg[r_l] - e_l||^2 + beta ||r_l - sg[e_l]||^2, with straight-through
gradients. Codebooks start from k-means on the first residuals and dead codes (unused for a while)
are re-seeded from current residuals, which keeps utilisation high (the paper's failure mode is
collapse onto a few codes).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


def kmeans(x: torch.Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None) -> torch.Tensor:
    """(k, D) centroids by Lloyd's algorithm (k-means++-free: random distinct init, empty -> reseed)."""
    n = x.shape[0]
    idx = torch.randperm(n, generator=generator)[:k]
    if len(idx) < k:  # fewer points than codes: repeat with jitter
        idx = torch.cat([idx, torch.randint(0, n, (k - len(idx),), generator=generator)])
    c = x[idx].clone() + 1e-4 * torch.randn(k, x.shape[1], generator=generator)
    for _ in range(iters):
        a = torch.cdist(x, c).argmin(1)
        counts = torch.bincount(a, minlength=k).float()
        sums = torch.zeros_like(c).index_add_(0, a, x)
        empty = counts == 0
        c = torch.where(empty.unsqueeze(1), c, sums / counts.clamp(min=1).unsqueeze(1))
        if empty.any():
            c[empty] = x[torch.randint(0, n, (int(empty.sum()),), generator=generator)]
    return c


def mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    def __init__(self, in_dim: int, hidden: list[int], latent: int = 32, levels: int = 3, codes: int = 256,
                 beta: float = 0.25):
        super().__init__()
        self.levels, self.codes, self.beta = levels, codes, beta
        self.encoder = mlp([in_dim, *hidden, latent])
        self.decoder = mlp([latent, *reversed(hidden), in_dim])
        self.codebooks = nn.Parameter(torch.randn(levels, codes, latent) * 0.01)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """-> (codes (N, levels), z_q (N, latent) straight-through, codebook+commit loss, residuals)."""
        r, zq, loss, codes, residuals = z, torch.zeros_like(z), z.new_zeros(()), [], []
        for lvl in range(self.levels):
            cb = self.codebooks[lvl]
            c = torch.cdist(r.detach(), cb.detach()).argmin(1)
            e = cb[c]
            loss = loss + ((r.detach() - e) ** 2).sum(-1).mean() + self.beta * ((r - e.detach()) ** 2).sum(-1).mean()
            residuals.append(r.detach())
            codes.append(c)
            zq = zq + e
            r = r - e.detach()
        return torch.stack(codes, 1), z + (zq - z).detach(), loss, residuals

    def forward(self, x: torch.Tensor):
        z = self.encoder(x)
        codes, zq, q_loss, residuals = self.quantize(z)
        recon = self.decoder(zq)
        return recon, codes, q_loss, residuals

    @torch.no_grad()
    def kmeans_init(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        r = self.encoder(x)
        for lvl in range(self.levels):
            c = kmeans(r, self.codes, generator=generator)
            self.codebooks.data[lvl] = c
            r = r - c[torch.cdist(r, c).argmin(1)]

    @torch.no_grad()
    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(self.encoder(x))[0]


def fit_rqvae(emb: np.ndarray, hidden: list[int], latent: int, levels: int, codes: int, beta: float,
              steps: int, batch_size: int, lr: float, reset_every: int, reset_until: float, seed: int) -> tuple[np.ndarray, dict]:
    """Train an RQ-VAE on `emb` (N, D); return codes (N, levels) and a report (losses, utilisation).
    Outside Lightning on purpose: a seconds-long full-batch fit on item embeddings, run once before
    the recommender exists and cached by content (semantic_ids.py); a Trainer would add nothing it uses."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(emb, dtype=np.float32))
    n = len(x)
    model = RQVAE(x.shape[1], list(hidden), latent, levels, codes, beta)
    init = x[torch.randperm(n, generator=g)[: max(batch_size, codes * 4)]]
    model.kmeans_init(init, g)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    used = torch.zeros(levels, codes, dtype=torch.bool)
    curve, resets = [], 0
    for step in range(1, steps + 1):
        batch = x[torch.randint(0, n, (min(batch_size, n),), generator=g)]
        recon, c, q_loss, residuals = model(batch)
        rec = ((recon - batch) ** 2).sum(-1).mean()
        loss = rec + q_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for lvl in range(levels):
            used[lvl, c[:, lvl]] = True
        if reset_every and step % reset_every == 0 and step <= reset_until * steps:
            with torch.no_grad():  # dead codes -> random current residuals of that level
                for lvl in range(levels):
                    dead = (~used[lvl]).nonzero().squeeze(1)
                    if len(dead):
                        pick = torch.randint(0, len(batch), (len(dead),), generator=g)
                        model.codebooks.data[lvl, dead] = residuals[lvl][pick]
                        resets += len(dead)
            used.zero_()
        if step == 1 or step % max(1, steps // 20) == 0 or step == steps:
            curve.append({"step": step, "recon": round(rec.item(), 5), "quant": round(q_loss.item(), 5)})
    model.eval()
    with torch.no_grad():
        all_codes = torch.cat([model.encode_codes(x[i:i + 4096]) for i in range(0, n, 4096)]).numpy()
        recon_all = torch.cat([model(x[i:i + 4096])[0] for i in range(0, n, 4096)])
        final_rec = float(((recon_all - x) ** 2).sum(-1).mean())
    report = {
        "recon_first": curve[0]["recon"], "recon_last": curve[-1]["recon"], "recon_final_all": round(final_rec, 5),
        "curve": curve, "dead_code_resets": int(resets), "fit_s": round(time.perf_counter() - t0, 2),
        "utilisation": [round(len(np.unique(all_codes[:, lvl])) / codes, 4) for lvl in range(levels)],
    }
    return all_codes.astype(np.int64), report
