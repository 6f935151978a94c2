"""A re-implementation, for timing only, of eriklindernoren/PyTorch-GAN implementations/gan/gan.py (the fully
connected GAN), as it runs on a CPU with its default arguments.

What it keeps from the script: the generator 100-128-256-512-1024-784 (Linear, then BatchNorm1d with eps 0.8
-- the script passes 0.8 as BatchNorm1d's second positional argument, which is eps -- except after the first
layer, LeakyReLU 0.2, tanh output), the discriminator 784-512-256-1 (LeakyReLU 0.2, sigmoid output), BCELoss,
Adam lr 2e-4 betas (0.5, 0.999) for each player, batch 64, noise drawn with numpy's normal; the step order:
the generator first (G(z) through D against 'valid', backward through both, G steps), then the discriminator
(D zero-graded, real vs the detached fakes, halved sum); a line printed per iteration (two .item() reads), 25
fakes saved as a 5x5 grid every 400 iterations (including the first); the data path: a per-sample DataLoader
over MNIST, shuffle=True, no workers (the script's --n_cpu is never passed to it), Resize(28) (a no-op at
28x28), ToTensor, Normalize([0.5], [0.5]).

Where it departs, and why: torchvision's MNIST, transforms and save_image are the stand-ins of
torchvision_stand_in.py (same per-sample work); the data are the repository's data/mnist; `--iterations N`
stops after N iterations and `--timing-json FILE` writes the seconds of that loop (from the first batch
request to the end of iteration N: data path, steps, prints, pictures) for benchmarks/speed.py; `--out` names
the picture folder (the script writes images/).

    python benchmarks/peers/gan_example.py --iterations 200 [--timing-json t.json] [--out /tmp/gan-example]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision_stand_in import MNIST, Compose, Normalize, Resize, ToTensor, save_image


class Generator(nn.Module):
    def __init__(self, latent_dim=100, img_shape=(1, 28, 28)):
        super().__init__()
        self.img_shape = img_shape

        def block(n_in, n_out, normalize=True):
            layers = [nn.Linear(n_in, n_out)]
            if normalize:
                layers.append(nn.BatchNorm1d(n_out, 0.8))  # eps=0.8, as in the script
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z).view(z.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape=(1, 28, 28)):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


def build(opt):
    """(generator, discriminator, optimizer_G, optimizer_D, loss)."""
    img_shape = (opt.channels, opt.img_size, opt.img_size)
    generator, discriminator = Generator(opt.latent_dim, img_shape), Discriminator(img_shape)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    return generator, discriminator, optimizer_g, optimizer_d, nn.BCELoss()


def train_step(parts, imgs, opt):
    """One iteration of the script: the generator's step, then the discriminator's. Returns (d_loss, g_loss,
    gen_imgs)."""
    generator, discriminator, optimizer_g, optimizer_d, adversarial_loss = parts
    valid = torch.ones(imgs.size(0), 1)
    fake = torch.zeros(imgs.size(0), 1)
    real_imgs = imgs.float()

    optimizer_g.zero_grad()
    z = torch.from_numpy(np.random.normal(0, 1, (imgs.shape[0], opt.latent_dim))).float()
    gen_imgs = generator(z)
    g_loss = adversarial_loss(discriminator(gen_imgs), valid)
    g_loss.backward()
    optimizer_g.step()

    optimizer_d.zero_grad()
    real_loss = adversarial_loss(discriminator(real_imgs), valid)
    fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
    d_loss = (real_loss + fake_loss) / 2
    d_loss.backward()
    optimizer_d.step()
    return d_loss, g_loss, gen_imgs


def example_batch(opt):
    """A random batch of the shape and range the loop feeds `train_step` (for counting its FLOPs)."""
    return torch.rand(opt.batch_size, opt.channels, opt.img_size, opt.img_size) * 2 - 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="PyTorch-GAN gan.py (re-implemented for timing)")
    parser.add_argument("--n_epochs", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--b1", type=float, default=0.5)
    parser.add_argument("--b2", type=float, default=0.999)
    parser.add_argument("--latent_dim", type=int, default=100)
    parser.add_argument("--img_size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--sample_interval", type=int, default=400)
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of the MNIST IDX files")
    parser.add_argument("--out", type=Path, default=Path("images"), help="folder for the PNGs")
    parser.add_argument("--iterations", type=int, default=None, help="stop after this many iterations")
    parser.add_argument("--timing-json", type=Path, default=None, help="write the loop's seconds here")
    return parser.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    print(opt)
    opt.out.mkdir(parents=True, exist_ok=True)

    parts = build(opt)
    dataloader = DataLoader(
        MNIST(opt.data_dir, train=True, transform=Compose([Resize(opt.img_size), ToTensor(), Normalize([0.5], [0.5])])),
        batch_size=opt.batch_size,
        shuffle=True,
    )

    done, start = 0, time.perf_counter()
    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            d_loss, g_loss, gen_imgs = train_step(parts, imgs, opt)
            print(
                f"[Epoch {epoch}/{opt.n_epochs}] [Batch {i}/{len(dataloader)}] [D loss: {d_loss.item():f}] "
                f"[G loss: {g_loss.item():f}]"
            )
            batches_done = epoch * len(dataloader) + i
            if batches_done % opt.sample_interval == 0:
                save_image(gen_imgs.data[:25], opt.out / f"{batches_done}.png", nrow=5, normalize=True)
            done += 1
            if done == opt.iterations:
                break
        if done == opt.iterations:
            break
    seconds = time.perf_counter() - start
    if opt.timing_json is not None:
        opt.timing_json.write_text(json.dumps({"iterations": done, "seconds": seconds}))


if __name__ == "__main__":
    main()
