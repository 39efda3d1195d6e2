# %% [markdown]
# # 01 · Measuring generated images: creation and translation metrics
#
# **What this notebook does.** Every later notebook ends with a table of numbers: PSNR and SSIM for a
# translation model, FID or precision/recall for a generator. This notebook opens those numbers up.
# You write each metric of the review's Table 1 and Table 5 yourself in a few lines, check it
# against `medgen_nb.metrics` (the versions the course uses everywhere), and then break images on
# purpose (noise, blur, a shift of a pixel or two, a change of brightness) to see which metric
# notices what. All images are **simulated** brain slices (see notebook 00); nothing here is a
# clinical result.
#
# **Learning objectives**
# - tell paired *translation* metrics (is this image the right one?) from distribution-level
#   *creation* metrics (do these images look like the real population?), and when each applies;
# - write MAE, MSE, RMSE, PSNR, SSIM and FID from their equations and reproduce the package values;
# - predict how each metric reacts to noise, blur, misregistration and intensity scaling, and why
#   SSIM and MAE can rank the same images differently;
# - avoid the two classic traps: PSNR with the wrong `data_range`, and scores inflated by empty
#   background (use a mask; report CT errors in HU);
# - separate fidelity from diversity with precision/recall, detect copied training images, put a
#   confidence interval on FID and know why FIDs from different sample sizes are not comparable.
#
# **Review sections (Pang et al. 2025):** §5.1 and Table 1 (creation metrics: IS, MS, MMD, WD, FID),
# §6.1 and Table 5 (translation metrics: MAE, MSE, RMSE, PSNR, SSIM), and the evaluation limits
# discussed in §7.2.
#
# **Prerequisites:** notebook 00 (the simulated data); NumPy/PyTorch tensors; the idea of a mean
# and a covariance matrix.
#
# **Runtime and memory**, measured with `make course` on an otherwise idle 2-core CPU with two torch
# threads (2026-12-03). "First run" is the course run in order from an empty cache: it includes
# simulating the data that earlier notebooks have not, and training the models trained here; the
# SMOKE row is also a first run at its small sizes.
#
# | setting | time | kernel peak memory |
# |---|---|---|
# | SMOKE (`SMOKE = True`, what the tests run) | 12 s | 0.71 GiB |
# | lab (the default), first run | 33 s | 1.28 GiB |
# | lab, re-run with a warm cache | 23 s | 1.20 GiB |
# | GPU (`DEVICE = "cuda"`) | not measured | |
#
# Embedding a few thousand slices with the feature network and the bootstrap intervals take most of the time. Memory is the kernel's resident size, libraries included; Binder gives 2 GB. On a
# machine busy with other work, torch's threads compete for the cores and we saw everything run
# several times slower. The last cell prints the time of your own run.

# %% [raw]
# # ASSIGNMENT CONFIG
# name: 01_metrics
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
grader = otter.Notebook("01_metrics.ipynb")  # grader.check("question") runs an exercise's public tests

# %% tags=["parameters"]
SMOKE = False      # True: tiny sizes for the tests (3 subjects, 64 px, few bootstrap draws)
DEVICE = "auto"    # where the feature network runs: "auto" picks cuda, then mps, then cpu
SEED = 0           # seeds the simulated subjects and every random draw below
DATA = "phantom"   # the simulated brain phantom of notebook 00; no real data set fits (see below)
N_SUBJECTS = 8     # simulated brain subjects (~2 s each to simulate, then cached on disk)
SIZE = 128         # slice side in pixels: 64 or 128
N_BOOT = 50        # bootstrap resamples for the confidence intervals

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

import medgen_nb.viz  # noqa: F401  (importing it selects the headless Agg backend)
from medgen_nb import metrics as M
from medgen_nb import pick_device, seed_everything
from medgen_nb.course import headline
from medgen_nb.data.brain_phantom import BrainPhantomConfig, brain_slice_datasets
from medgen_nb.data.intensity import ct_window
from medgen_nb.widgets import metric_response_explorer

# %matplotlib inline

notebook_start = time.perf_counter()
if DATA != "phantom":  # the sections share one data set; 2.2 to 4 need what only the phantom has
    raise ValueError(
        f"DATA = {DATA!r}: notebook 01 runs on the simulated phantom only (DATA = 'phantom'). It "
        "scores six co-registered modalities of each slice (T1w, T2w, FLAIR, CT, CBCT, PET), "
        "uses the phantom's tissue labels (CSF, GM, WM, skull, scalp) for Dice, and its feature "
        "network was trained on these simulated slices. No real data set has all of them (IXI: "
        "T1/T2/PD MR; SynthRAD2023: MR or CBCT with CT; BraTS: four MR contrasts; MedMNIST: one "
        "2-D modality). notebooks/README.md lists the notebooks that run on real data."
    )
if SMOKE:
    N_SUBJECTS, SIZE, N_BOOT = 3, 64, 10
device = pick_device(DEVICE)
seed_everything(SEED)


def table(rows, header):
    # A list of rows -> a Markdown table (numbers rounded to 4 significant digits).
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


# %% [markdown]
# ## 1. Two families of metrics
#
# The review lists the metrics of generated images in two tables, and they answer different
# questions:
#
# | | **translation** (Table 5, §6.1) | **creation** (Table 1, §5.1) |
# |---|---|---|
# | task | map an image of modality A to modality B (MR→CT, CBCT→CT) | sample new images from noise |
# | what is compared | each output with *its own* ground truth, pixel by pixel | the *set* of outputs with a set of real images |
# | needs | paired, co-registered data | only real images, no pairing |
# | metrics | MAE, MSE, RMSE, PSNR, SSIM | IS, MS, MMD/KID, WD, FID, precision/recall |
# | one number per | image (average over a test set, with a CI) | whole sample |
#
# A generator has no ground truth for a given sample, so only distribution metrics make sense; a
# translation model has one, so it should be judged against it (a CT that "looks like a CT" but puts
# the skull in the wrong place is useless for dose planning). Many papers report both.
#
# **Units and `data_range`.** Translation metrics live in the image's units. Course images are in
# [0, 1] (`medgen_nb.data.intensity`), so an MAE of 0.01 on a CT window of [-1000, 2000] HU is
# 30 HU. PSNR and SSIM also need the *width of the possible intensity range*, `data_range`: 1.0 for
# [0, 1] images, 3000 for HU in [-1000, 2000]. It is a property of the imaging protocol, never of
# the image at hand (section 2.3 shows why).
#
# We load simulated brain slices once: six co-registered modalities per slice, a head mask and a
# tissue label map (0 background, 1 CSF, 2 GM, 3 WM, 4 skull, 5 scalp). Splits go by subject.

