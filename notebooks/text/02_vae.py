# %% [markdown]
# # 02 · Variational autoencoders: the ELBO, blur, β and conditioning
#
# **What this notebook does.** It derives the training objective of a variational autoencoder (VAE)
# and takes a converged VAE apart. The data are **simulated** brain slices: T1-weighted,
# T2-weighted, FLAIR and proton-density images of the same heads. The VAE and a conditional VAE
# come trained from the course's pretrained zoo (`medgen_nb.zoo`), so results appear in seconds,
# and a fresh VAE trains here for a few hundred steps so you can watch the loss terms move. The
# notebook then asks how good the reconstructions are and why they are blurry, what the β weight
# trades off, what the latent space looks like (interpolation and a latent-traversal widget), and
# whether a *conditional* VAE draws the contrast it is asked for. It ends with the number the GAN
# (notebook 03) and diffusion (notebook 05) chapters must beat: the Fréchet distance of VAE samples
# to held-out slices, measured with the course's medical feature network.
#
# **Learning objectives**
# - derive the evidence lower bound (ELBO) and the closed-form KL term, and explain the
#   reparameterisation trick;
# - train a VAE with `medgen_nb.train.fit` and read its reconstruction and KL curves;
# - explain, and measure, why VAE images are blurry (the decoder outputs a *mean* image);
# - describe the β trade-off between reconstruction, KL (rate) and sample quality;
# - interpolate and traverse a latent space, and condition generation on a class label;
# - score generated images with FID on medical features under a fixed, reusable protocol.
#
# **Review sections (Pang et al. 2025):** §4.1 (VAE: encoder, latent space, decoder; blurrier than
# GANs because the probabilistic model averages over possible outputs), §5.1 with Table 1 (FID and
# the other creation metrics), §7.1.2 (the quality / diversity / speed trade-off between VAEs, GANs
# and diffusion models).
#
# **Prerequisites:** notebook 00 (the simulated brain phantom, slice datasets); basic probability
# (Gaussians, expectations, KL divergence) and PyTorch.
#
# **Runtime and memory**, measured with `make course` on an otherwise idle 2-core CPU with two torch
# threads (2026-12-03). "First run" is the course run in order from an empty cache: it includes
# simulating the data that earlier notebooks have not, and training the models trained here; the
# SMOKE row is also a first run at its small sizes.
#
# | setting | time | kernel peak memory |
# |---|---|---|
# | SMOKE (`SMOKE = True`, what the tests run) | 11 s | 0.63 GiB |
# | lab (the default), first run | 25 s | 0.76 GiB |
# | lab, re-run with a warm cache | 17 s | 0.80 GiB |
# | GPU (`DEVICE = "cuda"`) | not measured | |
#
# The lab default loads the zoo and trains small models next to it; the last cell prints your
# run's time. `TRAIN_FROM_SCRATCH = True` retrains the two zoo models with their recipes instead (minutes on a
# CPU; the zoo's own training times are printed below).
#

# %% [raw]
# # ASSIGNMENT CONFIG
# name: 02_vae
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
grader = otter.Notebook("02_vae.ipynb")  # grader.check("question") runs an exercise's public tests

# %% tags=["parameters"]
SMOKE = False        # True: tiny data and a few training steps, for the tests
DEVICE = "auto"      # "auto" picks cuda, then mps, then cpu
SEED = 0             # seeds the data, the weights, the batch order and the samples
DATA = "phantom"     # simulated four-contrast brain slices (the zoo's data), or a grey-scale
                     # MedMNIST set, e.g. "medmnist:pneumoniamnist" (data_scripts/medmnist.py)
DATA_LIMIT = None    # MedMNIST: first N images of each split; None keeps all
TRAIN_FROM_SCRATCH = False  # True: retrain the zoo's VAE and conditional VAE with their recipes
LIVE_STEPS = 200     # steps of the VAE trained here (on MedMNIST: the main VAE)
BATCH_SIZE = 16      # slices per training step of the models trained here
BETAS = (0.1, 1.0, 4.0)  # beta values of the trade-off experiment (one fresh model each)
BETA_STEPS = 80      # steps per model in the beta experiment (all betas compared at this budget)
CVAE_STEPS = 240     # MedMNIST only: training steps of the conditional VAE (the phantom's is in the zoo)
CLASS_SAMPLES = 128  # samples per class for the conditioning check
N_DRAWS = 20         # subject subsamples behind the FID interval
LATENT2D_STEPS = 600 # steps of the VAE with a two-dimensional code (its latent space is plotted)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from medgen_nb import pick_device, seed_everything, tasks, zoo
from medgen_nb.course import headline
from medgen_nb.data.realdata import DataNotFoundError, load_dataset
from medgen_nb.evaluation import as_task_data, fit_or_load, predict
from medgen_nb.evaluation.creation import subsample_intervals
from medgen_nb.metrics import extract_features, fid, psnr, ssim
from medgen_nb.models import create
from medgen_nb.models.vae import kl_divergence_normal
from medgen_nb.viz import image_grid, panel, plot_history
from medgen_nb.zoo.creation import class_accuracy

# %matplotlib inline

notebook_start = time.perf_counter()
PHANTOM = DATA == "phantom"
USE_ZOO = PHANTOM and not TRAIN_FROM_SCRATCH  # the zoo's models learnt from the phantom only
# the zoo's VAEs work at 32 px; MedMNIST is read at 64 px and its VAE trains here
SIZE, LATENT_DIM, WIDTH = (32, 32, 32) if PHANTOM else (64, 32, 16)
if SMOKE:  # tiny data; a handful of steps only checks that all runs
    WIDTH, LATENT_DIM, BATCH_SIZE = 8, 8, 8
    LIVE_STEPS, BETA_STEPS, CVAE_STEPS, BETAS, CLASS_SAMPLES, N_DRAWS = 4, 2, 3, (0.1, 4.0), 8, 5
    LATENT2D_STEPS = 4
    DATA_LIMIT = 64 if DATA_LIMIT is None else min(DATA_LIMIT, 64)
