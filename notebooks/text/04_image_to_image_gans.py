# %% [markdown]
# # 04 · Image-to-image GANs: Pix2Pix, CycleGAN and UNIT for T1w → T2w
#
# **What this notebook does.** It translates **simulated** T1-weighted brain slices into T2-weighted
# ones with the three GAN families the review draws in Fig. 5 e–g: **Pix2Pix** (paired data),
# **CycleGAN** (unpaired data, cycle consistency) and **UNIT** (unpaired data, shared latent space).
# All three are trained on the same subjects and scored on the same held-out subjects with the
# review's translation metrics (MAE, PSNR, SSIM, with bootstrap confidence intervals), against a
# baseline that any network must beat: a per-pixel intensity mapping learned from the training
# slices. The last experiment probes the best-known failure of unpaired translation: a CycleGAN
# whose T2w training images contain no tumours is pushed towards **erasing tumours**, which
# whole-slice metrics hardly notice; we measure the tumour's contrast directly, and see how hard
# that risk is to pin down with a short training run.
#
# **Learning objectives**
# - write down the Pix2Pix, CycleGAN and UNIT objectives and say which data each needs;
# - explain why a per-pixel intensity mapping is a strong baseline for MR contrast translation, and
#   what context a convolutional network adds;
# - train the three models with `medgen_nb.train.fit` and compare them with MAE, PSNR and SSIM and
#   their confidence intervals, on subjects never seen in training;
# - explain why cycle consistency cannot tell a faithful translation from a hallucinating one, and
#   measure the damage where it matters (inside the lesion), not only over the whole slice;
# - explore the predictions slice by slice with an interactive widget.
#
# **Review sections (Pang et al. 2025):** §4.2 with Fig. 5 e–g (CycleGAN, Pix2Pix, UNIT; Pix2Pix and
# CycleGAN as the two bases of most medical translation models), §6.1 with Table 5 (MAE, MSE, RMSE,
# PSNR, SSIM), §6.2.1 (multi-contrast MRI synthesis: most methods are 2-D GANs, and paired methods
# prevail because pairing gives better supervision), §7.2 (limitations: trustworthiness of generated
# images).
#
# **Prerequisites:** notebook 00 (the simulated brain phantom and slice datasets) and notebook 03
# (GAN training: generator, discriminator, adversarial losses).
#
# **Runtime and memory**, measured with `make course` on an otherwise idle 2-core CPU with two torch
# threads (2026-12-03). "First run" is the course run in order from an empty cache: it includes
# simulating the data that earlier notebooks have not, and training the models trained here; the
# SMOKE row is also a first run at its small sizes.
#
# | setting | time | kernel peak memory |
# |---|---|---|
# | SMOKE (`SMOKE = True`, what the tests run) | 16 s | 0.88 GiB |
# | lab (the default), first run | 121 s | 1.47 GiB |
# | lab, re-run with a warm cache | 26 s | 1.27 GiB |
# | GPU (`DEVICE = "cuda"`) | not measured | |
#
# Training the five translation models takes most of the first run; a re-run loads their checkpoints. Memory is the kernel's resident size, libraries included; Binder gives 2 GB. On a
# machine busy with other work, torch's threads compete for the cores and we saw everything run
# several times slower. The last cell prints the time of your own run.

# %% [raw]
# # ASSIGNMENT CONFIG
# name: 04_image_to_image_gans
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
grader = otter.Notebook("04_image_to_image_gans.ipynb")  # grader.check("question") runs an exercise's public tests

# %% tags=["parameters"]
SMOKE = False          # True: tiny data and a few training steps, for the tests
DEVICE = "auto"        # "auto" picks cuda, then mps, then cpu
SEED = 0               # seeds the weights, the batch order and the unpaired shuffling
DATA = "phantom"       # "phantom": simulated brain phantom (notebook 00); "ixi": IXI T1 -> T2
TEST_SUBJECTS = 20     # held-out subjects of another simulated population (the test set)
N_SUBJECTS = 20        # subjects (simulated, or the first N IXI ones), split 70/15/15 by subject
SIZE = 64              # slice side (px) of the paired Pix2Pix model and its baseline
UNPAIRED_SIZE = 32     # slice side (px) of the unpaired models (they cost ~6x more per step)
BATCH_SIZE = 8         # slices per training step
P2P_WIDTH = 32         # first-layer channels of the Pix2Pix U-Net and PatchGAN
P2P_STEPS = 300        # Pix2Pix training steps (both sizes)
UNPAIRED_WIDTH = 16    # first-layer channels of the CycleGAN / UNIT networks
N_RES_BLOCKS = 3       # residual blocks of the CycleGAN generators
UNPAIRED_STEPS = 200   # CycleGAN and UNIT training steps (each of the three unpaired models)
LUT_BINS = 64          # T1w-intensity bins of the intensity-mapping baseline
N_BOOT = 1000          # bootstrap resamples for the confidence intervals

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
import dataclasses

from medgen_nb import pick_device, seed_everything, tasks, zoo
from medgen_nb.course import headline
from medgen_nb.data.brain_phantom import BrainPhantomConfig, brain_slice_datasets
from medgen_nb.data.realdata import DataNotFoundError
from medgen_nb.data.realdata.ixi import IXI_CITATION
from medgen_nb.evaluation import Results, as_task_data, evaluate, fit_or_load, predict, unpaired_training_set
from medgen_nb.metrics import bootstrap_ci, psnr, translation_report
from medgen_nb.metrics.lesion import lesion_contrast
from medgen_nb.models import create
from medgen_nb.models.base import to_signed
from medgen_nb.models.baselines import IntensityMappingBaseline
from medgen_nb.viz import plot_history, translation_comparison
from medgen_nb.widgets import translate_explorer

# %matplotlib inline

notebook_start, notebook_cpu_start = time.perf_counter(), time.process_time()
if DATA not in ("phantom", "ixi"):
    raise ValueError(f"DATA must be 'phantom' (simulated) or 'ixi' (IXI T1 -> T2), got {DATA!r}")
