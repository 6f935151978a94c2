"""The VQ-VAE's exact pieces: the straight-through gradient, the EMA codebook update against a hand computation,
dead-code restart, the PixelCNN prior's causal structure, and sampling from that prior."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.vq_vae import VQVAE, VQVAEConfig
from genzoo.nets.pixelcnn import GatedPixelCNN
from genzoo.nets.quantize import EMACodebook, straight_through, usage_figures

TINY = {"channels": (4, 8), "codes": 8, "code_dim": 4, "prior_channels": 8, "prior_layers": 2}


def tiny_model(**overrides) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(VQVAEConfig(**{**TINY, **overrides}))


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# -- straight-through gradient --------------------------------------------------------------------------------


def test_straight_through_passes_the_code_forward_and_the_gradient_back_unchanged():
    model = tiny_model()
    z_e = model.encoder(images())  # (6, 4, 7, 7)
    z_e.retain_grad()
    _, z_q, _ = model.quantise(z_e)
    decoder_input = straight_through(z_e, z_q)
    decoder_input.retain_grad()
    assert torch.equal(decoder_input, z_q)  # exactly the codes, not z_e + (z_q - z_e) rounded
    model.reconstruction_loss(model.decoder(decoder_input), images()).backward()
    assert decoder_input.grad.abs().sum() > 0
    assert torch.equal(z_e.grad, decoder_input.grad)  # the encoder receives exactly the decoder-input gradient


def test_with_beta_zero_the_encoder_weights_get_exactly_the_decoder_gradient_pulled_back():
    """The model's own loss (commitment off): encoder gradients = J_encoder^T (d loss / d decoder input)."""
    model = tiny_model(beta=0.0)
    x = images()
    model.training_step(Batch(x, torch.zeros(6, dtype=torch.long)), 0, "loss").loss.backward()
    through_model = [p.grad.clone() for p in model.encoder.parameters()]

    z_e = model.encoder(x)
    decoder_input = model.quantise(z_e)[1].requires_grad_(True)  # the codes as a leaf: no path to the encoder
    (upstream,) = torch.autograd.grad(model.reconstruction_loss(model.decoder(decoder_input), x), decoder_input)
    pulled_back = torch.autograd.grad(z_e, list(model.encoder.parameters()), upstream)
    for a, b in zip(through_model, pulled_back):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


# -- the EMA codebook -----------------------------------------------------------------------------------------


def hand_codebook(dead_after: int = 10) -> EMACodebook:
    """K = 3 codes in 2-D, decay 0.5, eps 0.1, with known statistics."""
    book = EMACodebook(3, 2, decay=0.5, epsilon=0.1, dead_after=dead_after)
    book.embedding.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [4.0, 4.0]]))
    book.embedding_sum.copy_(book.embedding)
    book.cluster_size.fill_(1.0)
    book.idle_steps.zero_()
    return book


BATCH = torch.tensor([[0.2, 0.0], [0.0, 0.4], [1.0, 1.2], [1.4, 1.0]])  # nearest codes 0, 0, 1, 1; code 2 unused


def test_ema_update_matches_a_hand_computation():
    book = hand_codebook()
    indices = book.nearest(BATCH)
    assert indices.tolist() == [0, 0, 1, 1]
    counts, sums = book.statistics(BATCH, indices)
    assert counts.tolist() == [2.0, 2.0, 0.0]
    torch.testing.assert_close(sums, torch.tensor([[0.2, 0.4], [2.4, 2.2], [0.0, 0.0]]))
    book.update(counts, sums, BATCH)
    # N = 0.5 [1, 1, 1] + 0.5 [2, 2, 0] = [1.5, 1.5, 0.5];  m = 0.5 m0 + 0.5 sums
    torch.testing.assert_close(book.cluster_size, torch.tensor([1.5, 1.5, 0.5]))
    torch.testing.assert_close(book.embedding_sum, torch.tensor([[0.1, 0.2], [1.7, 1.6], [2.0, 2.0]]))
    # n = 3.5; smoothed N~ = (N + 0.1) / (3.5 + 3 x 0.1) x 3.5 = [28/19, 28/19, 21/38]; e = m / N~
    torch.testing.assert_close(book.smoothed_sizes(), torch.tensor([28 / 19, 28 / 19, 21 / 38]))
    expected = torch.tensor([[0.1 * 19 / 28, 0.2 * 19 / 28], [1.7 * 19 / 28, 1.6 * 19 / 28], [76 / 21, 76 / 21]])
    torch.testing.assert_close(book.embedding, expected)
    assert book.idle_steps.tolist() == [0, 0, 1]  # the unused code counts a step; nothing restarted (10 > 1)


def test_smoothing_keeps_the_total_size_and_every_code_finite():
    book = hand_codebook()
    book.cluster_size.copy_(torch.tensor([3.0, 0.0, 0.0]))
    sizes = book.smoothed_sizes()
    assert (sizes > 0).all()
    torch.testing.assert_close(sizes.sum(), torch.tensor(3.0))