device = pick_device(DEVICE)
seed_everything(SEED)

# %% [markdown]
# ## 1. Theory: the evidence lower bound
#
# A VAE is a latent-variable model: draw a code $z \sim p(z) = \mathcal N(0, I)$, then an image
# $x \sim p_\theta(x \mid z)$ from a decoder network. Training should maximise the log-likelihood
# $\log p_\theta(x) = \log \int p_\theta(x \mid z)\, p(z)\, dz$, but that integral over all codes is
# intractable. The trick is an *encoder* $q_\phi(z \mid x) = \mathcal N\big(\mu_\phi(x),
# \operatorname{diag} \sigma^2_\phi(x)\big)$ that guesses which codes could have produced $x$.
# Multiplying and dividing by it and applying Jensen's inequality ($\log \mathbb E \ge \mathbb E \log$):
#
# $$
# \log p_\theta(x)
# = \log \mathbb E_{q_\phi(z\mid x)}\!\left[\frac{p_\theta(x\mid z)\,p(z)}{q_\phi(z\mid x)}\right]
# \;\ge\; \underbrace{\mathbb E_{q_\phi(z\mid x)}\big[\log p_\theta(x\mid z)\big]}_{\text{reconstruction}}
# \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)}_{\text{rate}}
# \;=\; \mathrm{ELBO}(x).
# $$
#
# The gap is exactly $\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p_\theta(z\mid x)\big) \ge 0$: the bound is
# tight when the encoder matches the true posterior. For diagonal Gaussians the KL term has a closed
# form (`kl_divergence_normal`), summed over the $D$ latent dimensions:
#
# $$
# \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
# = \tfrac12 \sum_{j=1}^{D} \left(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\right).
# $$
#
# The reconstruction term depends on the likelihood. For intensities in [0, 1] the course trains
# with the per-pixel binary cross-entropy $\sum_i \mathrm{BCE}(x_i, \hat x_i)$, with
# $\hat x = \mathrm{sigmoid}(\text{decoder}(z))$ (`recon="bce"`). For a *binary* image that sum is
# $-\log p_\theta(x\mid z)$ under a Bernoulli. MR intensities are continuous, and on continuous
# $x \in [0, 1]$ the Bernoulli formula does not integrate to one: the *continuous Bernoulli*
# (Loaiza-Ganem & Cunningham, 2019) adds the missing normalising constant, which depends on
# $\hat x$. The BCE is still a sound reconstruction loss (for each pixel it is smallest at
# $\hat x = x$), but the "ELBO" computed with it is **not a bound on $\log p_\theta(x)$**: read it as
# a training objective, comparable between models trained with the same loss, not as a
# likelihood. A fixed-variance Gaussian (`recon="mse"`) gives the squared error, a proper density up
# to a constant. The β-VAE loss (Higgins et al., 2017) weights the rate:
# $\mathcal L_\beta = \text{reconstruction loss} + \beta\,\mathrm{KL}$. The KL is in **nats per
# image**; the summed BCE is reported in the same units but is a loss, not a log-density.
#
# **The reparameterisation trick.** The expectation over $q_\phi$ is estimated with one sample, but
# "sample $z$" is not differentiable in $\phi$. Writing the sample as a deterministic function of the
# encoder outputs and independent noise,
#
# $$ z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I), $$
#
# moves the randomness into $\varepsilon$, so gradients flow through $\mu$ and $\sigma$ into the
# encoder (`ConvVAE.reparameterize`). The encoder predicts $\log \sigma^2$ so that $\sigma > 0$
# without constraints.
#
# The cell below checks the closed form against a Monte-Carlo estimate that uses the
# reparameterisation trick, $\mathrm{KL} = \mathbb E_q[\log q(z) - \log p(z)]$, and shows that the
# gradient reaches $\mu$.

# %%
# NBVAL_CHECK_OUTPUT
seed_everything(SEED)
mu = torch.tensor([[0.5, -1.0, 0.0]], requires_grad=True)  # (B=1, D=3)
logvar = torch.tensor([[0.0, -0.5, 0.7]])
closed_form = kl_divergence_normal(mu, logvar)  # (1,) nats

eps = torch.randn(200_000, 3)  # many draws of the noise
z = mu + torch.exp(0.5 * logvar) * eps  # reparameterised samples, differentiable in mu
q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
p = torch.distributions.Normal(0.0, 1.0)
monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(1).mean()
monte_carlo.backward()
print(f"closed-form KL  : {closed_form.item():.3f} nats")
print(f"Monte-Carlo KL  : {monte_carlo.item():.2f} nats (200k reparameterised draws)")
print(f"dKL/dmu (MC)    : {np.round(mu.grad[0].numpy(), 1).tolist()}  (exact: mu = {mu[0].tolist()})")

# %% [markdown]
# ## 2. Data: simulated slices of four MR contrasts
#
# Axial 32 × 32 slices of the simulated brain phantom (notebook 00), split **by subject** so that no
# test subject is ever seen in training. Each head appears four times, as T1-weighted, T2-weighted,
# FLAIR and proton-density images, and each slice's label is its contrast: the conditional VAE of
# section 8 is asked for a contrast, and an independent classifier checks that it drew one.
#
# With `DATA = "medmnist:pneumoniamnist"` the same cells run on real chest X-rays of the MedMNIST
# collection (Yang et al. 2023, official splits) at 64 px, every model trains here, and the
# conditional VAE conditions on the set's class label (0 = normal, 1 = pneumonia).