if SMOKE:  # three simulated subjects fill train/val/test; IXI needs two training subjects per unpaired domain
    TEST_SUBJECTS = 3
    N_SUBJECTS, P2P_WIDTH, UNPAIRED_WIDTH, N_RES_BLOCKS = 4 if DATA == "phantom" else 6, 8, 4, 1
    P2P_STEPS, UNPAIRED_STEPS, N_BOOT = 3, 2, 100
data_name = "simulated" if DATA == "phantom" else "IXI"  # what every figure title says it shows
data_title = data_name[:1].upper() + data_name[1:]
device = pick_device(DEVICE)
seed_everything(SEED)
# fit_or_load keys each run by its model config, training set, steps, batch and seed: a finished
# run is loaded from its checkpoint, anything else trains
fit_args = dict(batch_size=BATCH_SIZE, seed=SEED, device=device)
runs = {}  # model -> FitResult (its .source says "trained" or loaded, .seconds how long it took)

# %% [markdown]
# ## 1. Theory: three ways to learn a translation
#
# We want a generator $G$ that maps a source image $x$ (here T1w) to the target contrast $y$ (T2w).
# All images are in $[0, 1]$; the networks work in $[-1, 1]$.
#
# **Pix2Pix** (Isola et al., 2017; review Fig. 5f) needs *paired* data: for every $x$ the
# co-registered $y$ of the same slice. A conditional PatchGAN discriminator $D(x, y)$ scores every
# overlapping patch of the pair as real or generated, and the generator also pays an L1 distance to
# the truth:
#
# $$
# \min_G \max_D\; \mathbb E_{x,y}\big[\log D(x, y)\big] + \mathbb E_{x}\big[\log(1 - D(x, G(x)))\big]
# \;+\; \lambda_{1}\, \mathbb E_{x,y}\,\lVert y - G(x) \rVert_1, \qquad \lambda_1 = 100 .
# $$
#
# The L1 term gets the low frequencies right (it alone would give the blurry conditional median);
# the adversarial term makes the texture look real.
#
# **CycleGAN** (Zhu et al., 2017; Fig. 5e) needs only two *unpaired* sets of images, $\{a\}$ from
# domain A and $\{b\}$ from B. Two generators $G_{AB}$, $G_{BA}$ and two discriminators $D_A$, $D_B$
# (least-squares GAN losses) make translations look like their domain, and the **cycle-consistency**
# loss asks that going there and back returns the input:
#
# $$
# \mathcal L_{\text{cyc}} = \mathbb E_a \lVert G_{BA}(G_{AB}(a)) - a \rVert_1
# + \mathbb E_b \lVert G_{AB}(G_{BA}(b)) - b \rVert_1 ,
# \qquad
# \mathcal L = \mathcal L_{\text{GAN}}(G_{AB}, D_B) + \mathcal L_{\text{GAN}}(G_{BA}, D_A)
# + \lambda_{\text{cyc}}\,\mathcal L_{\text{cyc}} + \lambda_{\text{cyc}}\lambda_{\text{id}}\,\mathcal L_{\text{id}} .
# $$
#
# The optional identity loss $\mathcal L_{\text{id}} = \mathbb E_b\lVert G_{AB}(b) - b\rVert_1 + \dots$
# asks $G_{AB}$ to leave B images alone. That suits colour or style transfer, but **not a contrast
# inversion** like T1w → T2w (CSF is dark on T1w and bright on T2w), so we set $\lambda_{\text{id}} = 0$.
#
# **UNIT** (Liu, Breuel & Kautz, 2017; Fig. 5g) assumes a *shared latent space*: encoders $E_A$,
# $E_B$ map a slice and its (unobserved) counterpart to the same code $z$, decoders $G_A$, $G_B$
# render $z$ in either contrast. Each domain is a VAE ($E$, $G$ with a KL term), each decoder has a
# GAN discriminator, translation is $G_B(E_A(a))$, and a cycle term through the latent space plays
# the role of CycleGAN's:
# $\;\mathcal L = \sum_{d \in \{A, B\}} \big[\lambda_{\text{KL}}\mathrm{KL}_d + \lambda_{\text{rec}}
# \mathcal L_{\text{rec},d} + \lambda_{\text{GAN}}\mathcal L_{\text{GAN},d} +
# \lambda_{\text{cyc}}\mathcal L_{\text{cyc},d}\big]$.
#
# **The baseline: a per-pixel intensity mapping.** Every tissue has one T1w and one T2w intensity, so
# a single function $f$ with $\hat y_i = f(x_i)$ at every pixel $i$ already translates most of a
# slice. The best such function in mean squared error is the conditional mean
# $f^\star(v) = \mathbb E[\,y \mid x = v\,]$, which `IntensityMappingBaseline` estimates as a lookup
# table over T1w-intensity bins of the training slices. A network has to beat $f^\star$ with
# *context*: partial-volume voxels, a lesion whose T1w intensity resembles a healthy tissue's,
# a coil bias that differs between the two acquisitions.
#
# | | data it needs | generator sees | extra losses |
# |---|---|---|---|
# | intensity mapping | paired pixels | one pixel | – |
# | Pix2Pix | paired slices | the whole slice | L1 to the truth |
# | CycleGAN | two unpaired sets | the whole slice | cycle (there and back) |
# | UNIT | two unpaired sets | the whole slice | VAE (KL + reconstruction), latent cycle |

# %% [markdown]
# ## 2. Data: simulated T1w/T2w pairs
#
# Axial slices of the simulated brain phantom (notebook 00): every simulated subject is imaged with
# both sequences on one grid, so pairs are perfect, and a lesion map comes with them. The split is
# **by subject**: no test subject is ever seen in training. The models are scored on 20 further
# simulated subjects of another population (`TEST_SUBJECTS`, the same held-out subjects the course's
# pretrained translators were scored on), all of them test subjects, so every interval below
# resamples 20 heads. Their pairs carry the residual misregistration of a clinical registration
# (`alignment="registered"`), as real paired scans do. We load each split twice, at `SIZE`
# (64 px) for Pix2Pix and at `UNPAIRED_SIZE` (32 px) for the unpaired models, which cost about six
# times more per step (two generators, two discriminators, two extra passes for the cycle); the
# 32 px set also gets a Pix2Pix and a baseline, so every comparison is made at one size.
#
# **Real data.** With `DATA = "ixi"` the same models train on IXI scans of healthy volunteers
# (T1 → T2, the first `N_SUBJECTS` subjects; get them with `python data_scripts/ixi.py --modalities t1 t2`).
# IXI's T1 is a separate scan on its own grid; it is resampled onto the T2 grid through the scanner
# coordinates, so the pairs are aligned but not registered (the head can move between the scans). The
# unpaired models then take T1w slices of half the training subjects and T2w slices of the other
# half. Section 7 needs tumour labels, which IXI does not have, and is skipped.
#

