"""Latent probes: how much class information a model's codes carry, read off by simple classifiers fit on
training-set codes and scored on test-set codes (k-nearest neighbours and multinomial logistic regression)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = train.mean(0), train.std(0).clamp(min=1e-8)
    return (train - mean) / std, (test - mean) / std


def knn_accuracy(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = 5,
    chunk: int = 256,
) -> float:
    """Accuracy of a k-NN majority vote (Euclidean, standardised codes); ties go to the smaller label. Test codes
    go in chunks of `chunk` rows: (chunk, N_train) float64 distances, 20 MB for 10,000 training codes, memory the
    allocator reuses (at 1000 rows, 80 MB were mapped and page-faulted afresh for every chunk)."""
    train, test = standardise(train.double(), test.double())
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    correct = 0
    for i in range(0, len(test), chunk):
        nearest = torch.cdist(test[i : i + chunk], train).topk(k, largest=False).indices  # (chunk, k)
        votes = F.one_hot(train_labels[nearest], classes).sum(1)  # (chunk, classes)
        correct += (votes.argmax(1) == test_labels[i : i + chunk]).sum().item()
    return correct / len(test)


def logistic_accuracy(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    l2: float = 1e-4,
    iterations: int = 200,
) -> float:
    """Test accuracy of multinomial logistic regression on standardised codes, fit by L-BFGS with a small L2
    penalty (a convex problem: the result does not depend on a seed)."""
    train, test = standardise(train.double(), test.double())
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    weight = torch.zeros(train.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(train @ weight + bias, train_labels) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return ((test @ weight + bias).argmax(1) == test_labels).double().mean().item()
