# %% [markdown]
# # 03 · GAN variants: vanilla → DCGAN → cGAN → ACGAN → InfoGAN → WGAN-GP
#
# **What this notebook does.** It compares the six classic GAN designs on the same **simulated**
# brain slices: T1-weighted, T2-weighted, FLAIR and proton-density images of the same heads, so a
# class label is the MR contrast. Five of the six come converged from the course's pretrained zoo
# (`medgen_nb.zoo`), so their results appear in seconds; the vanilla GAN and a fresh DCGAN train
# here for a few hundred steps, so you watch a GAN learn next to a converged one. The notebook
# scores all of them with the medical-feature metrics of notebook 01, checks with an independent
# classifier whether the conditional models draw the contrast they are asked for, shows what *mode
# collapse* looks like, and ends with two interactive samplers: one per contrast and one per
# InfoGAN code.
#
# **Learning objectives**
# - write down the GAN minimax game and say what each variant changes, in one equation each
#   (non-saturating loss, conditional inputs, auxiliary classifier, mutual information, Wasserstein
#   distance with gradient penalty);
# - read GAN training curves (discriminator and generator losses, critic estimate of the
#   Wasserstein distance) and know why a falling generator loss does not mean better images;
# - score generators honestly: FID/KID against held-out subjects with intervals over subjects, an
#   untrained generator and the real-vs-real floor as references;
# - test conditioning: does a sample drawn for "FLAIR" look like FLAIR to a classifier that never
#   saw a generated image? Did InfoGAN find the contrasts without labels?
# - recognise mode collapse and measure it: precision (fidelity) can stay high while recall
#   (diversity) and MMD get worse.
#
# **Review sections (Pang et al. 2025):** §4.2 (GANs) and Fig. 5(a)-(d) (vanilla, conditional,
# auxiliary-classifier and information-maximising GANs); §5.1 and Table 1 (FID, KID, MMD, precision
# and recall as creation metrics); §4.2 also for mode collapse and training instability,
# which it names as what makes GANs hard to train.
#
# **Prerequisites:** notebook 01 (the creation metrics) and notebook 02 (latent-variable models,
# the evaluation protocol). PyTorch basics.
#
# **Runtime and memory**, measured with `make course` on an otherwise idle 2-core CPU with two torch
# threads (2026-12-03). "First run" is the course run in order from an empty cache: it includes
# simulating the data that earlier notebooks have not, and training the models trained here; the
# SMOKE row is also a first run at its small sizes.
#
# | setting | time | kernel peak memory |
# |---|---|---|
# | SMOKE (`SMOKE = True`, what the tests run) | 13 s | 0.67 GiB |
# | lab (the default), first run | 66 s | 0.87 GiB |
# | lab, re-run with a warm cache | 56 s | 0.83 GiB |
# | GPU (`DEVICE = "cuda"`) | not measured | |
#
# The lab default loads the zoo and trains small models next to it; the last cell prints your
# run's time. `TRAIN_FROM_SCRATCH = True` retrains the five zoo models with their recipes instead (the zoo's own
# training times are printed below; use a GPU with `DEVICE = "cuda"`).
#

# %% [raw]
# # ASSIGNMENT CONFIG
# name: 03_gan_variants
# init_cell: false
# check_all_cell: false
# export_cell: false
# run_tests: false
# solutions_pdf: false
# tests:
#   files: true
#   ok_format: false
#

# %%
# Install cell (safe to re-run): installs medgen_nb only where it is missing, e.g. on Colab.
try:
    import medgen_nb
    import otter
except ImportError:
    # %pip install -q "medgen-nb[grade] @ git+https://github.com/medgen-nb/medgen_nb"
    import medgen_nb
    import otter
grader = otter.Notebook("03_gan_variants.ipynb")  # grader.check("question") runs an exercise's public tests

# %% tags=["parameters"]
SMOKE = False  # True: tiny data and a few steps, only checks that every cell runs
DEVICE = "auto"  # "auto" picks cuda, then mps, then cpu
SEED = 0  # seeds data order, weights and every sample drawn below
DATA = "phantom"  # simulated four-contrast brain slices, or grey-scale MedMNIST: "medmnist:pneumoniamnist"
TRAIN_FROM_SCRATCH = False  # True: retrain the five zoo GANs with their recipes (long on a CPU)
LIVE_STEPS = 200  # generator updates of the models trained here (all six on MedMNIST)
BATCH_SIZE = 32  # slices per step of the live runs
N_DRAWS = 20  # subject subsamples behind each interval (the zoo's scores used 100)
CLASS_SAMPLES = 128  # samples per contrast for the conditioning check
RING_STEPS = 1500  # steps of each two-dimensional GAN on the ring of eight Gaussians
RING_RUNS = 3  # training runs per discriminator design (the count of modes varies from run to run)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from medgen_nb import pick_device, seed_everything, tasks, zoo
from medgen_nb.course import headline
from medgen_nb.data.realdata import load_dataset
from medgen_nb.evaluation import as_task_data, fit_or_load, predict, train_vae_baseline
from medgen_nb.evaluation.creation import subsample_intervals
from medgen_nb.metrics import (
    balanced_accuracy, density_coverage, extract_features, fid, kid, mmd, precision_recall,
)
from medgen_nb.models import create
from medgen_nb.models.base import to_unit
from medgen_nb.viz import image_grid
from medgen_nb.zoo.creation import class_accuracy

# %matplotlib inline

notebook_start = time.perf_counter()
SIZE = 32  # the zoo's GANs work at 32 x 32 px: the brain outline, ventricles and contrast stay visible
if SMOKE:  # four subjects fill train/val/test; a few steps only check that everything runs
    LIVE_STEPS, BATCH_SIZE, N_DRAWS, CLASS_SAMPLES = 6, 8, 5, 8
    RING_STEPS, RING_RUNS = 100, 1
PHANTOM = DATA == "phantom"
if not PHANTOM and not DATA.lower().startswith("medmnist:"):
    raise ValueError(
        f"DATA must be 'phantom' or a grey-scale 2-D MedMNIST set such as "
        f"'medmnist:pneumoniamnist' in this notebook, got {DATA!r}"
    )
USE_ZOO = PHANTOM and not TRAIN_FROM_SCRATCH  # the zoo's models learnt from the phantom only
device = pick_device(DEVICE)
seed_everything(SEED)
# named in every figure title and table, so no plot is mistaken for the other data set
DATA_NAME = "simulated MR" if PHANTOM else f"MedMNIST {DATA.partition(':')[2].lower()}"