# %%
if PHANTOM:  # the zoo's task: 40 simulated heads, four contrasts each
    data = tasks.build(tasks.get("brain_mr_by_contrast"), smoke=SMOKE, seed=SEED).splits
    DATA_LABEL = "simulated MR"
    CLASS_NAMES = tuple(data["train"].modalities)  # label k is the contrast CLASS_NAMES[k]
elif DATA.startswith("medmnist:"):
    try:
        data = load_dataset(DATA, size=SIZE, limit=DATA_LIMIT)
    except DataNotFoundError:
        print("Or set DATA = 'phantom' to use the embedded simulated data.")
        raise  # the message says what is missing and the data_scripts command that gets it
    DATA_LABEL, CLASS_NAMES = f"real MedMNIST {DATA.partition(':')[2]}", ("label 0", "label 1")
else:
    raise ValueError(f"DATA must be 'phantom' or 'medmnist:<set>' in this notebook, got {DATA!r}")
train, test = data["train"], data["test"]
test_tensors = test.tensors()
test_images = test_tensors["image"]  # (N_test, 1, SIZE, SIZE) in [0, 1]
test_subjects = test_tensors.get("subject", torch.arange(len(test_images)))  # MedMNIST: one image each
train_labels = train.tensors()["label"]
if test_images.shape[1] != 1:
    raise ValueError(f"{DATA} has {test_images.shape[1]} channels; the medical feature network takes "
                     "one: pick a grey-scale set, e.g. DATA = 'medmnist:pneumoniamnist'")
# the conditional VAE and its check need one class label per image
CONDITIONAL = train_labels.ndim == 1 and (PHANTOM or set(train_labels.unique().tolist()) <= {0, 1})
if PHANTOM:
    print({split: len(ds) for split, ds in data.items()}, "slices;",
          f"{len(test.subject_ids)} test subjects; contrasts", ", ".join(CLASS_NAMES))
else:
    print({split: len(ds) for split, ds in data.items()}, f"images of {DATA_LABEL};",
          f"{int((train_labels == 1).sum())} of {len(train)} training images have label 1")
show = torch.linspace(0, len(train) - 1, 16).long()  # spread over the set: all four contrasts
title = ("Simulated training slices (T1w, T2w, FLAIR, PD from left to right), [0, 1] (phantom, not patients)"
         if PHANTOM else f"{DATA_LABEL} training images, [0, 1] (Yang et al. 2023)")
image_grid(torch.stack([train[int(i)]["image"] for i in show]), ncols=8, suptitle=title);

# %% [markdown]
# ## 3. A convolutional VAE: the converged one, and one learning now
#
# `create("vae", ...)` builds a `ConvVAE`: stride-2 convolution blocks down to a 4 × 4 map, a
# linear layer to $(\mu, \log\sigma^2)$, and the mirror image up again. The zoo's VAE was trained
# once on these slices with a recipe (steps, batch, cosine learning-rate decay, left-right flips)
# and `zoo.load` returns it with verified weights. Next to it we train a fresh VAE of the same
# design for `LIVE_STEPS` steps: `fit_or_load` keys the run by its complete record (model config, a
# hash of the training images, steps, batch, seed) and loads the cached run if one matches; else
# `fit` runs the training loop (progress bar, seeding, checkpoints). Each step logs `loss_recon` (the
# summed BCE per image), `loss_kl` (nats per image) and `mse` (mean squared error of the decoded mean, in [0, 1]² units).

# %%
vae_config = dict(in_channels=1, size=SIZE, latent_dim=LATENT_DIM, base_channels=WIDTH, beta=1.0, recon="bce")
train_data = as_task_data(train, size=SIZE)  # identified by its images' SHA-256 in the run record
t0 = time.perf_counter()
seed_everything(SEED)
live_vae = create("vae", **vae_config)
history = fit_or_load(live_vae, train_data, LIVE_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device,
                      progress=True).history
print(f"live VAE: {history.steps_done} steps; {time.perf_counter() - t0:.0f} s in this session "
      f"({history.wall_time:.0f} s of training in total)")
if USE_ZOO:
    vae = zoo.load("vae_mr_contrast_32", device)
elif PHANTOM:  # the zoo's recipe, run here
    vae = zoo.fit_recipe("vae_mr_contrast_32", device=device)
else:
    vae = live_vae  # no zoo model learnt from this data set
if PHANTOM:
    spec = zoo.entry("vae_mr_contrast_32")
    print(f"zoo VAE: {spec['recipe']['steps']} steps of batch {spec['recipe']['batch_size']} "
          f"({spec['training']['wall_s'] / 60:.0f} min on one CPU core); "
          f"{'loaded' if USE_ZOO else 'retrained here'}")
