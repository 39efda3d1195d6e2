"""The registered tasks. A name is one scientific question; ``data`` picks where its images come
from (``"phantom"`` by default, or a real data set when its loader supports the pair).

Review sections cited (Pang et al. 2025): §4 (translation across modalities, the chord diagram of
Fig. 8), §5 (creation for downstream tasks), §6 (translation tasks and their metrics, Table 5).
"""

from __future__ import annotations

from medgen_nb.tasks.base import CreationTask, DownstreamTask, Task, TranslationTask

# Brain slices count when brain tissue fills at least a quarter of the head mask: this drops the
# skull-base and neck slices, bright blobs that would weigh as much as a brain slice in averages.
BRAIN_SLICES = dict(region="brain", min_foreground=0.1, min_brain=0.25)
CHEST_SLICES = dict(region="chest", min_foreground=0.1)


def _brain_mr(
    name, sources, target, description, real=(), review="§6.2.1"
) -> list[TranslationTask]:
    tasks = [
        TranslationTask(
            name, description, sources=sources, target=target, review=review, **BRAIN_SLICES
        )
    ]
    for data in real:  # real variants: the loader's own slice rule (no tissue labels)
        # IXI's T1 is acquired on its own grid: resample it onto the target's by scanner coordinates
        extra = (("resample_to", "t2" if target == "t2w" else "pd"),) if data == "ixi" else ()
        tasks.append(
            TranslationTask(
                name, description, region="brain", data=data, sources=sources, target=target,
                min_foreground=0.1, review=review, loader_kwargs=extra,
            )
        )  # fmt: skip
    return tasks


def _brain_volumes(name, what, target, review) -> TranslationTask:
    """A T1w-source task on whole brain volumes: 3-D patch models, tiled prediction."""
    return TranslationTask(
        name, f"{what} on whole volumes (3-D patch models, tiled prediction)", region="brain",
        sources=("t1w",), target=target, spatial_dims=3, review=review,
    )  # fmt: skip