# %%
# NBVAL_CHECK_OUTPUT
if DATA == "phantom":
    # SMOKE's four subjects all get a glioma, so the tumour section below has slices to measure.
    smoke_config = BrainPhantomConfig(glioma_probability=1.0) if SMOKE else None
    common = dict(n_subjects=N_SUBJECTS, seed=SEED, seg_key="lesion", label_from="seg_present",
                  config=smoke_config, progress=False)
    paired = brain_slice_datasets(["t1w"], target="t2w", size=SIZE, **common)
    paired_small = brain_slice_datasets(["t1w"], target="t2w", size=UNPAIRED_SIZE, **common)
    # the held-out population: TEST_SUBJECTS heads of another simulated population, all test
    test_task = dataclasses.replace(tasks.get("brain_t1w_to_t2w"), fractions=(0.0, 0.0, 1.0))
    held_out = {s: tasks.build(test_task, size=s, n_subjects=TEST_SUBJECTS, seed=SEED + 2, alignment="registered")
                for s in (SIZE, UNPAIRED_SIZE)}  # fmt: skip
else:  # IXI T1 resampled onto the T2 grid by scanner coordinates: aligned pairs, not registered
    task = tasks.get("brain_t1w_to_t2w", data="ixi")
    try:
        held_out = {s: tasks.build(task, size=s, n_subjects=N_SUBJECTS) for s in (SIZE, UNPAIRED_SIZE)}
        paired, paired_small = held_out[SIZE].splits, held_out[UNPAIRED_SIZE].splits
    except DataNotFoundError:
        print("Or set DATA = 'phantom' to use the embedded simulated data.")
        raise  # the message says what is missing and the data_scripts command that gets it
    print(f"{IXI_CITATION}; healthy volunteers, no lesion labels")
test, test_small = held_out[SIZE]["test"].tensors(), held_out[UNPAIRED_SIZE]["test"].tensors()
for size, splits in ((SIZE, paired), (UNPAIRED_SIZE, paired_small)):
    print(f"{size} px: " + ", ".join(
        f"{k} {len(v)} slices of {len(v.subject_ids)} subjects"
        + (f" ({int(v.tensors()['label'].sum())} with a lesion)" if DATA == "phantom" else "")
        for k, v in splits.items() if DATA != "phantom" or k != "test"))
if DATA == "phantom":
    print(f"held-out test population: {len(test['image'])} slices of {len(held_out[SIZE]['test'].subject_ids)} "
          f"subjects ({int(test['label'].sum())} with a lesion)")

# %%
show = [int(i) for i in torch.linspace(0, len(test["image"]) - 1, 4).long()]
if DATA == "phantom":
    tumour_counts = (test["seg"].flatten(1).ge(1) & test["seg"].flatten(1).le(3)).sum(1)
    show[-1] = int(tumour_counts.argmax())  # include the test slice with the largest simulated tumour
fig, axes = plt.subplots(2, len(show), figsize=(2.2 * len(show), 4.6))
for col, i in enumerate(show):
    for row, key in enumerate(("image", "target")):
        axes[row, col].imshow(test[key][i, 0], cmap="gray", vmin=0, vmax=1)
        axes[row, col].axis("off")
    axes[0, col].set_title(f"T1w, test slice {i}", fontsize=8)
    axes[1, col].set_title("T2w (same slice)", fontsize=8)
fig.suptitle(f"{data_title} paired test slices, intensities in [0, 1]", fontsize=10)
plt.show()

# %% [markdown]
# ## 3. The baseline: how far does a per-pixel mapping get?
#
# The joint histogram of (T1w, T2w) intensities over all pixels of the training slices shows what a
# per-pixel map can and cannot do. Each tissue is a blob; the lookup table (red) runs through the
# conditional mean of each T1w column. Where one T1w column holds two T2w blobs, any per-pixel map
# must average them. The worst case sits at T1w ≈ 0: **air and CSF are both dark on T1w**, but CSF
# is the brightest tissue on T2w. The table is fitted on all pixels, background included, exactly
# as the networks see them; fitted on head pixels only, it would paint the background CSF-bright
# (try it: PSNR drops to about 6 dB).

# %%
# Only the image pairs are needed from the training split (its label maps would stay in memory).
train_all = {k: v for k, v in paired["train"].tensors().items() if k in ("image", "target")}
baseline = IntensityMappingBaseline("lookup", n_bins=LUT_BINS).fit(train_all["image"], train_all["target"])
fig, ax = plt.subplots(figsize=(4.6, 3.8))
ax.hist2d(train_all["image"].flatten().numpy(), train_all["target"].flatten().numpy(), bins=80,
          range=[[0, 1], [0, 1]], cmap="magma", norm="log")
v = np.linspace(0, 1, 200)
ax.plot(v, baseline.mapping(v), "r-", lw=2, label="lookup table E[T2w | T1w]")
ax.set_xlabel("T1w intensity [0, 1]")
ax.set_ylabel("T2w intensity [0, 1]")
ax.set_title(f"{data_title} training slices: joint histogram (all pixels)", fontsize=9)
ax.legend(fontsize=8, loc="upper right")
plt.show()

# %% [markdown]
# The baseline is fitted at each size from its own training slices and scored on the held-out test
# subjects. These numbers are the bar for the networks.

# %%
# NBVAL_CHECK_OUTPUT
train_small = paired_small["train"].tensors()
baseline_small = IntensityMappingBaseline("lookup", n_bins=LUT_BINS).fit(
    train_small["image"], train_small["target"])