# %%
MODALITIES = ("t1w", "t2w", "flair", "ct", "cbct", "pet")
t0 = time.perf_counter()
datasets = brain_slice_datasets(
    list(MODALITIES), n_subjects=N_SUBJECTS, size=SIZE, seed=SEED, seg_key="tissue",
    config=BrainPhantomConfig(modalities=MODALITIES), progress=False,
)
train, val, test = (datasets[s].tensors() for s in ("train", "val", "test"))
for split in (train, val):  # below, only the test split needs its label maps and head masks
    del split["seg"], split["mask"]
del datasets  # the float32 copies above are all we use; dropping the datasets saves memory (Binder)
channel = {name: i for i, name in enumerate(MODALITIES)}
print(f"loaded in {time.perf_counter() - t0:.1f} s; slices: train {len(train['image'])}, "
      f"val {len(val['image'])}, test {len(test['image'])}; image tensor {tuple(train['image'].shape)}")

# The translation examples use the test slices that cut through the middle of the brain.
order = test["mask"].flatten(1).mean(1).argsort(descending=True)
pick = order[: 8 if SMOKE else 24]
t1 = test["image"][pick, channel["t1w"]][:, None].double()      # (B, 1, S, S) in [0, 1]
brain_mask = test["mask"][pick].bool()                          # (B, 1, S, S) head mask
print("T1w batch for the translation experiments:", tuple(t1.shape))


# %% [markdown]
# ## 2. Translation metrics (Table 5), from scratch
#
# For a prediction $x$ and its target $y$ with $m$ pixels:
#
# $$\mathrm{MAE} = \frac1m\sum_{i=1}^m |x_i - y_i|,\qquad
# \mathrm{MSE} = \frac1m\sum_{i=1}^m (x_i - y_i)^2,\qquad \mathrm{RMSE} = \sqrt{\mathrm{MSE}},$$
#
# $$\mathrm{PSNR} = 20\log_{10}\frac{L}{\mathrm{RMSE}} = 10\log_{10}\frac{L^2}{\mathrm{MSE}}\ \text{dB},
# \qquad L = \texttt{data\_range}.$$
#
# SSIM (Wang et al. 2004) compares local means $\mu$, variances $\sigma^2$ and the covariance
# $\sigma_{xy}$, each computed under a Gaussian window (11 × 11, $\sigma$ = 1.5 px) around every pixel:
#
# $$\mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + c_1)(2\sigma_{xy} + c_2)}
# {(\mu_x^2 + \mu_y^2 + c_1)(\sigma_x^2 + \sigma_y^2 + c_2)},\quad c_1 = (0.01L)^2,\ c_2 = (0.03L)^2,$$
#
# and the image's SSIM is the mean of this map. The first factor compares brightness, the second
# contrast and structure, so a uniform offset costs SSIM only through the first factor, and little
# there in bright tissue (the factor compares the offset with the mean brightness), while MAE counts
# it in full; and SSIM punishes a loss of local texture that MAE barely sees. Each function below returns one value per image,
# shape `(B,)`, for images `(B, 1, H, W)`.

# %%
def my_mae(x, y):
    return (x - y).abs().flatten(1).mean(1)


def my_mse(x, y):
    return ((x - y) ** 2).flatten(1).mean(1)


def my_rmse(x, y):
    return my_mse(x, y).sqrt()


def my_psnr(x, y, data_range):
    return 20 * torch.log10(data_range / my_rmse(x, y))


def my_ssim(x, y, data_range, size=11, sigma=1.5, k1=0.01, k2=0.03):
    t = torch.arange(size, dtype=x.dtype) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]  # (1, 1, size, size), sums to 1

    def local_mean(z):  # 'valid' convolution: only windows that lie wholly inside the image
        return F.conv2d(z, window)

    mu_x, mu_y = local_mean(x), local_mean(y)
    sigma_x2 = local_mean(x * x) - mu_x**2
    sigma_y2 = local_mean(y * y) - mu_y**2
    sigma_xy = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (sigma_x2 + sigma_y2 + c2)
    )
    return ssim_map.flatten(1).mean(1)


# %% [markdown]
# Now a "prediction" to score: the T1w slices with a little blur and noise, made by the package's
# `degrade` helper. Our functions must agree with `medgen_nb.metrics` (which computes SSIM through
# torchmetrics) and, for SSIM, with scikit-image's independent implementation.

# %%
# NBVAL_CHECK_OUTPUT
from skimage.metrics import structural_similarity

pred = M.degrade(t1, blur_sigma=0.8, noise_std=0.03, seed=SEED)
mine = {"mae": my_mae(pred, t1), "mse": my_mse(pred, t1), "rmse": my_rmse(pred, t1),
        "psnr": my_psnr(pred, t1, 1.0), "ssim": my_ssim(pred, t1, 1.0)}
package = M.translation_report(pred, t1, data_range=1.0)
for name in mine:
    assert torch.allclose(mine[name], package[name], rtol=1e-4, atol=1e-5), name
    print(f"{name:>5}: mine {mine[name].mean():.4f}  package {package[name].mean():.4f}")
sk = np.array([structural_similarity(p[0].numpy(), t[0].numpy(), data_range=1.0, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False) for p, t in zip(pred, t1)])
assert np.allclose(sk, mine["ssim"].numpy(), atol=1e-5)
print(f"ssim scikit-image {sk.mean():.4f}: all three agree")

