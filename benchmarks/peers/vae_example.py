"""A re-implementation, for timing only, of pytorch/examples vae/main.py (the VAE MNIST example), as it runs on a
CPU with its default arguments.

What it keeps from the example: the 784-400-20 VAE (fc1 784->400 ReLU; fc21, fc22 400->20 for mu and log
variance; fc3 20->400 ReLU; fc4 400->784 sigmoid), the loss (binary cross-entropy summed over pixels and batch,
plus the closed-form KL of Kingma & Welling's appendix B), Adam lr 1e-3, batch 128, seed 1, a per-sample
DataLoader over MNIST train (shuffled) and test with ToTensor and no workers (the example asks for a worker
only under CUDA); per epoch a train pass printing its loss every 10 batches and its average, a test pass
printing its loss and saving the first batch's 8 digits above their reconstructions, then a PNG of 64 decoded
N(0, I) codes.

Where it departs, and why: torchvision is not installed here, so its MNIST, ToTensor and save_image are the
stand-ins of torchvision_stand_in.py (same per-sample work: a PIL image per sample, then to a tensor); the data
are the repository's data/mnist; the test loader is not shuffled (older versions of the example shuffle it; the
cost is the same); `--out` names the picture folder (the example writes results/).

    python benchmarks/peers/vae_example.py --epochs 1 [--out /tmp/vae-example]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F
from torchvision_stand_in import MNIST, ToTensor, save_image


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        hidden = F.relu(self.fc1(x))
        return self.fc21(hidden), self.fc22(hidden)

    def reparameterize(self, mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    """Bernoulli reconstruction term summed over pixels and batch, plus KL(q(z|x) || N(0, I)) in closed form."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def build(opt):
    """(model, optimizer)."""
    model = VAE()
    return model, optim.Adam(model.parameters(), lr=1e-3)


def train_step(parts, data, opt=None):
    """One optimizer step on a batch; returns the summed loss (a tensor)."""
    model, optimizer = parts
    optimizer.zero_grad()
    recon, mu, logvar = model(data)
    loss = loss_function(recon, data, mu, logvar)
    loss.backward()
    optimizer.step()
    return loss


def example_batch(opt):
    """A random batch of the shape and range the loop feeds `train_step` (for counting its FLOPs)."""
    return torch.rand(opt.batch_size, 1, 28, 28)


def train(epoch, parts, loader, log_interval):
    parts[0].train()
    total = 0.0
    for batch_idx, (data, _) in enumerate(loader):
        loss = train_step(parts, data)
        total += loss.item()
        if batch_idx % log_interval == 0:
            print(
                f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(loader.dataset)} "
                f"({100.0 * batch_idx / len(loader):.0f}%)]\tLoss: {loss.item() / len(data):.6f}"
            )
    print(f"====> Epoch: {epoch} Average loss: {total / len(loader.dataset):.4f}")


def test(epoch, model, loader, batch_size, out):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i, (data, _) in enumerate(loader):
            recon, mu, logvar = model(data)
            total += loss_function(recon, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n], recon.view(batch_size, 1, 28, 28)[:n]])
                save_image(comparison, out / f"reconstruction_{epoch}.png", nrow=n)
    print(f"====> Test set loss: {total / len(loader.dataset):.4f}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="VAE MNIST example (re-implemented for timing)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of the MNIST IDX files")
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder for the PNGs")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    torch.manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(
        MNIST(args.data_dir, train=True, transform=ToTensor()), batch_size=args.batch_size, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(
        MNIST(args.data_dir, train=False, transform=ToTensor()), batch_size=args.batch_size, shuffle=False
    )
    parts = build(args)
    model = parts[0]
    args.out.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, args.epochs + 1):
        train(epoch, parts, train_loader, args.log_interval)
        test(epoch, model, test_loader, args.batch_size, args.out)
        with torch.no_grad():
            sample = model.decode(torch.randn(64, 20))
            save_image(sample.view(64, 1, 28, 28), args.out / f"sample_{epoch}.png")


if __name__ == "__main__":
    main()