print(f"ConvVAE with {sum(p.numel() for p in vae.parameters()):,} parameters")
plot_history(history.logs, keys=["loss_recon", "loss_kl"], smooth=max(1, LIVE_STEPS // 20),
             title=f"A VAE learning on {DATA_LABEL} slices: loss terms per image (BCE; KL in nats)");


# %% [markdown]
# The reconstruction term falls quickly as the decoder learns the average head shape, then slowly
# as it learns to vary it; the KL term *rises* at first: the encoder only starts to use the latent
# code (paying rate) once the decoder can turn the information into lower reconstruction error.
# Everything below uses the converged VAE (`vae`); the live one returns in section 9's table.

# %% [markdown]
# ## 4. Reconstructions, and why they are blurry
#
# `vae.reconstruct(x)` decodes the posterior mean $\mu_\phi(x)$. We score the held-out slices with
# the course's paired metrics (SSIM and PSNR, `data_range=1.0`) and measure **sharpness** as the
# mean squared image gradient, $G(x) = \operatorname{mean}\big((\partial_h x)^2 + (\partial_w x)^2\big)$;
# a blurred image has less gradient energy than the real one.

# %%
def gradient_energy(images):
    # Mean squared finite-difference gradient per image, (N, 1, H, W) -> (N,): falls with blur.
    dh = images[..., 1:, :-1] - images[..., :-1, :-1]
    dw = images[..., :-1, 1:] - images[..., :-1, :-1]
    return (dh**2 + dw**2).flatten(1).mean(1)


n_eval = len(test_images)  # every held-out slice
recon = vae.reconstruct(test_images[:n_eval]).cpu()
recon_ssim = ssim(recon, test_images[:n_eval], data_range=1.0).item()
recon_psnr = psnr(recon, test_images[:n_eval], data_range=1.0).item()
sharpness = (gradient_energy(recon).mean() / gradient_energy(test_images[:n_eval]).mean()).item()
print(f"held-out reconstructions: SSIM {recon_ssim:.3f}, PSNR {recon_psnr:.1f} dB, "
      f"gradient energy {sharpness:.0%} of the real slices'")
pick = torch.linspace(0, n_eval - 1, 6).long()
image_grid(torch.cat([test_images[pick], recon[pick]]), ncols=6,
           suptitle=f"Held-out {DATA_LABEL} slices (top) and their VAE reconstructions (bottom), [0, 1]");

# %% [markdown]
# **Why blurry?** For a given code $z$ the decoder is trained to maximise
# $\mathbb E_{x \sim \text{data}(\cdot\mid z)}[\log p_\theta(x\mid z)]$. For both the Gaussian (squared
# error) and the Bernoulli likelihood the optimum is the **conditional mean**
# $\hat x(z) = \mathbb E[x \mid z]$. Whatever the 32-number code cannot pin down — the exact course
# of each sulcus, the noise, sharp tissue borders that shift by a pixel between similar slices — is
# *averaged* over, and an average of slightly different edges is a soft edge. The KL term makes this
# worse: it pushes the posteriors of different images to overlap, so each code stands for a
# neighbourhood of images. This is the "averages over many possible outputs" of review §4.1. GANs
# (notebook 03) replace the per-pixel likelihood by a learned critic that punishes blur; diffusion
# models (notebook 05) sample the details instead of averaging them.
#
# The lost gradient energy above is the measurable trace of this averaging. The residual map makes
# it visible: the error sits on edges, not in flat tissue.

# %%
k = int(pick[2])
panel({DATA_LABEL: test_images[k], "VAE reconstruction": recon[k],
       "error (recon − real)": recon[k] - test_images[k]},
      cmaps={"error (recon − real)": "RdBu_r"}, ranges={"error (recon − real)": (-0.3, 0.3)},
      units={"error (recon − real)": "[0, 1] units"},
      suptitle=f"Where the reconstruction error sits (held-out {DATA_LABEL} slice)");

# %% [markdown]
# ## 5. Samples from the prior, and the FID protocol
#
# New images come from decoding prior draws $z \sim \mathcal N(0, I)$ (`vae.sample(n)`). We score
# them against held-out real slices with the **Fréchet distance on medical features** (review §5.1,
# Table 1; `medgen_nb.metrics.fid` on `extract_features`, an FMD rather than an Inception FID).
#
# **Evaluation protocol (notebook 01's, reused by notebooks 03 and 05, so the numbers are
# comparable):** real = every slice of the test subjects of the task `brain_mr_by_contrast`
# (`tasks.build(tasks.get("brain_mr_by_contrast"))`, all four contrasts); fake = the same number of
# samples, `predict(vae, n=n_eval, seed=SEED)`; features = the shipped `MedicalFeatureNet`; lower is
# better; a 95 % interval from subsampling test *subjects*. FID is biased upwards at small $N$, so
# only numbers at the same $N$ may be compared, and $N$ should be several times the 128 feature
# dimensions (the next cell prints it). Two references put the number on a scale: real vs real
# (the test slices of one half of the subjects against the other half: what a perfect generator
# would score) and blurred test slices (what "blurry but right" scores).

# %%
from medgen_nb.metrics import gaussian_blur

f_test = extract_features(test_images)  # (n_eval, 128)
samples = predict(vae, n=n_eval, seed=SEED)  # (n_eval, 1, SIZE, SIZE) in [0, 1]
f_samples = extract_features(samples)
fid_vae, fid_low, fid_high = subsample_intervals(  # FID of half the subjects, N_DRAWS times
    lambda real, fake: {"fid": fid(real, fake, warn_small_n=False)},
    f_test, test_subjects, f_samples, n_draws=N_DRAWS, seed=SEED,
)["fid"]
ids = torch.unique(test_subjects)
# one half of the test subjects against the other (SMOKE has one test subject: alternate slices)
half = torch.isin(test_subjects, ids[: len(ids) // 2]) if len(ids) > 1 else torch.arange(n_eval) % 2 == 0
m = int(min(half.sum(), (~half).sum()))
fid_floor = fid(f_test[half][:m], f_test[~half][:m])
fid_blur = fid(f_test, extract_features(gaussian_blur(test_images, 1.5)))
fid_recon = fid(f_test, extract_features(recon))
sample_sharpness = (gradient_energy(samples).mean() / gradient_energy(test_images).mean()).item()
print(f"FID (medical features, N = {n_eval}): VAE samples {fid_vae:.2f} [{fid_low:.2f}, {fid_high:.2f}] | "
      f"reconstructions {fid_recon:.2f} | blurred real (sigma 1.5 px) {fid_blur:.2f} | "
      f"real vs real {fid_floor:.2f} (two halves of {len(ids)} subjects, N = {m})")
if DATA != "phantom":
    print("(the feature network was trained on simulated slices: on real images its FID is a rough guide)")
image_grid(samples[:16], ncols=8, suptitle=f"VAE samples from the prior (trained on {DATA_LABEL}), [0, 1]");

# %% [markdown]
# ## 6. The β trade-off
#
# β scales the price of information in the code. Small β: the encoder may store much about each
# image (high KL), reconstructions are good, but the aggregate posterior covers only part of the
# prior, so prior samples land in "holes" and look odd. Large β: codes are cheap to match to the
# prior (low KL) but carry little information, reconstructions and samples both become smooth
# averages. The zoo holds the same VAE trained with the same recipe at β = 0.1, 1 and 4 (on other
# data sets they train here for `BETA_STEPS` steps each); we compare the reconstruction loss (summed BCE), KL (nats), held-out reconstruction MSE and sample FID.

# %%
# the zoo holds VAEs of the same design and recipe at beta 0.1, 1 and 4; elsewhere they train here
ZOO_BETAS = {0.1: "vae_beta0p1_mr_contrast_32", 1.0: "vae_mr_contrast_32", 4.0: "vae_beta4_mr_contrast_32"}
if USE_ZOO:
    BETAS, budget = tuple(ZOO_BETAS), f"{zoo.entry(ZOO_BETAS[1.0])['recipe']['steps']} steps each, from the zoo"
else:
    budget = f"{BETA_STEPS} steps each"
beta_rows = []
for beta in sorted(BETAS):
    if USE_ZOO:
        model = zoo.load(ZOO_BETAS[beta], device)
    else:
        cfg = {**vae_config, "beta": float(beta)}
        model = create("vae", **cfg)
        fit_or_load(model, train_data, BETA_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device)
    with torch.no_grad():
        terms = model.elbo_terms(test_images[:n_eval].to(model.device))
    fake = predict(model, n=n_eval, seed=SEED)
    beta_rows.append({
        "beta": beta,
        "recon_nats": terms.recon.item(),
        "kl_nats": terms.kl.item(),
        "recon_mse": ((model.reconstruct(test_images[:n_eval]).cpu() - test_images[:n_eval]) ** 2).mean().item(),
        "fid": fid(f_test, extract_features(fake)),
        "samples": fake[:6],
    })
print(f"{'beta':>6} {'recon BCE':>13} {'KL (nats)':>10} {'recon MSE':>10} {'sample FID':>11}")
for r in beta_rows:
    print(f"{r['beta']:>6.2f} {r['recon_nats']:>13.1f} {r['kl_nats']:>10.1f} {r['recon_mse']:>10.4f} {r['fid']:>11.2f}")

fig, axes = plt.subplots(1, 3, figsize=(11, 3))
betas = [r["beta"] for r in beta_rows]
for ax, key, label in zip(axes, ["kl_nats", "recon_mse", "fid"],
                          ["KL (nats per image)", "held-out recon MSE ([0, 1]²)", "sample FID (medical features)"]):
    ax.plot(betas, [r[key] for r in beta_rows], "o-")
    ax.set_xscale("log"); ax.set_xlabel("β"); ax.set_title(label, fontsize=9)
fig.suptitle(f"β trade-off on {DATA_LABEL} slices ({budget})", fontsize=10)
fig.tight_layout()
image_grid(torch.cat([r["samples"] for r in beta_rows]), ncols=6,
           titles=[f"β={r['beta']:g}" for r in beta_rows for _ in range(6)],
           suptitle=f"Prior samples per β ({DATA_LABEL})");

# %% [markdown]
# Read the table from top to bottom: as β grows the KL (the information the code carries, in nats)
# falls and the reconstruction error rises: the rate–distortion trade-off, and the robust part of
# the table. The sample FID is pulled two ways. A large β leaves the code too little to vary the
# anatomy or the contrast, so samples drift towards one smooth average head; a small β lets the
# encoder spread its codes unevenly, so prior draws land in regions the decoder never saw. Where
# the best FID falls depends on the data and the training budget: find the β with the lowest FID
# in the table above, and compare its lead over the next one with the interval of section 5 before
# you call it the winner.

# %% [markdown]
# ## 7. The latent space: interpolation and traversal
#
# Because the KL term packs the codes of all training images into one smooth Gaussian blob, a
# straight line between the codes of two real slices decodes to a plausible morph (`vae.interpolate`).
# The widget below moves one coordinate $z_d$ of a code and shows what that direction does; with a
# 32-dimensional code most directions mix several factors (head size, ventricle width, slice level,
# brightness), and some are nearly unused (the KL pushed them back to the prior: moving them does
# nothing).

# %%
a, b = test_images[int(pick[0])], test_images[int(pick[-1])]
path = vae.interpolate(a, b, steps=8).cpu()
image_grid(path, ncols=8, titles=["slice A"] + [""] * 6 + ["slice B"],
           suptitle=f"Decoded straight line between the codes of two held-out {DATA_LABEL} slices, [0, 1]");

# %%
from medgen_nb.widgets import latent_traversal_explorer

# Per-dimension KL over the held-out slices: which coordinates carry information?
with torch.no_grad():
    mu_t, logvar_t = vae.encode(test_images[:n_eval].to(vae.device))
kl_per_dim = 0.5 * (mu_t**2 + logvar_t.exp() - 1 - logvar_t).mean(0).cpu()
active = int((kl_per_dim > 0.1).sum())
print(f"{active} of {LATENT_DIM} latent dimensions carry > 0.1 nats; the busiest are "
      f"{kl_per_dim.argsort(descending=True)[:4].tolist()}")
explorer = latent_traversal_explorer(vae, test_images[int(pick[2])],
                                     title=f"Latent traversal (VAE trained on {DATA_LABEL} slices)")
explorer.controls["dim"].value = int(kl_per_dim.argmax())
explorer.controls["value"].value = 2.0
explorer

# %% [markdown]
# ### A code you can plot: the same VAE with two latent dimensions
#
# Thirty-two dimensions cannot be looked at. Squeeze the code to $z \in \mathbb R^2$ and the whole
# latent space fits on one page: below, a VAE of the same design with `latent_dim=2` trains for
# `LATENT2D_STEPS` steps; each held-out slice is encoded to its posterior mean $\mu_\phi(x)$ and
# drawn at that point, coloured by its label, and next to it the decoder's image at each point of a
# regular grid of codes. The KL term keeps the cloud near the origin, inside the prior $\mathcal
# N(0, I)$; the reconstruction term spreads out whatever it needs to tell slices apart. Nobody told
# the model the labels: if they separate in the scatter, the encoder found them worth two
# coordinates on its own.

# %%
seed_everything(SEED)
vae2d = create("vae", **{**vae_config, "latent_dim": 2})
run2d = fit_or_load(vae2d, train_data, LATENT2D_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device)
with torch.no_grad():
    mu_2d, _ = vae2d.encode(test_images.to(vae2d.device))  # (N, 2) posterior means
    grid = torch.linspace(-2.5, 2.5, 7)
    codes = torch.cartesian_prod(grid, grid.flip(0))[:, [1, 0]]  # rows: z_2 from +2.5 down
    decoded = vae2d.decode(codes.to(vae2d.device)).cpu()  # (49, 1, S, S)
mu_2d, labels_2d = mu_2d.cpu(), test_tensors["label"].reshape(-1)
print(f"2-D VAE: {run2d.history.steps_done} steps ({'loaded' if run2d.source != 'trained' else 'trained now'}); "
      f"code spread over the test slices: std {mu_2d.std(0).numpy().round(2).tolist()}")
for k, name in enumerate(CLASS_NAMES):
    centre = mu_2d[labels_2d == k].mean(0) if (labels_2d == k).any() else torch.full((2,), float("nan"))
    print(f"  {name:>8s}: mean code ({centre[0]:+.2f}, {centre[1]:+.2f}), {int((labels_2d == k).sum())} slices")
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for k, name in enumerate(CLASS_NAMES):
    sel = labels_2d == k
    axes[0].scatter(mu_2d[sel, 0], mu_2d[sel, 1], s=4, alpha=0.5, label=name)
axes[0].set_xlabel("$z_1$")
axes[0].set_ylabel("$z_2$")
axes[0].legend(fontsize=8, markerscale=3)
axes[0].set_title(f"posterior means of {len(mu_2d)} held-out slices", fontsize=9)
side = decoded.shape[-1]
mosaic = decoded[:, 0].reshape(7, 7, side, side).permute(0, 2, 1, 3).reshape(7 * side, 7 * side)
axes[1].imshow(mosaic, cmap="gray", vmin=0, vmax=1, extent=(-2.5, 2.5, -2.5, 2.5))
axes[1].set_title("decoder output on a grid of codes", fontsize=9)
axes[1].set_xlabel("$z_1$")
fig.suptitle(f"A two-dimensional latent space ({DATA_LABEL} slices)")
plt.show()

# %% [markdown]
# ## 8. A conditional VAE: asking for a contrast
#
# A conditional VAE (Sohn et al., 2015) gives the label $y$ to both networks,
# $q_\phi(z \mid x, y)$ and $p_\theta(x \mid z, y)$, and maximises the conditional ELBO
# $\mathbb E_q[\log p_\theta(x\mid z, y)] - \mathrm{KL}(q_\phi(z\mid x, y)\,\|\,p(z))$. At sampling time
# we choose $y$, here the contrast. The code $z$ can then leave the contrast to $y$ and describe the
# anatomy.
#
# Is the label obeyed? We need an independent judge. On the phantom it is a small CNN from the zoo,
# trained only on real training slices to name the contrast; its accuracy on real held-out slices
# comes first (a judge that cannot tell real contrasts apart says nothing about samples), then its
# balanced accuracy on `CLASS_SAMPLES` samples per contrast, with a bootstrap interval over samples.
# On MedMNIST the judge is a nearest-centroid rule on the medical features, checked on real
# held-out images in the same way.

# %%
rate, cvae_accuracy = None, None
if not CONDITIONAL:
    print(f"Skipped: the conditional VAE and its check need one label per image, 0 or 1; "
          f"{DATA} has labels of shape {tuple(train_labels.shape[1:])} with values {sorted(set(train_labels.flatten().tolist()))}")
elif PHANTOM:
    cvae = zoo.load("cvae_mr_contrast_32", device) if USE_ZOO else zoo.fit_recipe("cvae_mr_contrast_32", device=device)
    judge = zoo.load("judge_mr_contrast_32", device)
    real_acc = (judge.predict(test_images.to(judge.device)).cpu() == test_tensors["label"]).float().mean().item()
    out = class_accuracy(cvae, judge, len(CLASS_NAMES), {}, n_per_class=CLASS_SAMPLES, seed=SEED)
    ba, cvae_accuracy = out["balanced_accuracy"], out["balanced_accuracy"]["value"]
    print(f"judge on the {n_eval} real held-out slices: accuracy {real_acc:.3f}")
    print(f"conditional VAE samples judged the contrast they were drawn for: balanced accuracy "
          f"{ba['value']:.3f} [{ba['ci_low']:.3f}, {ba['ci_high']:.3f}] over {out['samples']} samples; per contrast "
          + ", ".join(f"{c} {a:.2f}" for c, a in zip(CLASS_NAMES, out["per_class"], strict=True)))
    z_labels = torch.arange(len(CLASS_NAMES)).repeat_interleave(6)
    image_grid(predict(cvae, labels=z_labels, seed=SEED), ncols=6,
               titles=[c if i == 0 else "" for c in CLASS_NAMES for i in range(6)],
               suptitle=f"Conditional VAE samples ({DATA_LABEL}), one row per requested contrast, [0, 1]")
else:
    cvae_config = {**vae_config, "num_classes": 2}
    cvae = create("cvae", **cvae_config)
    cvae_history = fit_or_load(cvae, train_data, CVAE_STEPS, batch_size=BATCH_SIZE, seed=SEED, device=device,
                               progress=True).history

    f_train = extract_features(train.tensors()["image"])
    centroids = torch.stack([f_train[train_labels == c].mean(0) for c in (0, 1)])  # (2, 128)

    def label1_rate(images):
        # Fraction of images whose features are closer to the class-1 centroid than to the class-0 one.
        return (torch.cdist(extract_features(images), centroids).argmin(1) == 1).float().mean().item()

    test_labels = test.tensors()["label"]
    real_acc = ((torch.cdist(f_test, centroids).argmin(1) == test_labels[:n_eval]).float().mean().item())
    n_cls = max(2, n_eval // 2)
    cvae_samples = {c: predict(cvae, labels=torch.full((n_cls,), c), seed=SEED + c) for c in (0, 1)}
    rate = {c: label1_rate(cvae_samples[c]) for c in (0, 1)}
    print(f"nearest-centroid classifier on real held-out images: accuracy {real_acc:.2f}")
    print(f"classified as '{CLASS_NAMES[1]}': {rate[0]:.0%} of samples asked for y=0, {rate[1]:.0%} of samples asked for y=1")
    image_grid(torch.cat([cvae_samples[0][:8], cvae_samples[1][:8]]), ncols=8,
               suptitle=f"Conditional VAE samples ({DATA_LABEL}): top {CLASS_NAMES[0]}, bottom {CLASS_NAMES[1]}, [0, 1]")

# %% [markdown]
# If the judge names the requested contrast for most samples, the decoder uses the label; the
# per-contrast rates show which contrasts it confuses. Try the traversal widget on the conditional
# model (`latent_traversal_explorer(cvae, label=2)`): its class dropdown switches $y$ while $z$ stays
# fixed, so you see what the label alone changes: the same anatomy with the tissue contrasts of
# another sequence.

# %% [markdown]
# ## 9. Results

# %%
f_live = extract_features(predict(live_vae, n=n_eval, seed=SEED))
rows = [
    ("VAE samples (prior, beta = 1)", fid_vae, sample_sharpness),
    (f"live VAE samples ({history.steps_done} steps)", fid(f_test, f_live), float("nan")),
    ("VAE reconstructions (held-out)", fid_recon, sharpness),
    ("blurred real slices (sigma 1.5 px)", fid_blur,
     (gradient_energy(gaussian_blur(test_images, 1.5)).mean() / gradient_energy(test_images).mean()).item()),
    (f"real vs real (floor, N = {m})", fid_floor,
     (gradient_energy(test_images[half]).mean() / gradient_energy(test_images).mean()).item()),
]
print(f"{DATA_LABEL[:1].upper() + DATA_LABEL[1:]} {SIZE} x {SIZE}, N = {n_eval} vs {n_eval} held-out test slices, "
      "medical-feature FID")
print(f"{'images':<36} {'FID':>8} {'gradient energy vs real':>24}")
for name, value, sharp in rows:
    print(f"{name:<36} {value:>8.2f} {'-' if np.isnan(sharp) else f'{sharp:.0%}':>24}")
print(f"reconstructions: SSIM {recon_ssim:.3f}, PSNR {recon_psnr:.1f} dB")
lab_seconds = time.perf_counter() - notebook_start
print(f"notebook runtime so far: {lab_seconds:.0f} s wall, {time.process_time():.0f} s CPU time of this "
      f"kernel, on {device} ({torch.get_num_threads()} threads)")
conditioning = {}
if cvae_accuracy is not None:
    conditioning["cvae_class_accuracy"] = round(cvae_accuracy, 3)
if rate is not None:
    conditioning |= {"cvae_label1_rate_y1": round(rate[1], 2), "cvae_label1_rate_y0": round(rate[0], 2)}
headline(vae_fid=round(fid_vae, 2), recon_ssim=round(recon_ssim, 3), recon_psnr_db=round(recon_psnr, 1),
         **conditioning, n_eval=n_eval)


# %% [markdown]
# ## What to take away
#
# - The VAE maximises the ELBO = reconstruction log-likelihood − KL(encoder ‖ prior) (with a BCE
#   on continuous intensities, a training objective rather than a bound on $\log p(x)$); the
#   reparameterisation trick $z = \mu + \sigma\odot\varepsilon$ makes it trainable by backpropagation.
# - Its decoder outputs a **mean** image for each code, so detail the code cannot carry is averaged
#   into blur: high SSIM / PSNR on reconstructions, yet clearly less gradient energy than real
#   slices, and samples that the feature network tells apart from real ones (FID well above the
#   real-vs-real floor).
# - β moves the model along a rate–distortion curve: more KL, better reconstructions; less KL,
#   smoother and more "average" images. No β removes the blur.
# - The latent space is smooth: interpolations are plausible, single coordinates change global
#   properties, and many coordinates are unused.
# - Conditioning on a label steers generation; checking it needs an independent measurement (here a
#   classifier that never saw a generated image, validated on real slices first).
# - The VAE sample FID above, under the stated protocol, is the **baseline** for notebooks 03 (GANs)
#   and 05 (diffusion).

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer, followed by a `grader.check(...)` cell that runs its public tests. A course's autograder adds hidden tests that compare your values with the reference, so a blank or wrong answer scores zero.
#
# **Exercise 1 — the KL term in code.** Write `my_kl_divergence(mu, logvar)` that returns, for each
# row of `mu` and `logvar` (both of shape `(B, D)`), the closed-form
# $\mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)$ of section 1 summed
# over the $D$ dimensions: a tensor of shape `(B,)`, in nats. Use tensor operations only, not
# `kl_divergence_normal`. Then work out by hand the KL for $\mu = (1, -2)$ and
# $\log\sigma^2 = (\log 0.5, 0)$: which dimension contributes more, and why?

# %% [raw]
# # BEGIN QUESTION
# name: kl_term
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the KL of a diagonal Gaussian to N(0, I), per sample
def my_kl_divergence(mu, logvar):  # (B, D), (B, D) -> (B,) nats
    # BEGIN SOLUTION
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1)
    # END SOLUTION


# BEGIN SOLUTION NO PROMPT
# By hand: dimension 1 (mu = 1, sigma^2 = 0.5) gives 1/2 (1 + 0.5 - 1 - log 0.5) = 0.597 nats;
# dimension 2 (mu = -2, sigma^2 = 1) gives 1/2 (4 + 1 - 1 - 0) = 2 nats. The mean far from 0 costs
# more than the narrowed variance: the KL charges mu^2 / 2 for moving a code away from the prior.
print(my_kl_divergence(torch.tensor([[1.0, -2.0]]), torch.log(torch.tensor([[0.5, 1.0]]))))
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_kl_matches_the_closed_form(my_kl_divergence, kl_divergence_normal, torch):
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    mine = my_kl_divergence(mu, logvar)
    assert torch.is_tensor(mine) and mine.shape == (5,), (
        "return one KL per sample: a tensor of shape (B,), summed over the latent dimensions"
    )
    reference = kl_divergence_normal(mu, logvar)
    assert torch.allclose(mine, reference, atol=1e-5), (
        "check each term 1/2 (mu^2 + sigma^2 - 1 - log sigma^2), with sigma^2 = exp(logvar)"
    )


test_kl_matches_the_closed_form(my_kl_divergence, kl_divergence_normal, torch)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_kl_worked_example(my_kl_divergence, torch, np):
    mine = my_kl_divergence(torch.tensor([[1.0, -2.0]]), torch.log(torch.tensor([[0.5, 1.0]])))
    expected = 0.5 * (1 + 0.5 - 1 - np.log(0.5)) + 0.5 * (4 + 1 - 1 - 0)
    assert abs(float(mine[0]) - expected) < 1e-4, f"{float(mine[0]):.4f} nats is not the KL of the example"


test_kl_worked_example(my_kl_divergence, torch, np)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 2 — what does β do to the KL?** Before looking at the table of section 6 again, predict
# which β gives the largest KL. Set `predicted_beta` to that value (one of the betas in the table) and
# run the check. Then explain in one sentence why.

# %% [raw]
# # BEGIN QUESTION
# name: beta_kl
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the beta of the table with the largest KL, e.g. 0.1, 1.0 or 4.0
predicted_beta = min(r["beta"] for r in beta_rows)  # SOLUTION
# BEGIN SOLUTION NO PROMPT
# Why: the loss is recon + beta * KL, so a smaller beta makes each nat in the code cheaper; the
# encoder spends more of them to cut reconstruction error (and large beta squeezes KL towards 0).
print(predicted_beta, "->", [round(r["kl_nats"], 1) for r in beta_rows])
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_beta_is_in_the_table(predicted_beta, beta_rows):
    betas = [r["beta"] for r in beta_rows]
    assert predicted_beta in betas, f"answer one of the betas in the table: {betas}"


test_beta_is_in_the_table(predicted_beta, beta_rows)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_beta_with_the_largest_kl(predicted_beta, beta_rows):
    largest = max(beta_rows, key=lambda r: r["kl_nats"])["beta"]
    assert predicted_beta == largest, (
        "beta is the price per nat of information in the code; what happens to demand when the price drops?"
    )


test_beta_with_the_largest_kl(predicted_beta, beta_rows)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 3 — blur as an average.** Show numerically that the pixel-wise mean of several
# different real slices is *less sharp* than each of them: compute `gradient_energy` of the mean of
# the first 8 held-out slices and compare it with their average gradient energy. Put the ratio
# (mean image ÷ average of individual images) into `ratio`.

# %% [raw]
# # BEGIN QUESTION
# name: blur_ratio
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: gradient_energy(mean image) / mean(gradient_energy(each image)), a float
# BEGIN SOLUTION NO PROMPT
mean_image = test_images[:8].mean(0, keepdim=True)  # (1, 1, SIZE, SIZE)
# END SOLUTION
ratio = (gradient_energy(mean_image) / gradient_energy(test_images[:8]).mean()).item()  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_ratio_is_a_number(ratio):
    assert isinstance(ratio, float), "set ratio to a float (use .item())"


test_ratio_is_a_number(ratio)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_ratio_value(ratio, gradient_energy, test_images):
    expected = (gradient_energy(test_images[:8].mean(0, keepdim=True)) / gradient_energy(test_images[:8]).mean()).item()
    assert abs(ratio - expected) < 1e-4, f"{ratio:.4f} is not the ratio: average the 8 images first, then take the energy"


test_ratio_value(ratio, gradient_energy, test_images)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Going further.** Train with `recon="mse"` instead of `"bce"` and compare the sharpness; increase
# `LATENT_DIM` and watch how many dimensions stay active; retrain the conditional VAE for fewer
# steps and watch the judge's verdict fall.