# %% [markdown]
# ### 2.1 How each metric reacts to noise, blur, shift and intensity scaling
#
# A translation model fails in typical ways: it adds noise or texture artefacts (GANs), it blurs
# (L1/L2-trained networks average over plausible outputs), it is off by a pixel or two (imperfect
# registration of the training pairs), or it gets the overall intensity wrong (a scale error). We
# apply each failure at increasing strength to the same T1w slices with the package's
# `apply_failure(images, kind, level)` and score them against the originals, inside the head mask.

# %%
DEGRADATIONS = {  # label: (kind for M.apply_failure, levels in that kind's unit)
    "noise (std)": ("noise", [0.0, 0.01, 0.02, 0.05, 0.1]),      # Gaussian noise, [0, 1] units
    "blur (sigma, px)": ("blur", [0.0, 0.5, 1.0, 2.0, 3.0]),     # Gaussian blur
    "shift (px)": ("shift", [0, 1, 2, 3]),                       # to the right; background wraps in
    "scaling (factor)": ("scale", [1.0, 0.95, 0.9, 0.8, 0.7]),   # intensities times the factor
}
sensitivity = {}
for label, (kind, levels) in DEGRADATIONS.items():
    rows = []
    for level in levels:
        degraded = M.apply_failure(t1, kind, level, seed=SEED)
        r = M.translation_report(degraded, t1, data_range=1.0, mask=brain_mask)
        rows.append([float(r[k].mean()) for k in ("mae", "psnr", "ssim")])  # PSNR of no error: inf
    sensitivity[label] = (levels, np.array(rows))

table([[kind, lv, *vals] for kind, (levels, arr) in sensitivity.items() for lv, vals in zip(levels, arr)],
      ["degradation", "level", "MAE [0,1]", "PSNR (dB)", "SSIM"])

# %%
fig, axes = plt.subplots(2, 4, figsize=(14, 5.5), sharey="row")
for j, (kind, (levels, arr)) in enumerate(sensitivity.items()):
    axes[0, j].plot(levels, arr[:, 0], "o-", color="C0")
    axes[1, j].plot(levels, arr[:, 2], "o-", color="C1")
    axes[1, j].set_xlabel(kind)