TASKS: list[Task] = [
    # --- MR contrasts (chapter 09) -------------------------------------------------------------
    *_brain_mr(
        "brain_t1w_to_t2w", ("t1w",), "t2w", "T1-weighted to T2-weighted MR", ("ixi", "brats")
    ),
    *_brain_mr("brain_t2w_to_flair", ("t2w",), "flair", "T2w to T2-FLAIR MR", ("brats",)),
    *_brain_mr(
        "brain_multi_to_flair",
        ("t1w", "t2w", "t1ce"),
        "flair",
        "T1w, T2w and T1ce together to FLAIR (many-to-one)",
        ("brats",),
    ),
    *_brain_mr("brain_t1w_to_pd", ("t1w",), "pd", "T1w to proton-density MR", ("ixi",)),
    *_brain_mr("brain_pd_to_t2w", ("pd",), "t2w", "proton-density to T2w MR", ("ixi",)),
    _brain_volumes("brain_t1w_to_t2w_3d", "T1w to T2w MR", "t2w", "§6.2.1, Table 6"),
    _brain_volumes("brain_t1w_to_ct_3d", "T1w MR to CT (synthetic CT)", "ct", "§6.3, Table 8"),
    _brain_volumes("brain_t1w_to_pet_3d", "T1w MR to FDG-PET", "pet", "§6.5, Table 10"),
    # --- MR <-> CT, CBCT -> CT (chapter 10) ----------------------------------------------------
    TranslationTask(
        "brain_ct_to_t1w",
        "CT to T1w MR",
        sources=("ct",),
        target="t1w",
        review="§6.2.2",
        **BRAIN_SLICES,
    ),
    TranslationTask(
        "brain_t1w_to_ct",
        "T1w MR to CT (synthetic CT)",
        sources=("t1w",),
        target="ct",
        review="§6.3",
        **BRAIN_SLICES,
    ),
    TranslationTask(
        "brain_cbct_to_ct",
        "cone-beam CT to CT",
        sources=("cbct",),
        target="ct",
        review="§6.3",
        **BRAIN_SLICES,
    ),
    TranslationTask(
        "brain_cbct_to_ct",
        "cone-beam CT to CT",
        region="brain",
        data="synthrad",
        sources=("cbct",),
        target="ct",
        min_foreground=0.1,
        review="§6.3",
        loader_kwargs=(("task", 2), ("region", "brain")),
    ),
    TranslationTask(
        "brain_mr_to_ct",
        "MR to CT (SynthRAD2023 task 1)",
        region="brain",
        data="synthrad",
        sources=("mr",),
        target="ct",
        min_foreground=0.1,
        review="§6.3",
        loader_kwargs=(("task", 1), ("region", "brain")),
    ),
    TranslationTask(
        "pelvis_mr_to_ct",
        "pelvic MR to CT (SynthRAD2023 task 1)",
        region="pelvis",
        data="synthrad",
        sources=("mr",),
        target="ct",
        min_foreground=0.1,
        review="§6.3",
        loader_kwargs=(("task", 1), ("region", "pelvis")),
    ),
    TranslationTask(
        "chest_cbct_to_ct",
        "chest cone-beam CT to CT",
        sources=("cbct",),
        target="ct",
        n_subjects=12,
        review="§6.3",
        **CHEST_SLICES,
    ),
    # --- X-ray, PET, ultrasound (chapters 11-13) -----------------------------------------------
    TranslationTask(
        "chest_ct_to_xray",
        "chest CT to a frontal radiograph (DRR)",
        sources=("ct",),
        target="xray",
        n_subjects=12,
        mask=None,
        min_foreground=0.0,
        review="§6.4",
        region="chest",
    ),
    TranslationTask(
        "brain_t1w_to_pet",
        "T1w MR to FDG-PET",
        sources=("t1w",),
        target="pet",
        review="§6.5",
        **BRAIN_SLICES,
    ),
    TranslationTask(
        "chest_ct_to_us",
        "chest CT to B-mode ultrasound",
        sources=("ct",),
        target="us",
        n_subjects=12,
        review="§6.6",
        **CHEST_SLICES,
    ),
    # --- contrast enhancement (chapter 14) -----------------------------------------------------
    *_brain_mr(
        "brain_t1w_to_t1ce", ("t1w",), "t1ce", "T1w to gadolinium-enhanced T1w", ("brats",), "§6.7"
    ),
    TranslationTask(
        "chest_ct_to_arterial",
        "non-contrast to arterial-phase CT",
        sources=("ct",),
        target="ce_arterial",
        n_subjects=12,
        review="§6.7",
        **CHEST_SLICES,
    ),
    TranslationTask(
        "chest_ct_to_venous",
        "non-contrast to portal-venous CT",
        sources=("ct",),
        target="ce_venous",
        n_subjects=12,
        review="§6.7",
        **CHEST_SLICES,
    ),
    # --- creation (chapters 02-08) -------------------------------------------------------------
    CreationTask(
        "brain_t1w_slices",
        "unconditional T1w brain slices",
        modality="t1w",
        size=32,
        n_subjects=40,
        review="§5.1",
        **BRAIN_SLICES,
    ),
    CreationTask(
        "brain_mr_by_contrast",
        "T1w, T2w, FLAIR and PD slices of the same heads, conditioned on the contrast",
        modalities=("t1w", "t2w", "flair", "pd"),
        conditioning="label",
        label_from="modality",
        size=32,
        n_subjects=40,
        review="§5.1",
        **BRAIN_SLICES,
    ),
    CreationTask(
        "brain_t1w_by_lesion",
        "T1w slices conditioned on lesion present / absent",
        modality="t1w",
        conditioning="label",
        label_from="seg_present",
        seg_key="lesion",
        size=64,
        n_subjects=40,
        review="§5.1",
        loader_kwargs=(("glioma_probability", 0.7),),
        **BRAIN_SLICES,
    ),
    CreationTask(
        "brain_t2w_from_tissue",
        "T2w slices generated from a tissue label map",
        modality="t2w",
        conditioning="mask",
        seg_key="tissue",
        size=64,
        n_subjects=40,
        review="§5.1",
        **BRAIN_SLICES,
    ),
    CreationTask(
        "pneumonia_xray",
        "PneumoniaMNIST chest X-rays by class",
        region="chest",
        data="medmnist",
        modality="xray",
        conditioning="label",
        label_from="label",
        size=64,
        review="§5.1",
        loader_kwargs=(("flag", "pneumoniamnist"),),
    ),
    # --- downstream (chapters 06-08) -----------------------------------------------------------
    DownstreamTask(
        "brain_lesion_classification",
        "does a T1w slice hold a lesion?",
        problem="classification",
        modality="t1w",
        label_from="seg_present",
        seg_key="lesion",
        size=64,
        n_subjects=40,
        review="§5.2",
        loader_kwargs=(("glioma_probability", 0.7),),
        **BRAIN_SLICES,
    ),
    DownstreamTask(
        "brain_tumour_segmentation",
        "segment tumour labels on FLAIR",
        problem="segmentation",
        modality="flair",
        seg_key="lesion",
        num_classes=5,
        size=64,
        n_subjects=40,
        review="§5.3",
        loader_kwargs=(("glioma_probability", 0.7),),
        **BRAIN_SLICES,
    ),
    DownstreamTask(
        "chest_nodule_detection",
        "find lung nodules on CT slices",
        problem="detection",
        modality="ct",
        seg_key="nodules",
        num_classes=2,
        size=64,
        n_subjects=12,
        review="§5.4",
        **CHEST_SLICES,
    ),
]