# %% [markdown]
# ## 1. The game
#
# A GAN (Goodfellow et al. 2014; review §4.2, Fig. 5a) has no encoder and no likelihood. A
# **generator** $G$ maps noise $z \sim p(z) = \mathcal N(0, I)$ to an image $G(z)$; a
# **discriminator** $D(x) \in (0, 1)$ tells real from generated images. They play
#
# $$
# \min_G \max_D \; V(D, G) = \mathbb E_{x \sim p_\text{data}}\big[\log D(x)\big]
# + \mathbb E_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big].
# $$
#
# For a fixed $G$ the best discriminator is $D^*(x) = p_\text{data}(x) / \big(p_\text{data}(x) +
# p_G(x)\big)$, and plugging it in gives $V(D^*, G) = 2\,\mathrm{JS}(p_\text{data} \,\|\, p_G) - \log 4$:
# the generator minimises the Jensen-Shannon divergence to the data. In code $D$ outputs a logit
# $s = \operatorname{logit} D(x)$ and the losses are written with softplus, $-\log\sigma(s) =
# \operatorname{softplus}(-s)$ (`medgen_nb.models.gan_losses`).
#
# **The non-saturating loss.** Early in training $D$ rejects fakes confidently ($s \ll 0$), and
# $\log(1 - \sigma(s))$ is then flat: its gradient $-\sigma(s)$ is nearly zero and $G$ learns
# nothing. Every practical GAN therefore lets $G$ maximise $\log D(G(z))$ instead,
#
# $$
# \mathcal L_G^{\text{NS}} = -\,\mathbb E_z \log \sigma\big(s(G(z))\big),
# \qquad \frac{\partial \mathcal L_G^{\text{NS}}}{\partial s} = -\big(1 - \sigma(s)\big) \approx -1
# \;\text{ when } s \ll 0,
# $$
#
# same fixed point, strong gradients exactly when $G$ is bad. The cell below checks this with
# autograd (its printed output is checked by the test suite).

# %%
# NBVAL_CHECK_OUTPUT
from medgen_nb.models.gan_losses import nonsaturating_g_loss

s = torch.tensor([-6.0, -2.0, 0.0, 2.0], requires_grad=True)  # D's logits for four fakes
saturating = torch.log1p(-torch.sigmoid(s)).sum()  # G *minimises* log(1 - D(G(z)))
(grad_sat,) = torch.autograd.grad(saturating, s)
(grad_ns,) = torch.autograd.grad(nonsaturating_g_loss(s) * len(s), s)  # package loss is a mean
for logit, a, b in zip(s.tolist(), grad_sat.tolist(), grad_ns.tolist(), strict=True):
    print(f"D logit {logit:+.0f}: dL/ds saturating {a:+.3f} | non-saturating {b:+.3f}")

# %% [markdown]
# **One step of the game, written out.** Every model below is trained by the same two updates,
# alternating: first $D$ takes a gradient step on $-\log D(x) - \log(1 - D(G(z)))$ with the fakes
# detached (so only $D$ learns from it), then $G$ takes a step on the non-saturating
# $-\log D(G(z))$ through a $D$ that does not move. The cell writes those lines for a tiny DCGAN,
# runs them next to the package's `train_step` from the same weights and noise, and checks that
# both give the same losses and the same weights afterwards: what the package runs for thousands of
# steps is exactly this.

# %%
# NBVAL_CHECK_OUTPUT
# One training step of the game, written out: a D step, then a G step (non-saturating loss).
import torch.nn.functional as F

from medgen_nb.models import create
from medgen_nb.models.base import StepContext, to_signed