axes[0, 0].set_ylabel("MAE in head mask ([0, 1] units)")
axes[1, 0].set_ylabel("SSIM in head mask")
fig.suptitle("Simulated T1w slices: how MAE and SSIM react to four kinds of error")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Try it yourself.** The explorer below applies one failure to one simulated slice (T1w, or the
# PET of the same slice) and shows the target, the degraded slice, the absolute error and the four
# scores. Pick a failure and move the strength, and watch which number moves most. Then try three
# things: compare *intensity scaling* with *noise* at a similar MAE (which keeps SSIM high?); untick
# **mask to head** (how much does the empty background flatter every score?); and, on the PET
# image, switch `data_range` to **per-image max - min** (PSNR moves although the error did not,
# while MAE and RMSE stay put: the pitfall of section 2.2; the T1w slice fills its whole [0, 1]
# range, so there the two choices agree). In a static HTML copy the controls do not respond; the
# figure below the widget is a static copy of its first setting.

# %%
slices = {"T1w": t1[0, 0], "PET": test["image"][pick[0], channel["pet"]]}  # (S, S) each, [0, 1]
response = metric_response_explorer(slices, brain_mask[0, 0], seed=SEED)
display(response.widget)
response.render(**response.values())
plt.show()

# %% [markdown]
# **Same MSE, different verdicts.** The curves hide a sharper point. Below, each failure is tuned so
# that the MSE is *the same* as that of a 1-pixel shift, and the four images are compared by eye and
# by SSIM. MSE (and therefore PSNR) cannot tell them apart; SSIM can.

# %%
# NBVAL_CHECK_OUTPUT
one = t1[:1]
target_mse = float(M.mse(M.apply_failure(one, "shift", 1), one))
# Tune each failure to that MSE: noise and scaling in closed form, blur by bisection on sigma.
noise = torch.randn(one.shape, generator=torch.Generator().manual_seed(SEED), dtype=one.dtype)
alpha = 1 - (target_mse / float((one**2).mean())) ** 0.5
lo, hi = 0.05, 8.0
for _ in range(40):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if float(M.mse(M.gaussian_blur(one, mid), one)) < target_mse else (lo, mid)
equal_mse = {
    "1-px shift": M.apply_failure(one, "shift", 1),
    "noise": one + noise * target_mse**0.5,
    f"blur (sigma {lo:.2f} px)": M.gaussian_blur(one, lo),
    f"scaling x{alpha:.3f}": one * alpha,
}
for name, img in equal_mse.items():
    print(f"{name:>22}: MSE {float(M.mse(img, one)):.5f}  PSNR {float(M.psnr(img, one, data_range=1.0)):.2f} dB"
          f"  SSIM {float(M.ssim(img, one, data_range=1.0)):.3f}")

# %%
fig, axes = plt.subplots(1, 5, figsize=(15, 3.4))
for ax, (name, img) in zip(axes, {"target": one, **equal_mse}.items()):
    ax.imshow(img[0, 0], cmap="gray", vmin=0, vmax=1)
    ssim_text = "" if name == "target" else f"\nSSIM {float(M.ssim(img, one, data_range=1.0)):.3f}"
    ax.set_title(name + ssim_text, fontsize=9)
    ax.axis("off")
fig.suptitle("Simulated T1w slice ([0, 1]): four errors with the same MSE")
plt.show()

# %% [markdown]
# Read the numbers: the scaled image keeps the highest SSIM although its MSE equals the others (its
# structure is intact, only brightness and contrast changed), while noise and blur, which destroy
# local structure, get the lowest. A shift by one
# pixel looks harmless to the eye yet costs as much MSE as visible noise. In a translation paper this
# means: a model that is slightly misregistered is punished by every pixel metric, and a model whose
# brightness is off is forgiven by SSIM. Report both kinds, and look at difference images.
#
# ### 2.2 PSNR's data-range pitfall
#
# Table 5 defines PSNR with MAX, "the maximum possible pixel value". Many codes instead use the
# maximum of the image at hand (`data_range=target.max()`). Then the *same error* gets a different
# PSNR on every slice. PET shows it best: its [0, 1] scale is a fixed SUV window (0-12 SUV), and a
# slice through the skull base peaks far lower than one through the cortex. We add the same noise
# (std 0.02 of the window) to every simulated PET test slice and compute PSNR both ways.

# %%
# NBVAL_CHECK_OUTPUT
pet = test["image"][:, channel["pet"]][:, None].double()       # every test slice, [0, 1] = 0-12 SUV
same_error = M.degrade(pet, blur_sigma=0, noise_std=0.02, seed=SEED)
psnr_fixed = M.psnr(same_error, pet, data_range=1.0, reduction="none")
psnr_own_max = torch.stack([M.psnr(p[None], t[None], data_range=float(t.max())) for p, t in zip(same_error, pet)])
print(f"PET, data_range = 1 (12 SUV):          PSNR {psnr_fixed.min():.2f} to {psnr_fixed.max():.2f} dB")
print(f"PET, data_range = each slice's own max: PSNR {psnr_own_max.min():.2f} to {psnr_own_max.max():.2f} dB")

# The same in HU: a CT and a simulated CBCT of it, in HU through the CT window.
ct_map = ct_window()                                   # [-1000, 2000] HU <-> [0, 1]
ct_hu = ct_map.inverse(test["image"][pick, channel["ct"]][:, None].double())
cbct_hu = ct_map.inverse(test["image"][pick, channel["cbct"]][:, None].double())
for label, dr in (("3000 HU (the window width)", 3000.0), ("4096 (12-bit range)", 4096.0)):
    print(f"CBCT vs CT, data_range = {label:>27}: PSNR {float(M.psnr(cbct_hu, ct_hu, data_range=dr)):7.2f} dB")
try:  # HU images span thousands of units: a data_range of 1 can only be a units mistake
    M.psnr(cbct_hu, ct_hu, data_range=1.0)
except ValueError:
    print(f"CBCT vs CT, data_range = {'1.0 (forgot the units)':>27}: refused by M.psnr (ValueError)")
own = [float(M.psnr(c[None], t[None], data_range=float(t.max() - t.min()))) for c, t in zip(cbct_hu, ct_hu)]
print(f"CBCT vs CT, data_range = each slice's max - min:  {min(own):.2f} to {max(own):.2f} dB")

# %% [markdown]
# With a fixed `data_range` the identical noise gives nearly the same PSNR on every slice (it varies
# by a dB or two only because clipping at 0 removes some noise in the dark background). With the
# slice's own maximum the value wanders by about 20 dB: dim slices look terrible, bright ones good,
# for exactly the same error. For the CT, using each slice's range instead of the window lowers PSNR
# by about 4 dB. For HU images the choice of $L$ alone moves PSNR by tens of dB ($20\log_{10}3000 \approx
# 70$ dB would separate $L$ = 3000 from $L$ = 1, which is why `M.psnr` refuses a `data_range` far
# narrower than the target's own span). A PSNR is only comparable with another computed with the
# same, stated `data_range`; `medgen_nb.metrics.psnr` therefore makes it a required argument.
#
# ### 2.3 Masked metrics: the background inflates scores
#
# A good part of every slice is air. A translation network learns to reproduce air almost exactly,
# so an unmasked metric averages a near-perfect score over it. First a prediction whose errors lie
# only inside the head (outside it equals the target, as a trained network's output nearly does);
# then the simulated CBCT (the "prediction") against the CT (the target), with and without the head
# mask.

# %%
# NBVAL_CHECK_OUTPUT
ct01 = ct_map.forward(ct_hu)
cbct01 = ct_map.forward(cbct_hu)
head_errors_only = torch.where(brain_mask, M.degrade(t1, blur_sigma=0.8, noise_std=0.03, seed=SEED), t1)
print(f"head mask covers {float(brain_mask.double().mean()):.1%} of the pixels")
rows = []
for pair, (p, t) in (("T1w, errors in head", (head_errors_only, t1)), ("CBCT vs CT", (cbct01, ct01))):
    for name, m in (("whole image", None), ("head mask", brain_mask)):
        r = M.translation_report(p, t, data_range=1.0, mask=m)
        rows.append([pair, name] + [float(r[k].mean()) for k in ("mae", "psnr", "ssim")])
        print(f"{pair:>19}, {name:>11}: MAE {rows[-1][2]:.4f}  PSNR {rows[-1][3]:.2f} dB  SSIM {rows[-1][4]:.3f}")
masked_rows = rows[2:]  # the CBCT rows, used in the results

# %% [markdown]
# Masking the first pair lowers every score: the unmasked numbers were flattered by air. For the
# CBCT, PSNR falls with the mask as well, but SSIM *rises*: the CBCT has noise in the air where the CT
# is flat, and in a flat window SSIM's structure term is $c_2 / (\sigma_{\text{cbct}}^2 + c_2)$,
# well below 1 once the noise variance approaches $c_2 = (0.03L)^2$. Either way the unmasked number describes the air, not the
# anatomy; report metrics inside a mask and say which.
#
# For CT the honest unit is the Hounsfield unit, and errors matter most in bone (dose calculation
# depends on it). `ct_mae_hu` converts back through the CT window and splits the MAE by tissue class
# of the *target* CT: bone ≥ 250 HU, soft tissue between -100 and 100 HU.

# %%
# NBVAL_CHECK_OUTPUT
hu = M.ct_mae_hu(cbct01, ct01, intensity=ct_map, mask=brain_mask, reduction="mean")
print("CBCT vs CT MAE inside the head: " + ", ".join(f"{k} {float(v):.1f} HU" for k, v in hu.items()))
mine_all = float((cbct_hu - ct_hu).abs()[brain_mask].mean())
print(f"pooled over all head pixels by hand: {mine_all:.1f} HU (the package averages per image)")

# %%
k = 0
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, img, title in zip(axes, (ct_hu[k, 0], cbct_hu[k, 0]), ("CT", "CBCT")):
    im = ax.imshow(img, cmap="gray", vmin=-200, vmax=1500)
    ax.set_title(f"simulated {title} (HU)")
    fig.colorbar(im, ax=ax, fraction=0.046)
im = axes[2].imshow((cbct_hu[k, 0] - ct_hu[k, 0]) * brain_mask[k, 0], cmap="RdBu_r", vmin=-300, vmax=300)
axes[2].set_title("CBCT - CT inside head mask (HU)")
fig.colorbar(im, ax=axes[2], fraction=0.046)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 3. Creation metrics (Table 1)
#
# A generator's samples have no partners, so we compare *distributions*. Comparing pixels directly
# is hopeless (a 128 × 128 slice is a point in 16 384 dimensions), so images are first embedded by a
# fixed network $\phi$ and the metrics compare the clouds of features.
#
# **Why not Inception-v3?** Table 1's IS and FID use an ImageNet classifier. It was trained on colour
# photographs, responds to textures that do not occur in grey-scale scans, and its weights cannot be
# fetched offline. The course ships a small **medical feature network** trained on simulated brain
# and chest slices to predict modality and slice level; its 128-d embedding plays the role of
# Inception's pool features (so our "FID" is a Fréchet distance on medical features, sometimes called
# FMD) and its slice-level head supplies $p(y\mid x)$ for IS. (The modality head would be useless
# here: a generator of one modality makes it certain of one class by construction.) Numbers are therefore comparable *within*
# this course, not with papers' Inception FIDs.
#
# The real reference set is every slice of five modalities (T1w, T2w, FLAIR, CT, PET) of the
# training subjects; the held-out subjects (validation + test) play the role of an ideal generator.

# %%
from medgen_nb.metrics.features import load_card

CREATION = ("t1w", "t2w", "flair", "ct", "pet")


def as_single_channel(split):
    # (N, 6, S, S) -> (5N, 1, S, S): each modality of each slice is one image.
    return torch.cat([split["image"][:, channel[m]][:, None] for m in CREATION])


real_train = as_single_channel(train)
del train  # (N, 6, S, S) is not needed again; real_train holds the five modalities we score
heldout = torch.cat([as_single_channel(val), as_single_channel(test)])
card = load_card()
print("feature network heads:", {k: len(v) for k, v in card["classes"].items()},
      "| held-out accuracy:", card["held_out_accuracy"])
net = M.load_feature_net().to(device)
t0 = time.perf_counter()
f_train = M.extract_features(real_train, net)
f_heldout = M.extract_features(heldout, net)
print(f"embedded {len(real_train)} + {len(heldout)} images -> {tuple(f_train.shape[1:])} features "
      f"in {time.perf_counter() - t0:.1f} s on {device}")


# %% [markdown]
# ### 3.1 FID from scratch
#
# Fit a Gaussian to each feature cloud (mean $\mu$, covariance $C$) and take the squared
# 2-Wasserstein (Fréchet) distance between the two Gaussians:
#
# $$\mathrm{FID} = \lVert\mu_r - \mu_g\rVert^2 + \mathrm{Tr}\!\left(C_r + C_g - 2\,(C_r C_g)^{1/2}\right).$$
#
# (Table 1 prints the first term without the square; Heusel et al. 2017 square it.) The matrix square
# root is the delicate part. $C_rC_g$ is not symmetric, but it is similar to the symmetric
# $C_r^{1/2} C_g C_r^{1/2}$, so their eigenvalues agree and
# $\mathrm{Tr}(C_rC_g)^{1/2} = \sum_i \sqrt{\lambda_i(C_r^{1/2} C_g C_r^{1/2})}$: two symmetric
# eigendecompositions, no complex numbers.

# %%
def sqrtm_psd(c):
    # Square root of a symmetric positive semi-definite matrix through its eigendecomposition.
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def my_fid(real, fake):
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    mu_r, mu_g = real.mean(0), fake.mean(0)
    c_r, c_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)  # unbiased, 1/(N-1)
    root_r = sqrtm_psd(c_r)
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root_r @ c_g @ root_r), 0, None)).sum()
    return float(((mu_r - mu_g) ** 2).sum() + np.trace(c_r) + np.trace(c_g) - 2 * tr_sqrt)


