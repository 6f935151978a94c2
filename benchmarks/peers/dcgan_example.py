"""A re-implementation, for timing only, of pytorch/examples dcgan/main.py run as `--dataset mnist`, on a CPU,
with its default arguments.

What it keeps from the example: nz=100, ngf=ndf=64, 64x64 images (MNIST resized up per sample); netG
ConvTranspose2d(nz, 8ngf, 4, 1, 0) then three (4, 2, 1) stages halving the width, each with BatchNorm2d + ReLU,
then ConvTranspose2d(ngf, 1, 4, 2, 1) + tanh; netD Conv2d(1, ndf, 4, 2, 1) + LeakyReLU 0.2, three (4, 2, 1)
stages doubling the width with BatchNorm2d + LeakyReLU 0.2, Conv2d(8ndf, 1, 4, 1, 0) + sigmoid; no biases; the
example's weights_init (N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales); BCELoss; Adam lr 2e-4 betas
(0.5, 0.999) per player; the step: errD_real.backward(), errD_fake.backward() on fake.detach(), optimizerD.step(),
then errG on the same fake through the updated D, errG.backward(), optimizerG.step(); three .item() reads for
D(x), D(G(z)) and a printed line per iteration (three more); every 100 iterations (the first included) the real
batch and netG(fixed_noise) saved as normalised grids (the example builds that forward's graph too); a
checkpoint of both players per epoch; the data path: a per-sample DataLoader, batch 64, shuffle=True, with the
example's 2 worker processes (--workers 2), Resize(64), ToTensor, Normalize((0.5,), (0.5,)).

Where it departs, and why: torchvision's MNIST, transforms and save_image are the stand-ins of
torchvision_stand_in.py (same per-sample work, the PIL bilinear resize to 64 included); the data are the
repository's data/mnist; `--iterations`, `--timing-json` as in gan_example.py; `--outf` defaults to a folder
named dcgan-out. `--imageSize` other than 64 (the example supports 64 only) uses genzoo's DCGAN layout for
that side (gan_nets.conv_layout: halve while even and above 7): at 28, netG ConvTranspose2d(nz, 2ngf, 7, 1, 0),
one (4, 2, 1) stage to ngf, ConvTranspose2d(ngf, 1, 4, 2, 1); netD Conv2d(1, ndf, 4, 2, 1), one stage to 2ndf,
Conv2d(2ndf, 1, 7, 1, 0): genzoo's preset dcgan players driven by the example's step and data path (Resize(28)
is then a no-op). At 64 the layout is exactly the example's.

    python benchmarks/peers/dcgan_example.py --iterations 12 [--imageSize 28] [--timing-json t.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from pathlib import Path

import torch
import torch.utils.data
from torch import nn, optim
from torchvision_stand_in import MNIST, Compose, Normalize, Resize, ToTensor, save_image


def layout(side: int) -> tuple[int, int]:
    """(base side, stride-2 stages): 64 -> (4, 4), the example's; 28 -> (7, 2); 32 -> (4, 3)."""
    base, stages = side, 0
    while base > 7 and base % 2 == 0:
        base, stages = base // 2, stages + 1
    if stages == 0 or base > 7:
        raise SystemExit(f"--imageSize {side} does not halve evenly down to 7 or less (try 28, 32 or 64)")
    return base, stages


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, nz, ngf, nc, side):
        super().__init__()
        base, stages = layout(side)
        widths = [ngf * 2 ** (stages - 1 - k) for k in range(stages)]  # 64x64: 8ngf, 4ngf, 2ngf, ngf
        layers = [nn.ConvTranspose2d(nz, widths[0], base, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for w_in, w_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ndf, nc, side):
        super().__init__()
        base, stages = layout(side)
        widths = [ndf * 2**k for k in range(stages)]  # 64x64: ndf, 2ndf, 4ndf, 8ndf
        layers = [nn.Conv2d(nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for w_in, w_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers += [nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def build(opt):
    """(netG, netD, optimizerG, optimizerD, criterion)."""
    netG = Generator(opt.nz, opt.ngf, 1, opt.imageSize)
    netG.apply(weights_init)
    netD = Discriminator(opt.ndf, 1, opt.imageSize)
    netD.apply(weights_init)
    optimizerD = optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    return netG, netD, optimizerG, optimizerD, nn.BCELoss()


def train_step(parts, real_cpu, opt):
    """One iteration of the example. Returns (errD, errG, D_x, D_G_z1, D_G_z2)."""
    netG, netD, optimizerG, optimizerD, criterion = parts
    real_label, fake_label = 1, 0
    netD.zero_grad()
    batch_size = real_cpu.size(0)
    label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
    output = netD(real_cpu)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()

    noise = torch.randn(batch_size, opt.nz, 1, 1)
    fake = netG(noise)
    label.fill_(fake_label)
    output = netD(fake.detach())
    errD_fake = criterion(output, label)
    errD_fake.backward()
    D_G_z1 = output.mean().item()
    errD = errD_real + errD_fake
    optimizerD.step()

    netG.zero_grad()
    label.fill_(real_label)  # the generator's cost takes its fakes as real
    output = netD(fake)
    errG = criterion(output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    optimizerG.step()
    return errD, errG, D_x, D_G_z1, D_G_z2


def example_batch(opt):
    """A random batch of the shape and range the loop feeds `train_step` (for counting its FLOPs)."""
    return torch.rand(opt.batchSize, 1, opt.imageSize, opt.imageSize) * 2 - 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="pytorch/examples dcgan on MNIST (re-implemented for timing)")
    parser.add_argument("--dataroot", type=Path, default=None, help="folder of the MNIST IDX files")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batchSize", type=int, default=64)
    parser.add_argument("--imageSize", type=int, default=64)
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--niter", type=int, default=25)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--outf", type=Path, default=Path("dcgan-out"))
    parser.add_argument("--manualSeed", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=None, help="stop after this many iterations")
    parser.add_argument("--timing-json", type=Path, default=None, help="write the loop's seconds here")
    return parser.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    print(opt)
    opt.outf.mkdir(parents=True, exist_ok=True)
    if opt.manualSeed is None:
        opt.manualSeed = random.randint(1, 10000)
    print("Random Seed: ", opt.manualSeed)
    random.seed(opt.manualSeed)
    torch.manual_seed(opt.manualSeed)

    dataset = MNIST(
        opt.dataroot, train=True, transform=Compose([Resize(opt.imageSize), ToTensor(), Normalize((0.5,), (0.5,))])
    )
    dataloader = torch.utils.data.DataLoader(
        dataset, batch_size=opt.batchSize, shuffle=True, num_workers=int(opt.workers)
    )
    parts = build(opt)
    netG, netD = parts[0], parts[1]
    print(netG)
    print(netD)
    fixed_noise = torch.randn(opt.batchSize, opt.nz, 1, 1)

    done, start = 0, time.perf_counter()
    for epoch in range(opt.niter):
        for i, data in enumerate(dataloader, 0):
            real_cpu = data[0]
            errD, errG, D_x, D_G_z1, D_G_z2 = train_step(parts, real_cpu, opt)
            print(
                f"[{epoch}/{opt.niter}][{i}/{len(dataloader)}] Loss_D: {errD.item():.4f} "
                f"Loss_G: {errG.item():.4f} D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}"
            )
            if i % 100 == 0:
                save_image(real_cpu, opt.outf / "real_samples.png", normalize=True)
                fake = netG(fixed_noise)
                save_image(fake.detach(), opt.outf / f"fake_samples_epoch_{epoch:03d}.png", normalize=True)
            done += 1
            if done == opt.iterations:
                break
        if done == opt.iterations:
            break
        torch.save(netG.state_dict(), opt.outf / f"netG_epoch_{epoch}.pth")
        torch.save(netD.state_dict(), opt.outf / f"netD_epoch_{epoch}.pth")
    seconds = time.perf_counter() - start
    if opt.timing_json is not None:
        opt.timing_json.write_text(json.dumps({"iterations": done, "seconds": seconds}))


if __name__ == "__main__":
    main()