def gan_step(G, D, opt_d, opt_g, x_real, z):
    """x_real (B, 1, S, S) in [-1, 1], z (B, latent) -> (L_D, L_G). D returns logits (B,)."""
    x_fake = G(z)  # (B, 1, S, S) in [-1, 1]
    # D: -log D(x) - log(1 - D(G(z))), with D(.) = sigmoid(logit): softplus(-s) = -log sigmoid(s)
    loss_d = F.softplus(-D(x_real)).mean() + F.softplus(D(x_fake.detach())).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    # G: -log D(G(z)), the non-saturating loss of section 1 (only G's optimiser steps)
    loss_g = F.softplus(-D(x_fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


tiny = dict(in_channels=1, size=16, latent_dim=8, base_channels=8)
x_batch = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(SEED))  # in [0, 1]
mine, package = (create("dcgan", **tiny) for _ in range(2))
package.load_state_dict(mine.state_dict())  # the same initial weights
opts_mine, opts_package = mine.configure_optimizers(), package.configure_optimizers()
torch.manual_seed(SEED)  # the package draws z from the global generator: draw the same z
z = torch.randn(4, tiny["latent_dim"])
losses_mine = gan_step(
    mine.generator, lambda x: mine.discriminate(x, {})[0], opts_mine["d"], opts_mine["g"],
    to_signed(x_batch), z,
)  # fmt: skip
torch.manual_seed(SEED)
logs = package.train_step({"image": x_batch}, opts_package, StepContext())
gap = max((a - b).abs().max().item() for a, b in zip(mine.parameters(), package.parameters()))
print(f"written out: L_D {losses_mine[0]:.4f}, L_G {losses_mine[1]:.4f}")
print(f"package:     L_D {logs['loss_d']:.4f}, L_G {logs['loss_g']:.4f}")
assert abs(losses_mine[0] - logs["loss_d"]) < 1e-5 and abs(losses_mine[1] - logs["loss_g"]) < 1e-5
assert gap < 1e-6, gap
print("weights after the step agree: the notebook's loop is the package's")

# %% [markdown]
# ## 2. Six variants, one change each
#
# | model (`create(name)`) | what changes | the equation |
# |---|---|---|
# | `gan` (Fig. 5a) | fully connected $G$ and $D$ | $V(D, G)$ above, with $\mathcal L_G^{\text{NS}}$ |
# | `dcgan` | strided convolutions, batch norm in $G$, $\mathcal N(0, 0.02)$ init (Radford et al. 2016); here a spectral-norm $D$ | same $V$; $\;\|W\|_\sigma = 1$ per layer of $D$ |
# | `cgan` (Fig. 5b) | the label $y$ enters $G$ (one-hot after $z$) and $D$ (constant maps) | $\min_G \max_D\, \mathbb E\log D(x \mid y) + \mathbb E \log(1 - D(G(z, y) \mid y))$ |
# | `acgan` (Fig. 5c) | $D$ does not see $y$; an auxiliary head classifies real *and* fake images | $\mathcal L_C = \mathbb E[-\log P(C = y \mid x)]$; $D$ maximises $V - \mathcal L_C$, $G$ minimises $\mathcal L_C$ too |
# | `infogan` (Fig. 5d) | unsupervised codes $c$ (categorical + continuous) in $G$'s input; a head $Q$ recovers them | $\min_{G, Q} \max_D\, V - \lambda\, L_I$, $\;L_I = \mathbb E \log Q(c \mid G(z, c)) + H(c) \le I(c; G(z, c))$ |
# | `wgan_gp` | a critic $f$ (no sigmoid) estimates the Wasserstein-1 distance; a gradient penalty keeps it 1-Lipschitz | $\mathcal L_f = \mathbb E f(G(z)) - \mathbb E f(x) + \lambda\, \mathbb E_{\hat x}(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2$ |
#
# In WGAN-GP, $\hat x = \epsilon x + (1 - \epsilon) G(z)$ with $\epsilon \sim U(0, 1)$ per sample,
# $\lambda = 10$, and $f$ takes `n_critic` steps per generator step. Its loss does not saturate, and
# $\mathbb E f(x) - \mathbb E f(G(z))$ is a (rough) estimate of the distance between real and generated
# images that *falls* as the images improve, unlike the JS game's losses.
#
# **Why 32 × 32 pixels.** `benchmarks/bench_models.py` measured a 64 × 64 DCGAN at 12.7 training
# steps/s (batch 16) on an idle 2-core CPU, and WGAN-GP, cGAN and ACGAN slower still; on a laptop
# that is busy with other things, six models at 64 × 64 and batch 32 can take a quarter of an hour.
# At 32 × 32 a convolution costs about 4× less, so the live runs below take seconds.
# The brain outline, ventricles and grey/white contrast stay visible at this size; lesions become a
# few pixels. Set `SIZE = 64` (and `STEPS = 600`) for sharper images if you have a GPU.

# %%
MULTI_LABEL = False
if PHANTOM:  # the zoo's task: the same 40 simulated heads as T1w, T2w, FLAIR and PD slices
    data = tasks.build(tasks.get("brain_mr_by_contrast"), smoke=SMOKE, seed=SEED)
    CLASS_NAMES = data["train"].modalities  # label k is the contrast CLASS_NAMES[k]
else:  # the official splits, resampled to SIZE px; SMOKE keeps the first 64 images of each
    data = load_dataset(DATA, size=SIZE, **({"limit": 64} if SMOKE else {}))
    if data["train"][0]["image"].shape[0] != 1:
        raise ValueError(
            f"{DATA} is an RGB set; the medical feature network behind the metrics reads grey-scale "
            "images, so pick a grey-scale MedMNIST set (e.g. pneumoniamnist, breastmnist, organamnist)"
        )
    # multi-label sets (chestmnist) have no single class per image; the conditional models skip
    MULTI_LABEL = data["train"].multi_label
    CLASS_NAMES = [f"class {k}" for k in range(data["train"].num_classes)]
train, test = data["train"], data["test"]
train_data = as_task_data(train, size=SIZE)  # keys every checkpoint below by these slices
train_labels = train.tensors()["label"]
LABELLED = PHANTOM or not MULTI_LABEL  # one class per image: the conditional GANs can train
if LABELLED:
    counts = torch.bincount(train_labels, minlength=len(CLASS_NAMES))
    print(
        f"{len(train)} training and {len(test)} test slices of {SIZE} x {SIZE} px ({DATA_NAME}); "
        "classes: " + ", ".join(f"{c} {n}" for c, n in zip(CLASS_NAMES, counts, strict=True))
    )
else:
    print(
        f"{len(train)} training and {len(test)} test images of {SIZE} x {SIZE} px ({DATA_NAME}); "
        f"multi-label ({len(CLASS_NAMES)} findings per image): cGAN and ACGAN are skipped below, "
        "they need one class per image"
    )
if PHANTOM:
    print(f"{len(test.subject_ids)} test subjects, none of them seen in training")
    per_class = len(train) // len(CLASS_NAMES)  # the parts hold the same slices, one per contrast
    pick = torch.cat([k * per_class + torch.arange(4) * (per_class // 4) for k in range(len(CLASS_NAMES))])
    titles = [f"{CLASS_NAMES[k]}" if i == 0 else "" for k in range(len(CLASS_NAMES)) for i in range(4)]
    suptitle = "Real training slices, one row of four heads per contrast (simulated phantom, [0, 1])"
else:
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED))[:16]
    titles, suptitle = None, f"Real training slices ({DATA_NAME}, intensities in [0, 1])"
image_grid(train.tensors()["image"][pick], ncols=8, titles=titles, suptitle=suptitle);

# %% [markdown]
# **Where the models come from.** The five convolutional GANs load from the zoo: each was trained
# once on these slices with a recipe (steps, batch, a cosine learning-rate decay, an exponential
# moving average of the generator's weights, left-right flips), and the zoo stores its held-out
# scores with intervals. Spectral-norm discriminators at learning rate $5 \cdot 10^{-4}$ keep the
# game balanced; WGAN-GP keeps its own optimiser (Adam with $\beta_1 = 0$) and takes two critic
# steps per generator step (the paper uses five). The vanilla GAN trains here for `LIVE_STEPS`
# generator updates, and so does a fresh DCGAN, so section 3 can show live training curves and
# section 4 a model after a few hundred steps next to the converged one. The next cell prints each
# zoo model's recipe and training time.

# %%
common = dict(in_channels=1, size=SIZE, latent_dim=64, base_channels=32)
sn = dict(spectral_norm=True, lr=5e-4)
CONFIGS = {
    "gan": dict(in_channels=1, size=SIZE, latent_dim=64, base_channels=16),  # MLP, 128 hidden units
    "dcgan": dict(common, **sn),
    "cgan": dict(common, **sn, num_classes=len(CLASS_NAMES)),
    "acgan": dict(common, **sn, num_classes=len(CLASS_NAMES)),
    "infogan": dict(common, **sn, categorical_dim=4, continuous_dim=2),
    "wgan_gp": dict(common, lr=5e-4, n_critic=2),
}
ZOO_NAMES = {name: f"{name}_mr_contrast_32" for name in ("dcgan", "cgan", "acgan", "infogan", "wgan_gp")}
if not LABELLED:
    print("cgan and acgan skipped: they need one class label per image, this set is multi-label")
    CONFIGS = {n: c for n, c in CONFIGS.items() if n not in ("cgan", "acgan")}
if SMOKE:  # the live models shrink; the zoo's models are what they are
    CONFIGS = {name: {**cfg, "base_channels": 4, "latent_dim": 8} for name, cfg in CONFIGS.items()}


def train_live(name, config):
    seed_everything(SEED)  # same initial noise for every model
    model = create(name, **config)
    steps = LIVE_STEPS * config.get("n_critic", 1)  # the same number of generator updates for all
    # keyed by the run record (config, data, steps, batch, seed): a finished run is loaded
    run = fit_or_load(model, train_data, steps, batch_size=BATCH_SIZE, seed=SEED, device=device)
    return model, run.history, steps


models, histories, train_seconds = {}, {}, {}
for name, config in CONFIGS.items():
    start = time.perf_counter()
    if PHANTOM and name in ZOO_NAMES:
        recipe = zoo.entry(ZOO_NAMES[name])["recipe"]
        if USE_ZOO:
            models[name] = zoo.load(ZOO_NAMES[name], device)
        else:  # the zoo's recipe, run here
            models[name] = zoo.fit_recipe(ZOO_NAMES[name], data, device=device)
        took = zoo.entry(ZOO_NAMES[name])["training"]["wall_s"]
        print(
            f"{name:>8}: {'zoo' if USE_ZOO else 'retrained from the zoo recipe'}, {recipe['steps']} "
            f"steps of batch {recipe['batch_size']} ({took / 60:.0f} min on one CPU core when the zoo "
            f"trained it), {time.perf_counter() - start:5.1f} s in this run"
        )
    else:
        models[name], histories[name], steps = train_live(name, config)
        print(
            f"{name:>8}: {steps} steps, {histories[name].wall_time:5.1f} s of training when it was "
            f"trained, {time.perf_counter() - start:5.1f} s in this run"
        )
    train_seconds[name] = time.perf_counter() - start  # ~0 when loaded
if PHANTOM:  # a fresh DCGAN, trained here for the same few steps as the vanilla GAN
    start = time.perf_counter()
    models["live dcgan"], histories["live dcgan"], steps = train_live("dcgan", CONFIGS["dcgan"])
    train_seconds["live dcgan"] = time.perf_counter() - start
    print(f"live dcgan: {steps} steps, {train_seconds['live dcgan']:5.1f} s in this run")


# %% [markdown]
# ## 3. Training curves
#
# A GAN's losses are not a progress bar: $D$ and $G$ chase each other, so the curves oscillate
# around an equilibrium instead of going to zero. Watch instead for the failure signs: $D$'s loss
# near 0 with $G$'s climbing (the discriminator has won, $G$ gets no signal), or wild swings.
# For WGAN-GP the critic's estimate $\mathbb E f(x) - \mathbb E f(G(z))$ is meaningful on its own:
# it should fall as the samples improve, and the gradient penalty stays small when the critic is
# close to 1-Lipschitz. The curves below are the runs trained in this session; the zoo keeps only
# each model's final losses, printed underneath.

# %%
def smooth(values, k):
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="valid")


fig, axes = plt.subplots(2, 3, figsize=(12, 5.5))
for ax in axes.flat[len(histories) :]:  # fewer live runs than panels
    ax.set_visible(False)
for ax, (name, h) in zip(axes.flat, histories.items(), strict=False):
    keys = ["wasserstein_estimate", "loss_gp"] if name == "wgan_gp" else ["loss_d_gan", "loss_g_gan"]
    keys += [k for k in ("loss_d_cls", "loss_info") if k in h.logs]
    for key in keys:
        ax.plot(smooth(h.logs[key], 20), label=key)
    ax.set_title(name)
    ax.set_xlabel("step (running mean of 20)", fontsize=8)
    ax.legend(fontsize=7)
fig.suptitle(
    f"Training curves of this session's runs on {DATA_NAME} slices (losses in nats; WGAN-GP: per critic step)"
)
fig.tight_layout()
if PHANTOM:
    for name, zoo_name in ZOO_NAMES.items():
        final = zoo.entry(zoo_name)["training"]["final_losses"]
        shown = {k: round(v, 3) for k, v in final.items() if k.startswith(("loss_d", "loss_g", "wasserstein"))}
        print(f"{name:>8} (zoo), mean of its last 100 steps: {shown}")

# %% [markdown]
# ## 4. Samples
#
# Every model gets the same noise (seed `SEED`); the conditional models draw one sample per test
# slice with that slice's label, so their class mix is the test set's; the unconditional ones draw
# as many samples and choose their own mix. Compare with the real slices above, and the live DCGAN
# (a few hundred steps) with the zoo's DCGAN (the same network, converged).

# %%
test_tensors = test.tensors()
test_images = test_tensors["image"]
n_eval = len(test_images)  # every test slice: N >= 640 on the phantom (notebook 01's rule for 128-D features)
eval_labels = test_tensors["label"] if LABELLED else None
# subjects of the test slices: the intervals resample them (MedMNIST: one image, one subject)
test_subjects = test_tensors.get("subject", torch.arange(n_eval))


def draw(model, n=n_eval):
    # n samples (n, 1, SIZE, SIZE) in [0, 1] with the notebook's fixed seed
    if getattr(model, "conditional", False):
        return predict(model, labels=eval_labels[:n], batch_size=256, seed=SEED)
    return predict(model, n=n, batch_size=256, seed=SEED)


samples = {name: draw(model) for name, model in models.items()}
shown = torch.linspace(0, n_eval - 1, 8).long()  # spread over the test set (all contrasts)
rows = torch.cat([s[shown] for s in samples.values()])
titles = [name if i % 8 == 0 else "" for i, name in enumerate(n for n in samples for _ in range(8))]
image_grid(
    rows,
    ncols=8,
    titles=titles,
    suptitle=f"Generated slices ({DATA_NAME}; one row per model; [0, 1])",
);

# %% [markdown]
# ## 5. Which model is best? Metrics against held-out subjects
#
# The protocol is notebook 01's: real = every slice of the test subjects (never seen in training),
# fake = as many samples with a fixed seed, features from the shipped `MedicalFeatureNet` (so "FID"
# here is a Fréchet distance on medical features, review §5.1, Table 1), and 95 % intervals from
# subsampling *subjects*. Three references put the numbers on a scale:
#
# - **floor**: real vs real, the test slices of one half of the subjects against the other half,
#   what a perfect generator would score (at that half size, so slightly pessimistic);
# - **untrained**: the DCGAN and WGAN-GP generators with their initial weights (same seed): a
#   trained GAN must beat these by far (the honest baseline);
# - **VAE**: notebook 02's model family on the same slices (from the zoo on the phantom; on
#   MedMNIST trained here with the same budget as the GANs). Review §4.1 describes VAE samples as
#   blurry; the table shows whether the features notice.
#
# FID has an upward bias at small $N$, so only numbers at the same $N$ and image size are
# comparable; every row here uses the same $N$ and `SIZE`. Precision asks "does each fake look like
# some real slice?" (fidelity), recall asks "is each real slice close to some fake?" (diversity,
# Kynkäänniemi et al. 2019). KID is an unbiased kernel distance
# (an MMD on the features); section 6 uses MMD itself.

# %%
f_test = extract_features(test_images)  # (n_eval, 128)
references = {}
for name in ("dcgan", "wgan_gp"):
    seed_everything(SEED)  # the initial weights a run with this seed starts from
    references[f"untrained {name}"] = draw(create(name, **CONFIGS[name]))
if USE_ZOO:
    vae = zoo.load("vae_mr_contrast_32", device)
else:
    vae = train_vae_baseline(  # cached by its run record: a re-run loads it
        train, size=SIZE, steps=LIVE_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device
    )
references["VAE"] = draw(vae)

def fid_only(real, fake):  # the statistic behind the interval (FID is cheap to recompute)
    return {"fid": fid(real, fake, warn_small_n=False)}


def score(images):
    f_fake = extract_features(images)
    fid_ci = subsample_intervals(fid_only, f_test, test_subjects, f_fake, n_draws=N_DRAWS, seed=SEED)["fid"]
    return {"fid": fid_ci[0], "fid_ci": fid_ci, "kid": kid(f_test, f_fake), **precision_recall(f_test, f_fake),
            **density_coverage(f_test, f_fake)}


rows = {name: score(images) for name, images in {**samples, **references}.items()}
ids = torch.unique(test_subjects)
# one half of the test subjects against the other (SMOKE has one test subject: alternate slices)
half = torch.isin(test_subjects, ids[: len(ids) // 2]) if len(ids) > 1 else torch.arange(n_eval) % 2 == 0
m = int(min(half.sum(), (~half).sum()))
floor_real, floor_other = f_test[half][:m], f_test[~half][:m]
rows["real vs real (floor)"] = {
    "fid": fid(floor_real, floor_other), "kid": kid(floor_real, floor_other),
    **precision_recall(floor_real, floor_other), **density_coverage(floor_real, floor_other),
}
rows["real vs real (floor)"]["fid_ci"] = (rows["real vs real (floor)"]["fid"], float("nan"), float("nan"))

print(f"N = {n_eval} per set, {SIZE} x {SIZE} px, {DATA_NAME}; FID [95 % interval over subjects]")
print(f"(the floor compares the two halves of the {len(ids)} test subjects, N = {m} each)")
if not PHANTOM:
    print("(the feature network was trained on simulated phantoms: on real images it is a proxy)")
print(f"{'':>22} {'FID [95 % interval]':>24} {'KID':>8} {'prec.':>6} {'recall':>6} {'dens.':>6} {'cover.':>6}")
for name, r in rows.items():
    value, low, high = r["fid_ci"]
    fid_text = f"{value:.2f} [{low:.2f}, {high:.2f}]"
    print(
        f"{name:>22} {fid_text:>24} {r['kid']:8.4f} {r['precision']:6.2f} {r['recall']:6.2f}"
        f" {r['density']:6.2f} {r['coverage']:6.2f}"
    )
image_grid(
    torch.cat([samples["wgan_gp"][shown], references["VAE"][shown]]),
    ncols=8,
    titles=["WGAN-GP"] + [""] * 7 + ["VAE"] + [""] * 7,
    suptitle=f"WGAN-GP (top) vs VAE (bottom) samples ({DATA_NAME}; [0, 1])",
);

# %%
trained = {name: rows[name]["fid"] for name in models}
best = min(trained, key=trained.get)
for name in ("dcgan", "wgan_gp"):
    ratio = rows[f"untrained {name}"]["fid"] / max(rows[name]["fid"], 1e-9)
    print(
        f"{name}: FID {rows[name]['fid']:.2f} trained vs {rows[f'untrained {name}']['fid']:.2f} "
        f"untrained ({ratio:.1f}x closer to real); floor {rows['real vs real (floor)']['fid']:.2f}"
    )
if PHANTOM:
    print(
        f"live dcgan after {LIVE_STEPS} steps: FID {rows['live dcgan']['fid']:.2f}; the zoo's "
        f"converged dcgan: {rows['dcgan']['fid']:.2f}"
    )
vae_fid = rows["VAE"]["fid"]
print(
    f"VAE: FID {vae_fid:.2f}; "
    + ", ".join(f"{n} {'beats' if trained[n] < vae_fid else 'does not beat'} it" for n in models)
)
if not SMOKE:  # the honest baseline: training must move samples towards the data
    for name in ("dcgan", "wgan_gp"):
        assert rows[name]["fid"] < rows[f"untrained {name}"]["fid"], (
            f"{name} did not beat its untrained generator"
        )
headline(
    best_model=best,
    best_fid=round(trained[best], 2),
    dcgan_fid=round(rows["dcgan"]["fid"], 2),
    untrained_dcgan_fid=round(rows["untrained dcgan"]["fid"], 2),
    vae_fid=round(vae_fid, 2),
    wgan_gp_fid=round(rows["wgan_gp"]["fid"], 2),
    wgan_gp_recall=round(rows["wgan_gp"]["recall"], 2),
    floor_fid=round(rows["real vs real (floor)"]["fid"], 2),
    size_px=SIZE,
    n_eval=n_eval,
)

# %% [markdown]
# ## 6. Mode collapse, shown and measured
#
# *Mode collapse* (named in review §4.2) is the generator's cheapest way to fool a discriminator: produce a
# few convincing images and ignore the rest of the data. Each sample can look perfect, so a
# fidelity metric does not see it; only a diversity metric does.
#
# To see the effect in isolation we collapse a trained generator *deliberately*: feed it
# $z \cdot t$ with a shrinking scale $t$ (the "truncation trick" pushed to its limit). At $t = 1$ it
# is the trained model; as $t \to 0$ every sample becomes the same image, a generator with one mode
# (we stop at $t = 0.02$: with identical samples the MMD estimator is undefined).
# We measure precision, recall and MMD at each $t$ (this is the lesson, so the two lines that call
# the generator network directly are written out).

# %%
collapse_model = models["wgan_gp"]  # the variant designed to resist collapse
n_collapse = min(n_eval, 640)  # MMD costs N^2: 640 slices spread over the test set (all contrasts)
f_ref = f_test[torch.linspace(0, n_eval - 1, n_collapse).long()]
z = torch.randn(n_collapse, collapse_model.latent_dim, generator=torch.Generator().manual_seed(SEED))
scales = [1.0, 0.5, 0.25, 0.1, 0.02]  # t = 0 exactly: every sample identical (MMD undefined)
collapse = {}
with torch.no_grad():
    for t in scales:
        fake = to_unit(
            collapse_model.generator(t * z.to(collapse_model.device))
        ).cpu()  # (n, 1, S, S)
        f_fake = extract_features(fake)
        collapse[t] = dict(
            images=fake[:8], mmd=mmd(f_ref, f_fake), **precision_recall(f_ref, f_fake)
        )
        print(
            f"t = {t:4.2f}: precision {collapse[t]['precision']:.2f}, recall {collapse[t]['recall']:.2f}, "
            f"MMD {collapse[t]['mmd']:.4f}"
        )

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
axes[0].plot(scales, [collapse[t]["precision"] for t in scales], "o-", label="precision (fidelity)")
axes[0].plot(scales, [collapse[t]["recall"] for t in scales], "s-", label="recall (diversity)")
axes[0].set_xlabel("noise scale t (1 = trained model, 0.02 = nearly one image)")
axes[0].set_ylabel("fraction in [0, 1]")
axes[0].invert_xaxis()
axes[0].legend(fontsize=8)
axes[1].plot(scales, [collapse[t]["mmd"] for t in scales], "o-", color="C3")
axes[1].set_xlabel("noise scale t")
axes[1].set_ylabel("MMD² to test slices (feature units)")
axes[1].invert_xaxis()
fig.suptitle(f"Deliberate mode collapse of the WGAN-GP generator ({DATA_NAME})")
fig.tight_layout()
image_grid(
    torch.cat([collapse[t]["images"] for t in (1.0, 0.25, 0.02)]),
    ncols=8,
    titles=[f"t = {t}" if i == 0 else "" for t in (1.0, 0.25, 0.02) for i in range(8)],
    suptitle=f"Same 8 noise vectors at t = 1, 0.25, 0.02 ({DATA_NAME}; [0, 1])",
);

# %% [markdown]
# Recall falls towards zero as the generator collapses: a handful of nearly identical images is
# close to only a few real slices, and MMD rises with it. Precision may fall as well, because the
# image at $z \approx 0$ is a smooth "average" slice that lies off the real manifold. In a *natural*
# collapse the surviving mode is a realistic image, and then precision stays high while only recall
# and MMD warn you. This is why review Table 1 pairs fidelity metrics with diversity ones: a
# fidelity score alone says nothing about coverage.
#
# Now look back at the table of section 5 and compare each model's recall with the floor's (real
# vs real), and the live DCGAN's with the zoo's. A model can miss the data in two ways: *not
# trained enough* (precision and recall both low: its samples are far from every real slice) or
# *collapsed* (precision high, recall low). Here a collapse also has a visible meaning: a generator
# that draws only two of the four contrasts has lost half the modes. The next cell prints the
# recalls; Exercise 3 lets you provoke a collapse yourself.
#
# Read recall together with **coverage**. Recall asks whether each real slice lies inside the
# k-nearest-neighbour ball of some *generated* sample, and a few outlying fakes have huge balls
# that swallow many real slices: recall can then sit at or above the floor although most samples
# are poor (Naeem et al. 2020). Density and coverage build their balls around the *real* slices
# only, so outliers cannot inflate them: coverage is the share of real slices with a generated
# sample inside their ball, and density (about 1 when the two sets match) counts how crowded those
# balls are. High recall with low coverage and density means samples spread off the data rather
# than covering it.

# %%
recalls = {name: rows[name]["recall"] for name in models}
print(
    f"recall per model (floor: real vs real = {rows['real vs real (floor)']['recall']:.2f}):",
    ", ".join(f"{name} {r:.2f}" for name, r in recalls.items()),
)
print(f"lowest recall: {min(recalls, key=recalls.get)}; highest: {max(recalls, key=recalls.get)}")
print(
    f"coverage per model (floor {rows['real vs real (floor)']['coverage']:.2f}):",
    ", ".join(f"{name} {rows[name]['coverage']:.2f}" for name in models),
)

# %% [markdown]
# ### Mode collapse where you can see it: eight points on a ring
#
# A 1024-pixel image distribution cannot be plotted, so collapse above had to be measured through
# features. In two dimensions it can be watched. The data are an equal mixture of eight Gaussians on
# a circle (standard deviation 0.02, radius 2), the test bed of Metz et al. (2017); a generator that
# collapses puts its samples on a few of the eight. A sample is *on a mode* when it lies within 0.2
# (a tenth of the radius) of a centre, and a mode is *covered* when it holds at least a tenth of its
# fair share of the samples (after Srivastava et al. 2017, who use three standard deviations for
# fully trained generators).
#
# Two discriminators play against the same generator design, with the same non-saturating loss,
# learning rates and steps:
# - **vanilla**: $D$ scores one point at a time;
# - **packed** (PacGAN, Lin et al. 2018): $D$ scores two points at once, concatenated. A generator
#   that draws one mode now produces pairs that are too alike, which a single-sample discriminator
#   cannot see, so the packed $D$ can punish a lack of diversity directly.
#
# The loop below is the whole algorithm: one discriminator step and one generator step, as in
# section 1, with the package's loss functions. Each design trains `RING_RUNS` times, and the runs
# share the loop: `mlp(..., copies=R)` holds R independent networks, each run with its own initial
# weights and noise, evaluated in one batched product. Summing the runs' losses gives each run the
# gradient of its own loss, and Adam updates every weight on its own, so this is R separate
# trainings done at once, a little faster than one after another.

# %%
from medgen_nb.data.points2d import ring_centres, ring_of_gaussians
from medgen_nb.metrics.points2d import mode_coverage
from medgen_nb.models.gan_losses import nonsaturating_d_loss, nonsaturating_g_loss
from medgen_nb.models.mlp2d import mlp
from medgen_nb.viz import point_panels

RING_STD, Z_DIM, RING_BATCH = 0.02, 64, 256
ON_MODE = 0.2  # a sample within a tenth of the radius of a centre counts for that mode
centres = ring_centres(8, radius=2.0)


def train_ring_gans(pack, seed, runs=RING_RUNS, steps=RING_STEPS):
    # pack = points the discriminator sees at once: 1 vanilla, 2 PacGAN.
    # `runs` independent GANs train side by side: copy r of G only ever meets copy r of D.
    R, B = runs, RING_BATCH
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    G = mlp(Z_DIM, 2, copies=R)  # (R, B, Z) -> (R, B, 2)
    D = mlp(2 * pack, 1, copies=R)  # (R, B / pack, 2 pack) -> (R, B / pack, 1)
    opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.999))
    z_show = torch.randn(R, 1000, Z_DIM, generator=g)  # the same noise for every snapshot
    snapshots = {}
    for step in range(1, steps + 1):
        real = ring_of_gaussians(R * B, std=RING_STD, generator=g)[0].reshape(R, B, 2)
        fake = G(torch.randn(R, B, Z_DIM, generator=g)).detach()
        d_real, d_fake = D(real.reshape(R, -1, 2 * pack)), D(fake.reshape(R, -1, 2 * pack))
        loss_d = R * nonsaturating_d_loss(d_real, d_fake)  # D step (R x the mean: a sum over runs)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(R, B, Z_DIM, generator=g))  # fresh noise for the G step
        loss_g = R * nonsaturating_g_loss(D(fake.reshape(R, -1, 2 * pack)))  # G step: fool D
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step in (steps // 5, steps // 2, steps):
            with torch.no_grad():
                snapshots[step] = G(z_show)  # (R, 1000, 2)
    return [{k: v[r] for k, v in snapshots.items()} for r in range(R)]  # one dict per run


t0 = time.perf_counter()
ring_runs = {}
for name, pack in (("vanilla", 1), ("packed", 2)):
    for r, snaps in enumerate(train_ring_gans(pack, SEED)):
        ring_runs[name, r] = snaps
ring_seconds = time.perf_counter() - t0
ring_modes = {key: mode_coverage(snaps[RING_STEPS], centres, tolerance=ON_MODE) for key, snaps in ring_runs.items()}
print(f"{len(ring_runs)} runs of {RING_STEPS} steps in {ring_seconds:.0f} s")
print(f"{'discriminator':>14s} " + " ".join(f"{'run ' + str(r + 1):>14s}" for r in range(RING_RUNS))
      + f" {'mean modes':>11s}")
for name in ("vanilla", "packed"):
    cells = [ring_modes[name, r] for r in range(RING_RUNS)]
    print(f"{name:>14s} " + " ".join(f"{c['modes']} of 8, {c['high_quality']:.0%} on" for c in cells)
          + f" {np.mean([c['modes'] for c in cells]):11.2f}")
steps_shown = sorted(ring_runs["vanilla", 0])
real_ring, _ = ring_of_gaussians(1000, std=RING_STD, generator=torch.Generator().manual_seed(SEED))
point_panels(
    {f"{name}, run {r + 1}": [ring_runs[name, r][k] for k in steps_shown]
     for name in ("vanilla", "packed") for r in range(min(RING_RUNS, 2))},
    [f"step {k}" for k in steps_shown], reference=real_ring,
    suptitle="GAN samples (red) on the ring of eight Gaussians (grey): two discriminator designs",
)  # fmt: skip
plt.show()

# %% [markdown]
# Read the mean-modes column first, then the pictures. The vanilla discriminator judges each point
# on its own, so a generator that parks its samples on a few well-drawn modes loses nothing that
# discriminator can see; whether a run collapses, and onto how many modes, varies from run to run,
# which is why each design trains several times. The packed discriminator sees two samples together; pairs
# from a collapsed generator are too alike to pass for two independent real points, and the
# generator is pushed out towards the empty modes. The image-level numbers above measure the same
# failure indirectly: a recall or coverage below the real-vs-real floor means real slices whose
# neighbourhood no sample reaches, the image-space version of an empty mode.

# %% [markdown]
# ## 6b. Do the conditional models draw what they are asked for?
#
# A realistic sample of the wrong contrast is a failure that FID barely sees, since the test set
# holds all four contrasts. We check obedience with a **judge**: a small CNN classifier from the
# zoo, trained only on real training slices to name the contrast. First its accuracy on the real
# test slices (it must be near perfect for its verdict on samples to mean anything), then, for
# each conditional model, `CLASS_SAMPLES` samples per contrast and the judge's balanced accuracy on
# them, with a bootstrap interval over samples. InfoGAN was never told the contrast: we ask whether
# each value of its categorical code settled on one contrast, after matching codes to contrasts in
# the way that fits best (the matching is printed).

# %%
conditioning = {}
if not PHANTOM:
    print("The judge knows the phantom's four contrasts only; on this data set, judge the class sampler below by eye")
else:
    judge = zoo.load("judge_mr_contrast_32", device)
    real_accuracy = float(balanced_accuracy(preds=judge.predict(test_images.to(judge.device)).cpu(), target=eval_labels))
    print(f"judge on the {n_eval} real test slices: balanced accuracy {real_accuracy:.3f}")
    for name in ("cgan", "acgan", "infogan"):
        out = class_accuracy(models[name], judge, len(CLASS_NAMES), {}, n_per_class=CLASS_SAMPLES, seed=SEED)
        conditioning[name] = out
        ba = out["balanced_accuracy"]
        matched = ""
        if out["code_to_class"] is not None:
            matched = "; code -> contrast: " + ", ".join(
                f"{c} -> {CLASS_NAMES[k]}" for c, k in enumerate(out["code_to_class"])
            )
        print(
            f"{name:>8}: balanced accuracy {ba['value']:.3f} [{ba['ci_low']:.3f}, {ba['ci_high']:.3f}] "
            f"over {out['samples']} samples; per contrast "
            + ", ".join(f"{c} {a:.2f}" for c, a in zip(CLASS_NAMES, out["per_class"], strict=True))
            + matched
        )
    headline(
        judge_real_accuracy=round(real_accuracy, 3),
        **{f"{n}_class_accuracy": round(o["balanced_accuracy"]["value"], 3) for n, o in conditioning.items()},
    )

# %% [markdown]
# ## 7. Explore: class-conditional samples and InfoGAN codes
#
# **Class sampler.** The ACGAN was told the contrast of each training slice. Pick a contrast and a
# seed: the same noise with another contrast shows what the label changes (the anatomy should stay
# similar while the tissue intensities change, as when the same head is scanned with another
# sequence).
#
# **InfoGAN codes.** InfoGAN was *not* told anything; its categorical code (4 values) and two
# continuous codes were free, and the mutual-information term made them matter. Section 6b showed
# which contrast each categorical value took on; move the sliders of the continuous codes and see
# what they took on (often slice level, head size or brightness). Values beyond ±1 lie outside the
# prior the codes were trained with.

# %%
from IPython.display import display

from medgen_nb.widgets import class_sampler_explorer, infogan_code_explorer

if "acgan" in models:
    class_sampler = class_sampler_explorer(models["acgan"], CLASS_NAMES)
    display(class_sampler)  # the widget, as a bare last line would show it
else:
    print("class sampler skipped: no ACGAN was trained (a multi-label set has no single class)")

# %%
code_explorer = infogan_code_explorer(models["infogan"], n=8)
code_explorer

# %% [markdown]
# ## What to take away
#
# - All six variants share one game: $D$ (or a critic) scores real vs generated images and $G$
#   moves its samples to where the score says "real". Each variant changes one thing: the loss
#   (non-saturating, Wasserstein + gradient penalty), the architecture (convolutions, spectral
#   norm), or what the networks are told (a class label, a free code whose information $Q$ must
#   recover).
# - Loss curves of a GAN oscillate; judge models by metrics on held-out subjects, always next to
#   references (an untrained generator, the real-vs-real floor) and with intervals.
# - A conditional generator must be checked for *obedience*, not only for realism: an independent
#   classifier that reaches near-perfect accuracy on real slices tells you whether samples drawn
#   for a contrast look like it. InfoGAN's codes carry no names; match them to classes before you
#   score them, and report the matching.
# - Compare families at one size and one budget, and quote the budget with every such comparison:
#   the live DCGAN and the zoo's DCGAN are the same network after different amounts of training.
# - Mode collapse hides from fidelity metrics. Precision stays high while recall and MMD show the
#   missing diversity, which is why a creation study should report both (review §5.1).
# - Everything here is trained on **simulated** slices at 32 × 32: the ranking of the variants can
#   change with more compute, and none of this says anything about clinical data.

# %% [markdown]
# ## 8. Exercises
#
# Each exercise has a cell for your answer, followed by a `grader.check(...)` cell that runs its public tests. A course's autograder adds hidden tests that compare your values with the reference, so a blank or wrong answer scores zero.
#
# **Exercise 1 - implement the gradient penalty.** Write `my_gradient_penalty(critic, real, fake,
# eps)` that returns $\mathbb E\big(\|\nabla_{\hat x} f(\hat x)\|_2 - 1\big)^2$ with $\hat x =
# \epsilon\, x_\text{real} + (1 - \epsilon)\, x_\text{fake}$, where `eps` has shape `(B, 1, 1, 1)`.
# Hints: `x_hat.requires_grad_(True)`, `torch.autograd.grad(..., create_graph=True)`, and the norm is
# per sample over all pixels. The tests compare it with
# `medgen_nb.models.gan_losses.gradient_penalty` on the trained WGAN-GP critic, using the same `eps`
# (the next cell sets up the critic, a batch and `eps`).

# %%
from medgen_nb.models.base import to_signed
from medgen_nb.models.gan_losses import gradient_penalty

wgan = models["wgan_gp"]


def critic(x):
    return wgan.discriminate(x, {})[0]  # (B,) critic scores of images in [-1, 1]


real_signed = to_signed(test_images[:8]).to(wgan.device)
fake_signed = to_signed(samples["wgan_gp"][:8]).to(wgan.device)
eps = torch.rand(8, 1, 1, 1, generator=torch.Generator().manual_seed(SEED)).to(wgan.device)


# %% [raw]
# # BEGIN QUESTION
# name: gradient_penalty
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the WGAN-GP penalty E (||grad f(x_hat)||_2 - 1)^2, a scalar tensor
def my_gradient_penalty(critic, real, fake, eps):
    # BEGIN SOLUTION
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)  # (B, C, H, W)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    # END SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_gradient_penalty_matches_the_package(
    my_gradient_penalty, gradient_penalty, critic, real_signed, fake_signed, eps, SEED, torch
):
    mine = my_gradient_penalty(critic, real_signed, fake_signed, eps)
    assert torch.is_tensor(mine) and mine.ndim == 0, "return a scalar tensor (the mean over the batch)"
    assert mine.requires_grad, "use create_graph=True, or the penalty cannot train the critic"
    reference = gradient_penalty(critic, real_signed, fake_signed, generator=torch.Generator().manual_seed(SEED))
    assert torch.allclose(mine, reference, rtol=1e-4, atol=1e-6), (
        f"you got {mine.item():.5f}, the package {reference.item():.5f}: take the L2 norm of each "
        "sample's whole gradient (flatten(1).norm(dim=1)), subtract 1, square, then average"
    )