# %%
# NBVAL_CHECK_OUTPUT
from scipy.linalg import sqrtm

ours, package_fid = my_fid(f_train, f_heldout), M.fid(f_train, f_heldout)
c_r, c_g = np.cov(f_train.numpy(), rowvar=False), np.cov(f_heldout.numpy(), rowvar=False)
mu_gap = float(((f_train.mean(0) - f_heldout.mean(0)) ** 2).sum())
scipy_fid = mu_gap + np.trace(c_r) + np.trace(c_g) - 2 * np.trace(sqrtm(c_r @ c_g).real)
assert abs(ours - package_fid) < 1e-6 * max(1.0, package_fid), (ours, package_fid)
assert abs(ours - scipy_fid) < 1e-4 * max(1.0, package_fid), (ours, scipy_fid)
print(f"FID held-out vs train: mine {ours:.4f}, package {package_fid:.4f}, scipy sqrtm {scipy_fid:.4f}")

# %% [markdown]
# ### 3.2 Six imitation "generators"
#
# To see what each metric rewards, we build samples whose faults we know:
#
# - **held-out real**: real slices of unseen subjects (the best a generator can hope for);
# - **mildly / badly degraded**: held-out slices blurred and noised a little / a lot;
# - **blurry**: held-out slices blurred (sigma 2 px), the typical over-smoothed generator;
# - **mode-collapsed**: 10 real slices repeated over and over (perfect images, no diversity);
# - **copier**: training slices with imperceptible noise (a memorising generator).
#
# Besides FID we compute KID (unbiased MMD² with the cubic kernel $k(a,b) = (a^\top b/D + 1)^3$),
# kernel MMD² with a Gaussian kernel (median bandwidth), the 1-D Wasserstein distance of pixel
# intensities, IS and MS from the slice-level head, and the k-NN estimates of precision and recall:
#
# $$\mathrm{IS} = \exp\big(\mathbb{E}_x\,\mathrm{KL}(p(y\mid x)\,\|\,p(y))\big),\qquad
# \mathrm{precision} = \frac1M\sum_{j} \mathbb 1\big[g_j \in \textstyle\bigcup_i B(r_i, \rho_k(r_i))\big],$$
#
# where $B(r_i, \rho_k(r_i))$ is the ball around real feature $r_i$ reaching its $k$-th nearest real
# neighbour; recall swaps the roles of real and generated.