for size, model, data in ((SIZE, baseline, test), (UNPAIRED_SIZE, baseline_small, test_small)):
    report = translation_report(model.translate(data["image"]), data["target"], data_range=1.0)
    print(f"intensity mapping, {size} px: MAE {report['mae'].mean():.4f}, "
          f"PSNR {report['psnr'].mean():.2f} dB, SSIM {report['ssim'].mean():.3f}")

# %% [markdown]
# ## 4. Pix2Pix: paired translation
#
# A U-Net generator (skip connections carry the anatomy's edges straight to the output) and a
# conditional PatchGAN, trained on the paired training slices with the paper's losses and
# $\lambda_1 = 100$. `fit_or_load(...)` loads the checkpoint if this exact configuration was trained
# before.

# %%
pix2pix = create("pix2pix", size=SIZE, base_channels=P2P_WIDTH)
runs["pix2pix"] = fit_or_load(pix2pix, as_task_data(paired["train"], size=SIZE), P2P_STEPS, **fit_args)
pix2pix_small = create("pix2pix", size=UNPAIRED_SIZE, base_channels=P2P_WIDTH)
runs["pix2pix_small"] = fit_or_load(pix2pix_small, as_task_data(paired_small["train"], size=UNPAIRED_SIZE),
                                    P2P_STEPS, **fit_args)
history_p2p, history_p2p_small = runs["pix2pix"].history, runs["pix2pix_small"].history
print(f"Pix2Pix {SIZE} px: {sum(p.numel() for p in pix2pix.generator.parameters()):,} generator "
      f"parameters, {P2P_STEPS} steps, {P2P_STEPS / max(history_p2p.wall_time, 1e-9):.2f} steps/s")
print(f"Pix2Pix {UNPAIRED_SIZE} px: {P2P_STEPS / max(history_p2p_small.wall_time, 1e-9):.2f} steps/s")
plot_history(history_p2p.logs, keys=["loss_l1", "loss_d", "loss_g_gan"], smooth=10 if not SMOKE else 1,
             title=f"Pix2Pix on {data_name} slices ({SIZE} px): training losses")
plt.show()

# %% [markdown]
# **The objective, written out.** Pix2Pix's generator is scored twice on every training pair: the
# PatchGAN $D$ looks at the source stacked with the prediction and returns one logit per
# overlapping patch, and the L1 term compares the prediction with the true T2w pixel by pixel. The
# cell writes both terms for four held-out pairs with the trained model and checks them against the
# package's `losses`, the function its training step minimises.

# %%
# NBVAL_CHECK_OUTPUT
# The Pix2Pix generator objective, written out, on four test pairs (paper eq. 4 with the
# non-saturating form): L_G = -log D(x, G(x)) + lambda_1 * |y - G(x)|_1
import torch.nn.functional as F

x = to_signed(test["image"][:4]).to(pix2pix.device)  # (4, 1, S, S) in [-1, 1], source T1w
y = to_signed(test["target"][:4]).to(pix2pix.device)  # (4, 1, S, S) in [-1, 1], target T2w
with torch.no_grad():
    fake = pix2pix.generator(x)  # G(x)
    patch_logits = pix2pix.discriminator(torch.cat([x, fake], 1))  # (4, 1, P, P): one per patch
    loss_gan = F.softplus(-patch_logits).mean()  # -log D averaged over every patch's verdict
    loss_l1 = (fake - y).abs().mean()
    loss_g = loss_gan + pix2pix.config["lambda_l1"] * loss_l1
    package = pix2pix.losses(x, y, fake)
print(f"PatchGAN verdicts per image: {tuple(patch_logits.shape[-2:])} patches")
print(f"written out: GAN {loss_gan.item():.4f}, L1 {loss_l1.item():.4f}, total {loss_g.item():.3f}")
print(f"package:     GAN {package['gan'].item():.4f}, L1 {package['l1'].item():.4f}, "
      f"total {package['total'].item():.3f}")
assert pix2pix.config["gan_loss"] == "nonsaturating"  # the loss written out above
assert torch.allclose(loss_g, package["total"], rtol=1e-5, atol=1e-6)

# %% [markdown]
# The L1 term (in $[-1, 1]$ units) falls steadily; the discriminator and generator GAN losses trade
# blows around their equilibrium rather than converging, as they should. Now the held-out subjects:

# %%
pred_p2p = predict(pix2pix, test["image"])
pred_base = baseline.translate(test["image"])
i = show[-1]
translation_comparison(test["image"][i], pred_p2p[i], test["target"][i], names=("T1w", "T2w"),
                       suptitle=f"Pix2Pix, {data_name} test slice {i} (error in [0, 1] units)")
plt.show()
translation_comparison(test["image"][i], pred_base[i], test["target"][i], names=("T1w", "T2w"),
                       suptitle=f"Intensity mapping, {data_name} test slice {i}")
plt.show()

# %% [markdown]
# ## 5. CycleGAN and UNIT: unpaired translation
#
# For the unpaired models, domain A is the set of T1w slices of half the training subjects and
# domain B the T2w slices of the other half (`unpaired_training_set`): no head is in both domains, so
# no T1w slice's true partner is ever in the T2w set. Both models use $\lambda_{\text{id}} = 0$ (contrast inversion, see §1) and the course's
# small widths, at `UNPAIRED_SIZE` px.

# %%
unpaired = unpaired_training_set(paired_small["train"], seed=SEED)  # T1w of half the subjects, T2w of the rest
print(f"domain A: {len(unpaired.a)} T1w slices, domain B: {len(unpaired.b)} T2w slices (disjoint subjects)")
unpaired_data = as_task_data(unpaired, size=UNPAIRED_SIZE)
cyclegan = create("cyclegan", size=UNPAIRED_SIZE, base_channels=UNPAIRED_WIDTH,
                  n_res_blocks=N_RES_BLOCKS, lambda_identity=0.0, seed=SEED)
