"""Interactive explorers built with ipywidgets, one module per notebook family.

Every explorer is an :class:`Explorer`: a set of named controls and a render function that turns
the controls' values into a matplotlib figure, shown as a PNG in an ``ipywidgets.Image``. Changing a
control re-renders. The same objects work without a browser: set ``explorer.controls["x"].value``
and read ``explorer.image.value`` (PNG bytes) or the explorer's own state, which is how the tests
drive them.

* :mod:`~medgen_nb.widgets.base`: :class:`Explorer`, :class:`SliceViewer` (notebook 00) and the
  scaffolding the others share;
* :mod:`~medgen_nb.widgets.metrics` (notebook 01): :func:`metric_response_explorer`;
* :mod:`~medgen_nb.widgets.latent` (notebook 02): :func:`latent_traversal_explorer`;
* :mod:`~medgen_nb.widgets.gan` (notebook 03): :func:`class_sampler_explorer`,
  :func:`infogan_code_explorer`;
* :mod:`~medgen_nb.widgets.translation` (notebook 04): :func:`translate_explorer`;
* :mod:`~medgen_nb.widgets.diffusion` (notebook 05): :func:`forward_process_explorer`,
  :func:`ddim_steps_explorer`, :func:`guidance_explorer`.
"""

from medgen_nb.widgets.base import Explorer, SliceViewer
from medgen_nb.widgets.diffusion import (
    DDIMStepsExplorer,
    ForwardProcessExplorer,
    GuidanceExplorer,
    ddim_steps_explorer,
    forward_process_explorer,
    guidance_explorer,
)
from medgen_nb.widgets.gan import (
    ClassSampler,
    InfoGANCodeExplorer,
    class_sampler_explorer,
    infogan_code_explorer,
)
from medgen_nb.widgets.latent import LatentTraversal, latent_traversal_explorer
from medgen_nb.widgets.metrics import MetricResponseExplorer, metric_response_explorer
from medgen_nb.widgets.translation import TranslationExplorer, translate_explorer

__all__ = [
    "ClassSampler",
    "DDIMStepsExplorer",
    "Explorer",
    "ForwardProcessExplorer",
    "GuidanceExplorer",
    "InfoGANCodeExplorer",
    "LatentTraversal",
    "MetricResponseExplorer",
    "SliceViewer",
    "TranslationExplorer",
    "class_sampler_explorer",
    "ddim_steps_explorer",
    "forward_process_explorer",
    "guidance_explorer",
    "infogan_code_explorer",
    "latent_traversal_explorer",
    "metric_response_explorer",
    "translate_explorer",
]