# %%
g = torch.Generator().manual_seed(SEED)
n = len(heldout)
few = heldout[torch.randperm(n, generator=g)[:10]]
copied = torch.randperm(len(real_train), generator=g)[:n]
# Each imitation generator is a function; its images are scored, then dropped (one set in memory).
generators = {
    "held-out real": lambda: heldout,
    "mildly degraded": lambda: M.degrade(heldout, blur_sigma=0.7, noise_std=0.02, seed=SEED),
    "badly degraded": lambda: M.degrade(heldout, blur_sigma=1.5, noise_std=0.06, seed=SEED),
    "blurry": lambda: M.gaussian_blur(heldout, 2.0),
    "mode-collapsed": lambda: few.repeat(n // 10 + 1, 1, 1, 1)[:n],
    "copier": lambda: M.degrade(real_train[copied], blur_sigma=0, noise_std=0.005, seed=SEED),
}
p_train = M.class_probabilities(real_train, net)
# Intensity WD on 200k random pixels (drawn with replacement: a permutation of all ~40M pixel
# indices would take more memory than the images themselves).
pixels = torch.randint(real_train.numel(), (200_000,), generator=g)
t0 = time.perf_counter()
features, creation, shown = {}, {}, {}
for name, generate in generators.items():
    images = generate()
    shown[name] = images[3, 0].clone()  # a copy: a view would keep all of `images` alive
    f = M.extract_features(images, net)
    p = M.class_probabilities(images, net)
    features[name] = f
    creation[name] = {
        "FID": M.fid(f_train, f), "KID": M.kid(f_train, f), "MMD": M.mmd(f_train, f),
        "intensity WD": M.wasserstein_1d(real_train.flatten()[pixels], images.flatten()[pixels % images.numel()]),
        "IS": M.inception_score(p), "MS": M.mode_score(real=p_train, fake=p),
        **M.precision_recall(f_train, f),
    }
    memo = M.memorisation(f_train, f, heldout=f_heldout)
    creation[name].update({"memorisation ratio": memo.ratio, "copy fraction": memo.copy_fraction})
print(f"scored {len(generators)} samples of {n} images in {time.perf_counter() - t0:.1f} s")
columns = list(creation["held-out real"])
table([[name, *creation[name].values()] for name in generators], ["sample", *columns])

# %%
fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 3))
for ax, (name, image) in zip(axes, shown.items()):
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    c = creation[name]
    ax.set_title(f"{name}\nFID {c['FID']:.2f} P {c['precision']:.2f} R {c['recall']:.2f}", fontsize=8)
    ax.axis("off")
fig.suptitle("Imitation generators built from simulated slices ([0, 1])")
plt.show()

# %% [markdown]
# What the table shows:
#
# - **FID, KID and MMD** rank held-out real < degraded < blurry ≪ mode-collapsed, but a single number
#   cannot say *why* a sample is bad. Mild degradation may even score like the real held-out set:
#   the difference is within the estimate's noise (section 3.3).
# - **Precision vs recall** split the failure. The mode-collapsed sample consists of real images, so
#   its precision is at least as high as that of real data, but its recall collapses to ~0: it covers almost
#   none of the real distribution. The blurry sample loses precision (its images fall outside the
#   real manifold) and recall together.
# - **IS** moves little except for the collapsed sample: it only asks whether the slice-level
#   classifier is confident and uses all its classes, not whether the images resemble the reference.
#   MS subtracts a penalty for a class histogram that differs from the real one, so for the collapsed
#   sample, whose ten slices cover only a few levels, it falls further than IS.
# - **The copier wins every distribution metric** (lowest FID, precision and recall near 1). Only the
#   memorisation test exposes it: its samples sit much closer to training images than held-out real
#   images do (ratio ≪ 1, nearly all flagged as copies). Always run it on a model's best-looking
#   output.
#
# ### 3.3 Confidence intervals and FID's small-sample bias
#
# Every number above is an estimate from a finite sample. `M.bootstrap_ci` draws half of each set
# *without* replacement, recomputes the metric, and centres the spread of the draws on the full-sample
# value; that gives a confidence interval for the metric at this sample size. (Drawing with
# replacement would repeat rows, which inflates FID and shrinks the k-NN radii.)

# %%
t0 = time.perf_counter()
intervals = {name: M.bootstrap_ci(M.fid, f_train, features[name], n_boot=N_BOOT, seed=SEED)
             for name in ("held-out real", "mildly degraded")}
for name, ci in intervals.items():
    print(f"FID {name:>16}: {ci}")
