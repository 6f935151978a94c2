"""Every model family; importing this package registers them all."""

# the AE family, the VAE family (vae, ladder, penalties) and the adversarial models (gan family, aae)
from genzoo.models import aae, autoencoder, gan, ladder, vae, vae_penalties  # noqa: F401  (registers them)
from genzoo.models.base import GenerativeModel, OptimizerGroup, StepOutput
from genzoo.models.registry import MODELS, get_model_class, model_names

__all__ = ["MODELS", "GenerativeModel", "OptimizerGroup", "StepOutput", "get_model_class", "model_names"]