def test_restart_reseeds_only_the_codes_unused_for_dead_after_steps():
    book = hand_codebook(dead_after=2)
    plain = hand_codebook(dead_after=1000)  # the same update without restarts
    book.idle_steps.copy_(torch.tensor([1, 0, 1]))  # code 2: unused last step too -> idle 2 after this one
    indices = book.nearest(BATCH)
    counts, sums = book.statistics(BATCH, indices)
    torch.manual_seed(3)
    book.update(counts, sums, BATCH)
    plain.update(counts, sums, BATCH)
    for k in (0, 1):  # used codes: the EMA result, untouched by the restart
        assert torch.equal(book.embedding[k], plain.embedding[k])
        assert torch.equal(book.cluster_size[k], plain.cluster_size[k])
    reseeded = book.embedding[2]
    assert any(torch.equal(reseeded, row) for row in BATCH)  # one of the batch's encoder outputs
    assert not torch.equal(reseeded, plain.embedding[2])
    assert torch.equal(book.embedding_sum[2], reseeded) and book.cluster_size[2] == 1.0  # m = e, N = 1
    assert book.idle_steps.tolist() == [0, 0, 0]


def test_a_fresh_codebook_reseeds_exactly_the_codes_its_first_batch_leaves_unused():
    torch.manual_seed(0)
    book = EMACodebook(8, 2, dead_after=5)
    z = torch.randn(50, 2) * 10  # far from the small initial codes: only a few of them are chosen
    indices = book.nearest(z)
    counts, sums = book.statistics(z, indices)
    unused = counts == 0
    assert unused.any() and (~unused).any()
    plain = EMACodebook(8, 2, dead_after=10**6)
    plain.load_state_dict(book.state_dict())
    plain.idle_steps.zero_()
    book.update(counts, sums, z)
    plain.update(counts, sums, z)
    for k in range(8):
        if unused[k]:
            assert any(torch.equal(book.embedding[k], row) for row in z), k
        else:
            assert torch.equal(book.embedding[k], plain.embedding[k]), k


def test_the_trainer_hooks_update_the_codebook_in_training_only():
    model = tiny_model()
    batch = Batch(images(), torch.zeros(6, dtype=torch.long))
    before = model.codebook.embedding.clone()
    model.eval()
    model.training_step(batch, 0, "loss")
    model.after_step("loss", 0)
    assert torch.equal(model.codebook.embedding, before)  # a test-set pass changes nothing
    model.train()
    model.training_step(batch, 0, "loss")
    model.after_step("prior", 0)  # the prior's step does not apply the loss phase's statistics
    assert torch.equal(model.codebook.embedding, before)
    model.after_step("loss", 0)
    assert not torch.equal(model.codebook.embedding, before)


def test_usage_figures():
    figures = usage_figures(torch.tensor([[0, 0], [1, 1]]), 4)
    assert figures["codebook_usage"] == 0.5 and figures["codes_used"] == 2
    assert figures["perplexity"] == pytest.approx(2.0)
    assert usage_figures(torch.arange(8), 8)["perplexity"] == pytest.approx(8.0)


def test_diagnostics_report_usage_on_a_split(mnist_small):
    model = tiny_model()
    model.eval()
    figures = model.diagnostics(mnist_small.test, 32)
    assert set(figures) == {"codebook_usage", "codes_used", "perplexity"}
    assert 0 < figures["codebook_usage"] <= 1 and 1 <= figures["perplexity"] <= 8


# -- the PixelCNN prior ---------------------------------------------------------------------------------------


def dependence(net: GatedPixelCNN, height: int, width: int, i: int, j: int) -> torch.Tensor:
    """(H, W) bool: which input positions the logits at (i, j) have a nonzero gradient with respect to."""
    x = torch.randn(1, net.embed.embedding_dim, height, width, requires_grad=True)
    net.logits_of(x)[0, :, i, j].sum().backward()
    return x.grad[0].abs().sum(0) > 0


def test_pixelcnn_is_causal_and_has_no_blind_spot():
    """The default prior on the 7x7 grid of a 28x28 image: the logits at position p depend on every input before p
    in raster order and on none at p or after."""
    c = VQVAEConfig()
    torch.manual_seed(0)
    net = GatedPixelCNN(c.codes, c.prior_channels, c.prior_layers, c.prior_first_kernel)
    side = 7
    order = torch.arange(side * side).view(side, side)
    for i in range(side):
        for j in range(side):
            seen = dependence(net, side, side, i, j)
            before = order < i * side + j
            assert torch.equal(seen, before), (i, j, seen.int())


def test_pixelcnn_rows_up_to_i_give_the_logits_of_row_i():
    """Sampling reads only the rows up to the one it fills: the same logits as the whole grid."""
    torch.manual_seed(0)
    net = GatedPixelCNN(8, 8, 3, 5)
    codes = torch.randint(8, (4, 7, 7))
    full = net(codes)
    for i in range(7):
        torch.testing.assert_close(net(codes[:, : i + 1])[:, :, i], full[:, :, i])