print(f"({N_BOOT} bootstrap draws each, {time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# Compare the two intervals printed above with the distance between their point estimates: where
# the intervals overlap that much, "mild degradation" cannot be told apart from a perfect generator
# at this N. The interval describes FID *at this N*, not its large-N limit: FID itself depends on N,
# which is the subject of the next experiment. To compare two models, use the same N for both.

# %% [markdown]
# The FID estimator is also **biased upwards at small N**: the sample covariance of N points in D
# dimensions is noisy, and noise in $C_g$ always adds to $\mathrm{Tr}(C_r + C_g - 2(C_rC_g)^{1/2})$.
# Two samples of the *same* distribution therefore give FID > 0, shrinking roughly like $1/N$.
# `fid_vs_n` draws random subsets of N real and N generated features; the package documents
# N ≥ 5 × D = 640 for the 128-d features as the minimum for reported numbers.

# %%
limit = min(len(f_train), len(f_heldout))
sizes = [s for s in (16, 32, 64, 128, 256, 512, 640, 850) if s <= limit]
t0 = time.perf_counter()
curves = {name: M.fid_vs_n(f_train, features[name], sizes, repeats=3 if SMOKE else 5, seed=SEED)
          for name in ("held-out real", "blurry")}
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, curve in curves.items():
    mean, std = np.array([curve[s] for s in sizes]).T
    ax.errorbar(sizes, mean, yerr=std, marker="o", capsize=3, label=name)
ax.axvline(640, color="gray", ls="--", label="documented minimum N = 640")
ax.set(xscale="log", yscale="log", xlabel="N images per set", ylabel="FID (medical features)",
       title="FID vs sample size (simulated brain slices)")
ax.legend()
plt.show()
print(f"fid_vs_n in {time.perf_counter() - t0:.1f} s; held-out real: "
      + ", ".join(f"N={s}: {curves['held-out real'][s][0]:.2f}" for s in sizes))

# %% [markdown]
# At small N the held-out real set, a *perfect* generator, has an FID several times its large-N
# value, larger than the blurry sample's at large N, and below about a hundred images the two curves
# overlap within their spread: a small-N FID can make a perfect model look bad, and cannot tell it
# from a blurry one. Compare FIDs only at the same N, state N, and add an interval.

# %% [markdown]
# ## 4. Downstream metrics, briefly
#
# The final test of a synthetic image is whether it does its job: does a segmentation on it match
# the truth, does a classifier trained on it work on real data? Two standard scores:
#
# $$\mathrm{Dice} = \frac{2|P\cap T|}{|P| + |T|},\qquad \mathrm{IoU} = \frac{|P\cap T|}{|P\cup T|},
# \qquad \mathrm{AUC} = P(\text{score}_{+} > \text{score}_{-}).$$
#
# A segmentation that is off by a couple of pixels (the shift from section 2.1) hurts thin structures
# most:

# %%
# NBVAL_CHECK_OUTPUT
seg = test["seg"][pick]                                     # (B, S, S) tissue labels
labels, names = [1, 2, 3, 4, 5], ["CSF", "GM", "WM", "skull", "scalp"]
for px in (1, 2):
    moved = torch.roll(seg, shifts=px, dims=-1)
    d = M.dice(moved, seg, labels=labels)  # per label, mean over the slices that have it
    j = M.iou(moved, seg, labels=labels)
    print(f"shift {px} px: " + ", ".join(f"{nm} Dice {a:.3f}/IoU {b:.3f}" for nm, a, b in zip(names, d, j)))
mine = 2 * ((moved == 1) & (seg == 1)).sum((1, 2)) / ((moved == 1).sum((1, 2)) + (seg == 1).sum((1, 2)))
assert torch.allclose(mine.double(), M.dice(moved, seg, labels=[1], reduction="none")[:, 0]), "Dice by hand differs"

# %% [markdown]
# For AUC we ask the feature network's modality head to tell CT from CBCT slices of the held-out
# subjects (its model card lists this as one of its confusions) and check `binary_auc` against the
# definition, the share of (CT, CBCT) pairs ranked correctly.

# %%
# NBVAL_CHECK_OUTPUT
ct_imgs = torch.cat([s["image"][:, channel["ct"]][:, None] for s in (val, test)])
cbct_imgs = torch.cat([s["image"][:, channel["cbct"]][:, None] for s in (val, test)])
classes = card["classes"]["modality"]
scores = M.class_probabilities(torch.cat([ct_imgs, cbct_imgs]), net, head="modality")[:, classes.index("brain_ct")]
is_ct = torch.cat([torch.ones(len(ct_imgs)), torch.zeros(len(cbct_imgs))])
auc = float(M.binary_auc(preds=scores, target=is_ct))
pos, neg = scores[is_ct == 1], scores[is_ct == 0]
by_pairs = float(((pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()).mean())
assert abs(auc - by_pairs) < 1e-9
print(f"AUC of p(brain_ct) for CT vs CBCT: {auc:.3f} (pairwise definition {by_pairs:.3f})")

# %% [markdown]
# ## 5. Results

# %%
table([[name, c["FID"], intervals[name].low if name in intervals else "", intervals[name].high if name in intervals else "",
        c["KID"], c["precision"], c["recall"], c["memorisation ratio"]] for name, c in creation.items()],
      ["sample", "FID", "CI low", "CI high", "KID", "precision", "recall", "memorisation ratio"])
table(masked_rows, ["pair", "region", "MAE [0,1]", "PSNR (dB)", "SSIM"])
headline(
    ssim_equal_mse_noise=round(float(M.ssim(equal_mse["noise"], one, data_range=1.0)), 3),
    ssim_equal_mse_scaling=round(float(M.ssim(equal_mse[f"scaling x{alpha:.3f}"], one, data_range=1.0)), 3),
    cbct_psnr_unmasked_db=round(masked_rows[0][3], 2),
    cbct_psnr_masked_db=round(masked_rows[1][3], 2),
    cbct_mae_bone_hu=round(float(hu["bone"]), 1),
    fid_heldout=round(creation["held-out real"]["FID"], 3),
    fid_blurry=round(creation["blurry"]["FID"], 3),
    recall_mode_collapsed=round(creation["mode-collapsed"]["recall"], 3),
    memorisation_ratio_copier=round(creation["copier"]["memorisation ratio"], 3),
    ct_vs_cbct_auc=round(auc, 3),
)

# %% [markdown]
# ## What to take away
#
# - **Paired vs unpaired.** Translation outputs have a ground truth: score each image against it
#   (MAE/PSNR/SSIM, per image, mean with a CI). Generated samples do not: compare distributions in a
#   feature space (FID/KID/MMD) and split fidelity from diversity (precision/recall).
# - **Pixel metrics disagree for good reasons.** MSE/PSNR weigh every error equally; SSIM forgives
#   brightness and contrast changes and punishes lost structure. A one-pixel misregistration costs as
#   much MSE as visible noise.
# - **State `data_range` and use a fixed one.** PSNR with the image's own maximum, or with the wrong
#   units, changes by several to tens of dB for the same error. For CT, report MAE in HU, by tissue.
# - **Mask the background**, otherwise empty air inflates PSNR and SSIM.
# - **One distribution number hides the failure mode.** Mode collapse and blur can give similar
#   FIDs; precision/recall tell them apart, and only a memorisation check catches a copier.
# - **FID needs a fixed, large N** (≥ 640 for the course's 128-d features) and an interval; small-N
#   FIDs are biased upwards and not comparable across N.
#
# ## Exercises
#
# Each exercise has a cell for your answer, followed by a `grader.check(...)` cell that runs its public tests. A course's autograder adds hidden tests that compare your values with the reference, so a blank or wrong answer scores zero.
#
# **Exercise 1 - PSNR of a CT in HU.** `ct_hu` and `cbct_hu` (section 2.2) are in HU, and the CT
# window is [-1000, 2000] HU. Compute the mean PSNR of the CBCT against the CT inside `brain_mask`
# with the correct `data_range`. Then predict, before checking, how it relates to the masked PSNR of
# the [0, 1] images in section 2.3.

# %% [raw]
# # BEGIN QUESTION
# name: ct_psnr
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the mean masked PSNR of cbct_hu against ct_hu in dB, as a float
my_ct_psnr = float(M.psnr(cbct_hu, ct_hu, data_range=ct_map.hi - ct_map.lo, mask=brain_mask))  # SOLUTION
# BEGIN SOLUTION NO PROMPT
# The same number as the masked PSNR on [0, 1] images: PSNR is unchanged when both the error and
# data_range are scaled by the same factor (3000 HU per unit), which is the point of a fixed data_range.
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_ct_psnr_is_a_number(my_ct_psnr):
    assert isinstance(my_ct_psnr, float), "set my_ct_psnr to a float in dB"


test_ct_psnr_is_a_number(my_ct_psnr)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_ct_psnr_value(my_ct_psnr, M, cbct_hu, ct_hu, ct_map, brain_mask, np):
    reference = float(M.psnr(cbct_hu, ct_hu, data_range=ct_map.hi - ct_map.lo, mask=brain_mask))
    wrong = reference - 20 * np.log10(ct_map.hi - ct_map.lo)  # what data_range=1 would give
    assert abs(my_ct_psnr - wrong) > 1, "data_range=1 treats HU as [0, 1] units; use the window width"
    assert abs(my_ct_psnr - reference) < 0.01, (
        f"{my_ct_psnr:.2f} dB is not the masked PSNR with data_range = 2000 - (-1000)"
    )


test_ct_psnr_value(my_ct_psnr, M, cbct_hu, ct_hu, ct_map, brain_mask, np)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 2 - which metric ranks blur worse than noise?** Take `blurred = M.gaussian_blur(t1, 1.5)`
# and `noisy = M.degrade(t1, blur_sigma=0, noise_std=0.05, seed=SEED)`. Among `"mae"`, `"psnr"` and
# `"ssim"` (masked by `brain_mask`), which ones say the *blurred* image is worse? Answer with a set
# of names. Hint: for PSNR and SSIM higher is better, for MAE lower is better. (The answer depends
# on `SIZE`: a blur of 1.5 px removes more anatomy from a 64 px slice than from a 128 px one.)

# %%
blurred = M.gaussian_blur(t1, 1.5)
noisy = M.degrade(t1, blur_sigma=0, noise_std=0.05, seed=SEED)

# %% [raw]
# # BEGIN QUESTION
# name: blur_worse
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: a set of names from "mae", "psnr", "ssim", e.g. {"mae"}
# BEGIN SOLUTION NO PROMPT
rb = M.translation_report(blurred, t1, data_range=1.0, mask=brain_mask)
rn = M.translation_report(noisy, t1, data_range=1.0, mask=brain_mask)
higher_is_better = {"mae": False, "psnr": True, "ssim": True}
print("blurred:", {k: round(float(rb[k].mean()), 4) for k in higher_is_better},
      "| noisy:", {k: round(float(rn[k].mean()), 4) for k in higher_is_better})
# END SOLUTION
my_blur_worse = {k for k, hib in higher_is_better.items() if (rb[k].mean() < rn[k].mean() if hib else rb[k].mean() > rn[k].mean())}  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_blur_worse_names(my_blur_worse):
    names = {"mae", "psnr", "ssim"}
    assert isinstance(my_blur_worse, (set, frozenset, list, tuple)), "answer with a set of names"
    assert set(my_blur_worse) <= names, f"use names from {sorted(names)}"


test_blur_worse_names(my_blur_worse)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_blur_worse_value(my_blur_worse, M, blurred, noisy, t1, brain_mask):
    rb = M.translation_report(blurred, t1, data_range=1.0, mask=brain_mask)
    rn = M.translation_report(noisy, t1, data_range=1.0, mask=brain_mask)
    higher_is_better = {"mae": False, "psnr": True, "ssim": True}
    expected = {
        k for k, hib in higher_is_better.items()
        if (rb[k].mean() < rn[k].mean() if hib else rb[k].mean() > rn[k].mean())
    }
    assert set(my_blur_worse) == expected, (
        f"you said {sorted(my_blur_worse)}; compare each metric, remembering its direction"
    )


test_blur_worse_value(my_blur_worse, M, blurred, noisy, t1, brain_mask)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 3 - the smallest honest FID.** Using `M.fid_vs_n(f_train, f_heldout, sizes)` (the
# held-out real set, a perfect generator), find the smallest N in `sizes` at which the mean FID is
# within 50 % of its value at the largest N. Is it above or below the documented minimum of 640?

# %% [raw]
# # BEGIN QUESTION
# name: smallest_n
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: an int from `sizes`
# BEGIN SOLUTION NO PROMPT
curve = curves["held-out real"]
floor = curve[sizes[-1]][0]
# END SOLUTION
my_smallest_n = min(s for s in sizes if curve[s][0] <= 1.5 * floor)  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_smallest_n_is_a_size(my_smallest_n, sizes):
    assert my_smallest_n in list(sizes), f"answer one of sizes = {list(sizes)}"


test_smallest_n_is_a_size(my_smallest_n, sizes)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_smallest_n_value(my_smallest_n, curves, sizes):
    curve = curves["held-out real"]
    expected = min(s for s in sizes if curve[s][0] <= 1.5 * curve[sizes[-1]][0])
    assert my_smallest_n == expected, f"N = {my_smallest_n} is not the smallest N within 50 % of the largest N's FID"


test_smallest_n_value(my_smallest_n, curves, sizes)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %%
print(f"notebook ran in {time.perf_counter() - notebook_start:.0f} s")
