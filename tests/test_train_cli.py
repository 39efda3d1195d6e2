"""``python -m medgen_nb.train_cli``: builds the task, sizes the model from it, trains, resumes."""

import pytest

from medgen_nb.checkpoint import latest_checkpoint, load_checkpoint
from medgen_nb.train_cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_trains_a_model_sized_from_the_task_and_resumes(tmp_path, capsys):
    args = ["--task", "brain_t1w_to_t2w", "--model", "vae", "--smoke", "--batch-size", "4",
            "--out", str(tmp_path), "--model-arg", "base_channels=4", "--model-arg", "latent_dim=3"]  # fmt: skip
    assert main([*args, "--steps", "2"]) == 0
    model = load_checkpoint(tmp_path)
    assert model.config["size"] == 32 and model.config["in_channels"] == 1  # smoke tasks: 32 px
    assert model.config["base_channels"] == 4 and model.config["latent_dim"] == 3
    assert main([*args, "--steps", "3"]) == 0  # continues the run in --out
    assert latest_checkpoint(tmp_path).name == "ckpt-00000003.json"
    assert "3 steps x 4 images x 1 process(es)" in capsys.readouterr().out


def test_a_model_arg_without_equals_sign_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--task", "brain_t1w_to_t2w", "--model", "vae", "--steps", "1", "--out",
              str(tmp_path), "--model-arg", "lr"])  # fmt: skip
    assert "--model-arg takes key=value" in capsys.readouterr().err


def test_a_3d_task_trains_on_patches_and_scores_against_the_baseline(tmp_path, capsys):
    args = ["--task", "brain_t1w_to_t2w_3d", "--model", "pix2pix3d", "--smoke", "--steps", "2",
            "--batch-size", "2", "--patch-size", "16", "--model-arg", "base_channels=2",
            "--model-arg", "depth=3", "--out", str(tmp_path), "--evaluate"]  # fmt: skip
    assert main(args) == 0
    model = load_checkpoint(tmp_path)
    assert model.config["size"] == 16 and type(model).__name__ == "Pix2Pix3D"
    out = capsys.readouterr().out
    assert "peak memory" in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in table[1:]] == ["| lookup baseline", "| pix2pix3d"]


def test_conditional_diffusion_generates_the_target_from_the_source(tmp_path, capsys):
    args = ["--task", "brain_t1w_to_t2w_3d", "--model", "ddpm3d", "--smoke", "--steps", "2",
            "--batch-size", "2", "--patch-size", "16", "--model-arg", "base_channels=8",
            "--model-arg", "channel_mults=[1, 2]", "--model-arg", "attention=false",
            "--out", str(tmp_path), "--evaluate", "--sampling-steps", "4"]  # fmt: skip
    assert main(args) == 0
    model = load_checkpoint(tmp_path)
    assert model.config["cond_channels"] == 1 and model.config["in_channels"] == 1
    assert model.batch_keys == ("target", "image")  # trained to generate the T2w patch
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in table[1:]] == ["| lookup baseline", "| ddpm3d"]


@pytest.mark.parametrize("model", ["pix2pix", "vae"])  # a translator without steps; no translate
def test_sampling_steps_are_refused_for_a_model_without_a_chain(tmp_path, model):
    with pytest.raises(SystemExit, match="--sampling-steps is for diffusion models"):
        main(["--task", "brain_t1w_to_t2w", "--model", model, "--smoke", "--steps", "1",
              "--out", str(tmp_path), "--evaluate", "--sampling-steps", "4"])  # fmt: skip
    assert not any(tmp_path.iterdir())


def test_sampling_steps_without_evaluate_are_refused_before_training(tmp_path):
    with pytest.raises(SystemExit, match="add --evaluate"):
        main(["--task", "brain_t1w_to_t2w", "--model", "ddpm", "--smoke", "--steps", "1",
              "--out", str(tmp_path), "--sampling-steps", "4"])  # fmt: skip
    assert not any(tmp_path.iterdir())


def test_evaluate_refuses_a_creation_task_before_training(tmp_path):
    with pytest.raises(SystemExit, match="scores translation tasks"):
        main(["--task", "brain_t1w_slices", "--model", "vae", "--smoke", "--steps", "1",
              "--batch-size", "2", "--model-arg", "base_channels=2", "--model-arg", "latent_dim=2",
              "--out", str(tmp_path), "--evaluate"])  # fmt: skip
    assert not any(tmp_path.iterdir())  # nothing was trained
