"""Frozen-feature probes: how good is a backbone for a rehearsal-free continual learner?

InfLoRA trains only small K/V branches and per-task heads, so the frozen backbone's pooled features
bound what the learner reaches. Three cheap read-outs on those features:

* :func:`linear_probe` -- multinomial logistic regression (full-batch L-BFGS on standardised
  features): the best a linear head can do with the features as they are.
* :func:`ncm_accuracy` -- nearest class mean (cosine): what a prototype classifier gets with no
  training at all.
* :func:`gaussian_accuracy` -- LDA with class means and a shared covariance: predicts what a
  rehearsal-free learner with classifier alignment (heads re-fitted from stored class statistics)
  can reach.

Images go in as given: pass a model that includes its normalisation (``edgecl.vit.model.Normalized``)
and images in [0, 1], shape (N, C, H, W); uint8 is divided by 255 here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _as_float(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Pooled, final-normed features (timm ``forward_head(pre_logits=True)``) in eval mode.

    ``model`` may be a timm ViT or a wrapper with ``.model`` plus ``mean``/``std`` buffers
    (``edgecl.vit.model.Normalized``); the head, if any, is skipped.
    """
    inner, mean, std = model, None, None
    if hasattr(model, "model") and hasattr(model, "mean") and hasattr(model, "std"):
        inner, mean, std = model.model, model.mean, model.std
    was_training = inner.training
    inner.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = _as_float(images[i : i + batch_size])
        if mean is not None:
            x = (x - mean) / std
        out.append(inner.forward_head(inner.forward_features(x), pre_logits=True))
    inner.train(was_training)
    return torch.cat(out)


def _standardise(train: torch.Tensor, val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, sd = train.mean(0, keepdim=True), train.std(0, keepdim=True).clamp_min(1e-6)
    return (train - mu) / sd, (val - mu) / sd


def logistic_regression_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor,
                                 val_y: torch.Tensor, weight_decay: float = 1e-4, max_iter: int = 200) -> float:
    """Fit softmax regression on features with L-BFGS (deterministic, no tuning) and score it."""
    xt, xv = _standardise(train_f.double(), val_f.double())
    k = int(max(train_y.max().item(), val_y.max().item())) + 1
    w = torch.zeros(xt.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xt @ w + b, train_y) + weight_decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return ((xv @ w + b).argmax(1) == val_y).double().mean().item()


def ncm_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor, val_y: torch.Tensor) -> float:
    """Nearest class mean with cosine similarity on centred features."""
    mu = train_f.mean(0, keepdim=True)
    classes = train_y.unique()
    means = torch.stack([F.normalize(train_f[train_y == c] - mu, dim=1).mean(0) for c in classes])
    sim = F.normalize(val_f - mu, dim=1) @ F.normalize(means, dim=1).T
    return (classes[sim.argmax(1)] == val_y).float().mean().item()


def gaussian_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor, val_y: torch.Tensor,
                      shrinkage: float = 0.1) -> float:
    """LDA: class means + one shared (shrunk) covariance, the statistics a rehearsal-free CIL keeps."""
    xt, xv = train_f.double(), val_f.double()
    classes = train_y.unique()
    means = torch.stack([xt[train_y == c].mean(0) for c in classes])
    centred = xt - means[torch.searchsorted(classes, train_y)]
    cov = centred.T @ centred / max(1, xt.shape[0] - len(classes))
    cov = (1 - shrinkage) * cov + shrinkage * torch.eye(cov.shape[0], dtype=cov.dtype) * cov.diagonal().mean()
    prec = torch.linalg.inv(cov)
    w = means @ prec
    b = -0.5 * (w * means).sum(1)
    return (classes[(xv @ w.T + b).argmax(1)] == val_y).double().mean().item()


def probe_features(train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor,
                   val_y: torch.Tensor) -> dict[str, float]:
    """All three read-outs on precomputed features: ``{"linear", "ncm", "gaussian"}``."""
    train_y, val_y = train_y.long(), val_y.long()
    return {
        "linear": logistic_regression_accuracy(train_f, train_y, val_f, val_y),
        "ncm": ncm_accuracy(train_f, train_y, val_f, val_y),
        "gaussian": gaussian_accuracy(train_f, train_y, val_f, val_y),
    }


def probe_report(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                 val_images: torch.Tensor, val_labels: torch.Tensor) -> dict[str, float]:
    """Extract frozen features once and return linear / NCM / Gaussian accuracies on the val set."""
    return probe_features(extract_features(model, train_images), train_labels,
                          extract_features(model, val_images), val_labels)


def linear_probe(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                 val_images: torch.Tensor, val_labels: torch.Tensor) -> float:
    """Accuracy of a logistic-regression head on the frozen pooled features (val set)."""
    tf, vf = extract_features(model, train_images), extract_features(model, val_images)
    return logistic_regression_accuracy(tf, train_labels.long(), vf, val_labels.long())