runs["cyclegan"] = fit_or_load(cyclegan, unpaired_data, UNPAIRED_STEPS, **fit_args)
unit = create("unit", size=UNPAIRED_SIZE, base_channels=UNPAIRED_WIDTH)
runs["unit"] = fit_or_load(unit, unpaired_data, UNPAIRED_STEPS, **fit_args)
history_cg, history_unit = runs["cyclegan"].history, runs["unit"].history
for name, h in (("CycleGAN", history_cg), ("UNIT", history_unit)):
    print(f"{name}: {UNPAIRED_STEPS} steps, {UNPAIRED_STEPS / max(h.wall_time, 1e-9):.2f} steps/s")
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
k = 10 if not SMOKE else 1
for ax, (name, h, keys) in zip(axes, (("CycleGAN", history_cg, ["loss_cycle", "loss_g_gan"]),
                                      ("UNIT", history_unit, ["loss_cycle", "loss_recon", "loss_g_gan"]))):
    for key in keys:
        y = np.convolve(h.logs[key], np.ones(k) / k, mode="valid")
        ax.plot(y, label=key)
    ax.set_title(f"{name} on {data_name} slices: losses", fontsize=9)
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 6. The comparison on held-out subjects
#
# The live models above trained for a few hundred steps; the course's pretrained zoo holds the same
# designs trained for thousands (Pix2Pix at 64 px, CycleGAN and UNIT at 32 px, the unpaired ones on
# subject-disjoint domains), so the table shows both the learning and the converged result. Every
# row is scored by `evaluate` under notebook 01's protocol: each metric inside the head mask per
# slice, averaged per subject, reported as the mean over the held-out subjects with a 95 %
# cluster-bootstrap interval that resamples subjects, never slices.

# %%
models = {  # (name, size) -> model with .translate((N, 1, S, S)) in [0, 1]
    ("intensity mapping", SIZE): baseline, ("Pix2Pix", SIZE): pix2pix,
    ("intensity mapping", UNPAIRED_SIZE): baseline_small, ("Pix2Pix", UNPAIRED_SIZE): pix2pix_small,
    ("CycleGAN", UNPAIRED_SIZE): cyclegan, ("UNIT", UNPAIRED_SIZE): unit,
}
if DATA == "phantom":  # the zoo learnt from the phantom only
    models |= {("Pix2Pix, zoo", SIZE): zoo.load("pix2pix_t1w_t2w_64", device),
               ("CycleGAN, zoo", UNPAIRED_SIZE): zoo.load("cyclegan_t1w_t2w_32_s0", device),
               ("UNIT, zoo", UNPAIRED_SIZE): zoo.load("unit_t1w_t2w_32", device)}  # fmt: skip
table = Results.concat([evaluate(model, held_out[size], name=f"{name}, {size} px", n_boot=N_BOOT, seed=SEED)
                        for (name, size), model in models.items()])  # fmt: skip
results = {(name, size): {k: table.get(f"{name}, {size} px", k) for k in ("mae", "psnr", "ssim")}
           for name, size in models}  # fmt: skip
row = table.rows[0]
print(f"{row.subjects} held-out subjects, {row.images} slices; masked metrics, interval over subjects")
display(Markdown(table.to_markdown()))

# %%
p2p, base = results["Pix2Pix", SIZE], results["intensity mapping", SIZE]
beats = p2p["psnr"].value > base["psnr"].value and p2p["ssim"].value > base["ssim"].value
print(f"Pix2Pix ({SIZE} px) vs intensity mapping: PSNR {p2p['psnr'].value:.2f} vs {base['psnr'].value:.2f} dB, "
      f"SSIM {p2p['ssim'].value:.3f} vs {base['ssim'].value:.3f} -> "
      f"{'Pix2Pix beats the baseline on both' if beats else 'Pix2Pix does NOT beat the baseline on both'}")
if not SMOKE and not beats:
    print("Warning: train longer (P2P_STEPS) before trusting the comparison.")

# %% [markdown]
# How to read the table:
#
# - **Paired vs unpaired.** Compare rows of one size only. Pix2Pix is told the answer pixel by
#   pixel; CycleGAN and UNIT only that their output should look like *some* T2w slice. The review
#   sees the same ordering for multi-contrast MRI (§6.2.1): paired methods prevail because pairing
#   gives better supervision.
# - **The baseline is strong.** Simulated MR contrast is close to a function of tissue type, so the
#   per-pixel map already scores well; whatever Pix2Pix gains comes from context (air vs CSF,
#   partial volume at tissue borders, the lesion, the smooth bias field). Note that the lookup table
#   is fitted on *pairs*: for the unpaired models it is a bar set with information they never get.
# - **Converged is not the same as faithful.** Compare each live row with its zoo row. An
#   adversarial loss rewards outputs that look like the target domain, and the target domain
#   includes its noise: a generator that paints noise-like texture pays for it in PSNR against a
#   conditional-mean predictor such as the lookup table, even when its anatomy is right. SSIM and
#   PSNR can therefore disagree about the same model; read both, and the pictures.

# %% [markdown]
# ## 7. Hallucination: when domain B has no tumours
#
# Cycle consistency only asks that $G_{BA}$ can *undo* $G_{AB}$. It does not ask that $G_{AB}(a)$
# shows what a T2w scan of that patient would show. If the T2w training set has **no tumours**, the
# discriminator $D_B$ learns that "a T2w slice has no bright blob in the white matter", and the
# easiest way for $G_{AB}$ to fool it is to paint over the tumour, hiding just enough of it in
# low-contrast detail for $G_{BA}$ to bring it back (Cohen, Luck & Honari, MICCAI 2018). The
# reverse, inventing tumours, happens when only B has them.
#
# The experiment has two arms of converged CycleGANs from the zoo, identical except for domain B:
# **all-slice B** (every T2w slice of its subjects) and **lesion-free B** (only the T2w slices
# without any lesion, `unpaired_training_set(..., lesion_free_b=True)`), each trained with three
# seeds. On the held-out slices that contain a simulated tumour (lesion labels 1–3) we measure the
# *retained contrast*: the tumour's mean intensity minus that of a 3-pixel ring around it
# (`lesion_contrast`), averaged over the slices, in the predictions divided by the same in the true
# T2w (1 = kept, 0 = erased). Within one model the interval resamples slices; across models of an
# arm, the seeds give the spread that matters for a claim about the training set, so each arm is
# summarised by its mean over seeds with a t-interval.