test_gradient_penalty_matches_the_package(
    my_gradient_penalty, gradient_penalty, critic, real_signed, fake_signed, eps, SEED, torch
)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 2 - which loss does the WGAN critic use?** Set `my_critic_loss` to the *name* of the
# adversarial loss in `medgen_nb.models.gan_losses.GAN_LOSSES` that the WGAN-GP critic minimises
# (before the gradient penalty is added), and `my_sign` to the sign of the critic's loss on a batch
# where it scores real images higher than fakes: `+1` or `-1`. Then explain in one sentence why
# the critic needs a Lipschitz constraint with this loss but a discriminator with the
# non-saturating loss does not.

# %% [raw]
# # BEGIN QUESTION
# name: critic_loss
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer
my_critic_loss = models["wgan_gp"].gan_loss.name  # SOLUTION
my_sign = -1  # SOLUTION
# BEGIN SOLUTION NO PROMPT
# L_f = E f(G(z)) - E f(x) < 0 when real scores are higher. Without a constraint the critic could
# scale its scores up without bound and the loss would go to minus infinity; the logistic loss
# saturates at 0, so a classifier's loss is bounded below.
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_critic_loss_is_a_loss_name(my_critic_loss, my_sign):
    from medgen_nb.models.gan_losses import GAN_LOSSES

    assert my_critic_loss in GAN_LOSSES, f"choose one of {sorted(GAN_LOSSES)}"
    assert my_sign in (1, -1), "my_sign is +1 or -1"


