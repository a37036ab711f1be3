"""RQ-VAE: reconstruction falls, codes are used, collision tokens make IDs unique."""

import numpy as np
import torch

from coldstart_exp.backbones.tiger.rqvae import RQVAE, fit_rqvae, kmeans
from coldstart_exp.backbones.tiger.semantic_ids import add_collision_token


def clustered(n=400, dim=24, k=10, seed=0):
    rs = np.random.RandomState(seed)
    centres = rs.randn(k, dim)
    x = centres[rs.randint(0, k, n)] + 0.3 * rs.randn(n, dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_reconstruction_falls_and_codes_are_used():
    x = clustered()
    codes, rep = fit_rqvae(x, hidden=[32], latent=8, levels=3, codes=16, beta=0.25, steps=300, batch_size=128,
                           lr=3e-3, reset_every=50, reset_until=0.8, seed=0)
    assert codes.shape == (400, 3) and codes.min() >= 0 and codes.max() < 16
    assert rep["recon_last"] < 0.5 * rep["recon_first"], rep["curve"]
    assert min(rep["utilisation"]) >= 0.5, rep["utilisation"]  # dead-code re-seeding keeps codes alive
    # deeper levels refine: 3 levels separate items far better than the first level alone
    assert len(np.unique(codes, axis=0)) > 2 * len(np.unique(codes[:, 0]))


def test_dead_code_reset_revives_collapsed_codebook():
    x = clustered(seed=1)
    kw = dict(hidden=[32], latent=8, levels=2, codes=32, beta=0.25, steps=200, batch_size=128, lr=3e-3, seed=0)
    _, no_reset = fit_rqvae(x, reset_every=0, reset_until=0.0, **kw)
    _, reset = fit_rqvae(x, reset_every=25, reset_until=0.8, **kw)
    assert reset["dead_code_resets"] > 0 and no_reset["dead_code_resets"] == 0
    assert sum(reset["utilisation"]) >= sum(no_reset["utilisation"])


def test_quantize_residuals_shrink():
    torch.manual_seed(0)
    m = RQVAE(16, [32], latent=8, levels=3, codes=32)
    x = torch.from_numpy(clustered(dim=16))
    m.kmeans_init(x)
    z = m.encoder(x)
    _, _, _, residuals = m.quantize(z)
    norms = [float(r.norm(dim=1).mean()) for r in residuals]
    assert norms[0] > norms[1] > norms[2]


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    x = centres.repeat_interleave(50, 0) + 0.1 * torch.randn(150, 2, generator=g)
    c = kmeans(x, 3, generator=g)
    assert torch.cdist(centres, c).min(1).values.max() < 1.0


def test_collision_token_makes_ids_unique():
    codes = np.array([[1, 2, 3], [1, 2, 3], [0, 0, 0], [1, 2, 3], [0, 0, 1]])
    ids, stats = add_collision_token(codes)
    assert ids[:, 3].tolist() == [0, 1, 0, 2, 0]
    assert len(np.unique(ids, axis=0)) == len(ids)
    assert stats["max_collisions"] == 3 and abs(stats["collision_rate"] - 0.6) < 1e-9
