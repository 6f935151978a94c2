"""Every model family; importing this package registers them all."""

from genzoo.models import autoencoder, vae  # noqa: F401
from genzoo.models import ladder, vae_penalties  # noqa: F401  (the rest of the VAE family)
from genzoo.models import aae, gan  # noqa: F401  (adversarial: GAN family, adversarial autoencoder)
from genzoo.models.base import GenerativeModel, OptimizerGroup, StepOutput
from genzoo.models.registry import MODELS, get_model_class, model_names

__all__ = ["MODELS", "GenerativeModel", "OptimizerGroup", "StepOutput", "get_model_class", "model_names"]