test_critic_loss_is_a_loss_name(my_critic_loss, my_sign)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_critic_loss_value(my_critic_loss, my_sign, models, torch):
    from medgen_nb.models.gan_losses import GAN_LOSSES

    assert my_critic_loss == models["wgan_gp"].gan_loss.name, (
        "the critic outputs an unbounded score f(x), and its loss is E f(G(z)) - E f(x)"
    )
    value = GAN_LOSSES[my_critic_loss].d(torch.tensor([2.0, 3.0]), torch.tensor([-1.0, 0.0]))
    assert my_sign == int(torch.sign(value)), "E f(G(z)) - E f(x) with f(x) > f(G(z)) is negative"


test_critic_loss_value(my_critic_loss, my_sign, models, torch)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 3 - provoke collapse yourself.** Train a vanilla `gan` with `latent_dim=2` (a generator
# that can only draw a 2-D sheet of images) and otherwise `CONFIGS["gan"]`, for `LIVE_STEPS` steps
# with `fit_or_load(model, train_data, LIVE_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device)`.
# Put the trained model in `my_collapse_model` and its precision and recall against `f_test`, as in
# section 5 (`precision_recall(f_test, extract_features(draw(model)))`), in `my_collapse_pr`. Does
# recall fall below the `latent_dim=64` vanilla GAN's (`rows["gan"]`)? Does precision? Write one
# sentence on what the two numbers say.

# %% [raw]
# # BEGIN QUESTION
# name: collapse
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: a trained vanilla GAN with a 2-D latent space and its {"precision", "recall"}
# BEGIN SOLUTION NO PROMPT
seed_everything(SEED)
# END SOLUTION
my_collapse_model = create("gan", **{**CONFIGS["gan"], "latent_dim": 2})  # SOLUTION
# BEGIN SOLUTION NO PROMPT
fit_or_load(my_collapse_model, train_data, LIVE_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device)
# END SOLUTION
my_collapse_pr = precision_recall(f_test, extract_features(draw(my_collapse_model)))  # SOLUTION
# BEGIN SOLUTION NO PROMPT
print({k: round(v, 3) for k, v in my_collapse_pr.items()}, "vs latent_dim = 64:",
      {k: round(rows["gan"][k], 3) for k in ("precision", "recall")})
# A 2-D code can only trace a sheet through image space: the samples cover fewer of the real
# slices' neighbourhoods (recall), while each sample can still look like some real slice (precision).
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_collapse_model_and_scores(my_collapse_model, my_collapse_pr):
    from medgen_nb.models.gan import VanillaGAN

    assert isinstance(my_collapse_model, VanillaGAN), "my_collapse_model is the vanilla gan you trained"
    assert my_collapse_model.latent_dim == 2, "create the vanilla gan with latent_dim=2"
    assert set(my_collapse_pr) >= {"precision", "recall"}, "my_collapse_pr has 'precision' and 'recall'"
    assert all(0.0 <= my_collapse_pr[k] <= 1.0 for k in ("precision", "recall"))


test_collapse_model_and_scores(my_collapse_model, my_collapse_pr)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_collapse_scores_are_the_models(
    my_collapse_model, my_collapse_pr, precision_recall, extract_features, draw, f_test, CONFIGS
):
    assert my_collapse_model.config["base_channels"] == CONFIGS["gan"]["base_channels"], "keep CONFIGS['gan'] apart from latent_dim"
    expected = precision_recall(f_test, extract_features(draw(my_collapse_model)))
    for k in ("precision", "recall"):
        assert abs(my_collapse_pr[k] - expected[k]) < 1e-6, f"{k} is not that of draw(my_collapse_model) against f_test"


test_collapse_scores_are_the_models(
    my_collapse_model, my_collapse_pr, precision_recall, extract_features, draw, f_test, CONFIGS
)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ### Runtime of this run

# %%
elapsed = time.perf_counter() - notebook_start
print(
    f"notebook ran in {elapsed:.0f} s on {device} with {torch.get_num_threads()} threads "
    f"({'SMOKE' if SMOKE else 'lab'} mode; training this run: {sum(train_seconds.values()):.0f} s)"
)
