"""Every model family; importing this package registers them all."""

# the AE family (regularized: wae, rae), the VAE family (vae, ladder, penalties, cat_vae) and the adversarial
# models (gan family, infogan, acgan, aae, vae_gan), and vq_vae; importing them registers them
from genzoo.models import (  # noqa: F401
    aae,
    acgan,
    autoencoder,
    cat_vae,
    gan,
    infogan,
    ladder,
    regularized,
    vae,
    vae_gan,
    vae_penalties,
    vq_vae,
)
from genzoo.models.base import GenerativeModel, OptimizerGroup, StepOutput
from genzoo.models.registry import MODELS, get_model_class, model_names

__all__ = ["MODELS", "GenerativeModel", "OptimizerGroup", "StepOutput", "get_model_class", "model_names"]