def test_prior_samples_are_reproducible_and_in_range():
    torch.manual_seed(0)
    net = GatedPixelCNN(8, 8, 3, 5)
    draw = [net.sample(16, (7, 7), torch.Generator().manual_seed(seed), torch.device("cpu")) for seed in (1, 1, 2)]
    assert draw[0].shape == (16, 7, 7) and draw[0].dtype == torch.long
    assert torch.equal(draw[0], draw[1]) and not torch.equal(draw[0], draw[2])
    assert draw[0].min() >= 0 and draw[0].max() < 8


def test_model_samples_decode_codes_drawn_from_the_prior():
    model = tiny_model()
    model.eval()
    head = model.prior.head[-1]
    with torch.no_grad():  # a prior certain of code 5 everywhere
        head.weight.zero_()
        head.bias.fill_(-30.0)
        head.bias[5] = 30.0
    codes = model.prior.sample(3, (7, 7), torch.Generator().manual_seed(0), torch.device("cpu"))
    assert (codes == 5).all()
    with torch.no_grad():
        x = model.sample(3, generator=torch.Generator().manual_seed(0))
        assert torch.equal(x, model.decode_codes(torch.full((3, 7, 7), 5)))


def test_prior_phase_trains_the_prior_alone_on_detached_codes():
    model = tiny_model(prior_start=10)
    assert model.phases(9) == ("loss",) and model.phases(10) == ("loss", "prior")
    groups = {g.name: g.params for g in model.optimizer_groups()}
    assert {id(p) for p in groups["prior"]} == {id(p) for p in model.prior.parameters()}
    assert not {id(p) for p in groups["prior"]} & {id(p) for p in groups["loss"]}
    model.training_step(Batch(images(), torch.zeros(6, dtype=torch.long)), 10, "prior").loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.prior.parameters())


def test_the_prior_group_carries_its_own_lr_and_the_autoencoder_takes_train_lr():
    groups = {g.name: g for g in tiny_model().optimizer_groups()}
    assert groups["prior"].lr == 3e-3 and groups["loss"].lr is None  # the default: the prior at 3x train.lr's 1e-3
    groups = {g.name: g for g in tiny_model(prior_lr=None).optimizer_groups()}
    assert groups["prior"].lr is None  # None: both groups at train.lr
    assert VQVAEConfig().prior_lr == 3e-3


def test_the_prior_phase_reads_the_codes_the_loss_phase_assigned_to_the_same_batch():
    model = tiny_model()
    batch = Batch(images(), torch.zeros(6, dtype=torch.long))
    model.train()
    model.training_step(batch, 0, "loss")
    assigned = model.quantise(model.encoder(batch.x))[0]
    with torch.no_grad():
        for p in model.encoder.parameters():  # the loss phase's optimizer step moves the encoder
            p.add_(0.5)
    moved = model.quantise(model.encoder(batch.x))[0]
    assert not torch.equal(assigned, moved)
    loss = model.training_step(batch, 0, "prior").loss
    torch.testing.assert_close(loss, model.prior.nll(assigned).mean() / 49)
    other = Batch(images(seed=1), batch.y)  # another batch (or a second call): its own codes, computed
    loss = model.training_step(other, 0, "prior").loss
    torch.testing.assert_close(loss, model.prior.nll(model.quantise(model.encoder(other.x))[0]).mean() / 49)


def test_manifold_and_traverse_refuse_in_one_line_and_interpolate_works():
    from genzoo.errors import CapabilityError
    from genzoo.explore import latent

    model = tiny_model()
    model.eval()
    x = images(2)
    for call, verb in (
        (lambda: latent.manifold(model, 3), "manifold"),
        (lambda: latent.traverse(model, x[:1]), "traverse"),
    ):
        with pytest.raises(CapabilityError, match=f"cannot {verb} .*grid of vectors snapped to a codebook") as info:
            call()
        assert "\n" not in str(info.value)
    path = latent.interpolate(model, x[:1], x[1:], steps=5)
    assert path.shape == (5, 1, 28, 28)
    assert torch.equal(path[0], model.reconstruct(x[:1])[0]) and torch.equal(path[-1], model.reconstruct(x[1:])[0])


def test_decode_snaps_encoder_outputs_to_codes():
    model = tiny_model()
    model.eval()
    with torch.no_grad():
        z = model.encode(images())  # (6, 4 * 7 * 7)
        assert z.shape == (6, model.latent_dim) == (6, 196)
        codes = model.quantise(z.view(6, 4, 7, 7))[0]
        assert torch.equal(model.decode(z), model.decode_codes(codes))
        assert torch.equal(model.decode(z + 1e-6), model.decode(z))  # a nudge stays in the same cells


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("codes", 1, "model.codes=1 is out of range"),
        ("decay", 1.0, "model.decay=1.0 is out of range"),
        ("prior_first_kernel", 4, "an odd integer >= 3"),
        ("dead_after", 0, "model.dead_after=0"),
    ],
)
def test_bad_settings_are_one_line_errors(key, value, expected):
    with pytest.raises(GenzooError, match=expected) as info:
        VQVAEConfig(**{key: value})
    assert "\n" not in str(info.value)