# %%
small_models = {name: m for (name, size), m in models.items() if size == UNPAIRED_SIZE}
ARMS = {"all-slice B": "cyclegan_t1w_t2w_32_s{}", "lesion-free B": "cyclegan_lesionfree_t1w_t2w_32_s{}"}
arm_models = {}
if DATA != "phantom":
    print("Skipped on IXI: its subjects are healthy volunteers, so there are no tumour labels "
          "to measure retained tumour contrast on (set DATA = 'phantom').")
else:
    for arm, pattern in ARMS.items():
        for s in range(3):
            spec = zoo.entry(pattern.format(s))
            arm_models[f"CycleGAN, {arm}, seed {s}"] = zoo.load(pattern.format(s), device)
        print(f"{arm}: domain B = {spec['task'].get('domain_b')} T2w slices; {spec['recipe']['steps']} steps, "
              f"batch {spec['recipe']['batch_size']}, three seeds")
    small_models |= arm_models


# %%
def tumour_slices(data, min_px=6):
    tumour = ((data["seg"] >= 1) & (data["seg"] <= 3)).float()[:, None]  # (N, 1, S, S): glioma labels
    return torch.nonzero(tumour.flatten(1).sum(1) >= min_px).flatten(), tumour


def ratio_of_means(pairs):  # pairs (L, 2): predicted and true contrast of the same slice
    return float(pairs[:, 0].mean() / pairs[:, 1].mean())


lesion_split, kept = None, {}  # stay empty on IXI
if DATA == "phantom":  # on IXI the section is skipped (see above)
    lesion_data, lesion_split = test_small, "test"
    lesion_idx, tumour = tumour_slices(lesion_data)
    if len(lesion_idx) < 2:  # only in SMOKE, where the single test subject may have no tumour
        lesion_data, lesion_split = train_small, "training"
        lesion_idx, tumour = tumour_slices(lesion_data)
    print(f"{len(lesion_idx)} {lesion_split} slices with a simulated tumour of >= 6 px at {UNPAIRED_SIZE} px")
    lesion_preds = {name: predict(m, lesion_data["image"][lesion_idx]) for name, m in small_models.items()}
    lesion_target = lesion_data["target"][lesion_idx]
    ring_args = dict(lesion=tumour[lesion_idx], ring_px=3, mask=lesion_data["mask"][lesion_idx])
    c_true = lesion_contrast(lesion_target, **ring_args)  # (L,) tumour minus ring, [0, 1] units
    print(f"true T2w tumour contrast: mean {c_true.mean():.3f} ([0, 1] units)")
    for name, pred in lesion_preds.items():
        pairs = torch.stack([lesion_contrast(pred, **ring_args), c_true], 1)
        kept[name] = bootstrap_ci(ratio_of_means, pairs, n_boot=N_BOOT, seed=SEED)
        print(f"{name:>24}: retained tumour contrast {kept[name]:.2f}, "
              f"PSNR of these slices {psnr(pred, lesion_target, data_range=1.0):.2f} dB")
    # each arm over its three seeds: mean and t-interval (2 degrees of freedom, t = 4.30)
    arm_values = {arm: np.array([kept[f"CycleGAN, {arm}, seed {s}"].value for s in range(3)]) for arm in ARMS}
    for arm, v in arm_values.items():
        half = 4.303 * v.std(ddof=1) / np.sqrt(len(v))
        print(f"{arm:>14s}: retained contrast per seed {np.round(v, 2).tolist()}, mean {v.mean():.2f} "
              f"[{v.mean() - half:.2f}, {v.mean() + half:.2f}] (t-interval over seeds)")
    a, b = arm_values["lesion-free B"], arm_values["all-slice B"]
    diff, se = a.mean() - b.mean(), np.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 3)
    half = 2.776 * se  # Welch-type interval, about 4 degrees of freedom
    if diff + half < 0:
        verdict = "lower, with an interval below 0: the lesion-free target domain erased tumour contrast"
    elif diff - half > 0:
        verdict = "higher, with an interval above 0: the opposite of the predicted erasure"
    else:
        verdict = "an interval that contains 0: three seeds per arm cannot tell the arms apart"
    print(f"lesion-free minus all-slice B: {diff:+.2f} [{diff - half:+.2f}, {diff + half:+.2f}], {verdict}")
    print(f"with this spread between seeds, a difference smaller than about {half:.2f} in retained "
          "contrast is beyond what this design can detect")

# %% [markdown]
# The picture makes the numbers concrete: the test slice with the largest tumour (red contour),
# translated by each model (seed 0 of each arm).

