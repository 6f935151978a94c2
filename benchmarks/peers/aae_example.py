"""A re-implementation, for timing only, of eriklindernoren/PyTorch-GAN implementations/aae/aae.py (the
adversarial autoencoder), as it runs on a CPU with its default arguments.

What it keeps from the script: images of 32x32 (its default --img_size: MNIST resized up per sample), a 10-d
code; the encoder 1024-512-512 (LeakyReLU 0.2, BatchNorm1d before the second activation) with linear heads
for mu and log variance and a reparameterised draw (numpy normal noise), the decoder 10-512-512-1024
(LeakyReLU 0.2, BatchNorm1d, tanh), the code discriminator 10-512-256-1 (LeakyReLU 0.2, sigmoid); one Adam
over encoder + decoder and one over the discriminator, lr 2e-4 betas (0.5, 0.999); the step order: the
autoencoder first with 0.001 x BCE(D(code), valid) + 0.999 x L1(reconstruction, image), then the
discriminator on N(0, I) draws (valid) against the detached codes (fake), halved sum; a line printed per
iteration (two .item() reads), a 10x10 grid of decoded N(0, I) codes saved every 400 iterations (including the
first; the decoder stays in train mode, as in the script); the data path: a per-sample DataLoader over MNIST,
batch 64, shuffle=True, no workers, Resize(32), ToTensor, Normalize([0.5], [0.5]).

Where it departs, and why: torchvision's MNIST, transforms and save_image are the stand-ins of
torchvision_stand_in.py (same per-sample work, a PIL bilinear resize included); the data are the
repository's data/mnist; `--iterations`, `--timing-json` and `--out` as in gan_example.py.

    python benchmarks/peers/aae_example.py --iterations 200 [--timing-json t.json] [--out /tmp/aae-example]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision_stand_in import MNIST, Compose, Normalize, Resize, ToTensor, save_image


class Encoder(nn.Module):
    def __init__(self, img_shape, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.mu = nn.Linear(512, latent_dim)
        self.logvar = nn.Linear(512, latent_dim)

    def forward(self, img):
        x = self.model(img.view(img.shape[0], -1))
        mu, logvar = self.mu(x), self.logvar(x)
        noise = torch.from_numpy(np.random.normal(0, 1, (mu.size(0), self.latent_dim))).float()
        return noise * torch.exp(logvar / 2) + mu


class Decoder(nn.Module):
    def __init__(self, img_shape, latent_dim):
        super().__init__()
        self.img_shape = img_shape
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z).view(z.shape[0], *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, latent_dim):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, z):
        return self.model(z)


def build(opt):
    """(encoder, decoder, discriminator, optimizer_G, optimizer_D, adversarial loss, pixelwise loss)."""
    img_shape = (opt.channels, opt.img_size, opt.img_size)
    encoder, decoder = Encoder(img_shape, opt.latent_dim), Decoder(img_shape, opt.latent_dim)
    discriminator = Discriminator(opt.latent_dim)
    optimizer_g = torch.optim.Adam(
        itertools.chain(encoder.parameters(), decoder.parameters()), lr=opt.lr, betas=(opt.b1, opt.b2)
    )
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    return encoder, decoder, discriminator, optimizer_g, optimizer_d, nn.BCELoss(), nn.L1Loss()


def train_step(parts, imgs, opt):
    """One iteration of the script: the autoencoder's step, then the discriminator's. Returns (d_loss, g_loss)."""
    encoder, decoder, discriminator, optimizer_g, optimizer_d, adversarial_loss, pixelwise_loss = parts
    valid = torch.ones(imgs.shape[0], 1)
    fake = torch.zeros(imgs.shape[0], 1)
    real_imgs = imgs.float()

    optimizer_g.zero_grad()
    encoded_imgs = encoder(real_imgs)
    decoded_imgs = decoder(encoded_imgs)
    g_loss = 0.001 * adversarial_loss(discriminator(encoded_imgs), valid) + 0.999 * pixelwise_loss(
        decoded_imgs, real_imgs
    )
    g_loss.backward()
    optimizer_g.step()

    optimizer_d.zero_grad()
    z = torch.from_numpy(np.random.normal(0, 1, (imgs.shape[0], opt.latent_dim))).float()
    real_loss = adversarial_loss(discriminator(z), valid)
    fake_loss = adversarial_loss(discriminator(encoded_imgs.detach()), fake)
    d_loss = 0.5 * (real_loss + fake_loss)
    d_loss.backward()
    optimizer_d.step()
    return d_loss, g_loss


def example_batch(opt):
    """A random batch of the shape and range the loop feeds `train_step` (for counting its FLOPs)."""
    return torch.rand(opt.batch_size, opt.channels, opt.img_size, opt.img_size) * 2 - 1


def sample_image(decoder, n_row, batches_done, latent_dim, out):
    z = torch.from_numpy(np.random.normal(0, 1, (n_row**2, latent_dim))).float()
    save_image(decoder(z).data, out / f"{batches_done}.png", nrow=n_row, normalize=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="PyTorch-GAN aae.py (re-implemented for timing)")
    parser.add_argument("--n_epochs", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--b1", type=float, default=0.5)
    parser.add_argument("--b2", type=float, default=0.999)
    parser.add_argument("--latent_dim", type=int, default=10)
    parser.add_argument("--img_size", type=int, default=32)
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
            d_loss, g_loss = train_step(parts, imgs, opt)
            print(
                f"[Epoch {epoch}/{opt.n_epochs}] [Batch {i}/{len(dataloader)}] [D loss: {d_loss.item():f}] "
                f"[G loss: {g_loss.item():f}]"
            )
            batches_done = epoch * len(dataloader) + i
            if batches_done % opt.sample_interval == 0:
                sample_image(parts[1], 10, batches_done, opt.latent_dim, opt.out)
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