# %%
if DATA == "phantom":  # on IXI the section is skipped (see above)
    k = int(tumour[lesion_idx].flatten(1).sum(1).argmax())  # the largest tumour among these slices
    j = int(lesion_idx[k])  # its index in the lesion_split set
    images = {"T1w (input)": lesion_data["image"][j], "T2w (reference)": lesion_data["target"][j]}
    images.update({name: pred[k] for name, pred in lesion_preds.items() if "seed" not in name or name.endswith("seed 0")})
    fig, axes = plt.subplots(1, len(images), figsize=(2.1 * len(images), 2.6))
    for ax, (title, img) in zip(axes, images.items()):
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
        ax.contour(tumour[j, 0], levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Simulated {lesion_split} slice {j} ({UNPAIRED_SIZE} px): is the tumour still there?", fontsize=10)
    plt.show()

# %% [markdown]
# What to look for. The clean comparison is between the two arms: same architecture, same recipe,
# same domain A; only domain B's lesion content differs, so a difference in retained contrast
# isolates the effect of the target domain's training images (its discriminator has never seen a
# tumour). **Read the verdict line above rather than expecting a particular answer**, and read it
# with its power line: with three seeds per arm the interval on the difference is as wide as the
# seeds disagree, and a bootstrap over the slices of one model cannot replace that spread.
# Cohen et al. (2018) describe the erasure; whether it shows here, at this size and budget, is what
# the interval says.
#
# The paired models are the reference for what supervision buys, but check their retained
# contrast too: with about one training slice in seven containing a lesion, a short training learns
# the healthy tissue first, and a per-pixel map cannot know that a dark T1w pixel is tumour rather
# than CSF. Rare findings are the first casualty of a translation model, paired or not.
#
# Compare the retained contrasts with the PSNR of the same slices: a tumour covers a few percent of
# the pixels, so a whole-slice metric moves far less than the tumour does. **A whole-image metric
# cannot certify that a translated image is diagnostically faithful**; measure inside the structures
# that matter, train long enough on enough lesion examples, and make the target domain's training
# data match the patients the model will see.

# %% [markdown]
# ## 8. Explore the translations
#
# Pick a model and a test slice: the panel shows source, prediction, reference and the signed error
# map, with that slice's PSNR and SSIM in the title. The slider starts at the tumour slice above.
# (In a static HTML copy the controls do not respond; the figure below the widget is a static copy.)

# %%
explorer = translate_explorer(small_models, held_out[UNPAIRED_SIZE]["test"], names=("T1w", "T2w"),
                              title=f"{data_title} T1w -> T2w test slices at {UNPAIRED_SIZE} px")
if lesion_split == "test":
    explorer.controls["index"].value = j
explorer.controls["model"].value = "CycleGAN, lesion-free B, seed 0" if DATA == "phantom" else "CycleGAN"
display(explorer)
explorer.render(**explorer.values())
plt.show()

# %% [markdown]
# ## 9. Results

# %%
lab_seconds = time.perf_counter() - notebook_start
cpu_seconds = time.process_time() - notebook_cpu_start  # all threads: comparable across loads
train_seconds = {name: run.seconds if run.source == "trained" else 0.0 for name, run in runs.items()}
print(f"this run: {lab_seconds:.0f} s wall, {cpu_seconds:.0f} s CPU (all threads); training (0 s = loaded from a checkpoint): "
      + ", ".join(f"{k} {v:.0f} s" for k, v in train_seconds.items()))
numbers = {}
short = {"intensity mapping": "baseline", "Pix2Pix": "pix2pix", "CycleGAN": "cyclegan", "UNIT": "unit",
         "Pix2Pix, zoo": "pix2pix_zoo", "CycleGAN, zoo": "cyclegan_zoo", "UNIT, zoo": "unit_zoo"}
for (name, size), r in results.items():
    numbers[f"{short[name]}{size}_psnr_db"] = round(r["psnr"].value, 2)
    numbers[f"{short[name]}{size}_ssim"] = round(r["ssim"].value, 3)
if kept:  # the lesion experiment ran (simulated data only)
    numbers["tumour_contrast_kept_pix2pix"] = round(kept["Pix2Pix"].value, 2)
    numbers["tumour_contrast_kept_all_slice_b"] = round(float(arm_values["all-slice B"].mean()), 2)
    numbers["tumour_contrast_kept_lesion_free_b"] = round(float(arm_values["lesion-free B"].mean()), 2)
headline(**numbers, pix2pix_beats_baseline=str(beats), lab_seconds=round(lab_seconds),
         cpu_seconds=round(cpu_seconds))

# %% [markdown]
# ## What to take away
#
# - **Pair when you can.** With paired, co-registered slices, Pix2Pix's L1 + PatchGAN objective
#   supervises every pixel; the unpaired objectives only ask for plausible T2w images. Compare them
#   at one size and one training budget, as the table does.
# - **Always report a non-network baseline.** For MR-to-MR translation a per-pixel lookup table is a
#   strong bar; a model that does not beat it on held-out subjects has learned nothing beyond the
#   tissue intensities.
# - **Report intervals, and know what they resample.** Slices of one subject are correlated, so the
#   tables resample the 20 held-out subjects, never slices.
# - **Unpaired objectives can hallucinate.** Cycle consistency is satisfied by many mappings; the
#   adversarial loss pulls outputs toward whatever the target domain's training images contain.
#   A T2w set without tumours can teach the generator to weaken or remove tumours (Cohen et al.,
#   2018), and whole-slice PSNR and SSIM barely register it. Check lesion-level measures (here,
#   retained contrast) before trusting a translation, and never present simulated results as
#   clinical evidence.
# - **One training run is one sample.** A claim about what a training set does to a model needs
#   several training seeds per arm and an interval over them, not only a bootstrap over the test
#   slices of one trained model; state the smallest effect the design could have detected.

# %% [markdown]
# ## 10. Exercises
#
# Each exercise has a cell for your answer, followed by a `grader.check(...)` cell that runs its public tests. A course's autograder adds hidden tests that compare your values with the reference, so a blank or wrong answer scores zero.
#
# **Exercise 1 – the cycle loss in code.** Write `my_cycle_loss(g_ab, g_ba, a, b)` that returns
# $\mathcal L_{\text{cyc}}$ of §1 for two generators (functions from images to images) and batches
# `a` (domain A) and `b` (domain B): the mean absolute error of the forward cycle
# $G_{BA}(G_{AB}(a))$ against `a` plus that of the backward cycle $G_{AB}(G_{BA}(b))$ against `b`.
# Then evaluate it on the signed T1w (`a`) and T2w (`b`) test slices with $G_{AB}(x) = -x$ (a pure
# contrast inversion) and $G_{BA}(x) = x$: what would it be if *both* generators were the inversion,
# and what does that tell you about what cycle consistency can and cannot check?

# %% [raw]
# # BEGIN QUESTION
# name: cycle_loss
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
a, b = to_signed(test_small["image"]), to_signed(test_small["target"])  # (N, 1, S, S) in [-1, 1]


# Your answer: the cycle loss of two generators on batches a and b
def my_cycle_loss(g_ab, g_ba, a, b):
    # BEGIN SOLUTION
    return (g_ba(g_ab(a)) - a).abs().mean() + (g_ab(g_ba(b)) - b).abs().mean()
    # END SOLUTION


# BEGIN SOLUTION NO PROMPT
print(f"inversion + identity: {float(my_cycle_loss(lambda x: -x, lambda x: x, a, b)):.4f}; "
      f"two inversions: {float(my_cycle_loss(lambda x: -x, lambda x: -x, a, b)):.4f}")
# G_BA(G_AB(a)) = -a, so the forward cycle error is |-a - a| = 2|a|; the backward one is 2|b|.
# With two inversions both cycles return the input exactly: the loss is 0. Any invertible pair
# G_BA = G_AB^-1 has zero cycle loss, whether or not G_AB is the right translation.
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_cycle_loss_matches_the_package(my_cycle_loss, create, a, b, UNPAIRED_SIZE, torch):
    probe = create("cyclegan", size=UNPAIRED_SIZE, base_channels=4, n_res_blocks=1, lambda_identity=0.0)
    probe.g_ab = torch.nn.Conv2d(1, 1, 1, bias=False)
    probe.g_ab.weight.data.fill_(-1.0)  # a 1x1 convolution with weight -1 is the inversion x -> -x
    probe.g_ba = torch.nn.Identity()
    with torch.no_grad():
        reference = probe.generator_losses(a, b)["cycle"]
        mine = my_cycle_loss(probe.g_ab, probe.g_ba, a, b)
    assert torch.is_tensor(mine) and mine.ndim == 0, "return a scalar tensor"
    assert torch.isclose(mine, reference, atol=1e-5), (
        f"you got {float(mine):.4f}, the package {float(reference):.4f}: apply G_AB then G_BA to a, "
        "G_BA then G_AB to b, and add the two mean absolute errors"
    )


test_cycle_loss_matches_the_package(my_cycle_loss, create, a, b, UNPAIRED_SIZE, torch)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_cycle_loss_with_trainable_generators(my_cycle_loss, create, a, b, UNPAIRED_SIZE, torch):
    torch.manual_seed(0)
    probe = create("cyclegan", size=UNPAIRED_SIZE, base_channels=4, n_res_blocks=1, lambda_identity=0.0)
    with torch.no_grad():
        reference = probe.generator_losses(a[:4], b[:4])["cycle"]
        mine = my_cycle_loss(probe.g_ab, probe.g_ba, a[:4], b[:4])
    assert torch.isclose(mine, reference, atol=1e-5), "the cycle loss of two untrained generators differs"


test_cycle_loss_with_trainable_generators(my_cycle_loss, create, a, b, UNPAIRED_SIZE, torch)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 2 – PSNR on the head only.** The table's PSNR averages the squared error over the whole
# slice, including the black background that every model gets right. Compute the Pix2Pix PSNR
# (`pred_p2p` against `test["target"]`) over the **head mask** `test["mask"]` only: per slice
# $10\log_{10}\big(1 / \overline{(\hat y - y)^2}_{\text{mask}}\big)$, then the mean over slices.
# Before you run it: will it be higher or lower than the whole-slice value, and why?

# %% [raw]
# # BEGIN QUESTION
# name: head_psnr
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the mean over slices of the head-mask PSNR of pred_p2p, in dB (a float)
# BEGIN SOLUTION NO PROMPT
squared = (pred_p2p - test["target"]) ** 2  # (N, 1, S, S)
m = test["mask"]
mse_head = (squared * m).flatten(1).sum(1) / m.flatten(1).sum(1)  # (N,) mean over head pixels
# Lower: the background pixels are near-perfect and dilute the whole-slice MSE, so removing them
# raises the MSE and lowers the PSNR. Report which pixels a PSNR is computed over.
# END SOLUTION
my_head_psnr = float((10 * torch.log10(1.0 / mse_head)).mean())  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_head_psnr_is_not_the_whole_slice(my_head_psnr, psnr, pred_p2p, test):
    assert isinstance(my_head_psnr, float), "set my_head_psnr to a float in dB"
    whole = float(psnr(pred_p2p, test["target"], data_range=1.0))
    assert abs(my_head_psnr - whole) > 1e-3, "that is the whole-slice PSNR: average the squared error over mask pixels only"


test_head_psnr_is_not_the_whole_slice(my_head_psnr, psnr, pred_p2p, test)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_head_psnr_value(my_head_psnr, psnr, pred_p2p, test):
    reference = float(psnr(pred_p2p, test["target"], data_range=1.0, mask=test["mask"]))
    assert abs(my_head_psnr - reference) < 1e-2, (
        f"{my_head_psnr:.2f} dB: take the mean of the squared error over mask pixels per slice, "
        "then 10*log10(1/mse), then average over slices"
    )


test_head_psnr_value(my_head_psnr, psnr, pred_p2p, test)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 3 – a polynomial instead of a lookup table.** Fit
# `IntensityMappingBaseline("polynomial", degree=3)` on the 64 px training slices (all pixels, as
# the lookup table) and compute its mean test PSNR. Is it better or worse than the lookup table? Which property
# of the T1w → T2w mapping in the joint histogram of §3 explains it?

# %% [raw]
# # BEGIN QUESTION
# name: poly_psnr
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the cubic polynomial baseline's mean test PSNR in dB (a float)
# BEGIN SOLUTION NO PROMPT
poly = IntensityMappingBaseline("polynomial", degree=3).fit(train_all["image"], train_all["target"])
print(f"test PSNR: lookup table {results['intensity mapping', SIZE]['psnr'].value:.2f} dB")
# Worse: the conditional mean bends sharply (dark CSF -> bright, grey matter -> mid, white matter
# -> dark, with the background at 0), which a cubic cannot follow; the lookup table can follow any
# shape given enough pixels per bin.
# END SOLUTION
my_poly_psnr = float(psnr(poly.translate(test["image"]), test["target"], data_range=1.0))  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_poly_psnr_is_a_number(my_poly_psnr):
    assert isinstance(my_poly_psnr, float), "set my_poly_psnr to a float in dB"


test_poly_psnr_is_a_number(my_poly_psnr)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_poly_psnr_value(my_poly_psnr, IntensityMappingBaseline, psnr, train_all, test):
    poly = IntensityMappingBaseline("polynomial", degree=3).fit(train_all["image"], train_all["target"])
    reference = float(psnr(poly.translate(test["image"]), test["target"], data_range=1.0))
    assert abs(my_poly_psnr - reference) < 1e-2, (
        f"{my_poly_psnr:.2f} dB: fit on all pixels of train_all, translate test['image'], and score "
        "with psnr(..., data_range=1.0)"
    )


test_poly_psnr_value(my_poly_psnr, IntensityMappingBaseline, psnr, train_all, test)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION
